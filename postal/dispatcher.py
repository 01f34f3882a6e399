"""The dispatcher: makes the carrier calls postal has recorded it must make, and reconciles quiet shipments.

No network call happens inside a database transaction. A leg's pending action (order, cancel,
redeliver, return) is stored first, with its idempotency key, by the use case that decided it; the
dispatcher finds it in the read model, calls the carrier with that key, then records the answer
through the application (which checks the action is still the pending one). A crash anywhere in
between repeats the call with the same key, and the carrier answers what it did the first time.

* The carrier unavailable (retries exhausted, time-outs, the breaker open): the action stays queued,
  tried again after a capped exponential backoff — so orders wait while the carrier is down and go
  out when it is back.
* The carrier refusing for good (4xx): an order is recorded as refused (published: the desk acts);
  another action as answered ``refused`` (a cancel after collection: the papers come to the desk).
* Reconciliation: every ``reconcile_interval_seconds``, each open shipment with no news for
  ``quiet_after_seconds`` (by the service's clock) is asked for its tracking, and every status it
  lists goes through the same use case as a webhook (deduplicated by id): a lost webhook delays a
  status, never loses it.
* PostgreSQL unavailable: the round is abandoned and retried with backoff; nothing is lost (the
  actions are still pending in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from postal.application import PostalApplication, Report
from postal.carrier import CarrierClient, CarrierRefused, CarrierUnavailable
from postal.carrier_api import Order, OrderRequest
from services.clock import Clock
from services.eventstore import EventStore
from services.failures import is_infrastructure_error
from services.observability import ThrottledLog
from services.retrying import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchPolicy:
    interval_seconds: float = 0.5
    concurrency: int = 8
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 60.0
    reconcile_interval_seconds: float = 30.0
    quiet_after_seconds: float = 900.0


class Dispatcher:
    """Runs the pending carrier calls of one postal deployment, and its reconciliation."""

    def __init__(self, store: EventStore[PostalApplication], queries: Any, carriers: Mapping[str, CarrierClient],
                 clock: Clock, policy: DispatchPolicy) -> None:
        self._store = store
        self._queries = queries
        self._carriers = carriers
        self._clock = clock
        self._policy = policy
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._throttled = ThrottledLog(log)

    @property
    def app(self) -> PostalApplication:
        assert self._store.app is not None
        return self._store.app

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(self._loop(stop, self.dispatch_once, self._policy.interval_seconds, "dispatch"),
                             self._loop(stop, self.reconcile_once, self._policy.reconcile_interval_seconds,
                                        "reconciliation"))

    async def _loop(self, stop: asyncio.Event, once: Any, interval: float, what: str) -> None:
        backoff = Backoff(min(0.5, interval), max(interval, 30.0))
        while not stop.is_set():
            try:
                busy = await once()
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                self._throttled.warning(f"{what} round failed: a dependency is unavailable; retrying with backoff",
                                        extra={"error": f"{type(exc).__name__}: {exc}"[:500]})
                await backoff.wait(stop)
                continue
            backoff.reset()
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)

    # --- pending actions -------------------------------------------------------------------------

    async def dispatch_once(self) -> int:
        """Make the carrier calls whose time has come; how many were tried."""
        rows = await self._queries.due_actions(self._policy.concurrency * 4)
        await asyncio.gather(*(self._perform(row) for row in rows))
        return len(rows)

    async def _perform(self, row: asyncpg.Record) -> None:
        """One pending call; an error that is not the infrastructure's is logged and the call put off
        for the longest wait (it never stops the others)."""
        try:
            await self._perform_one(row)
        except Exception as exc:
            if is_infrastructure_error(exc):
                raise
            log.exception("a queued carrier call failed", extra={
                "dossier_code": row["dossier_code"], "leg": row["leg"], "action": row["pending_action"]})
            await self._queries.defer_action(row["dossier_code"], row["leg"], row["pending_key"],
                                             self._policy.retry_max_seconds)

    async def _perform_one(self, row: asyncpg.Record) -> None:
        async with self._slots:
            code, leg, action, key = row["dossier_code"], row["leg"], row["pending_action"], row["pending_key"]
            carrier = self._carriers.get(row["partner_id"])
            if carrier is None:
                log.error("a leg names a partner this deployment has no carrier for",
                          extra={"dossier_code": code, "partner_id": row["partner_id"]})
                await self._queries.defer_action(code, leg, key, self._policy.retry_max_seconds)
                return
            dossier = await self._store.call(self.app.dossier, code)
            state = dossier.leg(leg)
            if state["pending"] is None or (state["pending"]["action"], state["pending"]["key"]) != (action, key):
                return  # answered meanwhile (by another round, or the read model is a moment behind)
            try:
                answer = await self._call(carrier, action, key, state)
            except CarrierUnavailable as exc:
                tries = row["action_tries"] + 1
                wait = min(self._policy.retry_max_seconds, self._policy.retry_initial_seconds * 2 ** min(tries, 20))
                await self._queries.defer_action(code, leg, key, random.uniform(wait / 2, wait))
                self._throttled.warning("the carrier is unavailable; the call stays queued",
                                        extra={"dossier_code": code, "leg": leg, "action": action, "tries": tries,
                                               "circuit_open": exc.circuit_open, "error": str(exc)[:300]})
                return
            except CarrierRefused as exc:
                await self._refused(code, leg, action, key, exc)
                return
            await self._answered(code, leg, action, key, answer)

    async def _call(self, carrier: CarrierClient, action: str, key: str, state: dict[str, Any]) -> Order:
        if action == "order":
            return await carrier.place_order(OrderRequest.model_validate(state["order"]), key)
        order_id = state["order_id"]
        if action == "cancel":
            return await carrier.cancel(order_id, key)
        if action == "redeliver":
            return await carrier.redeliver(order_id, key)
        if action == "return":
            return await carrier.return_to_sender(order_id, key)
        raise ValueError(f"unknown carrier action {action!r}")

    async def _answered(self, code: str, leg: str, action: str, key: str, answer: Order) -> None:
        now = self._clock.now()
        if action == "order":
            await self._store.call(self.app.record_order_placed, code, leg, order_id=answer.order_id,
                                   tracking_number=answer.tracking_number, cod_amount_vnd=answer.cod_amount_vnd,
                                   events=answer.events, at=now)
        else:
            await self._store.call(self.app.record_action_answered, code, leg, action=action, key=key,
                                   outcome="done", detail=None, events=answer.events, at=now)

    async def _refused(self, code: str, leg: str, action: str, key: str, exc: CarrierRefused) -> None:
        now = self._clock.now()
        log.warning("the carrier refused a call", extra={"dossier_code": code, "leg": leg, "action": action,
                                                         "status": exc.status, "detail": exc.detail[:300]})
        if action == "order":
            await self._store.call(self.app.record_order_refused, code, leg, f"{exc.status}: {exc.detail}"[:1000], now)
        else:
            await self._store.call(self.app.record_action_answered, code, leg, action=action, key=key,
                                   outcome="refused", detail=f"{exc.status}: {exc.detail}"[:1000], events=(), at=now)

    # --- reconciliation --------------------------------------------------------------------------

    async def reconcile_once(self) -> int:
        """Ask the carrier for the tracking of every quiet shipment; how many were asked about."""
        now = self._clock.now()
        rows = await self._queries.quiet_shipments(now, self._policy.quiet_after_seconds, 200)
        await asyncio.gather(*(self._reconcile(row, now) for row in rows))
        return 0  # a full round is enough until the next interval

    async def _reconcile(self, row: asyncpg.Record, now: Any) -> None:
        async with self._slots:
            carrier = self._carriers.get(row["partner_id"])
            if carrier is None:
                return
            try:
                order = await carrier.order(row["order_id"])
            except CarrierUnavailable as exc:
                self._throttled.warning("reconciliation: the carrier is unavailable",
                                        extra={"dossier_code": row["dossier_code"], "error": str(exc)[:300]})
                return
            except CarrierRefused as exc:
                log.error("reconciliation: the carrier does not know a shipment we have",
                          extra={"dossier_code": row["dossier_code"], "order_id": row["order_id"],
                                 "status": exc.status})
                await self._queries.mark_checked(row["dossier_code"], row["leg"], now)
                return
            reports = [Report.of_tracking(e, order_id=order.order_id, tracking_number=order.tracking_number)
                       for e in order.events]
            new = await self._store.call(self.app.report_statuses, row["dossier_code"], row["leg"], reports,
                                         "reconciliation", self._clock.now())
            if new:
                log.info("reconciliation found statuses no webhook brought",
                         extra={"dossier_code": row["dossier_code"], "leg": row["leg"], "new": new})
            await self._queries.mark_checked(row["dossier_code"], row["leg"], now)
