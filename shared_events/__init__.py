"""Contracts of the events lienthong services exchange over Kafka.

* :mod:`shared_events.envelope`: the CloudEvents 1.0 envelope, ``encode`` / ``decode``;
* :mod:`shared_events.contracts`: typed, versioned event payloads, one module per producer;
* :mod:`shared_events.registry`: ``(type, version)`` → model, upcasting, envelope ↔ contract;
* :mod:`shared_events.export`: the JSON Schema files in ``shared_events/schemas/``.

Versioning rules and the list of topics are in ``docs/EVENTS.md``.
"""

from shared_events.contracts import (
    CONTRACTS,
    UPCASTERS,
    Applicant,
    Channel,
    Contract,
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierStatusChanged,
    DossierSubmitted,
    DossierWithdrawalDeclined,
    DossierWithdrawalRequested,
    DossierWithdrawn,
    NationalStatus,
    ResultDelivery,
    SubmittedDocument,
    Upcaster,
    UpcastFunction,
    ValueObject,
    channel_from_national_number,
    national_channel_number,
)
from shared_events.envelope import CloudEvent, decode, deterministic_event_id, encode
from shared_events.errors import (
    ContractError,
    ContractViolationError,
    EnvelopeError,
    EventError,
    UnknownEventTypeError,
)
from shared_events.registry import REGISTRY, Registry, from_cloud_event, parse_versioned_type, to_cloud_event
from shared_events.scalars import AgencyId, DossierCode, LocalityCode, PartyId, ProcedureCode, UtcDatetime
from shared_events.topics import DOSSIER_STATUS, INTAKE_DOSSIER_EVENTS

__all__ = [
    "CONTRACTS",
    "DOSSIER_STATUS",
    "INTAKE_DOSSIER_EVENTS",
    "REGISTRY",
    "UPCASTERS",
    "AgencyId",
    "Applicant",
    "Channel",
    "CloudEvent",
    "Contract",
    "ContractError",
    "ContractViolationError",
    "DossierAccepted",
    "DossierCode",
    "DossierRefusedAtIntake",
    "DossierStatusChanged",
    "DossierSubmitted",
    "DossierWithdrawalDeclined",
    "DossierWithdrawalRequested",
    "DossierWithdrawn",
    "EnvelopeError",
    "EventError",
    "LocalityCode",
    "NationalStatus",
    "PartyId",
    "ProcedureCode",
    "Registry",
    "ResultDelivery",
    "SubmittedDocument",
    "UnknownEventTypeError",
    "UpcastFunction",
    "Upcaster",
    "UtcDatetime",
    "ValueObject",
    "channel_from_national_number",
    "decode",
    "deterministic_event_id",
    "encode",
    "from_cloud_event",
    "national_channel_number",
    "parse_versioned_type",
    "to_cloud_event",
]
