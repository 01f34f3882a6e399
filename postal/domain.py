"""The postal dossier: one dossier's legs by post, an event-sourced aggregate.

Pure of I/O and of clocks: every command takes its instant as ``at``. A leg (``pickup`` or
``return``) is one shipment at the carrier. What postal must ask the carrier for — place the order,
cancel it, deliver again, bring it back — is recorded first as the leg's *pending action* with a
deterministic idempotency key; the dispatcher calls the carrier outside any transaction and then
records the answer. So a crash between the two repeats the call with the same key, and the carrier
returns what it did the first time: never a second order.

Statuses reported by the carrier (webhook, reconciliation, or an answer's tracking) are stored one
event per report id (``StatusReported``, applied or not), and applied only when they move the leg
forward: by delivery attempt, then rank (:data:`postal.carrier_api.STATUS_RANK`), then the carrier's
timestamp; a final status ends the leg. A repeated report id changes nothing.

Events: ``Registered``, ``LegOpened``, ``OrderPlaced``, ``OrderRefused``, ``StatusReported``,
``ActionRequested``, ``ActionAnswered``, ``FeeCollected``; and :class:`RoutingEnd` ``Noted`` (the end of a
dossier read before its submission).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from postal.carrier_api import FINAL_STATUSES, STATUS_RANK

POSTAL_NAMESPACE = uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/postal-dossiers")

LEGS = ("pickup", "return")
ACTIONS = ("order", "cancel", "redeliver", "return")
"""What the dispatcher may be asked to do at the carrier for a leg."""

COLLECTED_BY: dict[str, frozenset[str]] = {
    "pickup": frozenset({"collected", "in_transit", "handed_to_agency"}),
    "return": frozenset({"delivered"}),
}
"""The statuses that say the carrier has collected the leg's money from the applicant (on a pickup, at
collection — a later status says so too when the carrier's ``collected`` came late or not at all)."""

CANCELLABLE = frozenset({"created", "collecting"})
"""A pickup can still be called off while the carrier has not collected the papers."""


class PostalError(Exception):
    """A command that does not fit the postal dossier's state."""


class UnknownShipmentError(PostalError):
    """No such leg or order for this dossier (a webhook for a shipment postal does not know: 404)."""


def idempotency_key(code: str, leg: str, action: str, n: int | None = None) -> str:
    """The key of one carrier call: the same for every retry, crash and duplicate event."""
    return f"lienthong:{code}:{leg}:{action}" + ("" if n is None else f":{n}")


def order_key(status: str, attempt: int, at: datetime) -> tuple[int, int, datetime]:
    return attempt, STATUS_RANK[status], at


class PostalDossier(Aggregate):
    """A dossier that travels by post: its applicant's and desk's addresses, fee, and legs."""

    if TYPE_CHECKING:  # defined by the library from the @event methods below
        Registered: ClassVar[type[Any]]
        LegOpened: ClassVar[type[Any]]
        OrderPlaced: ClassVar[type[Any]]
        OrderRefused: ClassVar[type[Any]]
        StatusReported: ClassVar[type[Any]]
        ActionRequested: ClassVar[type[Any]]
        ActionAnswered: ClassVar[type[Any]]
        FeeCollected: ClassVar[type[Any]]

    @staticmethod
    def create_id(dossier_code: str, **_: Any) -> UUID:
        return uuid5(POSTAL_NAMESPACE, dossier_code)

    @event("Registered")
    def __init__(self, dossier_code: str, procedure_code: str, receiving_agency_id: str, applicant: dict[str, Any],
                 desk: dict[str, Any], pickup: dict[str, Any] | None, delivery: dict[str, Any] | None, fee_vnd: int,
                 registered_at: datetime) -> None:
        self.dossier_code = dossier_code
        self.procedure_code = procedure_code
        self.receiving_agency_id = receiving_agency_id
        self.applicant = dict(applicant)
        """``name`` and ``phone`` of the applicant."""
        self.desk = dict(desk)
        """The receiving desk as a postal party: ``name``, ``address``, ``unit_code``."""
        self.pickup = None if pickup is None else dict(pickup)
        self.delivery = None if delivery is None else dict(delivery)
        self.fee_vnd = fee_vnd
        self.registered_at = registered_at
        self.legs: dict[str, dict[str, Any]] = {}
        self.closed_reason: str | None = None

    # --- legs ----------------------------------------------------------------------------------

    def open_leg(self, leg: str, *, partner_id: str, order: dict[str, Any], fee_vnd: int, postage_vnd: int,
                 at: datetime) -> bool:
        """Record the intent to order ``leg`` (False: it is open already)."""
        if leg not in LEGS:
            raise PostalError(f"unknown leg {leg!r}")
        if leg in self.legs:
            return False
        self._leg_opened(dossier_code=self.dossier_code, leg=leg, partner_id=partner_id, order=order,
                         fee_vnd=fee_vnd, postage_vnd=postage_vnd, key=idempotency_key(self.dossier_code, leg, "order"),
                         opened_at=at)
        return True

    @event("LegOpened")
    def _leg_opened(self, dossier_code: str, leg: str, partner_id: str, order: dict[str, Any], fee_vnd: int,
                    postage_vnd: int, key: str, opened_at: datetime) -> None:
        self.legs[leg] = {
            "leg": leg, "partner_id": partner_id, "order": order, "fee_vnd": fee_vnd, "postage_vnd": postage_vnd,
            "order_id": None, "tracking_number": None, "state": "ordering", "status": None, "attempt": 1,
            "status_at": None, "reports": [], "opened_at": opened_at, "last_news_at": opened_at,
            "pending": {"action": "order", "key": key}, "fee_collected": False, "refused_reason": None,
            "redeliveries": 0,
        }

    def leg(self, leg: str) -> dict[str, Any]:
        try:
            return self.legs[leg]
        except KeyError:
            raise UnknownShipmentError(f"hồ sơ {self.dossier_code} has no {leg} leg") from None

    def record_order_placed(self, leg: str, *, order_id: str, tracking_number: str, cod_amount_vnd: int,
                            at: datetime) -> bool:
        """The carrier accepted the order (False: known already — the same order, once)."""
        state = self.leg(leg)
        if state["order_id"] is not None:
            if state["order_id"] != order_id:
                raise PostalError(f"the {leg} leg of {self.dossier_code} is order {state['order_id']}, "
                                  f"not {order_id}")
            return False
        if state["state"] not in ("ordering", "cancelled"):
            raise PostalError(f"the {leg} leg of {self.dossier_code} is {state['state']}")
        self._order_placed(dossier_code=self.dossier_code, leg=leg, partner_id=state["partner_id"], order_id=order_id,
                           tracking_number=tracking_number, cod_amount_vnd=cod_amount_vnd, placed_at=at)
        return True

    @event("OrderPlaced")
    def _order_placed(self, dossier_code: str, leg: str, partner_id: str, order_id: str, tracking_number: str,
                      cod_amount_vnd: int, placed_at: datetime) -> None:
        state = self.legs[leg]
        called_off = state["state"] == "cancelled"
        state.update(order_id=order_id, tracking_number=tracking_number, last_news_at=placed_at, state="open",
                     status="created", status_at=None, pending=None)  # the carrier's own "created" is applied
        if called_off:  # cancelled while the order was on its way to the carrier: cancel it there
            state["pending"] = {"action": "cancel", "key": idempotency_key(dossier_code, leg, "cancel")}

    def record_order_refused(self, leg: str, *, reason: str, at: datetime) -> None:
        state = self.leg(leg)
        if state["state"] != "ordering":
            return
        self._order_refused(dossier_code=self.dossier_code, leg=leg, partner_id=state["partner_id"], reason=reason,
                            refused_at=at)

    @event("OrderRefused")
    def _order_refused(self, dossier_code: str, leg: str, partner_id: str, reason: str, refused_at: datetime) -> None:
        self.legs[leg].update(state="refused", refused_reason=reason, pending=None, last_news_at=refused_at)

    # --- statuses ------------------------------------------------------------------------------

    def report_status(self, leg: str, *, report_id: str, source: str, order_id: str, tracking_number: str,
                      status: str, attempt: int, status_at: datetime, detail: str | None,
                      cod_collected_vnd: int | None, at: datetime, max_delivery_attempts: int) -> bool:
        """One status the carrier reported (False: this report id was seen before — nothing changes).

        A report for a leg whose order is not recorded yet (postal crashed between the carrier's answer
        and its record) records the order from the report first."""
        state = self.leg(leg)
        if state["order_id"] is None:
            if state["state"] not in ("ordering", "cancelled"):  # cancelled: called off while being ordered
                raise UnknownShipmentError(f"the {leg} leg of {self.dossier_code} has no order at the carrier")
            self.record_order_placed(leg, order_id=order_id, tracking_number=tracking_number,
                                     cod_amount_vnd=state["order"]["cod_amount_vnd"], at=at)
        elif state["order_id"] != order_id:
            raise UnknownShipmentError(f"order {order_id} is not the {leg} leg of {self.dossier_code}")
        if any(r["report_id"] == report_id for r in state["reports"]):
            return False
        applied = self._moves_forward(state, status, attempt, status_at)
        self._status_reported(dossier_code=self.dossier_code, leg=leg, partner_id=state["partner_id"],
                              agency_id=self.receiving_agency_id, tracking_number=state["tracking_number"],
                              report_id=report_id, source=source, status=status, attempt=attempt,
                              status_at=status_at, detail=detail, cod_collected_vnd=cod_collected_vnd,
                              recorded_at=at, applied=applied, max_delivery_attempts=max_delivery_attempts)
        if applied:
            self._follow_up(leg, status, attempt, at, max_delivery_attempts)
        return True

    @staticmethod
    def _moves_forward(state: dict[str, Any], status: str, attempt: int, status_at: datetime) -> bool:
        if state["state"] != "open" or state["status"] in FINAL_STATUSES:
            return False
        if state["status_at"] is None:  # ordered, no status reported yet: anything the carrier says moves it
            return True
        return order_key(status, attempt, status_at) > order_key(state["status"], state["attempt"], state["status_at"])

    @event("StatusReported")
    def _status_reported(self, dossier_code: str, leg: str, partner_id: str, agency_id: str, tracking_number: str,
                         report_id: str, source: str, status: str, attempt: int, status_at: datetime,
                         detail: str | None, cod_collected_vnd: int | None, recorded_at: datetime, applied: bool,
                         max_delivery_attempts: int) -> None:
        """``max_delivery_attempts``: the policy in force when it was reported (what followed a failed
        delivery is decided by it)."""
        state = self.legs[leg]
        state["reports"].append({"report_id": report_id, "source": source, "status": status, "attempt": attempt,
                                 "status_at": status_at, "detail": detail, "recorded_at": recorded_at,
                                 "applied": applied})
        state["last_news_at"] = recorded_at
        if applied:
            state.update(status=status, attempt=attempt, status_at=status_at)
            if status in FINAL_STATUSES:
                state["state"] = "closed"
                state["pending"] = None

    def _follow_up(self, leg: str, status: str, attempt: int, at: datetime, max_delivery_attempts: int) -> None:
        """What an applied status asks of postal: the fee collected, another attempt or the way back."""
        state = self.legs[leg]
        if status in COLLECTED_BY[leg] and not state["fee_collected"]:
            self._fee_collected(dossier_code=self.dossier_code, leg=leg, partner_id=state["partner_id"],
                                agency_id=self.receiving_agency_id, fee_vnd=state["fee_vnd"],
                                postage_vnd=state["postage_vnd"], collected_at=at)
        if leg == "return" and status == "delivery_failed":
            if attempt < max_delivery_attempts:
                self._request(leg, "redeliver", idempotency_key(self.dossier_code, leg, "redeliver", attempt), at,
                              f"lần giao {attempt}/{max_delivery_attempts} không thành công")
            else:
                self._request(leg, "return", idempotency_key(self.dossier_code, leg, "return"), at,
                              f"giao không thành công {attempt} lần: chuyển trả bộ phận một cửa")

    @event("FeeCollected")
    def _fee_collected(self, dossier_code: str, leg: str, partner_id: str, agency_id: str, fee_vnd: int,
                       postage_vnd: int, collected_at: datetime) -> None:
        self.legs[leg].update(fee_collected=True, fee_collected_at=collected_at)

    # --- actions at the carrier ----------------------------------------------------------------

    def cancel_pickup(self, reason: str, at: datetime) -> bool:
        """Call off the pickup while the papers are not collected (False: nothing to call off).

        Not ordered yet: the order is dropped before it is sent; ordered: the carrier is asked to cancel."""
        state = self.legs.get("pickup")
        self.closed_reason = self.closed_reason or reason
        if state is None or state["state"] not in ("ordering", "open"):
            return False
        if state["state"] == "open" and state["status"] not in CANCELLABLE:
            return False
        if state["pending"] is not None and state["pending"]["action"] == "cancel":
            return False
        self._request("pickup", "cancel", idempotency_key(self.dossier_code, "pickup", "cancel"), at, reason)
        return True

    def _request(self, leg: str, action: str, key: str, at: datetime, reason: str) -> None:
        self._action_requested(dossier_code=self.dossier_code, leg=leg, action=action, key=key, reason=reason,
                               requested_at=at)

    @event("ActionRequested")
    def _action_requested(self, dossier_code: str, leg: str, action: str, key: str, reason: str,
                          requested_at: datetime) -> None:
        state = self.legs[leg]
        if action == "cancel" and state["state"] == "ordering":
            state.update(state="cancelled", pending=None, status="cancelled", status_at=requested_at)
            return
        state["pending"] = {"action": action, "key": key}
        if action == "redeliver":
            state["redeliveries"] += 1

    def record_action_answered(self, leg: str, *, action: str, key: str, outcome: str, detail: str | None,
                               at: datetime) -> bool:
        """The carrier answered a pending action (``done`` or ``refused``); False: not the pending one."""
        state = self.leg(leg)
        pending = state["pending"]
        if pending is None or (pending["action"], pending["key"]) != (action, key):
            return False
        self._action_answered(dossier_code=self.dossier_code, leg=leg, action=action, key=key, outcome=outcome,
                              detail=detail, answered_at=at)
        return True

    @event("ActionAnswered")
    def _action_answered(self, dossier_code: str, leg: str, action: str, key: str, outcome: str, detail: str | None,
                         answered_at: datetime) -> None:
        self.legs[leg]["pending"] = None
        self.legs[leg]["last_news_at"] = answered_at

    # --- reading -------------------------------------------------------------------------------

    def open_legs(self) -> list[dict[str, Any]]:
        return [s for s in self.legs.values() if s["state"] in ("ordering", "open")]


class RoutingEnd(Aggregate):
    """How routing ended a dossier postal had not seen submitted yet (status 9 with its results, or 3, 7, 8).

    Intake's and routing's events come on different topics, so postal may read the end of a dossier
    before its submission (after an outage of its consumer, say). The end is kept, and the submission,
    when it comes, finds it: the return is ordered at once after a 9, and no pickup after a 3, 7 or 8."""

    if TYPE_CHECKING:  # defined by @event
        Noted: ClassVar[type[Any]]

    @staticmethod
    def create_id(dossier_code: str, **_: Any) -> UUID:
        return uuid5(POSTAL_NAMESPACE, f"routing-end:{dossier_code}")

    @event("Noted")
    def __init__(self, dossier_code: str, national_status: int, results: list[dict[str, Any]], reason: str | None,
                 finished_at: datetime) -> None:
        self.dossier_code = dossier_code
        self.national_status = national_status
        self.results = [dict(r) for r in results]
        self.reason = reason
        self.finished_at = finished_at
