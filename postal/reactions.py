"""How postal reacts to intake's and routing's events.

Handlers run on the event-store threads; what they return is saved with the consumed position in
one transaction, and a repeated event changes nothing. :data:`HANDLERS` is keyed by contract type
and says on which kind of topic each is accepted; a contract it does not list, or one on the wrong
topic, is dead-lettered with the reason. The contracts postal has no use for are listed too, passed
by on purpose (:data:`PASSED_BY`), so that nothing new goes unnoticed.

* ``DossierSubmitted`` with a pickup asked for, or the result sent home: the dossier is registered
  (addresses, fee) and the pickup ordered at once.
* ``RoutingFinished`` with status 9 (result ready) and the result going by post: the return is
  ordered. With 3 (refused at intake), 7 (withdrawn) or 8 (stopped): a pickup not collected yet is
  called off. The two topics are read side by side, so routing's end of a dossier may be read before
  its submission: it is then noted (``RoutingEnd``) for the submission to find.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from postal.application import PostalApplication, PostalDossierNotFoundError
from postal.domain import PostalError
from routing.geography import GeographyError
from services.consumer import UnprocessableMessage
from shared_events import (
    CloudEvent,
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierSubmitted,
    DossierWithdrawalRequested,
    DossierWithdrawn,
)
from shared_events.contracts.calendar import DueTimesChanged, WorkingCalendarChanged
from shared_events.contracts.documents import DossierContentRead
from shared_events.contracts.routing import (
    ApologyIssued,
    ClockPaused,
    ClockResumed,
    DossierRouted,
    RoutingFinished,
    StepClaimed,
    StepCompleted,
    StepDeadlineReached,
    StepOpened,
    StepReturned,
)
from shared_events.contracts.values import NationalStatus

INTAKE, ROUTING = "intake", "routing"

CALLED_OFF_BY: dict[int, str] = {
    NationalStatus.REFUSED_AT_INTAKE: "Hồ sơ bị từ chối tiếp nhận",
    NationalStatus.WITHDRAWN: "Công dân rút hồ sơ",
    NationalStatus.STOPPED: "Hồ sơ dừng xử lý",
}
"""The ends of a dossier that call off a pickup not collected yet, and the reason given to the carrier."""

Reaction = Callable[[PostalApplication, Any], list[Any]]


def _submitted(app: PostalApplication, c: DossierSubmitted) -> list[Any]:
    return app.register(
        code=c.dossier_code, procedure_code=c.procedure_code, received_at=c.received_at,
        receiving_agency_id=c.receiving_agency_id, applicant=c.applicant.model_dump(mode="json"),
        pickup=None if c.pickup is None else c.pickup.model_dump(mode="json"),
        delivery=c.result_delivery.model_dump(mode="json"), locality_code=c.locality_code)


def _finished(app: PostalApplication, c: RoutingFinished) -> list[Any]:
    if c.national_status == NationalStatus.DONE_AWAITING_HANDOVER:
        return app.open_return(c.dossier_code, [r.model_dump(mode="json") for r in c.results], c.finished_at)
    reason = CALLED_OFF_BY.get(c.national_status)
    if reason is not None:
        return app.call_off(c.dossier_code, int(c.national_status), reason, c.finished_at)
    return []  # 10: handed over — by post, postal's own doing; at the desk, nothing for postal to do


def _passed_by(app: PostalApplication, c: Any) -> list[Any]:
    """A contract postal has no use for (the audit ledger and others read it)."""
    return []


PASSED_BY: dict[type, str] = {
    DossierAccepted: INTAKE, DossierRefusedAtIntake: INTAKE, DossierWithdrawalRequested: INTAKE,
    DossierWithdrawn: INTAKE,
    DossierRouted: ROUTING, StepOpened: ROUTING, StepClaimed: ROUTING, StepCompleted: ROUTING, StepReturned: ROUTING,
    ClockPaused: ROUTING, ClockResumed: ROUTING, StepDeadlineReached: ROUTING, ApologyIssued: ROUTING,
    DueTimesChanged: ROUTING, WorkingCalendarChanged: ROUTING,
}
"""Contracts of intake's and routing's streams postal passes by, and where. ``DossierContentRead``
rides on both (intake's and routing's reads): see :data:`HANDLERS`. A refusal at intake reaches
postal as routing's ``RoutingFinished`` with status 3, which calls off the pickup."""

HANDLERS: dict[type, tuple[frozenset[str], Reaction]] = {
    DossierSubmitted: (frozenset({INTAKE}), _submitted),
    RoutingFinished: (frozenset({ROUTING}), _finished),
    DossierContentRead: (frozenset({INTAKE, ROUTING}), _passed_by),
    **{contract: (frozenset({kind}), _passed_by) for contract, kind in PASSED_BY.items()},
}
"""Contract type → (the kinds of topic it is accepted from, its reaction)."""


class Reactions:
    """The consumer's handler: ``reactions(app, contract, envelope, topic)`` → dossiers to save."""

    def __init__(self, *, intake_topic: str, routing_topic: str) -> None:
        self._kinds = {intake_topic: INTAKE, routing_topic: ROUTING}

    def __call__(self, app: PostalApplication, contract: Any, envelope: CloudEvent, topic: str) -> list[Any]:
        entry = HANDLERS.get(type(contract))
        if entry is None:
            raise UnprocessableMessage(f"postal does not handle {envelope.type}")
        kinds, reaction = entry
        if self._kinds.get(topic) not in kinds:
            raise UnprocessableMessage(f"{envelope.type} is not accepted on {topic}")
        try:
            return reaction(app, contract)
        except PostalDossierNotFoundError as exc:
            raise UnprocessableMessage(f"postal has no dossier {exc}") from None
        except (PostalError, GeographyError) as exc:
            raise UnprocessableMessage(f"{type(exc).__name__}: {exc}") from None
