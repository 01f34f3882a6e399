"""Outages of PostgreSQL and Kafka during a run change no outcome: no process exits, nothing is
lost or doubled, and every dossier reaches its final state.

The test runs on a Kafka broker and a PostgreSQL cluster of its own (tests/support/private_infra.py),
restarts PostgreSQL with an immediate stop and SIGKILLs Kafka while 300 desk submissions of the
certified-copy procedure flow through intake and routing.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.agencies import AgencySimulator, result_document
from tests.support.deployments import SYSTEM_START, deploy_system
from tests.support.documents import PDF, a_file
from tests.support.endpoints import Endpoints
from tests.support.intake import bearer
from tests.support.kafka import eventually, read_to_end
from tests.support.private_infra import PrivateInfra
from tests.support.routing import desk_submission, uploaded_desk_documents
from tests.support.uploads import upload

pytestmark = pytest.mark.e2e

DOSSIERS = 300
COMMUNE = "400.10.16690.H40"
PROCEDURE = "2.000635"


@pytest.fixture(scope="module")
def private_infra() -> Iterator[PrivateInfra]:
    infra = PrivateInfra(Path(tempfile.mkdtemp(prefix="lienthong-outages-")))
    try:
        infra.start_postgres()
        infra.start_kafka()
        yield infra
    finally:
        infra.stop()


async def until_answered(call, accept=(200, 201)) -> httpx.Response:
    """``call()`` again while the service cannot answer (transport error, 503)."""
    async def attempt() -> httpx.Response | None:
        try:
            response = await call()
        except httpx.TransportError:
            return None
        return response if response.status_code in accept else None
    return await eventually(attempt, timeout=180, interval=0.3)


async def ready_state(http: httpx.AsyncClient, url: str) -> str:
    try:
        response = await http.get(f"{url}/readyz", timeout=5)
    except httpx.TransportError:
        return "down"
    return response.json().get("status", "not-ready") if response.status_code == 200 else "not-ready"


async def _is(value: bool) -> bool:
    return value


async def test_postgresql_restarted_and_kafka_killed_mid_run_lose_and_double_nothing(
        private_infra: PrivateInfra, tmp_path_factory: pytest.TempPathFactory) -> None:
    endpoints = Endpoints(private_infra.kafka_bootstrap_servers, private_infra.database_url, "private")
    async with deploy_system(endpoints, tmp_path_factory.mktemp("outages"), SYSTEM_START) as system:
        tokens = system.tokens()
        created: list[str] = []
        seen_states: list[str] = []
        reads_while_down: list[int] = []
        uploads: list[int] = []
        late_file = a_file(PDF, 30_000)
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            gate = asyncio.Semaphore(8)
            documents = await uploaded_desk_documents(system, http, tokens["desk"], PROCEDURE)

            async def submit_one() -> None:
                headers = bearer(tokens["desk"], **{"Idempotency-Key": str(uuid.uuid4())})
                body = desk_submission(system, PROCEDURE, documents=documents)
                async with gate:
                    response = await until_answered(lambda: http.post(
                        f"{system.base_url}/v1/dossiers", json=body, headers=headers))
                created.append(response.json()["code"])

            async def break_things() -> None:
                await eventually(lambda: _is(len(created) >= DOSSIERS // 3), timeout=300)
                private_infra.stop_postgres_immediately()
                await eventually(lambda: _not_ready(http, system.base_url, seen_states), timeout=60)
                reads_while_down.append((await http.get(f"{system.base_url}/v1/dossiers/{created[0]}",
                                                        headers=bearer(tokens["auditor"]))).status_code)
                uploads.append((await upload(http, tokens["portal"], late_file, base_url=system.base_url)).status_code)
                private_infra.start_postgres()
                # The upload refused while PostgreSQL was down left nothing behind: it is new (201), not a repeat.
                uploads.append((await until_answered(lambda: upload(
                    http, tokens["portal"], late_file, base_url=system.base_url), accept=(200, 201))).status_code)
                await eventually(lambda: _is(len(created) >= 2 * DOSSIERS // 3), timeout=300)
                private_infra.kill_kafka()
                await eventually(lambda: _degraded(http, system.base_url, seen_states), timeout=60)
                private_infra.start_kafka()

            await asyncio.gather(break_things(), *(submit_one() for _ in range(DOSSIERS)))
            codes = set(created)
            assert len(codes) == DOSSIERS

            async def statuses() -> Counter[int]:
                answers = await asyncio.gather(*(http.get(f"{system.base_url}/v1/dossiers/{code}",
                                                          headers=bearer(tokens["auditor"])) for code in codes))
                return Counter(r.json()["national_status"] if r.status_code == 200 else -r.status_code
                               for r in answers)

            async def all_at(status: int) -> bool:
                found = await statuses()
                progress.append(found)
                return found == Counter({status: DOSSIERS})

            progress: list[Counter[int]] = []
            try:
                await eventually(lambda: all_at(4), timeout=240, interval=1.0)  # routed: step open at the commune
            except TimeoutError as exc:
                where = await _where_they_stopped(system, http, tokens["auditor"], codes)
                raise AssertionError(f"not every dossier was routed: {progress[-1]}; {where}") from exc
            agencies = AgencySimulator(system, http)
            for code in sorted(codes):
                await until_answered(lambda code=code: agencies.rest(
                    code, "issue_copy", COMMUNE, "complete", {"documents": [result_document()]}), accept=(200, 409))
            try:
                await eventually(lambda: all_at(9), timeout=240, interval=1.0)
            except TimeoutError as exc:
                raise AssertionError(f"not every dossier was done: {progress[-1]}") from exc
        system.check_alive()
        topics = (system.events_topic, system.routing_topic, system.status_topic)
        published = {topic: [json.loads(r.value) for r in await read_to_end(system.kafka, topic)] for topic in topics}
        dead = await read_to_end(system.kafka, system.dead_letter_topic)

    assert {"not-ready", "degraded"} <= set(seen_states)
    assert reads_while_down == [503]
    assert uploads == [503, 201]
    for topic, events in published.items():
        assert Counter(e["id"] for e in events).most_common(1)[0][1] == 1, topic
    submitted = Counter(e["subject"] for e in published[system.events_topic]
                        if e["type"] == "vn.lienthong.intake.dossier.submitted.v1")
    assert submitted == Counter(dict.fromkeys(codes, 1))
    nines = Counter(e["subject"] for e in published[system.status_topic] if e["data"].get("national_status") == 9)
    assert nines == Counter(dict.fromkeys(codes, 1))
    assert dead == []


async def _where_they_stopped(system, http: httpx.AsyncClient, token: str, codes: set[str]) -> str:
    """For the dossiers intake does not show as routed: how far each got along the path
    intake-relay → routing-consumer → routing-relay → intake-consumer (for the failure message)."""
    stuck = set()
    for code in codes:
        answer = await http.get(f"{system.base_url}/v1/dossiers/{code}", headers=bearer(token))
        if answer.status_code != 200 or answer.json()["national_status"] != 4:
            stuck.add(code)
    on_intake_topic = {json.loads(r.value)["subject"] for r in await read_to_end(system.kafka, system.events_topic)}
    fours = {json.loads(r.value)["subject"] for r in await read_to_end(system.kafka, system.status_topic)
             if json.loads(r.value)["data"].get("national_status") == 4}
    in_routing = Counter()
    for code in stuck:
        answer = await http.get(f"{system.routing_url}/v1/routing/dossiers/{code}", headers=bearer(token))
        in_routing[answer.json().get("national_status") if answer.status_code == 200 else answer.status_code] += 1
    return (f"{len(stuck)} stuck: {len(stuck & on_intake_topic)} on intake's topic, routing shows {dict(in_routing)}, "
            f"{len(stuck & fours)} with status 4 on the status topic; logs in {system.work_dir}")


async def _not_ready(http: httpx.AsyncClient, url: str, seen: list[str]) -> bool:
    state = await ready_state(http, url)
    seen.append(state)
    return state == "not-ready"


async def _degraded(http: httpx.AsyncClient, url: str, seen: list[str]) -> bool:
    state = await ready_state(http, url)
    seen.append(state)
    return state == "degraded"
