"""Postal under a misbehaving carrier and crashes at once, 500 dossiers: exactly one carrier order per leg
(counted at the carrier), every leg at its right final state, each effect published once.

One run holds both hardships — a carrier that repeats, reorders, drops and fails, and postal's processes
killed at random — because each alone costs as much time as both together, and the guarantees are the same.

Postal runs alone here, with the carrier simulator: the intake and routing events it reacts to are put on
their topics by the test, as those services publish them (a submission with a pickup and the result by
post, then the result ready), so hundreds of dossiers cost seconds, not an agency's work each.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.sandbox import ServiceProcess
from shared_events import DossierSubmitted, decode, encode, from_cloud_event, to_cloud_event
from shared_events.contracts.postal import (
    PickupHandedToAgency,
    PostalFeeCollected,
    ResultDeliveredByPost,
    ShipmentOrdered,
)
from shared_events.contracts.routing import RoutingFinished
from shared_events.contracts.values import NationalStatus, PickupRequest, ResultDelivery
from shared_events.examples import example
from tests.support.carrier_sim import CarrierAdmin
from tests.support.deployments import SYSTEM_START
from tests.support.endpoints import Endpoints
from tests.support.intake import bearer
from tests.support.kafka import create_topics, read_to_end
from tests.support.postal import HOME
from tests.support.system import POSTAL_PROCESSES, SystemDeployment

DESK = "400.12.16690.H40"
WORKERS = ("postal", "postal-relay", "postal-consumer", "postal-dispatcher")


@pytest.fixture(scope="module")
async def postal_alone(endpoints: Endpoints,
                       tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SystemDeployment]:
    deployment = SystemDeployment(endpoints.kafka_bootstrap_servers, endpoints.database_url,
                                  tmp_path_factory.mktemp("postal-alone"),
                                  postal_settings={"DISPATCH_CONCURRENCY": "16"})
    deployment.set_time(SYSTEM_START)
    await create_topics(deployment.kafka, [deployment.events_topic, deployment.routing_topic, deployment.postal_topic,
                                           deployment.status_topic])
    await create_topics(deployment.kafka, [deployment.dead_letter_topic], partitions=1)
    try:
        await deployment.start(POSTAL_PROCESSES)
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="module")
def tokens(postal_alone: SystemDeployment) -> dict[str, str]:
    """Tokens taken while postal's API is up (they outlive its restarts: every process checks the same key)."""
    return {party: token(postal_alone, party) for party in ("postal", "auditor")}


@pytest.fixture
async def carrier(postal_alone: SystemDeployment) -> AsyncIterator[CarrierAdmin]:
    admin = CarrierAdmin(postal_alone.carrier_url)
    await admin.reset()
    yield admin
    await admin.reset()


def token(deployment: SystemDeployment, party: str) -> str:
    """A token from postal's own token endpoint (intake does not run here; every service issues them)."""
    answer = httpx.post(f"{deployment.postal_url}/v1/auth/token", timeout=30, data={
        "grant_type": "client_credentials", "client_id": deployment.client_id(party),
        "client_secret": deployment.secrets[party]})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def codes(count: int) -> list[str]:
    first = random.randint(1, 999_999 - count)
    return [f"{DESK}-250707-{n:06d}" for n in range(first, first + count)]


def record(contract: Any, source: str) -> bytes:
    return encode(to_cloud_event(contract, id=str(uuid.uuid4()), source=source, subject=contract.dossier_code,
                                 time=contract.model_dump().get("received_at") or contract.finished_at,
                                 correlation_id=str(uuid.uuid4())))


async def send_dossiers(deployment: SystemDeployment, dossier_codes: list[str]) -> None:
    """For each dossier, as intake and routing would publish them: submitted with a pickup and the result
    by post, then (on routing's topic) the result ready."""
    at = deployment.clock.now()
    producer = AIOKafkaProducer(bootstrap_servers=deployment.kafka, enable_idempotence=True, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = []
        for code in dossier_codes:
            submitted = example(DossierSubmitted, dossier_code=code, receiving_agency_id=DESK,
                                procedure_code="2.000635", received_at=at, locality_code="16690",
                                pickup=PickupRequest(**HOME), result_delivery=ResultDelivery(method="post", **HOME))
            ready = example(RoutingFinished, dossier_code=code, national_status=NationalStatus.DONE_AWAITING_HANDOVER,
                            finished_at=at + timedelta(minutes=1))
            sent.append(await producer.send(deployment.events_topic, record(submitted, "/lienthong/intake"),
                                            key=code.encode()))
            sent.append(await producer.send(deployment.routing_topic, record(ready, "/lienthong/routing"),
                                            key=code.encode()))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def open_shipments(deployment: SystemDeployment, http: httpx.AsyncClient, token: str) -> list[dict]:
    rows: list[dict] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"after": after} if after else {})}
        answer = await http.get(f"{deployment.postal_url}/v1/postal/shipments", params=params, headers=bearer(token))
        answer.raise_for_status()
        page = answer.json()
        rows += page
        if len(page) < 500:
            return rows
        after = f"{page[-1]['dossier_code']}/{page[-1]['leg']}"


async def until_every_leg_is_closed(deployment: SystemDeployment, http: httpx.AsyncClient, tokens: dict[str, str],
                                    dossier_codes: list[str], *, timeout: float = 420.0,
                                    while_waiting: Any = None) -> None:
    """Move the clock 2 s at a time (the carrier moves shipments on it) until none of ``dossier_codes``
    has a leg still on its way, and each has both legs."""
    mine = set(dossier_codes)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if while_waiting is not None:
            await while_waiting()
        try:
            still = [r for r in await open_shipments(deployment, http, tokens["postal"]) if r["dossier_code"] in mine]
            if still == [] and await every_dossier_has_both_legs(deployment, http, tokens["auditor"], dossier_codes):
                return
        except httpx.HTTPError:
            still = None  # the API is being restarted
        if loop.time() > deadline:
            raise TimeoutError(f"{len(still) if still is not None else '?'} legs still open after {timeout}s")
        deployment.set_time(deployment.clock.now() + timedelta(seconds=2))
        await asyncio.sleep(0.3)


async def every_dossier_has_both_legs(deployment: SystemDeployment, http: httpx.AsyncClient, auditor: str,
                                      dossier_codes: list[str]) -> bool:
    semaphore = asyncio.Semaphore(16)

    async def both(code: str) -> bool:
        async with semaphore:
            answer = await http.get(f"{deployment.postal_url}/v1/postal/dossiers/{code}/shipments",
                                    headers=bearer(auditor))
        return answer.status_code == 200 and {leg["leg"] for leg in answer.json()} == {"pickup", "return"}
    return all(await asyncio.gather(*(both(code) for code in dossier_codes)))


async def final_legs(deployment: SystemDeployment, http: httpx.AsyncClient, auditor: str,
                     dossier_codes: list[str]) -> dict[tuple[str, str], dict]:
    semaphore = asyncio.Semaphore(16)

    async def legs(code: str) -> list[dict]:
        async with semaphore:
            answer = await http.get(f"{deployment.postal_url}/v1/postal/dossiers/{code}/shipments",
                                    headers=bearer(auditor))
        answer.raise_for_status()
        return [{**leg, "dossier_code": code} for leg in answer.json()]
    found = await asyncio.gather(*(legs(code) for code in dossier_codes))
    return {(leg["dossier_code"], leg["leg"]): leg for rows in found for leg in rows}


async def published(deployment: SystemDeployment, dossier_codes: list[str]) -> Counter[tuple[str, str]]:
    """How often each (contract type, dossier code) is on the postal topic."""
    mine = set(dossier_codes)
    counts: Counter[tuple[str, str]] = Counter()
    for message in await read_to_end(deployment.kafka, deployment.postal_topic):
        contract = from_cloud_event(decode(message.value))
        if contract.dossier_code in mine:  # type: ignore[attr-defined]
            counts[(type(contract).__name__, contract.dossier_code)] += 1  # type: ignore[attr-defined]
    return counts


async def assert_every_dossier_done_once(deployment: SystemDeployment, http: httpx.AsyncClient, carrier: CarrierAdmin,
                                         auditor: str, dossier_codes: list[str]) -> None:
    orders = await carrier.orders_per_leg()
    assert {key: n for key, n in orders.items() if key[0] in set(dossier_codes) and n != 1} == {}
    assert len([key for key in orders if key[0] in set(dossier_codes)]) == 2 * len(dossier_codes)
    legs = await final_legs(deployment, http, auditor, dossier_codes)
    wrong = {key: (leg["state"], leg["status"], leg["fee_collected"]) for key, leg in legs.items()
             if (leg["state"], leg["status"], leg["fee_collected"])
             != ("closed", "handed_to_agency" if key[1] == "pickup" else "delivered", True)}
    assert wrong == {}
    counts = await published(deployment, dossier_codes)
    for contract in (ShipmentOrdered, PostalFeeCollected):
        assert {code: counts[(contract.__name__, code)] for code in dossier_codes
                if counts[(contract.__name__, code)] != 2} == {}, contract.__name__  # one per leg
    for contract in (PickupHandedToAgency, ResultDeliveredByPost):
        assert {code: counts[(contract.__name__, code)] for code in dossier_codes
                if counts[(contract.__name__, code)] != 1} == {}, contract.__name__


async def test_500_dossiers_with_a_carrier_that_repeats_reorders_drops_and_fails_and_postal_killed_at_random(
        postal_alone, tokens, carrier) -> None:
    """Every webhook twice and out of order, 10% dropped, 30% of calls failed (10% after creating the order),
    and postal's API, relay, consumer and dispatcher each SIGKILLed at random moments and restarted: exactly
    one order per leg at the carrier, every leg at its right final state, every effect published once."""
    await carrier.set_behaviour(duplicate_webhooks=True, reorder_webhooks=True, drop_webhook_ratio=0.1,
                                fail_order_ratio=0.3, fail_after_create_ratio=0.1)
    dossier_codes = codes(500)
    rng = random.Random()
    victims: list[ServiceProcess] = [postal_alone.processes[name] for name in WORKERS]
    killed: Counter[str] = Counter()

    async def kill_one_now_and_then() -> None:
        for process in victims:
            if not process.alive():
                process.start()  # restarted after its crash
        if rng.random() < 0.2:
            victim = rng.choice(victims)
            victim.kill()
            killed[victim.name] += 1

    await send_dossiers(postal_alone, dossier_codes)
    async with httpx.AsyncClient(timeout=60) as http:
        for process in victims:  # each at least once, early, while orders are being placed
            process.kill()
            killed[process.name] += 1
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            process.start()
        await until_every_leg_is_closed(postal_alone, http, tokens, dossier_codes, while_waiting=kill_one_now_and_then)
        for process in victims:
            if not process.alive():
                process.start()
        await postal_alone.start(())  # every HTTP process answers again before the final reads
        await assert_every_dossier_done_once(postal_alone, http, carrier, tokens["auditor"], dossier_codes)
    stats = await carrier.stats()
    assert stats["webhooks_dropped"] > 0 and stats["answered_5xx"] > 0  # the carrier did misbehave
    assert set(killed) == set(WORKERS)
