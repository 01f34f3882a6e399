"""Which stored intake events leave the service, and as which published contract.

:data:`PUBLISHED` maps each published event type to its contract; :data:`KEPT_INSIDE` lists the
event types that stay inside intake on purpose. Any other type is a mistake and raises (the
relay reports it and goes on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.domain import DomainEventProtocol

from intake.domain import Dossier, SubmissionKey
from services.documents.readlog import ReadLog, content_read
from services.relay import Outbound
from shared_events.contracts.base import Contract
from shared_events.contracts.intake import (
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierSubmitted,
    DossierWithdrawalRequested,
    DossierWithdrawn,
)


def _submitted(e: Any) -> Contract:
    return DossierSubmitted(
        dossier_code=e.code, dossier_id=e.originator_id, procedure_code=e.procedure_code,
        procedure_version=e.procedure_version, applicant=e.applicant, documents=e.documents, channel=e.channel,
        result_delivery=e.result_delivery, locality_code=e.locality_code, receiving_agency_id=e.receiving_agency_id,
        submitted_by=e.submitted_by, received_at=e.received_at, national_status=e.national_status,
        options=tuple(getattr(e, "options", None) or ()),
        pickup=getattr(e, "pickup", None))  # none stored before pickups existed


PUBLISHED: dict[type, Callable[[Any], Contract]] = {
    Dossier.Submitted: _submitted,
    Dossier.Accepted: lambda e: DossierAccepted(
        dossier_code=e.dossier_code, accepted_by=e.accepted_by, accepted_at=e.accepted_at),
    Dossier.RefusedAtIntake: lambda e: DossierRefusedAtIntake(
        dossier_code=e.dossier_code, refused_by=e.refused_by, reason=e.reason, refused_at=e.refused_at),
    Dossier.WithdrawalRequested: lambda e: DossierWithdrawalRequested(
        dossier_code=e.dossier_code, requested_by=e.requested_by, reason=e.reason, requested_at=e.requested_at),
    # Only stored for dossiers withdrawn before routing owned status 7; a relay replaying them still can.
    Dossier.Withdrawn: lambda e: DossierWithdrawn(
        dossier_code=e.dossier_code, reason=e.reason, withdrawn_at=e.withdrawn_at),
    ReadLog.Read: content_read,  # a read of the applicant's data, for the audit ledger
}

KEPT_INSIDE = frozenset({
    Dossier.StatusChanged,  # reported by routing: intake does not echo it
    Dossier.WithdrawalDeclined,  # decided by routing: intake does not echo it
    Dossier.ArrivedByPost,  # reported by postal (PickupHandedToAgency): intake does not echo it
    SubmissionKey.Registered,  # an Idempotency-Key, private to intake
    ReadLog.Opened,  # the read log's creation; each read is published
})


def to_outbound(domain_event: DomainEventProtocol) -> Outbound | None:
    """The contract for ``domain_event``, or None for events that stay inside intake."""
    kind = type(domain_event)
    if kind in KEPT_INSIDE:
        return None
    contract_of = PUBLISHED.get(kind)
    if contract_of is None:
        raise ValueError(f"intake does not know whether to publish {kind.__qualname__}")
    contract = contract_of(domain_event)
    code = contract.dossier_code  # type: ignore[attr-defined]
    return Outbound(contract, code, getattr(domain_event, "correlation_id", None))
