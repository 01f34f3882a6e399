"""Writes that race on one dossier get 200 or 409, never 500: commands that commute (parallel
steps of two agencies) both succeed; commands that conflict (one agency claiming or completing
its step four times at once) succeed once, and the others get 409 saying why. 15 trials each.

Decided: a repeated claim is not idempotent — the first claim takes the step, every other one
is told the step is claimed (409 ``step-state-conflict``), as a claim after a claim is told
outside a race; a write that kept losing the version race gets 409 ``concurrent-change``."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.support.agencies import AgencySimulator, result_document
from tests.support.routing import (
    all_routed,
    at,
    cloud_event_bytes,
    fresh_codes,
    produce_on_partition,
    raw_submission,
    step_of,
)

pytestmark = pytest.mark.e2e
TRIALS = 15
COMMUNE, POLICE, SOCIAL_INSURANCE = "400.10.16690.H40", "400.11.16690.H40", "400.22.90001.H40"
CONFLICTS = {"https://lienthong.gov.vn/problems/step-state-conflict",
             "https://lienthong.gov.vn/problems/concurrent-change"}


async def routed(system, http, tokens, procedure: str, count: int = TRIALS) -> list[str]:
    system.set_time(at(7, 9))
    codes = fresh_codes(count)
    records = [(c.encode(), cloud_event_bytes(raw_submission(system, c, procedure=procedure), c)[0]) for c in codes]
    await produce_on_partition(system.kafka, system.events_topic, records)
    await all_routed(system, http, tokens["auditor"], codes)
    return codes


async def view_of(system, http, tokens, code: str) -> dict:
    response = await http.get(f"{system.routing_url}/v1/routing/dossiers/{code}",
                              headers={"Authorization": f"Bearer {tokens['auditor']}"})
    assert response.status_code == 200
    return response.json()


async def test_police_and_social_insurance_completing_their_parallel_steps_at_once_both_succeed(
        system, http, tokens) -> None:
    codes = await routed(system, http, tokens, "1.001193")
    agencies = AgencySimulator(system, http)
    system.set_time(at(7, 10))
    for code in codes:
        done = await agencies.rest(code, "birth_registration", COMMUNE, "complete", {"documents": []})
        assert done.status_code == 200, done.text
    system.set_time(at(7, 11))

    outcomes = []
    for code in codes:
        police, insurance = await asyncio.gather(
            agencies.rest(code, "residence_registration", POLICE, "complete", {"documents": [result_document()]}),
            agencies.rest(code, "health_insurance_card", SOCIAL_INSURANCE, "complete",
                          {"documents": [result_document()]}))
        view = await view_of(system, http, tokens, code)
        outcomes.append((police.status_code, insurance.status_code, step_of(view, "residence_registration")["state"],
                         step_of(view, "health_insurance_card")["state"], view["national_status"]))

    assert outcomes == [(200, 200, "done", "done", 9)] * TRIALS


@pytest.mark.parametrize(("action", "body", "state"), [
    ("claim", None, "claimed"),
    ("complete", {"documents": []}, "done"),
])
async def test_four_concurrent_identical_actions_by_one_agency_succeed_once_and_the_others_get_409(
        system, http, tokens, action: str, body, state: str) -> None:
    codes = await routed(system, http, tokens, "2.000635")
    agencies = AgencySimulator(system, http)
    system.set_time(at(7, 10))

    outcomes, kinds = [], Counter()
    for code in codes:
        answers = await asyncio.gather(*[agencies.rest(code, "issue_copy", COMMUNE, action, body) for _ in range(4)])
        kinds.update(r.json()["type"] for r in answers if r.status_code == 409)
        view = await view_of(system, http, tokens, code)
        outcomes.append((sorted(r.status_code for r in answers), step_of(view, "issue_copy")["state"]))

    assert outcomes == [([200, 409, 409, 409], state)] * TRIALS
    assert set(kinds) <= CONFLICTS
