"""How intake reacts to what other services publish about its dossiers: status changes on
``lienthong.dossier-status`` and postal's events on ``lienthong.postal.events``.

:data:`HANDLERS` is keyed by contract type and says from which kind of topic each contract is
accepted (``status`` or ``postal``). Any other contract, and any contract on the wrong topic, is
dead-lettered with the reason: intake does not silently drop what it was sent.

Status topic: every reported transition is checked against intake's own state
(:meth:`intake.domain.Dossier.record_status_change`): a status intake owns (1, 2, 3) reported by
someone else, any change of a terminal status (3, 7, 8, 10), a status 7 nobody asked for and a
decline of no pending withdrawal are dead-lettered with the reason; a repeated report changes
nothing.

Postal topic: a pickup handed to the receiving desk is recorded on the dossier
(:meth:`intake.domain.Dossier.record_arrival_by_post`; a dossier with no pickup asked for is
dead-lettered, the same parcel again changes nothing). Every other postal contract is listed and
passed by on purpose: its docstring says who reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from intake.application import DossierNotFoundError, IntakeApplication
from intake.domain import Dossier, PostalReportRefusedError, StatusReportRefusedError
from services.consumer import UnprocessableMessage
from shared_events import CloudEvent, DossierStatusChanged, DossierWithdrawalDeclined
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

STATUS, POSTAL = "status", "postal"

Reaction = Callable[[IntakeApplication, Any, CloudEvent], list[Any]]
"""``reaction(app, contract, envelope)`` → the dossiers to save (empty when nothing changed)."""


def _on_dossier(change: Callable[[Dossier, Any, CloudEvent], bool]) -> Reaction:
    """A reaction that loads the contract's dossier and applies ``change`` to it (which returns
    whether anything changed); an unknown dossier and a refused report are unprocessable."""
    def react(app: IntakeApplication, contract: Any, envelope: CloudEvent) -> list[Any]:
        try:
            dossier = app.dossier(contract.dossier_code)
        except DossierNotFoundError:
            raise UnprocessableMessage(f"no dossier {contract.dossier_code}") from None
        try:
            changed = change(dossier, contract, envelope)
        except (StatusReportRefusedError, PostalReportRefusedError) as exc:
            raise UnprocessableMessage(f"refused: {exc}") from None
        return [dossier] if changed else []
    return react


def _status_changed(dossier: Dossier, contract: DossierStatusChanged, envelope: CloudEvent) -> bool:
    return dossier.record_status_change(
        event_id=envelope.id, national_status=int(contract.national_status), reason=contract.reason,
        agency_id=contract.changed_by_agency_id, changed_at=contract.changed_at)


def _withdrawal_declined(dossier: Dossier, contract: DossierWithdrawalDeclined, envelope: CloudEvent) -> bool:
    return dossier.record_withdrawal_declined(event_id=envelope.id, reason=contract.reason,
                                              declined_at=contract.declined_at)


def _pickup_handed_over(dossier: Dossier, contract: PickupHandedToAgency, envelope: CloudEvent) -> bool:
    return dossier.record_arrival_by_post(agency_id=contract.agency_id, partner_id=contract.partner_id,
                                          tracking_number=contract.tracking_number, handed_at=contract.handed_at)


def _carrier_progress(app: IntakeApplication, contract: Any, envelope: CloudEvent) -> list[Any]:
    """An order at the carrier, an order it refused, a shipment's status: postal's own record of the
    carrier (notify tells the applicant, the audit ledger keeps it); nothing for intake to record."""
    return []


def _return_leg(app: IntakeApplication, contract: Any, envelope: CloudEvent) -> list[Any]:
    """The result delivered by post, a failed delivery attempt, the result back at the desk: routing
    records them (it owns status 10, and intake learns 10 from routing's status change); notify tells
    the applicant. Nothing for intake to record."""
    return []


def _fee_collected(app: IntakeApplication, contract: Any, envelope: CloudEvent) -> list[Any]:
    """Fee and postage the carrier collected for the receiving agency: for the agency's accounts and
    the audit ledger; nothing for intake to record."""
    return []


HANDLERS: dict[type, tuple[str, Reaction]] = {
    DossierStatusChanged: (STATUS, _on_dossier(_status_changed)),
    DossierWithdrawalDeclined: (STATUS, _on_dossier(_withdrawal_declined)),
    PickupHandedToAgency: (POSTAL, _on_dossier(_pickup_handed_over)),
    ShipmentOrdered: (POSTAL, _carrier_progress),
    ShipmentOrderRefused: (POSTAL, _carrier_progress),
    ShipmentStatusChanged: (POSTAL, _carrier_progress),
    ResultDeliveredByPost: (POSTAL, _return_leg),
    PostalDeliveryFailed: (POSTAL, _return_leg),
    ResultReturnedToDesk: (POSTAL, _return_leg),
    PostalFeeCollected: (POSTAL, _fee_collected),
}
"""Contract type → (the kind of topic it is accepted from, its reaction). Every postal contract is
listed: a new one is dead-lettered until someone decides what intake does with it."""


def apply(app: IntakeApplication, contract: Any, envelope: CloudEvent, kind: str, topic: str) -> list[Any]:
    """Apply one message that arrived on ``topic``, a topic of ``kind``; the dossiers to save."""
    entry = HANDLERS.get(type(contract))
    if entry is None:
        raise UnprocessableMessage(f"intake does not handle {envelope.type} on {topic}")
    accepted_on, reaction = entry
    if accepted_on != kind:
        raise UnprocessableMessage(f"{envelope.type} is not accepted on {topic} (a {kind} topic); "
                                   f"intake takes it from the {accepted_on} topic")
    return reaction(app, contract, envelope)


def apply_status_change(app: IntakeApplication, contract: Any, envelope: CloudEvent, topic: str = "") -> list[Any]:
    """Apply one message as one from the status topic, whatever ``topic`` is; the dossiers to save."""
    return apply(app, contract, envelope, STATUS, topic or "the status topic")


class Reactions:
    """The intake consumer's handler: ``reactions(app, contract, envelope, topic)`` → dossiers to save."""

    def __init__(self, *, status_topic: str, postal_topic: str) -> None:
        self._kinds = {status_topic: STATUS, postal_topic: POSTAL}

    @property
    def topics(self) -> list[str]:
        return list(self._kinds)

    def kind_of(self, topic: str) -> str | None:
        return self._kinds.get(topic)

    def __call__(self, app: IntakeApplication, contract: Any, envelope: CloudEvent, topic: str) -> list[Any]:
        kind = self.kind_of(topic)
        if kind is None:
            raise UnprocessableMessage(f"intake reads nothing from {topic}")
        return apply(app, contract, envelope, kind, topic)
