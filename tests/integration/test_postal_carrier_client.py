"""The carrier client against the carrier simulator, a real process: tokens, idempotency, retries, breaker.

The tests share one simulator (paused: shipments move only when a test says so), its misbehaviour
reset before each; those that need settings of their own at start run one of their own. They watch
what reached it through its ``/admin/stats`` and, on postal's side, through a transport that
records every request the client sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from postal.carrier import (
    CarrierClient,
    CarrierConflict,
    CarrierNotFound,
    CarrierPartner,
    CarrierPolicy,
    CarrierRefused,
    CarrierUnavailable,
)
from postal.carrier_api import OrderRequest, Party
from postal.domain import idempotency_key
from services.sandbox import free_port
from tests.random_refs import random_name, random_suffix
from tests.support.carrier_sim import CarrierSimulator, running_carrier_simulator

QUICK = CarrierPolicy(attempts=4, initial_backoff_seconds=0.01, max_backoff_seconds=0.05, timeout_seconds=5.0,
                      breaker_threshold=5, breaker_reset_seconds=30.0, max_retry_after_seconds=5.0)


@dataclass
class RecordingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that notes the method and path of every request it sends."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    spoil_tokens: int = 0
    """How many of the next API calls go out with a token the carrier never issued."""
    inner: httpx.AsyncHTTPTransport = field(default_factory=httpx.AsyncHTTPTransport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        if self.spoil_tokens and request.url.path.startswith("/v1/"):
            self.spoil_tokens -= 1
            request.headers["Authorization"] = "Bearer revoked"
        response = await self.inner.handle_async_request(request)
        self.answers.append(response.status_code)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def count(self, path: str) -> int:
        return sum(1 for _, sent_path in self.sent if sent_path == path)


Connect = Callable[..., Awaitable[tuple[CarrierClient, RecordingTransport]]]


@pytest.fixture(scope="module")
async def shared_simulator(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CarrierSimulator]:
    async with running_carrier_simulator(tmp_path_factory.mktemp("carrier"), paused=True,
                                         webhook_url=nowhere()) as started:
        yield started


@pytest.fixture
async def simulator(shared_simulator: CarrierSimulator) -> CarrierSimulator:
    """The module's simulator, behaving again (its orders stay: each test has references of its own)."""
    await shared_simulator.reset()
    return shared_simulator


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Clients on a simulator, closed at the end of the test."""
    clients: list[CarrierClient] = []

    async def connect(simulator: CarrierSimulator, policy: CarrierPolicy = QUICK, *,
                      client_secret: str | None = None) -> tuple[CarrierClient, RecordingTransport]:
        transport = RecordingTransport()
        partner = CarrierPartner(simulator.url, simulator.pair.client_id,
                                 client_secret or simulator.pair.client_secret)
        client = CarrierClient(partner, policy, transport=transport)
        clients.append(client)
        return client, transport

    yield connect
    for client in clients:
        await client.aclose()


def nowhere() -> str:
    """A webhook URL nobody listens on: these tests read no webhooks."""
    return f"http://127.0.0.1:{free_port()}/v1/postal/webhooks/test"


def an_order_request() -> OrderRequest:
    return OrderRequest(
        reference=f"H40.{random_suffix(10)}", leg="pickup",
        sender=Party(name=random_name(), phone="0912345678", address="12 Lý Thường Kiệt, Hoàn Kiếm", unit_code="00070"),
        receiver=Party(name="Bộ phận một cửa", address="1 Tràng Tiền, Hoàn Kiếm", unit_code="00070"),
        description="Hồ sơ giấy tờ", cod_amount_vnd=65_000)


async def orders_at_the_simulator(simulator: CarrierSimulator, reference: str) -> tuple[int, int]:
    """(orders, create calls) the simulator holds for ``reference``."""
    for row in (await simulator.stats())["by_reference"]:
        if row["reference"] == reference:
            return row["orders"], row["create_calls"]
    return 0, 0


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        await asyncio.sleep(0.05)


async def test_a_token_is_fetched_once_and_reused_across_calls(simulator: CarrierSimulator,
                                                               connect: Connect) -> None:
    client, transport = await connect(simulator)

    placed = await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))
    for _ in range(3):
        assert (await client.order(placed.order_id)).order_id == placed.order_id

    assert transport.count("/oauth/token") == 1
    assert 401 not in transport.answers


async def test_concurrent_first_calls_wait_for_one_token(simulator: CarrierSimulator, connect: Connect) -> None:
    client, transport = await connect(simulator)

    placed = await asyncio.gather(*(client.place_order(an_order_request(),
                                                       idempotency_key(random_suffix(), "pickup", "order"))
                                    for _ in range(5)))

    assert len({order.order_id for order in placed}) == 5
    assert transport.count("/oauth/token") == 1


async def test_a_token_is_renewed_before_it_expires(tmp_path: Path, connect: Connect) -> None:
    async with running_carrier_simulator(tmp_path, paused=True, webhook_url=nowhere(),
                                         token_ttl_seconds=1) as simulator:
        client, transport = await connect(simulator)
        placed = await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))

        async def renewed() -> bool:
            assert (await client.order(placed.order_id)).order_id == placed.order_id
            return transport.count("/oauth/token") >= 2

        await eventually(renewed, what="a second token")

    assert transport.answers.count(401) == 0


async def test_an_order_placed_twice_with_the_same_key_is_one_order(simulator: CarrierSimulator,
                                                                    connect: Connect) -> None:
    client, _ = await connect(simulator)
    request, key = an_order_request(), idempotency_key(random_suffix(), "pickup", "order")

    first = await client.place_order(request, key)
    again = await client.place_order(request, key)

    assert again == first
    assert await orders_at_the_simulator(simulator, request.reference) == (1, 2)


async def test_the_same_key_with_another_order_is_refused(simulator: CarrierSimulator, connect: Connect) -> None:
    client, _ = await connect(simulator)
    key = idempotency_key(random_suffix(), "pickup", "order")
    await client.place_order(an_order_request(), key)

    with pytest.raises(CarrierRefused) as refused:
        await client.place_order(an_order_request(), key)

    assert refused.value.status == 422


async def test_failing_answers_are_retried_and_each_key_makes_exactly_one_order(
        tmp_path: Path, connect: Connect) -> None:
    async with running_carrier_simulator(tmp_path, paused=True, webhook_url=nowhere(), seed=20261201,
                                         fail_order_ratio=0.6) as simulator:
        client, _ = await connect(simulator, CarrierPolicy(attempts=20, initial_backoff_seconds=0.01,
                                                           max_backoff_seconds=0.05, breaker_threshold=50))
        requests = [an_order_request() for _ in range(6)]

        placed = [await client.place_order(request, idempotency_key(request.reference, "pickup", "order"))
                  for request in requests]

        assert [order.reference for order in placed] == [request.reference for request in requests]
        for request in requests:
            orders, _ = await orders_at_the_simulator(simulator, request.reference)
            assert orders == 1
        assert (await simulator.stats())["answered_5xx"] > 0


async def test_a_failure_after_the_order_was_made_is_retried_into_the_same_order(
        simulator: CarrierSimulator, connect: Connect) -> None:
    once, _ = await connect(simulator, CarrierPolicy(attempts=1, initial_backoff_seconds=0.01,
                                                     max_backoff_seconds=0.05))
    request, key = an_order_request(), idempotency_key(random_suffix(), "pickup", "order")
    await simulator.set_behaviour(fail_after_create_ratio=1.0)

    with pytest.raises(CarrierUnavailable) as failed:
        await once.place_order(request, key)
    assert failed.value.status == 500
    assert await orders_at_the_simulator(simulator, request.reference) == (1, 1)

    await simulator.set_behaviour(fail_after_create_ratio=0.0)
    placed = await once.place_order(request, key)

    made = [order for order in await simulator.orders() if order["idempotency_key"] == key]
    assert [order["order_id"] for order in made] == [placed.order_id]
    assert await orders_at_the_simulator(simulator, request.reference) == (1, 2)


async def test_with_retries_a_failure_after_the_order_was_made_still_gives_one_order(
        simulator: CarrierSimulator, connect: Connect) -> None:
    client, _ = await connect(simulator)
    request, key = an_order_request(), idempotency_key(random_suffix(), "pickup", "order")
    await simulator.set_behaviour(fail_after_create_ratio=1.0)

    placed = await client.place_order(request, key)

    assert placed.reference == request.reference
    assert await orders_at_the_simulator(simulator, request.reference) == (1, 2)


async def test_a_throttled_call_waits_what_retry_after_says_and_then_succeeds(
        simulator: CarrierSimulator, connect: Connect) -> None:
    # The backoff alone would wait a minute: only the simulator's Retry-After (1 s) lets the call
    # finish within the polling timeout.
    client, transport = await connect(simulator, CarrierPolicy(attempts=10, initial_backoff_seconds=60,
                                                               max_backoff_seconds=60))
    request = an_order_request()
    await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))  # the token
    await simulator.set_behaviour(throttle_ratio=1.0)

    call = asyncio.create_task(client.place_order(request, idempotency_key(request.reference, "pickup", "order")))

    async def throttled() -> bool:
        return 429 in transport.answers

    await eventually(throttled, what="a 429")
    await simulator.set_behaviour(throttle_ratio=0.0)
    async def finished() -> bool:
        return call.done()

    await eventually(finished, what="the throttled call")

    assert call.result().reference == request.reference
    assert await orders_at_the_simulator(simulator, request.reference) == (1, 1)


async def test_while_the_carrier_is_down_the_breaker_opens_fails_fast_and_closes_once_it_is_back(
        simulator: CarrierSimulator, connect: Connect) -> None:
    client, transport = await connect(simulator, CarrierPolicy(
        attempts=2, initial_backoff_seconds=0.01, max_backoff_seconds=0.05, max_retry_after_seconds=0.05,
        breaker_threshold=2, breaker_reset_seconds=1.0))
    await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))
    await simulator.set_behaviour(down_for_seconds=4)

    for _ in range(2):
        with pytest.raises(CarrierUnavailable) as down:
            await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))
        assert down.value.status == 503
    assert client.circuit_open

    sent_before = len(transport.sent)
    with pytest.raises(CarrierUnavailable) as fast:
        await client.order("any-order")
    assert fast.value.circuit_open
    assert len(transport.sent) == sent_before

    request = an_order_request()

    async def placed_again() -> bool:
        try:
            await client.place_order(request, idempotency_key(request.reference, "pickup", "order"))
        except CarrierUnavailable:
            return False
        return True

    await eventually(placed_again, what="a call through the closed breaker")
    assert not client.circuit_open
    assert (await simulator.behaviour())["down_for_seconds"] == 0
    assert await orders_at_the_simulator(simulator, request.reference) == (1, 1)


async def test_a_cancel_after_collection_is_a_conflict(simulator: CarrierSimulator, connect: Connect) -> None:
    client, _ = await connect(simulator)
    collected = await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))
    await simulator.add_event(collected.order_id, "collecting")
    await simulator.add_event(collected.order_id, "collected")

    with pytest.raises(CarrierConflict) as conflict:
        await client.cancel(collected.order_id, idempotency_key(collected.reference, "pickup", "cancel"))

    assert conflict.value.status == 409
    assert (await client.order(collected.order_id)).status == "collected"


async def test_a_cancel_before_collection_cancels(simulator: CarrierSimulator, connect: Connect) -> None:
    client, _ = await connect(simulator)
    placed = await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))

    cancelled = await client.cancel(placed.order_id, idempotency_key(placed.reference, "pickup", "cancel"))

    assert cancelled.status == "cancelled"
    assert (await client.order(placed.order_id)).status == "cancelled"


async def test_an_unknown_order_is_not_found(simulator: CarrierSimulator, connect: Connect) -> None:
    client, _ = await connect(simulator)

    with pytest.raises(CarrierNotFound):
        await client.order(f"no-such-{random_suffix()}")


async def test_a_wrong_client_secret_is_refused_and_does_not_open_the_breaker(
        simulator: CarrierSimulator, connect: Connect) -> None:
    client, transport = await connect(simulator, CarrierPolicy(breaker_threshold=2), client_secret="not-the-secret")

    for _ in range(3):
        with pytest.raises(CarrierRefused) as refused:
            await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))
        assert refused.value.status == 401

    assert not client.circuit_open
    assert transport.count("/oauth/token") == 3
    assert transport.count("/v1/orders") == 0


async def test_a_token_the_carrier_no_longer_takes_is_replaced_and_the_call_goes_through(
        simulator: CarrierSimulator, connect: Connect) -> None:
    client, transport = await connect(simulator)
    placed = await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))
    transport.spoil_tokens = 1

    assert (await client.order(placed.order_id)).order_id == placed.order_id
    assert transport.count("/oauth/token") == 2
    assert transport.answers.count(401) == 1


async def test_an_api_call_refused_even_with_a_fresh_token_is_refused(simulator: CarrierSimulator,
                                                                      connect: Connect) -> None:
    client, transport = await connect(simulator)
    transport.spoil_tokens = 10

    with pytest.raises(CarrierRefused) as refused:
        await client.order(f"o-{random_suffix()}")

    assert refused.value.status == 401
    assert transport.count("/oauth/token") == 2


async def test_an_order_whose_answer_timed_out_is_the_same_order_when_tried_again(
        simulator: CarrierSimulator, connect: Connect) -> None:
    client, _ = await connect(simulator, CarrierPolicy(attempts=2, initial_backoff_seconds=0.01,
                                                       max_backoff_seconds=0.05, timeout_seconds=0.5))
    await client.place_order(an_order_request(), idempotency_key(random_suffix(), "pickup", "order"))  # the token
    request, key = an_order_request(), idempotency_key(random_suffix(), "pickup", "order")
    await simulator.set_behaviour(slow_ratio=1.0, slow_seconds=3.0)

    with pytest.raises(CarrierUnavailable) as timed_out:
        await client.place_order(request, key)
    assert timed_out.value.status is None
    assert isinstance(timed_out.value.__cause__, httpx.TimeoutException)

    await simulator.set_behaviour(slow_ratio=0.0)
    placed = await client.place_order(request, key)

    made = [order for order in await simulator.orders() if order["idempotency_key"] == key]
    assert [order["order_id"] for order in made] == [placed.order_id]
