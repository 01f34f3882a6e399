"""The carrier simulator's HTTP app: the carrier's API (:mod:`postal.carrier_api`) plus ``/admin``.

Built by :func:`create_app` (``lienthong run postal-sim``); everything it holds is made in the
lifespan. Carrier API: ``POST /oauth/token``; ``POST /v1/orders``, ``GET /v1/orders/{id}``,
``POST /v1/orders/{id}/cancel|redeliver|return`` (Bearer token). A background task moves shipments
every 0.1 s of wall time along the simulator's clock and queues their webhooks.

``/admin`` has no authentication and answers loopback clients only: it is for tests and
demonstrations, never exposed. ``/healthz`` is always 200; ``/readyz`` 200 unless the simulator
plays down (``down_for_seconds``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from postal.carrier_api import Order, OrderRequest, TokenAnswer, TrackingEvent
from postal.simulator.carrier import (
    Carrier,
    CarrierError,
    IdempotencyMismatchError,
    Shipment,
    StatusConflictError,
    UnknownOrderError,
)
from postal.simulator.settings import Behaviour, SimulatorSettings
from postal.simulator.store import ShipmentStore
from postal.simulator.webhooks_out import Signer, WebhookSender, WebhookStats
from services.clock import clock_from
from services.observability import ThrottledLog, configure_logging
from shared_events.contracts.postal import PostalLeg, ShipmentStatus

log = logging.getLogger(__name__)

TITLE = "lienthong carrier simulator"
TICK_SECONDS = 0.1
UNMETERED = ("/admin", "/healthz", "/docs", "/redoc", "/openapi.json")
"""Paths that answer whatever the misbehaviour (``down_for_seconds`` included)."""


class Simulator:
    """One process's carrier, tokens, behaviour, webhook sender and counters."""

    def __init__(self, settings: SimulatorSettings, carrier: Carrier, sender_factory:
                 Callable[[Simulator], WebhookSender], store: ShipmentStore | None) -> None:
        self.settings = settings
        self.carrier = carrier
        self.store = store
        self.rng = random.Random(settings.seed)
        self.lock = asyncio.Lock()
        self.tokens: dict[str, float] = {}
        self.answered_5xx = 0
        self.answered_429 = 0
        self.behaviour = Behaviour()
        self.down_until = 0.0
        self.update_behaviour(settings.initial_behaviour().model_dump())
        self.sender = sender_factory(self)

    def chance(self, ratio: float) -> bool:
        return ratio > 0 and self.rng.random() < ratio

    def is_down(self) -> bool:
        return time.monotonic() < self.down_until

    def update_behaviour(self, changes: dict[str, Any]) -> Behaviour:
        """Apply a partial update (validated); ``down_for_seconds`` counts from now."""
        merged = Behaviour.model_validate({**self.behaviour.model_dump(), **changes})
        if "down_for_seconds" in changes:
            self.down_until = time.monotonic() + merged.down_for_seconds
        self.behaviour = merged
        return self.behaviour_now()

    def reset_behaviour(self) -> Behaviour:
        self.behaviour = Behaviour()
        self.down_until = 0.0
        return self.behaviour_now()

    def behaviour_now(self) -> Behaviour:
        """The behaviour in force, ``down_for_seconds`` as what remains of it."""
        remaining = max(0.0, self.down_until - time.monotonic())
        return self.behaviour.model_copy(update={"down_for_seconds": round(remaining, 3)})

    def issue_token(self) -> TokenAnswer:
        now = time.monotonic()
        self.tokens = {token: until for token, until in self.tokens.items() if until > now}
        token = secrets.token_urlsafe(32)
        self.tokens[token] = now + self.settings.token_ttl_seconds
        return TokenAnswer(access_token=token, expires_in=self.settings.token_ttl_seconds)

    def token_is_valid(self, token: str) -> bool:
        return self.tokens.get(token, 0.0) > time.monotonic()

    async def settle(self, *touched: Shipment) -> None:
        """Store what changed and queue the webhooks of the new events; call under :attr:`lock`."""
        events = self.carrier.take_new_events()
        changed = {s.order_id: s for s in (*touched, *(shipment for shipment, _ in events))}
        if self.store is not None and changed:
            await asyncio.to_thread(self.store.save, list(changed.values()))
        for shipment, event in events:
            self.sender.enqueue(shipment, event)

    async def advance(self) -> None:
        async with self.lock:
            self.carrier.advance(self.behaviour.failed_delivery_attempts)
            await self.settle()


class ReferenceCount(BaseModel):
    reference: str
    leg: PostalLeg
    orders: int
    create_calls: int


class Stats(BaseModel):
    orders: int
    create_calls: int = Field(description="POST /v1/orders calls that reached the carrier (not those "
                              "answered 5xx or 429 without acting).")
    by_reference: list[ReferenceCount]
    webhooks_sent: int
    webhooks_dropped: int
    webhooks_failed: int = Field(description="Given up after every retry.")
    webhooks_rejected: int = Field(description="Answered 4xx (not retried).")
    webhooks_pending: int
    answered_5xx: int
    answered_429: int


class AdminOrder(Order):
    idempotency_key: str
    create_calls: int


class NewEvent(BaseModel):
    status: ShipmentStatus
    detail: str | None = Field(default=None, max_length=500)


def _simulator(request: Request) -> Simulator:
    return request.app.state.simulator


SimulatorDep = Annotated[Simulator, Depends(_simulator)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def _require_token(sim: SimulatorDep, authorization: Annotated[str | None, Header()] = None) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not sim.token_is_valid(token.strip()):
        raise HTTPException(401, detail="invalid_token", headers={"WWW-Authenticate": "Bearer"})


def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client else ""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return
    raise HTTPException(403, detail="the admin API answers loopback clients only")


def _token_router() -> APIRouter:
    router = APIRouter(tags=["carrier"])

    @router.post("/oauth/token", response_model=TokenAnswer,
                 responses={401: {"description": "Wrong client credentials: {\"error\": \"invalid_client\"}"}})
    async def token(request: Request, sim: SimulatorDep) -> Any:
        """OAuth2 client credentials, from the form or HTTP Basic."""
        form = await request.form()
        client_id, client_secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        expected = sim.settings
        if not (secrets.compare_digest(client_id.encode(), expected.client_id.encode())
                and secrets.compare_digest(client_secret.encode(), expected.client_secret.encode())):
            return JSONResponse({"error": "invalid_client"}, status_code=401,
                                headers={"WWW-Authenticate": "Basic"})
        return sim.issue_token()

    return router


def _orders_router() -> APIRouter:
    router = APIRouter(prefix="/v1/orders", tags=["carrier"], dependencies=[Depends(_require_token)])

    @router.post("", response_model=Order, status_code=201,
                 responses={200: {"model": Order, "description": "This key's order, created before"},
                            400: {"description": "No Idempotency-Key"},
                            422: {"description": "Invalid body, or the key was used with another body"}})
    async def create_order(body: OrderRequest, response: Response, sim: SimulatorDep,
                           idempotency_key: IdempotencyKey = None) -> Any:
        """Order one leg; the same ``Idempotency-Key`` always means the same order."""
        if not idempotency_key:
            raise HTTPException(400, detail="Idempotency-Key header required")
        async with sim.lock:
            shipment, created = sim.carrier.create(idempotency_key, body)
            await sim.settle(shipment)
        if created and sim.chance(sim.behaviour.fail_after_create_ratio):
            return JSONResponse({"error": "internal"}, status_code=500)
        response.status_code = 201 if created else 200
        return shipment.order()

    @router.get("/{order_id}", response_model=Order)
    async def get_order(order_id: str, sim: SimulatorDep) -> Order:
        """The order with its whole tracking."""
        return sim.carrier.get(order_id).order()

    async def _act(sim: Simulator, act: Callable[[], Shipment]) -> Order:
        async with sim.lock:
            shipment = act()
            await sim.settle(shipment)
        return shipment.order()

    @router.post("/{order_id}/cancel", response_model=Order, responses={409: {"description": "Collected"}})
    async def cancel(order_id: str, sim: SimulatorDep) -> Order:
        """Cancel while created or collecting; a cancelled order stays as it is."""
        return await _act(sim, lambda: sim.carrier.cancel(order_id))

    @router.post("/{order_id}/redeliver", response_model=Order,
                 responses={409: {"description": "Not waiting after a failed delivery"}})
    async def redeliver(order_id: str, sim: SimulatorDep, idempotency_key: IdempotencyKey = None) -> Order:
        """After ``delivery_failed``: in_transit again (next attempt) one step later."""
        return await _act(sim, lambda: sim.carrier.redeliver(order_id, idempotency_key))

    @router.post("/{order_id}/return", response_model=Order,
                 responses={409: {"description": "Not waiting after a failed delivery"}})
    async def return_to_sender(order_id: str, sim: SimulatorDep, idempotency_key: IdempotencyKey = None) -> Order:
        """After ``delivery_failed``: returned_to_sender one step later."""
        return await _act(sim, lambda: sim.carrier.return_to_sender(order_id, idempotency_key))

    return router


def _admin_router() -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(_loopback_only)])

    @router.get("/behaviour", response_model=Behaviour)
    async def get_behaviour(sim: SimulatorDep) -> Behaviour:
        """The misbehaviour in force (``down_for_seconds``: what remains)."""
        return sim.behaviour_now()

    @router.put("/behaviour", response_model=Behaviour)
    async def put_behaviour(sim: SimulatorDep, changes: Annotated[dict[str, Any], Body()]) -> Any:
        """Change some fields of the behaviour; the others stay."""
        try:
            return sim.update_behaviour(changes)
        except ValidationError as exc:
            return JSONResponse({"error": "invalid_behaviour",
                                 "detail": exc.errors(include_url=False, include_context=False)},
                                status_code=422)

    @router.post("/reset", response_model=Behaviour)
    async def reset(sim: SimulatorDep) -> Behaviour:
        """Every misbehaviour off (orders stay)."""
        return sim.reset_behaviour()

    @router.get("/stats", response_model=Stats)
    async def stats(sim: SimulatorDep) -> Stats:
        """Counters of orders, create calls, webhooks and failed answers."""
        shipments = sim.carrier.shipments()
        groups: dict[tuple[str, PostalLeg], list[Shipment]] = {}
        for shipment in shipments:
            groups.setdefault((shipment.request.reference, shipment.request.leg), []).append(shipment)
        hooks: WebhookStats = sim.sender.stats
        return Stats(
            orders=len(shipments), create_calls=sum(s.create_calls for s in shipments),
            by_reference=[ReferenceCount(reference=reference, leg=leg, orders=len(group),
                                         create_calls=sum(s.create_calls for s in group))
                          for (reference, leg), group in groups.items()],
            webhooks_sent=hooks.sent, webhooks_dropped=hooks.dropped, webhooks_failed=hooks.failed,
            webhooks_rejected=hooks.rejected, webhooks_pending=sim.sender.pending(),
            answered_5xx=sim.answered_5xx, answered_429=sim.answered_429)

    @router.get("/orders", response_model=list[AdminOrder])
    async def orders(sim: SimulatorDep) -> list[AdminOrder]:
        """Every order with its idempotency key, create calls and events."""
        return [AdminOrder(**s.order().model_dump(), idempotency_key=s.idempotency_key,
                           create_calls=s.create_calls) for s in sim.carrier.shipments()]

    @router.post("/orders/{order_id}/events", response_model=TrackingEvent, status_code=201)
    async def add_event(order_id: str, body: NewEvent, sim: SimulatorDep) -> TrackingEvent:
        """Record this status now, whatever the schedule, and send its webhook."""
        async with sim.lock:
            event = sim.carrier.append(order_id, body.status, body.detail)
            await sim.settle(sim.carrier.get(order_id))
        return event

    @router.post("/webhooks/resend/{event_id}", status_code=202)
    async def resend(event_id: str, sim: SimulatorDep) -> dict[str, str]:
        """Send that event's webhook again (same id), whatever ``drop_webhook_ratio`` says."""
        for shipment in sim.carrier.shipments():
            for event in shipment.events:
                if event.id == event_id:
                    sim.sender.enqueue(shipment, event, resend=True)
                    return {"queued": event_id}
        raise HTTPException(404, detail=f"no event {event_id}")

    return router


def _operations_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "Playing down (down_for_seconds)"}})
    async def readyz() -> dict[str, str]:
        """Readiness: the carrier API answers."""
        return {"status": "ready"}

    return router


_ERROR_STATUS: dict[type[Exception], tuple[int, str]] = {
    UnknownOrderError: (404, "not_found"),
    StatusConflictError: (409, "conflict"),
    IdempotencyMismatchError: (422, "idempotency_key_reused"),
}


async def _carrier_error(request: Request, exc: Exception) -> Response:
    status, code = _ERROR_STATUS.get(type(exc), (400, "refused"))
    return JSONResponse({"error": code, "detail": str(exc)}, status_code=status)


async def _misbehave(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Down, throttled, failing or slow answers as the behaviour says; counts 5xx and 429."""
    sim: Simulator = request.app.state.simulator
    path = request.url.path
    if path.startswith(UNMETERED):
        return await call_next(request)
    response = await _answer_or_fail(sim, request, call_next)
    if response.status_code >= 500:
        sim.answered_5xx += 1
    elif response.status_code == 429:
        sim.answered_429 += 1
    return response


async def _answer_or_fail(sim: Simulator, request: Request,
                          call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    if sim.is_down():
        retry_after = max(1, round(sim.down_until - time.monotonic()))
        return JSONResponse({"error": "unavailable"}, status_code=503, headers={"Retry-After": str(retry_after)})
    if not request.url.path.startswith("/v1/"):
        return await call_next(request)
    behaviour = sim.behaviour
    if sim.chance(behaviour.throttle_ratio):
        return JSONResponse({"error": "rate_limited"}, status_code=429, headers={"Retry-After": "1"})
    if sim.chance(behaviour.fail_order_ratio):
        return JSONResponse({"error": "unavailable"}, status_code=sim.rng.choice((500, 502, 503)))
    response = await call_next(request)
    if sim.chance(behaviour.slow_ratio):
        await asyncio.sleep(behaviour.slow_seconds)
    return response


async def _tick_forever(sim: Simulator) -> None:
    unreadable_clock = ThrottledLog(log)
    while True:
        await asyncio.sleep(TICK_SECONDS)
        if sim.behaviour.paused:
            continue
        try:
            await sim.advance()
        except (OSError, ValueError) as exc:  # a clock file being rewritten, or unreadable
            unreadable_clock.warning("shipments not moved: the clock cannot be read",
                                     extra={"error": f"{type(exc).__name__}: {exc}"})


def create_app(settings: SimulatorSettings | None = None) -> FastAPI:
    """The simulator's app; ``settings`` default to the environment (``POSTAL_SIM_*``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or SimulatorSettings()
        configure_logging("postal-sim", config.log_level)
        store = ShipmentStore(config.state_path) if config.state_path is not None else None
        shipments = await asyncio.to_thread(store.load) if store is not None else []
        carrier = Carrier(clock_from(config.clock_file), timedelta(seconds=config.step_seconds), shipments)
        async with httpx.AsyncClient() as client:
            def sender(sim: Simulator) -> WebhookSender:
                return WebhookSender(client=client, url=config.webhook_url,
                                     signer=Signer(config.webhook_secret, config.signing_key),
                                     impostor=Signer.impostor(config.signing_key is not None),
                                     behaviour=lambda: sim.behaviour, down_until=lambda: sim.down_until,
                                     rng=sim.rng)

            sim = Simulator(config, carrier, sender, store)
            app.state.simulator = sim
            ticker = asyncio.create_task(_tick_forever(sim))
            log.info("carrier simulator started", extra={"orders": len(shipments),
                                                         "webhook_url": config.webhook_url})
            try:
                yield
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                await sim.sender.close()
                if store is not None:
                    store.close()

    app = FastAPI(title=TITLE, version="0.1.0", lifespan=lifespan,
                  description="Behaves like the public postal carrier (docs/POSTAL.md), misbehaves on demand "
                              "(/admin/behaviour). Development and tests only.")
    app.add_exception_handler(CarrierError, _carrier_error)
    app.middleware("http")(_misbehave)
    for router in (_token_router(), _orders_router(), _admin_router(), _operations_router()):
        app.include_router(router)
    return app
