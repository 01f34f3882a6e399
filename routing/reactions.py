"""How routing reacts to intake's events, to stream-integrated agencies' replies and to postal's events.

Handlers run on the event-store threads; what they return is saved with the consumed
position in one transaction.  A repeated event changes nothing.  :data:`HANDLERS` is keyed by
contract type and says on which topic each contract is accepted; any other contract, and any
contract on the wrong topic, is dead-lettered with the reason (none is ignored silently).

Status ownership (docs/STATUS.md): a refusal at intake closes routing's record without a
status (3 is intake's); a withdrawal request is decided here (7, or declined with the status
kept); the legacy ``DossierWithdrawn`` is read as a request.

Postal (bưu chính công ích): a result delivered by post is the hand-over (status 9 → 10, by
``postal:<partner id>``); a result the carrier brought back is recorded on the dossier (the status
stays 9, the desk hands it over). Either again changes nothing; a dossier not awaiting its hand-over
is dead-lettered with the reason. Every other postal contract is listed and passed by on purpose.

A reply (``AgencyActed``) is accepted only from the reply topic of the agency it names, only
for a step of a stream-integrated agency, and only when ``acted_at`` is not before the step
opened and not later than now plus the allowed clock skew.

Every stored event keeps the message's correlation id, and the message's id as causation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from routing.application import (
    RoutedDossierNotFoundError,
    RoutingApplication,
    StepAction,
    Trace,
)
from routing.domain import RoutedDossier, RoutingError
from services.clock import Clock
from services.consumer import UnprocessableMessage
from shared_events import (
    CloudEvent,
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierSubmitted,
    DossierWithdrawalRequested,
    DossierWithdrawn,
)
from shared_events.contracts.documents import DossierContentRead
from shared_events.contracts.postal import (
    PickupHandedToAgency,
    PostalDeliveryFailed,
    PostalFeeCollected,
    ResultDeliveredByPost,
    ResultReturnedToDesk,
    ShipmentOrdered,
    ShipmentOrderRefused,
    ShipmentStatusChanged,
)
from shared_events.contracts.routing import AgencyActed


@dataclass(frozen=True)
class Message:
    """One consumed record as a reaction sees it."""

    topic: str
    envelope: CloudEvent

    @property
    def trace(self) -> Trace:
        return Trace(correlation_id=self.envelope.correlationid, causation_id=self.envelope.id)


@dataclass(frozen=True)
class ReplyPolicy:
    """Where replies come from and how far ahead of routing's clock they may be dated."""

    agency_of_reply_topic: Callable[[str], str | None]
    clock: Clock
    max_skew: timedelta
    uploaders_of: Callable[[str], Sequence[str]] = lambda agency_id: ()
    """The clients of an agency, whose uploads its replies' documents may refer to."""


Reaction = Callable[[RoutingApplication, Any, Message, ReplyPolicy], RoutedDossier | None]


def _submitted(app: RoutingApplication, c: DossierSubmitted, m: Message, _: ReplyPolicy) -> RoutedDossier | None:
    return app.receive(
        code=c.dossier_code, procedure_code=c.procedure_code, locality_code=c.locality_code,
        receiving_agency_id=c.receiving_agency_id, channel=c.channel, result_delivery_method=c.result_delivery.method,
        options=list(c.options), received_at=c.received_at, national_status=int(c.national_status),
        applicant=c.applicant.model_dump(mode="json"), documents=[d.model_dump(mode="json") for d in c.documents],
        submitted_by=c.submitted_by, trace=m.trace)


def _accepted(app: RoutingApplication, c: DossierAccepted, m: Message, _: ReplyPolicy) -> RoutedDossier | None:
    return app.accept(c.dossier_code, c.accepted_at, m.trace)


def _refused(app: RoutingApplication, c: DossierRefusedAtIntake, m: Message, _: ReplyPolicy) -> RoutedDossier | None:
    return app.close_at_intake(c.dossier_code, c.reason, c.refused_at, m.trace)


def _withdrawal_requested(app: RoutingApplication, c: DossierWithdrawalRequested, m: Message,
                          _: ReplyPolicy) -> RoutedDossier:
    return app.decide_withdrawal(c.dossier_code, c.reason, c.requested_at, m.trace)


def _legacy_withdrawn(app: RoutingApplication, c: DossierWithdrawn, m: Message, _: ReplyPolicy) -> RoutedDossier:
    return app.decide_withdrawal(c.dossier_code, c.reason, c.withdrawn_at, m.trace)


def _agency_acted(app: RoutingApplication, c: AgencyActed, m: Message, policy: ReplyPolicy) -> RoutedDossier:
    sender = policy.agency_of_reply_topic(m.topic)
    if sender != c.agency_id:
        raise UnprocessableMessage(f"a reply of agency {c.agency_id} arrived on {m.topic}, "
                                   f"the reply topic of {sender or 'no agency'}")
    latest = policy.clock.now() + policy.max_skew
    if c.acted_at > latest:
        raise UnprocessableMessage(f"acted_at {c.acted_at.isoformat()} is later than now plus "
                                   f"{policy.max_skew} ({latest.isoformat()})")
    dossier = app.dossier(c.dossier_code)
    step = dossier.step(c.step_key)
    if step.agency_id == c.agency_id and step.integration != "kafka":
        raise UnprocessableMessage(f"step {c.step_key!r} of {c.dossier_code} is worked through the REST inbox, "
                                   "not the reply topic")
    return app.apply_step_action(StepAction(
        code=c.dossier_code, step_key=c.step_key, agency_id=c.agency_id, action=c.action, at=c.acted_at,
        reason=c.reason, documents=[d.model_dump(mode="json") for d in c.documents], amount_vnd=c.amount_vnd,
        uploaders=tuple(policy.uploaders_of(c.agency_id))), m.trace)


def _read_elsewhere(app: RoutingApplication, c: DossierContentRead, m: Message, _: ReplyPolicy) -> None:
    """Intake's record of a read of a dossier's data: for the audit ledger, nothing for routing to do."""
    return None


def _delivered_by_post(app: RoutingApplication, c: ResultDeliveredByPost, m: Message,
                       _: ReplyPolicy) -> RoutedDossier | None:
    return app.hand_over_by_post(c.dossier_code, partner_id=c.partner_id, tracking_number=c.tracking_number,
                                 at=c.delivered_at, trace=m.trace)


def _returned_to_desk(app: RoutingApplication, c: ResultReturnedToDesk, m: Message,
                      _: ReplyPolicy) -> RoutedDossier | None:
    return app.record_result_back_at_desk(c.dossier_code, agency_id=c.agency_id, partner_id=c.partner_id,
                                          tracking_number=c.tracking_number, attempts=c.attempts,
                                          at=c.returned_at, trace=m.trace)


def _carrier_progress(app: RoutingApplication, c: Any, m: Message, _: ReplyPolicy) -> None:
    """An order at the carrier, an order it refused, a shipment's status, a failed delivery attempt:
    postal's own record of the carrier (notify tells the applicant, the audit ledger keeps it);
    routing learns the outcome from ``ResultDeliveredByPost`` or ``ResultReturnedToDesk``."""
    return None


def _pickup_at_desk(app: RoutingApplication, c: PickupHandedToAgency, m: Message, _: ReplyPolicy) -> None:
    """The papers collected at home reached the desk: intake records it; routing starts from intake's
    acceptance."""
    return None


def _fee_collected(app: RoutingApplication, c: PostalFeeCollected, m: Message, _: ReplyPolicy) -> None:
    """Fee and postage the carrier collected for the receiving agency: for the agency's accounts and
    the audit ledger (an agency's payment request is settled at the desk, ``POST …/payment``)."""
    return None


INTAKE, REPLIES, POSTAL = "intake", "replies", "postal"

HANDLERS: dict[type, tuple[str, Reaction]] = {
    DossierSubmitted: (INTAKE, _submitted),
    DossierAccepted: (INTAKE, _accepted),
    DossierRefusedAtIntake: (INTAKE, _refused),
    DossierWithdrawalRequested: (INTAKE, _withdrawal_requested),
    DossierWithdrawn: (INTAKE, _legacy_withdrawn),
    DossierContentRead: (INTAKE, _read_elsewhere),
    AgencyActed: (REPLIES, _agency_acted),
    ResultDeliveredByPost: (POSTAL, _delivered_by_post),
    ResultReturnedToDesk: (POSTAL, _returned_to_desk),
    ShipmentOrdered: (POSTAL, _carrier_progress),
    ShipmentOrderRefused: (POSTAL, _carrier_progress),
    ShipmentStatusChanged: (POSTAL, _carrier_progress),
    PostalDeliveryFailed: (POSTAL, _carrier_progress),
    PickupHandedToAgency: (POSTAL, _pickup_at_desk),
    PostalFeeCollected: (POSTAL, _fee_collected),
}
"""Contract type → (the kind of topic it is accepted from, its reaction). Every other contract
— routing's own events, status changes, anything new — is dead-lettered, not dropped. Intake's
reads (``DossierContentRead``) and the postal contracts other than a delivery and a return to the
desk are listed to be passed by on purpose (each reaction's docstring says who reads them)."""


class Reactions:
    """The consumer's handler: ``reactions(app, contract, envelope, topic)`` → dossiers to save."""

    def __init__(self, *, intake_topic: str, postal_topic: str, policy: ReplyPolicy) -> None:
        self._intake_topic = intake_topic
        self._postal_topic = postal_topic
        self._policy = policy

    def kind_of(self, topic: str) -> str | None:
        if topic == self._intake_topic:
            return INTAKE
        if topic == self._postal_topic:
            return POSTAL
        return REPLIES if self._policy.agency_of_reply_topic(topic) is not None else None

    def __call__(self, app: RoutingApplication, contract: Any, envelope: CloudEvent, topic: str) -> list[Any]:
        entry = HANDLERS.get(type(contract))
        if entry is None:
            raise UnprocessableMessage(f"routing does not handle {envelope.type}")
        kind, reaction = entry
        if self.kind_of(topic) != kind:
            raise UnprocessableMessage(f"{envelope.type} is not accepted on {topic}")
        try:
            dossier = reaction(app, contract, Message(topic, envelope), self._policy)
        except RoutedDossierNotFoundError as exc:
            raise UnprocessableMessage(f"routing has no dossier {exc}") from None
        except RoutingError as exc:
            raise UnprocessableMessage(f"{type(exc).__name__}: {exc}") from None
        return [] if dossier is None else [dossier]

