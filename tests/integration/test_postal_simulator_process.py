"""The carrier simulator as a real process: its API, its signed webhooks, its misbehaviour on demand.

Each test starts ``python -m services.cli run postal-sim`` on a free port with a clock file of its
own (``step_seconds`` = 1 on that clock, so statuses move only when the test moves the file) and a
webhook receiver in the test that verifies every signature (``v1`` and ``v1a``). No Kafka, no
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook, WebhookVerificationError

from postal.carrier_api import Order, OrderRequest, Party, StatusWebhook
from postal.simulator.carrier import is_valid_s10
from services.clock import FileClock
from services.sandbox import CarrierCredentials, free_port
from shared_events.contracts.postal import PostalLeg
from tests.random_refs import random_name, random_suffix
from tests.support.carrier_sim import CarrierSimulator, running_carrier_simulator
from tests.support.kafka import eventually

START = datetime(2025, 7, 7, 2, 0, tzinfo=UTC)
STEP = timedelta(seconds=1)
WAIT = 30.0
"""Seconds a poll waits for a webhook or a status (generous: the machine may be busy)."""


@dataclass
class Delivery:
    webhook_id: str
    headers: dict[str, str]
    body: str
    verified: bool

    @property
    def webhook(self) -> StatusWebhook:
        return StatusWebhook.model_validate_json(self.body)


@dataclass
class WebhookReceiver:
    """Records every webhook POSTed to it; answers the queued status codes first, then 204."""

    pair: CarrierCredentials
    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def verifies(self, body: str, headers: dict[str, str]) -> bool:
        try:
            Webhook(self.pair.webhook_secret).verify(body, headers)
            signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body}".encode()
            v1a = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ") if s.startswith("v1a,")]
            key = base64.b64decode(self.pair.public_key.removeprefix("whpk_"))
            Ed25519PublicKey.from_public_bytes(key).verify(base64.b64decode(v1a[0]), signed)
        except (WebhookVerificationError, InvalidSignature, IndexError):
            return False
        return True

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.deliveries.append(Delivery(headers.get("webhook-id", ""), headers, body, self.verifies(body, headers)))
        return web.Response(status=self.answers.pop(0) if self.answers else 204)

    def of(self, order_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.webhook.data.order_id == order_id]

    def statuses(self, order_id: str) -> list[tuple[str, int]]:
        return [(d.webhook.data.status, d.webhook.data.attempt) for d in self.of(order_id)]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    found = WebhookReceiver(CarrierCredentials.random())
    app = web.Application()
    app.router.add_post("/webhooks", found.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    found.url = f"http://127.0.0.1:{port}/webhooks"
    try:
        yield found
    finally:
        await runner.cleanup()


@pytest.fixture
def clock(tmp_path: Path) -> FileClock:
    moving = FileClock(tmp_path / "clock")
    moving.set(START)
    return moving


@pytest.fixture
async def simulator(tmp_path: Path, receiver: WebhookReceiver, clock: FileClock) -> AsyncIterator[CarrierSimulator]:
    async with running_carrier_simulator(tmp_path, receiver.pair, webhook_url=receiver.url,
                                         clock_file=clock.path, step_seconds=STEP.total_seconds(),
                                         seed=random.randint(0, 10**6)) as started:
        yield started


@pytest.fixture
async def api(simulator: CarrierSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the carrier's API with a valid token."""
    token = await simulator.token()
    async with httpx.AsyncClient(base_url=simulator.url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=10.0) as client:
        yield client


def an_order(leg: PostalLeg = "return") -> dict[str, Any]:
    return OrderRequest(
        reference=f"H40.1-250707-{random_suffix(4)}", leg=leg,
        sender=Party(name="Bộ phận một cửa UBND phường", address="1 Đường Lê Lợi", unit_code="00004"),
        receiver=Party(name=random_name(), phone="0912345678", address="12 Ngõ 34 Phố Huế", unit_code="00007"),
        description="Kết quả giải quyết hồ sơ", cod_amount_vnd=random.randint(1, 90) * 1000,
    ).model_dump(mode="json")


async def create(api: httpx.AsyncClient, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return await api.post("/v1/orders", json=body, headers={"Idempotency-Key": key or random_suffix(16)})


async def created_order(api: httpx.AsyncClient, leg: PostalLeg = "return") -> Order:
    answer = await create(api, an_order(leg))
    assert answer.status_code == 201, answer.text
    return Order.model_validate(answer.json())


def move(clock: FileClock, steps: int) -> None:
    clock.set(clock.now() + STEP * steps)


async def test_a_token_then_an_order_then_the_same_order_for_the_same_key(
        simulator: CarrierSimulator, api: httpx.AsyncClient) -> None:
    body, key = an_order(), random_suffix(16)

    first = await create(api, body, key)
    again = await create(api, body, key)
    other = await create(api, {**body, "description": "Giấy tờ khác"}, key)

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 422)
    order = Order.model_validate(first.json())
    assert again.json() == first.json()
    assert order.order_id.startswith("ORD-") and is_valid_s10(order.tracking_number)
    assert (order.status, order.created_at, order.reference) == ("created", START, body["reference"])
    fetched = await api.get(f"/v1/orders/{order.order_id}")
    assert Order.model_validate(fetched.json()) == order
    stats = await simulator.stats()
    assert (stats["orders"], stats["create_calls"]) == (1, 3)
    assert stats["by_reference"] == [{"reference": body["reference"], "leg": "return", "orders": 1,
                                      "create_calls": 3}]
    assert (await simulator.order(order.order_id))["idempotency_key"] == key


async def test_calls_without_a_valid_token_or_key_are_refused(simulator: CarrierSimulator,
                                                              api: httpx.AsyncClient) -> None:
    wrong = await simulator.http.post("/oauth/token", data={"grant_type": "client_credentials",
                                                            "client_id": simulator.pair.client_id,
                                                            "client_secret": "not-the-secret"})
    basic = await simulator.http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                      auth=(simulator.pair.client_id, simulator.pair.client_secret))
    untokened = await simulator.http.post("/v1/orders", json=an_order(), headers={"Idempotency-Key": "k"})
    forged = await simulator.http.get("/v1/orders/ORD-000000000000", headers={"Authorization": "Bearer forged"})
    keyless = await api.post("/v1/orders", json=an_order())
    invalid = await create(api, {**an_order(), "leg": "sideways"})
    unknown = await api.get(f"/v1/orders/ORD-{random_suffix(12)}")

    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    assert basic.status_code == 200 and basic.json()["expires_in"] == 3600
    assert (untokened.status_code, forged.status_code, keyless.status_code) == (401, 401, 400)
    assert (invalid.status_code, unknown.status_code) == (422, 404)
    assert (await simulator.stats())["orders"] == 0


async def test_concurrent_creations_with_one_key_make_one_order(simulator: CarrierSimulator,
                                                                 api: httpx.AsyncClient) -> None:
    body, key = an_order(), random_suffix(16)

    answers = await asyncio.gather(*(create(api, body, key) for _ in range(12)))

    assert sorted(answer.status_code for answer in answers) == [200] * 11 + [201]
    assert len({answer.json()["order_id"] for answer in answers}) == 1
    stats = await simulator.stats()
    assert (stats["orders"], stats["create_calls"]) == (1, 12)


async def test_statuses_arrive_signed_and_in_order_as_the_clock_file_moves(
        simulator: CarrierSimulator, api: httpx.AsyncClient, receiver: WebhookReceiver, clock: FileClock) -> None:
    order = await created_order(api, "pickup")
    await eventually(lambda: _received(receiver, order.order_id, 1), timeout=WAIT)

    for expected in range(2, 6):
        move(clock, 1)
        await eventually(partial(_received, receiver, order.order_id, expected), timeout=WAIT)

    tracked = Order.model_validate((await api.get(f"/v1/orders/{order.order_id}")).json())
    deliveries = receiver.of(order.order_id)
    assert all(d.verified for d in deliveries)
    assert [d.webhook.data.status for d in deliveries] == [
        "created", "collecting", "collected", "in_transit", "handed_to_agency"]
    assert [d.webhook_id for d in deliveries] == [event.id for event in tracked.events]
    assert [d.webhook.timestamp for d in deliveries] == [START + STEP * n for n in range(5)]
    assert deliveries[2].webhook.data.cod_collected_vnd == order.cod_amount_vnd
    assert tracked.status == "handed_to_agency"


async def test_a_failed_delivery_then_a_redelivery_reports_the_next_attempt(
        simulator: CarrierSimulator, api: httpx.AsyncClient, receiver: WebhookReceiver, clock: FileClock) -> None:
    await simulator.set_behaviour(failed_delivery_attempts=1)
    order = await created_order(api, "return")
    move(clock, 3)
    await eventually(lambda: _received(receiver, order.order_id, 4), timeout=WAIT)
    key = random_suffix(16)

    first = await api.post(f"/v1/orders/{order.order_id}/redeliver", headers={"Idempotency-Key": key})
    again = await api.post(f"/v1/orders/{order.order_id}/redeliver", headers={"Idempotency-Key": key})
    other = await api.post(f"/v1/orders/{order.order_id}/return", headers={"Idempotency-Key": random_suffix(16)})
    move(clock, 2)
    await eventually(lambda: _received(receiver, order.order_id, 6), timeout=WAIT)

    assert (first.status_code, again.status_code, other.status_code) == (200, 200, 409)
    assert receiver.statuses(order.order_id) == [("created", 1), ("collected", 1), ("in_transit", 1),
                                                 ("delivery_failed", 1), ("in_transit", 2), ("delivered", 2)]
    assert receiver.of(order.order_id)[3].webhook.data.detail == "Không có người nhận"


async def test_a_status_added_through_admin_is_tracked_and_sent_at_once(
        simulator: CarrierSimulator, api: httpx.AsyncClient, receiver: WebhookReceiver, clock: FileClock) -> None:
    order = await created_order(api, "return")
    move(clock, 2)
    await eventually(lambda: _received(receiver, order.order_id, 3), timeout=WAIT)
    clock.set(clock.now() + timedelta(milliseconds=300))

    event = await simulator.add_event(order.order_id, "delivery_failed", "Sai địa chỉ")
    await eventually(lambda: _received(receiver, order.order_id, 4), timeout=WAIT)
    returned = await api.post(f"/v1/orders/{order.order_id}/return", headers={"Idempotency-Key": random_suffix()})
    move(clock, 1)
    await eventually(lambda: _received(receiver, order.order_id, 5), timeout=WAIT)

    assert receiver.of(order.order_id)[3].webhook_id == event["id"]
    assert receiver.of(order.order_id)[3].webhook.data.detail == "Sai địa chỉ"
    assert returned.status_code == 200
    assert receiver.statuses(order.order_id)[-1] == ("returned_to_sender", 1)


async def test_cancelling_is_allowed_before_collection_only(
        simulator: CarrierSimulator, api: httpx.AsyncClient, clock: FileClock) -> None:
    early, late = await created_order(api, "pickup"), await created_order(api, "pickup")
    early_cancel = await api.post(f"/v1/orders/{early.order_id}/cancel")
    move(clock, 2)
    await eventually(lambda: _status_at_simulator(simulator, late.order_id, "collected"), timeout=WAIT)

    again = await api.post(f"/v1/orders/{early.order_id}/cancel")
    late_cancel = await api.post(f"/v1/orders/{late.order_id}/cancel")

    assert (early_cancel.status_code, early_cancel.json()["status"]) == (200, "cancelled")
    assert again.json() == early_cancel.json()
    assert late_cancel.status_code == 409


async def test_duplicated_webhooks_arrive_twice_with_the_same_id(
        simulator: CarrierSimulator, api: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
    await simulator.set_behaviour(duplicate_webhooks=True)

    order = await created_order(api)
    await eventually(lambda: _received(receiver, order.order_id, 2), timeout=WAIT)

    deliveries = receiver.of(order.order_id)
    assert deliveries[0].webhook_id == deliveries[1].webhook_id == order.events[0].id
    assert all(d.verified for d in deliveries)


async def test_a_dropped_webhook_stays_in_the_tracking_and_can_be_resent(
        simulator: CarrierSimulator, api: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
    await simulator.set_behaviour(drop_webhook_ratio=1.0)
    order = await created_order(api)
    await eventually(lambda: _stat(simulator, "webhooks_dropped", 1), timeout=WAIT)
    assert receiver.of(order.order_id) == []

    await simulator.resend(order.events[0].id)
    await eventually(lambda: _received(receiver, order.order_id, 1), timeout=WAIT)

    assert receiver.of(order.order_id)[0].webhook_id == order.events[0].id
    assert receiver.of(order.order_id)[0].verified


async def test_webhooks_signed_with_the_wrong_key_do_not_verify(
        simulator: CarrierSimulator, api: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
    await simulator.set_behaviour(wrong_signing_key=True)

    order = await created_order(api)
    await eventually(lambda: _received(receiver, order.order_id, 1), timeout=WAIT)

    assert [d.verified for d in receiver.of(order.order_id)] == [False]


async def test_webhooks_held_for_a_while_arrive_in_reverse(
        simulator: CarrierSimulator, api: httpx.AsyncClient, receiver: WebhookReceiver, clock: FileClock) -> None:
    order = await created_order(api, "pickup")
    await eventually(lambda: _received(receiver, order.order_id, 1), timeout=WAIT)
    await simulator.set_behaviour(reorder_webhooks=True)

    move(clock, 3)
    await eventually(lambda: _received(receiver, order.order_id, 4), timeout=WAIT)

    assert [status for status, _ in receiver.statuses(order.order_id)] == [
        "created", "in_transit", "collected", "collecting"]


async def test_while_down_the_api_answers_503_and_webhooks_wait_until_it_is_up_again(
        simulator: CarrierSimulator, api: httpx.AsyncClient, receiver: WebhookReceiver, clock: FileClock) -> None:
    order = await created_order(api, "return")
    await eventually(lambda: _received(receiver, order.order_id, 1), timeout=WAIT)

    await simulator.set_behaviour(down_for_seconds=120)
    move(clock, 1)
    await eventually(lambda: _status_at_simulator(simulator, order.order_id, "collected"), timeout=WAIT)
    while_down = [await api.get(f"/v1/orders/{order.order_id}"), await create(api, an_order()),
                  await simulator.http.get("/readyz")]
    assert len(receiver.of(order.order_id)) == 1
    await simulator.reset()
    await eventually(lambda: _received(receiver, order.order_id, 2), timeout=WAIT)

    assert [answer.status_code for answer in while_down] == [503, 503, 503]
    assert receiver.statuses(order.order_id) == [("created", 1), ("collected", 1)]
    stats = await simulator.stats()
    assert (stats["orders"], stats["answered_5xx"]) == (1, 3)


async def test_throttled_and_failing_calls_act_not_but_a_crash_after_create_keeps_the_order(
        simulator: CarrierSimulator, api: httpx.AsyncClient) -> None:
    body, key = an_order(), random_suffix(16)
    await simulator.set_behaviour(throttle_ratio=1.0)
    throttled = await create(api, body, key)
    await simulator.set_behaviour(throttle_ratio=0.0, fail_order_ratio=1.0)
    failed = await create(api, body, key)
    assert (await simulator.stats())["orders"] == 0

    await simulator.set_behaviour(fail_order_ratio=0.0, fail_after_create_ratio=1.0)
    crashed = await create(api, body, key)
    await simulator.reset()
    retried = await create(api, body, key)

    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "1")
    assert failed.is_server_error
    assert (crashed.status_code, retried.status_code) == (500, 200)
    stats = await simulator.stats()
    assert (stats["orders"], stats["create_calls"], stats["answered_429"], stats["answered_5xx"]) == (1, 2, 1, 2)


async def test_a_slow_answer_comes_after_the_order_was_created(simulator: CarrierSimulator,
                                                                api: httpx.AsyncClient) -> None:
    body, key = an_order(), random_suffix(16)
    await simulator.set_behaviour(slow_ratio=1.0, slow_seconds=3)

    with pytest.raises(httpx.ReadTimeout):
        await api.post("/v1/orders", json=body, headers={"Idempotency-Key": key}, timeout=0.5)
    await simulator.reset()
    retried = await create(api, body, key)

    assert retried.status_code == 200
    assert [order["idempotency_key"] for order in await simulator.orders()] == [key]


async def test_the_api_is_documented_under_the_simulators_name(simulator: CarrierSimulator) -> None:
    schema = (await simulator.http.get("/openapi.json")).json()

    assert schema["info"]["title"] == "lienthong carrier simulator"
    assert {"/oauth/token", "/v1/orders", "/v1/orders/{order_id}/redeliver", "/admin/behaviour"} <= set(schema["paths"])


async def test_a_receiver_failing_for_a_while_gets_the_webhook_retried_and_a_refusal_is_not_retried(
        simulator: CarrierSimulator, api: httpx.AsyncClient, receiver: WebhookReceiver, clock: FileClock) -> None:
    receiver.answers.extend([503, 500, 429])
    order = await created_order(api)
    await eventually(lambda: _received(receiver, order.order_id, 4), timeout=WAIT)
    receiver.answers.append(400)

    move(clock, 1)
    await eventually(lambda: _stat(simulator, "webhooks_rejected", 1), timeout=WAIT)

    assert [d.webhook_id for d in receiver.of(order.order_id)] == [order.events[0].id] * 4 + [
        (await simulator.order(order.order_id))["events"][1]["id"]]
    stats = await simulator.stats()
    assert (stats["webhooks_sent"], stats["webhooks_rejected"], stats["webhooks_failed"]) == (1, 1, 0)


async def test_behaviour_is_changed_in_part_and_refused_when_invalid(simulator: CarrierSimulator) -> None:
    await simulator.set_behaviour(slow_ratio=0.5, slow_seconds=2.0)
    changed = await simulator.set_behaviour(paused=True)
    refused = await simulator.http.put("/admin/behaviour", json={"drop_webhook_ratio": 2})
    unknown = await simulator.http.put("/admin/behaviour", json={"explode": True})

    assert (changed["slow_ratio"], changed["slow_seconds"], changed["paused"]) == (0.5, 2.0, True)
    assert (refused.status_code, unknown.status_code) == (422, 422)
    assert await simulator.behaviour() == changed
    assert (await simulator.reset())["paused"] is False


async def test_a_restarted_simulator_with_a_state_file_keeps_its_orders(
        tmp_path: Path, receiver: WebhookReceiver, clock: FileClock) -> None:
    simulator = CarrierSimulator(tmp_path, receiver.pair, webhook_url=receiver.url, clock_file=clock.path,
                                 step_seconds=1, state_path=tmp_path / "carrier.sqlite")
    body, key = an_order(), random_suffix(16)
    await simulator.start()
    try:
        first = await _create_with_token(simulator, body, key)
        await simulator.stop()
        await simulator.start()
        again = await _create_with_token(simulator, body, key)
        fresh = await _create_with_token(simulator, an_order(), random_suffix(16))
    finally:
        await simulator.stop()

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["order_id"] == first.json()["order_id"]
    assert fresh.json()["tracking_number"] != first.json()["tracking_number"]


async def _create_with_token(simulator: CarrierSimulator, body: dict[str, Any], key: str) -> httpx.Response:
    token = await simulator.token()
    return await simulator.http.post("/v1/orders", json=body, headers={"Idempotency-Key": key,
                                                                        "Authorization": f"Bearer {token}"})


async def _received(receiver: WebhookReceiver, order_id: str, count: int) -> bool:
    return len(receiver.of(order_id)) >= count


async def _stat(simulator: CarrierSimulator, name: str, at_least: int) -> bool:
    return int((await simulator.stats())[name]) >= at_least


async def _status_at_simulator(simulator: CarrierSimulator, order_id: str, status: str) -> bool:
    return bool((await simulator.order(order_id))["status"] == status)
