"""Intake refuses submissions routing could never route, and desks acting in another agency's
name; a refused submission stores nothing, publishes nothing and takes no dossier number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from services.clock import FileClock
from tests.random_refs import random_citizen_id
from tests.support.endpoints import Endpoints
from tests.support.intake import PARTIES, IntakeDeployment, bearer, certified_copy_submission
from tests.support.kafka import create_topics, read_to_end, read_until
from tests.support.uploads import uploaded

pytestmark = pytest.mark.e2e


def _number(code: str) -> int:
    return int(code.rsplit("-", 1)[1])


async def _submit(http: httpx.AsyncClient, token: str, body: dict[str, Any]) -> httpx.Response:
    """Upload the body's files as the client of ``token``, then post it."""
    return await http.post("/v1/dossiers", json=await uploaded(http, token, body), headers=bearer(token))


async def _assert_refused_and_nothing_stored(intake: IntakeDeployment, http: httpx.AsyncClient, token: str,
                                             body: dict[str, Any], status: int, field: str | None,
                                             refused_token: str | None = None) -> dict:
    """Submit ``body`` (with ``refused_token``, else ``token``) between two valid submissions with
    ``token`` to the same receiving agency; returns the problem."""
    valid = certified_copy_submission(body["receiving_agency_id"], channel=body["channel"])
    before = await _submit(http, token, valid)
    assert before.status_code == 201, before.text
    marker = random_citizen_id()
    body["applicant"]["identity_number"] = marker

    refused = await _submit(http, refused_token or token, body)

    after = await _submit(http, token, {**valid, "applicant": {**valid["applicant"]}})
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    # No number was taken: the two valid submissions are consecutive.
    assert _number(after.json()["code"]) == _number(before.json()["code"]) + 1
    # Nothing was published: the topic has the later dossier, and no record carries the refused applicant.
    later = after.json()["code"].encode()
    await read_until(intake.kafka, intake.events_topic, lambda rs: len(rs) >= 1, keep=lambda r: r.key == later)
    assert not [r for r in await read_to_end(intake.kafka, intake.events_topic) if marker.encode() in r.value]
    problem = refused.json()
    if field is not None:
        assert field in {e["name"] for e in problem["errors"]}, problem
        assert all(e["reason"] for e in problem["errors"])
    return problem


async def test_a_locality_that_is_not_a_unit_in_force_is_refused_with_422_naming_it(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    body = certified_copy_submission(intake.agency_id, channel="desk", locality_code="99999")

    problem = await _assert_refused_and_nothing_stored(intake, http, tokens["desk"], body, 422, "locality_code")

    assert [e["code"] for e in problem["errors"]] == ["locality_unknown"]


async def test_a_province_code_is_not_a_locality(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    body = certified_copy_submission(intake.agency_id, locality_code="40")

    await _assert_refused_and_nothing_stored(intake, http, tokens["portal"], body, 422, "locality_code")


async def test_a_receiving_agency_that_does_not_exist_is_refused_with_422_naming_it(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    body = certified_copy_submission("999.99.99.H99")
    valid_desk = certified_copy_submission(intake.agency_id)
    before = await _submit(http, tokens["portal"], valid_desk)

    refused = await _submit(http, tokens["portal"], body)

    after = await _submit(http, tokens["portal"], valid_desk)
    assert refused.status_code == 422
    assert [(e["name"], e["code"]) for e in refused.json()["errors"]] == [("receiving_agency_id", "agency_unknown")]
    assert _number(after.json()["code"]) == _number(before.json()["code"]) + 1


async def test_an_agency_that_does_not_receive_dossiers_is_refused_as_receiving_agency(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    police = "000.60.06.H40"  # the provincial police: handles steps, has no one-stop desk
    response = await _submit(http, tokens["portal"], certified_copy_submission(police))

    assert response.status_code == 422
    assert [(e["name"], e["code"]) for e in response.json()["errors"]] == [
        ("receiving_agency_id", "agency_not_receiving")]


async def test_a_desk_submitting_in_another_agencys_name_gets_403_and_takes_no_number_from_its_counter(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    # Desk B ("other-desk") posts a desk submission in desk A's name.
    body = certified_copy_submission(intake.agency_id, channel="desk")

    problem = await _assert_refused_and_nothing_stored(intake, http, tokens["desk"], body, 403, None,
                                                       refused_token=tokens["other-desk"])

    assert problem["type"].endswith("/forbidden")


@pytest.fixture(scope="module")
async def intake_in_2024(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory,
                         ) -> AsyncIterator[IntakeDeployment]:
    """An intake whose clock reads Monday 2 December 2024: the catalogue has 2.000635 (since 2016),
    but no route of it is in force before 1 January 2025."""
    work_dir = tmp_path_factory.mktemp("intake-2024")
    deployment = IntakeDeployment(endpoints.kafka_bootstrap_servers, endpoints.database_url, work_dir,
                                  label="before_routes")
    deployment.clock_file = work_dir / "clock.txt"
    FileClock(deployment.clock_file).set(datetime.fromisoformat("2024-12-02T09:00:00+07:00"))
    await create_topics(deployment.kafka, [deployment.events_topic, deployment.status_topic])
    await create_topics(deployment.kafka, [deployment.dead_letter_topic], partitions=1)
    try:
        await deployment.start(("intake", "intake-relay"))
        yield deployment
    finally:
        deployment.stop()


async def test_a_procedure_with_no_route_in_force_on_the_day_of_receipt_is_refused_with_422(
        intake_in_2024: IntakeDeployment) -> None:
    intake = intake_in_2024
    tokens = {party: intake.token(party) for party in PARTIES}
    body = certified_copy_submission(intake.agency_id)
    async with httpx.AsyncClient(base_url=intake.base_url, timeout=60) as http:
        refused = await _submit(http, tokens["portal"], body)
        # Nothing was stored: the counter still starts at 1 once the clock reaches a day with a route.
        FileClock(intake.clock_file).set(datetime.fromisoformat("2025-01-02T09:00:00+07:00"))
        first = await _submit(http, tokens["portal"], certified_copy_submission(intake.agency_id))

    assert refused.status_code == 422
    # (The receiving desk opened on 1 January 2025 too: that is reported as well.)
    assert ("procedure_code", "procedure_not_routed") in {(e["name"], e["code"]) for e in refused.json()["errors"]}
    assert first.status_code == 201, first.text
    assert first.json()["code"].endswith("-250102-0001")
    records = await read_until(intake.kafka, intake.events_topic, lambda rs: len(rs) >= 1)
    assert [r.key.decode() for r in records] == [first.json()["code"]]
