"""Killing routing's processes — and intake's consumer — mid-run changes no outcome: nothing is
lost, doubled or stuck."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import pytest

from tests.support.agencies import AgencySimulator, result_document
from tests.support.deployments import SYSTEM_START, deploy_system
from tests.support.endpoints import Endpoints
from tests.support.intake import bearer
from tests.support.kafka import eventually, read_to_end, read_until
from tests.support.routing import all_routed, at, desk_submission, intake_status, submit, uploaded_desk_documents

pytestmark = pytest.mark.e2e
COMMUNE = "400.10.16690.H40"


async def test_killing_the_routing_consumer_and_relay_mid_run_assigns_every_step_once(
        endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> None:
    async with deploy_system(endpoints, tmp_path_factory.mktemp("routing-crash"), SYSTEM_START) as system:
        tokens = system.tokens()
        consumer, relay = system.processes["routing-consumer"], system.processes["routing-relay"]

        def step_opened(record) -> bool:
            return json.loads(record.value)["type"] == "vn.lienthong.routing.step.opened.v1"

        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=system.base_url, timeout=120, limits=limits) as http:
            gate = asyncio.Semaphore(32)
            documents = await uploaded_desk_documents(system, http, tokens["desk"], "2.000635")

            async def one() -> httpx.Response:
                async with gate:
                    body = desk_submission(system, "2.000635", documents=documents)
                    return await http.post("/v1/dossiers", json=body, headers=bearer(tokens["desk"]))

            burst = asyncio.gather(*[one() for _ in range(500)])
            await read_until(system.kafka, system.routing_topic, lambda rs: len(rs) >= 30, keep=step_opened,
                             timeout=120)
            consumer.kill()
            relay.kill()
            responses = await burst
        assert [r.status_code for r in responses].count(201) == 500
        codes = {r.json()["code"] for r in responses}
        consumer.start()
        relay.start()

        await read_until(system.kafka, system.routing_topic, lambda rs: len({r.key for r in rs}) >= 500,
                         keep=step_opened, timeout=240)
        records = await read_to_end(system.kafka, system.routing_topic)

        async with httpx.AsyncClient(base_url=system.routing_url, timeout=60) as http:
            token = system.agency_token(COMMUNE)

            async def inbox() -> list[dict] | None:
                items = (await http.get("/v1/inbox", params={"state": "open", "limit": 500},
                                        headers=bearer(token))).json()
                return items if len(items) == 500 else None

            items = await eventually(inbox, timeout=60)

    events = [json.loads(r.value) for r in records]
    assert Counter(e["id"] for e in events).most_common(1)[0][1] == 1
    opened = Counter(e["subject"] for e in events if e["type"] == "vn.lienthong.routing.step.opened.v1")
    routed = Counter(e["subject"] for e in events if e["type"] == "vn.lienthong.routing.dossier.routed.v1")
    assert set(opened) == set(routed) == codes
    assert set(opened.values()) == set(routed.values()) == {1}
    assert {item["dossier_code"] for item in items} == codes
    assert {(item["step_key"], item["opening"], item["national_status"]) for item in items} == {("issue_copy", 1, 4)}


PARALLEL_STEPS = {"residence_registration": "400.11.16690.H40", "health_insurance_card": "400.22.90001.H40"}
FINISHED = "vn.lienthong.routing.finished.v1"
COMPLETED = "vn.lienthong.routing.step.completed.v1"


async def until_up(call) -> httpx.Response:
    """``call()`` again while the service is down or restarting (connection refused, 503)."""
    async def attempt() -> httpx.Response | None:
        try:
            response = await call()
        except httpx.TransportError:
            return None
        return None if response.status_code == 503 else response
    return await eventually(attempt, timeout=120, interval=0.2)


async def test_killing_routings_api_and_consumers_and_intakes_consumer_repeatedly_loses_and_doubles_nothing(
        endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Birth registrations: the commune over REST, then police and social insurance over their
    reply topics, in parallel. Routing's HTTP process and consumer and intake's consumer are each
    SIGKILLed three times while agencies work; every dossier still ends done (9) in both services,
    with each step completed once and no event published twice."""
    async with deploy_system(endpoints, tmp_path_factory.mktemp("routing-crash-multi"), SYSTEM_START) as system:
        tokens = system.tokens()
        victims = [system.processes[name] for name in ("routing", "routing-consumer", "intake-consumer")]
        agencies = AgencySimulator(system, httpx.AsyncClient(timeout=60))
        async with httpx.AsyncClient(timeout=60) as http:
            agencies.http = http
            codes = [await submit(system, http, tokens, "1.001193", at(7, 9)) for _ in range(45)]
            await all_routed(system, http, tokens["auditor"], codes)
            system.set_time(at(7, 10))
            births_done: list[str] = []

            async def complete_births() -> None:
                for code in codes:
                    response = await until_up(lambda code=code: agencies.rest(
                        code, "birth_registration", COMMUNE, "complete", {"documents": [result_document()]}))
                    # 409: the completion was applied before the process died, its answer was lost.
                    assert response.status_code in (200, 409), response.text
                    births_done.append(code)

            async def kill_twice() -> None:
                for share in (1 / 3, 2 / 3):
                    await eventually(lambda share=share: _true(len(births_done) >= share * len(codes)), timeout=120)
                    for process in victims:
                        process.kill()
                    for process in victims:
                        process.start()

            await asyncio.gather(complete_births(), kill_twice())
            for n, code in enumerate(codes):
                for step_key, agency in PARALLEL_STEPS.items():
                    await agencies.kafka(code, step_key, agency, "claim", at(7, 10))
                    await agencies.kafka(code, step_key, agency, "complete", at(7, 10), documents=[result_document()])
                if n == len(codes) // 2:
                    for process in victims:
                        process.kill()
                    for process in victims:
                        process.start()

            await until_up(lambda: http.get(f"{system.routing_url}/readyz"))
            await all_routed(system, http, tokens["auditor"], codes, until=lambda v: v["national_status"] == 9,
                             timeout=240)
            for code in codes:
                await intake_status(system, http, tokens, code, 9)
        system.check_alive()
        routing_events = [json.loads(r.value) for r in await read_to_end(system.kafka, system.routing_topic)]
        statuses = [json.loads(r.value) for r in await read_to_end(system.kafka, system.status_topic)]
        dead = await read_to_end(system.kafka, system.dead_letter_topic)

    ours = set(codes)
    assert Counter(e["id"] for e in routing_events + statuses).most_common(1)[0][1] == 1
    completed = Counter((e["subject"], e["data"]["step_key"]) for e in routing_events if e["type"] == COMPLETED)
    assert {key for key in completed if key[0] in ours} == {
        (code, step) for code in codes for step in ("birth_registration", *PARALLEL_STEPS)}
    assert set(completed.values()) == {1}
    finished = Counter(e["subject"] for e in routing_events if e["type"] == FINISHED)
    assert finished == Counter(dict.fromkeys(codes, 1))
    nines = Counter(e["subject"] for e in statuses if e["data"].get("national_status") == 9)
    assert nines == Counter(dict.fromkeys(codes, 1))
    assert [r.key for r in dead if r.key and r.key.decode() in ours] == []


async def _true(value: bool) -> bool:
    return value
