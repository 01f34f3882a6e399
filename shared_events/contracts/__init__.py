"""Typed contracts of every event that crosses a service boundary, one module per producer.

:data:`CONTRACTS` and :data:`UPCASTERS` list everything the default registry knows.
"""

from shared_events.contracts import calendar as _calendar
from shared_events.contracts import documents as _documents
from shared_events.contracts import intake as _intake
from shared_events.contracts import postal as _postal
from shared_events.contracts import routing as _routing
from shared_events.contracts import status as _status
from shared_events.contracts.base import Contract, Upcaster, UpcastFunction, ValueObject
from shared_events.contracts.intake import (
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierSubmitted,
    DossierWithdrawalRequested,
    DossierWithdrawn,
)
from shared_events.contracts.status import DossierStatusChanged, DossierWithdrawalDeclined
from shared_events.contracts.values import (
    Applicant,
    Channel,
    NationalStatus,
    ResultDelivery,
    SubmittedDocument,
    channel_from_national_number,
    national_channel_number,
)

CONTRACTS: tuple[type[Contract], ...] = (*_intake.CONTRACTS, *_status.CONTRACTS, *_routing.CONTRACTS,
                                         *_calendar.CONTRACTS, *_documents.CONTRACTS, *_postal.CONTRACTS)
UPCASTERS: tuple[Upcaster, ...] = (*_intake.UPCASTERS, *_status.UPCASTERS, *_routing.UPCASTERS,
                                   *_calendar.UPCASTERS, *_documents.UPCASTERS, *_postal.UPCASTERS)

__all__ = [
    "CONTRACTS",
    "UPCASTERS",
    "Applicant",
    "Channel",
    "Contract",
    "DossierAccepted",
    "DossierRefusedAtIntake",
    "DossierStatusChanged",
    "DossierSubmitted",
    "DossierWithdrawalDeclined",
    "DossierWithdrawalRequested",
    "DossierWithdrawn",
    "NationalStatus",
    "ResultDelivery",
    "SubmittedDocument",
    "UpcastFunction",
    "Upcaster",
    "ValueObject",
    "channel_from_national_number",
    "national_channel_number",
]
