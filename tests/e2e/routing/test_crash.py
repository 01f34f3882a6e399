"""Killing routing's processes during a run of 500 dossiers changes no outcome."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import pytest

from tests.support.deployments import SYSTEM_START, deploy_system
from tests.support.endpoints import Endpoints
from tests.support.intake import bearer
from tests.support.kafka import eventually, read_to_end, read_until
from tests.support.routing import desk_submission

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

            async def one() -> httpx.Response:
                async with gate:
                    return await http.post("/v1/dossiers", json=desk_submission(system, "2.000635"),
                                           headers=bearer(tokens["desk"]))

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
