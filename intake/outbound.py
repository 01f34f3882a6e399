"""Which stored intake events leave the service, and as which published contract."""

from __future__ import annotations

from eventsourcing.domain import DomainEventProtocol

from intake.domain import Dossier
from services.relay import Outbound
from shared_events.contracts.intake import (
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierSubmitted,
    DossierWithdrawn,
)


def to_outbound(domain_event: DomainEventProtocol) -> Outbound | None:
    """The contract for ``domain_event``, or None for events that stay inside intake."""
    e = domain_event
    if isinstance(e, Dossier.Submitted):
        contract = DossierSubmitted(
            dossier_code=e.code,
            dossier_id=e.originator_id,
            procedure_code=e.procedure_code,
            procedure_version=e.procedure_version,
            applicant=e.applicant,
            documents=e.documents,
            channel=e.channel,
            result_delivery=e.result_delivery,
            locality_code=e.locality_code,
            receiving_agency_id=e.receiving_agency_id,
            submitted_by=e.submitted_by,
            received_at=e.received_at,
            national_status=e.national_status,
            options=tuple(getattr(e, "options", None) or ()),
        )
        return Outbound(contract, e.code, e.correlation_id)
    if isinstance(e, Dossier.Accepted):
        code = _code_of(e)
        return Outbound(DossierAccepted(dossier_code=code, accepted_by=e.accepted_by, accepted_at=e.accepted_at),
                        code, e.correlation_id)
    if isinstance(e, Dossier.RefusedAtIntake):
        code = _code_of(e)
        return Outbound(DossierRefusedAtIntake(dossier_code=code, refused_by=e.refused_by, reason=e.reason,
                                               refused_at=e.refused_at), code, e.correlation_id)
    if isinstance(e, Dossier.Withdrawn):
        code = _code_of(e)
        return Outbound(DossierWithdrawn(dossier_code=code, reason=e.reason, withdrawn_at=e.withdrawn_at),
                        code, e.correlation_id)
    return None


def _code_of(e: DomainEventProtocol) -> str:
    # Every dossier event repeats the code: the relay needs it as the Kafka key.
    code = getattr(e, "dossier_code", None)
    if code is None:
        raise ValueError(f"event {type(e).__name__} of {e.originator_id} carries no dossier code")
    return code
