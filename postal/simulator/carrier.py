"""The carrier's state machine: orders, idempotency keys and statuses moving on a clock.

Pure: no I/O and no wall-clock time. Every instant comes from the injected clock; the process
(:mod:`postal.simulator.app`) calls :meth:`Carrier.advance` as time passes and sends the webhooks
of the events :meth:`Carrier.take_new_events` hands over.

Schedule: each status of a shipment becomes due ``step`` after the previous one. A pickup goes
created → collecting → collected → in_transit → handed_to_agency; a return created → collected →
in_transit → delivered, except that its first ``failed_delivery_attempts`` attempts end in
``delivery_failed`` and wait for :meth:`Carrier.redeliver` (in_transit again, next attempt, one step
later) or :meth:`Carrier.return_to_sender` (returned_to_sender one step later).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from postal.carrier_api import (
    FINAL_STATUSES,
    PICKUP_STATUSES,
    RETURN_STATUSES,
    Order,
    OrderRequest,
    TrackingEvent,
)
from services.clock import Clock
from shared_events.contracts.postal import PostalLeg, ShipmentStatus

S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
TRACKING_PREFIX = "EB"
TRACKING_COUNTRY = "VN"
NOBODY_HOME = "Không có người nhận"
CANCELLABLE: frozenset[ShipmentStatus] = frozenset({"created", "collecting"})

Action = Literal["redeliver", "return"]


class CarrierError(Exception):
    """A request the carrier refuses."""


class UnknownOrderError(CarrierError):
    """No order has this id (404)."""


class IdempotencyMismatchError(CarrierError):
    """The idempotency key was used before with another body (422)."""


class StatusConflictError(CarrierError):
    """The shipment's status does not allow this (409)."""


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial number."""
    if len(serial) != 8 or not serial.isdigit():
        raise ValueError(f"an S10 serial has 8 digits, not {serial!r}")
    check = 11 - sum(int(d) * w for d, w in zip(serial, S10_WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(check, check)


def is_valid_s10(number: str) -> bool:
    """Whether ``number`` is two letters, 8 digits, the right check digit, two letters."""
    return (len(number) == 13 and number[:2].isalpha() and number[:2].isupper() and number[2:11].isdigit()
            and number[11:].isalpha() and number[11:].isupper()
            and s10_check_digit(number[2:10]) == int(number[10]))


def tracking_number(serial: int) -> str:
    """``EB`` + the 8-digit serial + its S10 check digit + ``VN``."""
    digits = f"{serial:08d}"
    return f"{TRACKING_PREFIX}{digits}{s10_check_digit(digits)}{TRACKING_COUNTRY}"


def leg_statuses(leg: PostalLeg) -> tuple[ShipmentStatus, ...]:
    return PICKUP_STATUSES if leg == "pickup" else RETURN_STATUSES


def _cod_status(leg: PostalLeg) -> ShipmentStatus:
    """The status at which the carrier has collected the COD amount from the applicant."""
    return "collected" if leg == "pickup" else "delivered"


class Shipment(BaseModel):
    """One order and its tracking, as the carrier keeps it."""

    order_id: str
    serial: int
    tracking_number: str
    idempotency_key: str
    request: OrderRequest
    created_at: datetime
    events: list[TrackingEvent]
    attempt: int = 1
    upcoming: list[ShipmentStatus]
    next_due: datetime | None
    create_calls: int = 1
    action_keys: dict[str, Action] = {}

    @property
    def status(self) -> ShipmentStatus:
        return self.events[-1].status

    @property
    def awaiting_instructions(self) -> bool:
        """A delivery failed and nobody said yet whether to try again or bring it back."""
        return self.status == "delivery_failed" and not self.upcoming

    def order(self) -> Order:
        return Order(order_id=self.order_id, tracking_number=self.tracking_number,
                     reference=self.request.reference, leg=self.request.leg, status=self.status,
                     created_at=self.created_at, cod_amount_vnd=self.request.cod_amount_vnd,
                     events=tuple(self.events))


class Carrier:
    """All orders of the simulated carrier; one instance per process."""

    def __init__(self, clock: Clock, step: timedelta, shipments: Iterable[Shipment] = (),
                 first_serial: int = 1) -> None:
        if step <= timedelta(0):
            raise ValueError("the step between two statuses must be positive")
        self.clock = clock
        self.step = step
        self._by_id: dict[str, Shipment] = {}
        self._by_key: dict[str, Shipment] = {}
        for shipment in shipments:
            self._by_id[shipment.order_id] = shipment
            self._by_key[shipment.idempotency_key] = shipment
        self._next_serial = max([first_serial, *(s.serial + 1 for s in self._by_id.values())])
        self._new_events: list[tuple[Shipment, TrackingEvent]] = []

    def shipments(self) -> list[Shipment]:
        return list(self._by_id.values())

    def get(self, order_id: str) -> Shipment:
        try:
            return self._by_id[order_id]
        except KeyError:
            raise UnknownOrderError(order_id) from None

    def create(self, idempotency_key: str, request: OrderRequest) -> tuple[Shipment, bool]:
        """The order of this key (``True``: created now); a key used with another body is refused."""
        known = self._by_key.get(idempotency_key)
        if known is not None:
            known.create_calls += 1
            if known.request != request:
                raise IdempotencyMismatchError(idempotency_key)
            return known, False
        now = self.clock.now()
        serial = self._next_serial
        self._next_serial += 1
        statuses = leg_statuses(request.leg)
        shipment = Shipment(order_id=f"ORD-{uuid.uuid4().hex[:12]}", serial=serial,
                            tracking_number=tracking_number(serial), idempotency_key=idempotency_key,
                            request=request, created_at=now, events=[], upcoming=list(statuses[1:]),
                            next_due=now + self.step)
        self._record(shipment, statuses[0], now)
        self._by_id[shipment.order_id] = shipment
        self._by_key[idempotency_key] = shipment
        return shipment, True

    def cancel(self, order_id: str) -> Shipment:
        """Cancel before collection; cancelling a cancelled order changes nothing."""
        shipment = self.get(order_id)
        if shipment.status == "cancelled":
            return shipment
        if shipment.status not in CANCELLABLE:
            raise StatusConflictError(f"{order_id} is {shipment.status}: too late to cancel")
        self._stop(shipment)
        self._record(shipment, "cancelled", self.clock.now())
        return shipment

    def redeliver(self, order_id: str, idempotency_key: str | None) -> Shipment:
        """Try delivering again after ``delivery_failed``: in_transit (next attempt) one step later."""
        shipment = self._instruct(order_id, idempotency_key, "redeliver")
        if shipment is not None:
            return shipment
        shipment = self.get(order_id)
        shipment.attempt += 1
        self._schedule(shipment, ["in_transit", "delivered"], self.clock.now() + self.step)
        return shipment

    def return_to_sender(self, order_id: str, idempotency_key: str | None) -> Shipment:
        """Bring it back after ``delivery_failed``: returned_to_sender one step later."""
        shipment = self._instruct(order_id, idempotency_key, "return")
        if shipment is not None:
            return shipment
        shipment = self.get(order_id)
        self._schedule(shipment, ["returned_to_sender"], self.clock.now() + self.step)
        return shipment

    def advance(self, failed_delivery_attempts: int = 0) -> None:
        """Record every status due by now, each at the instant it became due."""
        now = self.clock.now()
        for shipment in self._by_id.values():
            while shipment.upcoming and shipment.next_due is not None and shipment.next_due <= now:
                at = shipment.next_due
                status = shipment.upcoming.pop(0)
                detail = None
                if status == "delivered" and shipment.attempt <= failed_delivery_attempts:
                    status, detail = "delivery_failed", NOBODY_HOME
                    shipment.upcoming.clear()
                shipment.next_due = at + self.step if shipment.upcoming else None
                self._record(shipment, status, at, detail)

    def append(self, order_id: str, status: ShipmentStatus, detail: str | None = None) -> TrackingEvent:
        """Record ``status`` now, whatever the schedule; the schedule goes on from that status."""
        shipment = self.get(order_id)
        now = self.clock.now()
        if shipment.status == "delivery_failed" and status == "in_transit":
            shipment.attempt += 1
        statuses = leg_statuses(shipment.request.leg)
        if status in FINAL_STATUSES or status == "delivery_failed" or status not in statuses:
            self._stop(shipment)
        else:
            self._schedule(shipment, list(statuses[statuses.index(status) + 1:]), now + self.step)
        return self._record(shipment, status, now, detail)

    def take_new_events(self) -> list[tuple[Shipment, TrackingEvent]]:
        """The events recorded since the last call, in the order they were recorded."""
        taken, self._new_events = self._new_events, []
        return taken

    def _instruct(self, order_id: str, idempotency_key: str | None, action: Action) -> Shipment | None:
        """The shipment if this key already gave this instruction (nothing to do); raise if refused."""
        shipment = self.get(order_id)
        if idempotency_key is not None and idempotency_key in shipment.action_keys:
            if shipment.action_keys[idempotency_key] != action:
                raise IdempotencyMismatchError(idempotency_key)
            return shipment
        if not shipment.awaiting_instructions:
            raise StatusConflictError(f"{order_id} is {shipment.status}: nothing to {action}")
        if idempotency_key is not None:
            shipment.action_keys[idempotency_key] = action
        return None

    @staticmethod
    def _schedule(shipment: Shipment, upcoming: list[ShipmentStatus], due: datetime) -> None:
        shipment.upcoming = upcoming
        shipment.next_due = due if upcoming else None

    @staticmethod
    def _stop(shipment: Shipment) -> None:
        shipment.upcoming = []
        shipment.next_due = None

    def _record(self, shipment: Shipment, status: ShipmentStatus, at: datetime,
                detail: str | None = None) -> TrackingEvent:
        cod = shipment.request.cod_amount_vnd if status == _cod_status(shipment.request.leg) else None
        event = TrackingEvent(id=f"msg_{uuid.uuid4().hex}", status=status, at=at, attempt=shipment.attempt,
                              detail=detail, cod_collected_vnd=cod)
        shipment.events.append(event)
        self._new_events.append((shipment, event))
        return event
