"""Which stored routing events leave the service, as which contracts, on which topics.

Every routing event goes to the routing topic; an event that changes the national status
also goes to the status topic (for intake and the national portal); a step opened for a
stream-integrated agency also goes to that agency's inbox topic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from routing.domain import RoutedDossier
from routing.settings import RoutingSettings
from services.relay import Outbound
from shared_events import DossierStatusChanged
from shared_events.contracts.routing import (
    ApologyIssued,
    ClockPaused,
    ClockResumed,
    DossierRouted,
    PlannedStep,
    RoutingFinished,
    StepClaimed,
    StepCompleted,
    StepDeadlineReached,
    StepOpened,
    StepReturned,
)

STATUS_RECORD, AGENCY_INBOX_RECORD = 1, 2
D = RoutedDossier


def outbound_mapper(settings: RoutingSettings) -> Callable[[Any], list[Outbound]]:
    """The relay's mapping for this deployment's topic names."""

    def to_outbound(e: Any) -> list[Outbound]:
        contract = to_contract(e)
        if contract is None:
            return []
        records = [Outbound(contract, e.dossier_code)]
        status = status_change(e)
        if status is not None:
            records.append(Outbound(status, e.dossier_code, topic=settings.status_topic, discriminator=STATUS_RECORD))
        if isinstance(e, D.StepOpened) and e.integration == "kafka":
            records.append(Outbound(contract, e.dossier_code, topic=settings.agency_inbox_topic(e.agency_id),
                                    discriminator=AGENCY_INBOX_RECORD))
        return records

    return to_outbound


def to_contract(e: Any) -> Any:
    """The routing-topic contract of a stored event (None for events that stay inside)."""
    code = e.dossier_code
    if isinstance(e, D.RouteAssigned):
        steps = tuple(PlannedStep(step_key=s["key"], name=s["name"], role=s["role"], agency_id=s["agency_id"],
                                  integration=s["integration"], after=tuple(s["after"]),
                                  limit_value=s["limit"]["value"], limit_unit=s["limit"]["unit"])
                      for s in e.steps if not s.get("skipped"))
        return DossierRouted(dossier_code=code, procedure_code=e.procedure_code, route_version=e.route_version,
                             steps=steps, processing_started_at=e.processing_started_at,
                             appointment_at=e.appointment_at or e.processing_started_at)
    if isinstance(e, D.StepOpened):
        return StepOpened(dossier_code=code, procedure_code=e.procedure_code, step_key=e.step_key,
                          step_name=e.step_name, agency_id=e.agency_id, opened_at=e.opened_at, due_at=e.due_at,
                          opening=e.opening)
    if isinstance(e, D.StepClaimed):
        return StepClaimed(dossier_code=code, step_key=e.step_key, agency_id=e.agency_id, claimed_at=e.claimed_at)
    if isinstance(e, D.StepCompleted):
        return StepCompleted(dossier_code=code, step_key=e.step_key, agency_id=e.agency_id,
                             completed_at=e.completed_at, due_at=e.due_at, timeliness=e.timeliness,
                             documents=tuple(e.documents))
    if isinstance(e, D.StepSentBack):
        return StepReturned(dossier_code=code, step_key=e.step_key, agency_id=e.agency_id, outcome="sent_back",
                            reason=e.reason, to_steps=tuple(e.to_steps), returned_at=e.sent_back_at)
    if isinstance(e, D.StepRefused):
        return StepReturned(dossier_code=code, step_key=e.step_key, agency_id=e.agency_id, outcome="refused",
                            reason=e.reason, returned_at=e.refused_at)
    if isinstance(e, D.SupplementRequested):
        return ClockPaused(dossier_code=code, kind="supplement", step_key=e.step_key, agency_id=e.agency_id,
                           reason=e.reason, paused_at=e.requested_at)
    if isinstance(e, D.PaymentRequested):
        return ClockPaused(dossier_code=code, kind="payment", step_key=e.step_key, agency_id=e.agency_id,
                           amount_vnd=e.amount_vnd, paused_at=e.requested_at)
    if isinstance(e, D.SupplementProvided):
        return ClockResumed(dossier_code=code, kind="supplement", resumed_at=e.provided_at, due_at=dict(e.dues),
                            appointment_at=e.appointment_at)
    if isinstance(e, D.PaymentReceived):
        return ClockResumed(dossier_code=code, kind="payment", resumed_at=e.paid_at, due_at=dict(e.dues),
                            appointment_at=e.appointment_at)
    if isinstance(e, (D.StepDueSoon, D.StepOverdue)):
        return StepDeadlineReached(dossier_code=code, step_key=e.step_key, agency_id=e.agency_id,
                                   kind="due_soon" if isinstance(e, D.StepDueSoon) else "overdue",
                                   due_at=e.due_at, detected_at=e.detected_at)
    if isinstance(e, D.ApologyIssued):
        return ApologyIssued(dossier_code=code, agency_id=e.agency_id, reason=e.reason,
                             original_appointment_at=e.original_appointment_at,
                             new_appointment_at=e.new_appointment_at, issued_at=e.issued_at)
    if isinstance(e, D.ResultReady):
        return RoutingFinished(dossier_code=code, national_status=9, finished_at=e.ready_at)
    if isinstance(e, D.ResultHandedOver):
        return RoutingFinished(dossier_code=code, national_status=10, finished_at=e.handed_over_at)
    if isinstance(e, D.Withdrawn):
        return RoutingFinished(dossier_code=code, national_status=7, reason=e.reason, finished_at=e.withdrawn_at)
    if isinstance(e, D.Stopped):
        return RoutingFinished(dossier_code=code, national_status=8, reason=e.reason, finished_at=e.stopped_at)
    return None


_STATUS_TIME = {
    "RouteAssigned": "assigned_at", "SupplementRequested": "requested_at", "SupplementProvided": "provided_at",
    "PaymentRequested": "requested_at", "PaymentReceived": "paid_at", "StepRefused": "refused_at",
    "Stopped": "stopped_at", "ResultReady": "ready_at", "ResultHandedOver": "handed_over_at",
}


def status_change(e: Any) -> DossierStatusChanged | None:
    """The national status this event set, for intake (withdrawal came from intake: not echoed)."""
    name = type(e).__name__
    if name not in _STATUS_TIME:
        return None
    return DossierStatusChanged(
        dossier_code=e.dossier_code, national_status=e.national_status, reason=getattr(e, "reason", None),
        changed_by_agency_id=getattr(e, "agency_id", None), changed_at=getattr(e, _STATUS_TIME[name]))
