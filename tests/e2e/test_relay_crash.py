"""Killing the relay mid-burst loses no event and publishes none twice."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict

import httpx
import pytest

from tests.support.deployments import deploy_intake
from tests.support.endpoints import Endpoints
from tests.support.intake import PARTIES, bearer, submit_many
from tests.support.kafka import read_to_end, read_until

pytestmark = pytest.mark.e2e


async def test_a_relay_killed_during_a_burst_leaves_every_event_on_kafka_exactly_once_and_in_order(
        endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> None:
    async with deploy_intake(endpoints, tmp_path_factory.mktemp("relay-crash")) as intake:
        relay = intake.processes["intake-relay"]
        tokens = {party: intake.token(party) for party in PARTIES}
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with httpx.AsyncClient(base_url=intake.base_url, timeout=120, limits=limits) as http:
            burst = asyncio.create_task(submit_many(http, tokens["portal"], intake.agency_id, 1000, concurrency=50))
            # Wait until the relay has published part of the burst, then kill it without warning.
            await read_until(intake.kafka, intake.events_topic, lambda rs: len(rs) >= 50, timeout=120)
            assert not burst.done(), "the burst should still be running when the relay dies"
            relay.kill()
            responses = await burst
            assert [r.status_code for r in responses].count(201) == 1000
            codes = [r.json()["code"] for r in responses]
            # More events while the relay is down: the desk accepts 200 of the dossiers.
            acceptances = await asyncio.gather(*[
                http.post(f"/v1/dossiers/{code}/acceptance", headers=bearer(tokens["desk"])) for code in codes[:200]])
            assert {r.status_code for r in acceptances} == {200}
        relay.start()

        await read_until(intake.kafka, intake.events_topic,
                         lambda rs: len({json.loads(r.value)["id"] for r in rs}) >= 1200, timeout=180)
        # A re-published copy would sit before the last new event: read everything up to the end.
        settled = await read_to_end(intake.kafka, intake.events_topic)

    events = [json.loads(r.value) for r in settled]
    ids = Counter(e["id"] for e in events)
    assert len(ids) == 1200
    assert max(ids.values()) == 1
    per_dossier: dict[str, list[str]] = defaultdict(list)
    for record, event in zip(settled, events, strict=True):
        assert record.key.decode() == event["subject"]
        per_dossier[event["subject"]].append(event["type"])
    assert set(per_dossier) == set(codes)
    for code in codes[:200]:
        assert per_dossier[code] == ["vn.lienthong.intake.dossier.submitted.v1",
                                     "vn.lienthong.intake.dossier.accepted.v1"]
    for code in codes[200:]:
        assert per_dossier[code] == ["vn.lienthong.intake.dossier.submitted.v1"]
