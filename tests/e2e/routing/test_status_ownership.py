"""Each national status has one owner (docs/STATUS.md): a refusal at intake stays 3 everywhere,
and the applicant's withdrawal, decided by routing, leaves intake and routing agreeing even when
it races the last completion — 7 when it took effect, else 9 with the withdrawal declined."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.agencies import AgencySimulator, result_document, routed_view
from tests.support.intake import bearer, uploaded_submission
from tests.support.kafka import eventually, read_to_end
from tests.support.routing import at, submit

pytestmark = pytest.mark.e2e
TRIALS = 15
COMMUNE = "400.10.16690.H40"
DECLINED = "vn.lienthong.dossier.withdrawal.declined.v1"


async def intake_view(system, http, tokens, code: str) -> dict:
    response = await http.get(f"{system.base_url}/v1/dossiers/{code}", headers=bearer(tokens["auditor"]))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_refusal_at_intake_ends_at_3_everywhere_and_routing_publishes_no_status(system, http, tokens) -> None:
    system.set_time(at(7, 9))
    body = await uploaded_submission(http, tokens["portal"], system.agency_id, channel="online", locality_code="16690",
                                     base_url=system.base_url)
    submitted = await http.post(f"{system.base_url}/v1/dossiers", json=body, headers=bearer(tokens["portal"]))
    assert submitted.status_code == 201, submitted.text
    code = submitted.json()["code"]
    await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 1)

    refused = await http.post(f"{system.base_url}/v1/dossiers/{code}/refusal", headers=bearer(tokens["desk"]),
                              json={"reason": "Tờ khai không có chữ ký của người yêu cầu"})

    assert refused.status_code == 200, refused.text
    await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 3)
    assert (await intake_view(system, http, tokens, code))["national_status"] == 3
    status_records = [r for r in await read_to_end(system.kafka, system.status_topic) if r.key == code.encode()]
    assert status_records == []


async def test_a_withdrawal_racing_the_last_completion_leaves_intake_and_routing_agreeing(
        system, http, tokens) -> None:
    agencies = AgencySimulator(system, http)
    codes = []
    for _ in range(TRIALS):
        code = await submit(system, http, tokens, "2.000635", at(7, 9))
        await routed_view(system, http, tokens["auditor"], code)
        codes.append(code)
    system.set_time(at(7, 10))

    answers = {}
    for code in codes:
        completed, withdrawn = await asyncio.gather(
            agencies.rest(code, "issue_copy", COMMUNE, "complete", {"documents": [result_document()]}),
            http.post(f"{system.base_url}/v1/dossiers/{code}/withdrawal", json={"reason": "Không cần bản sao nữa"},
                      headers=bearer(tokens["desk"])))
        answers[code] = (completed.status_code, withdrawn.status_code)

    async def settled() -> dict[str, tuple[int, int]] | None:
        ends = {}
        for code in codes:
            routing = (await routed_view(system, http, tokens["auditor"], code, until=lambda v: True))
            intake = await intake_view(system, http, tokens, code)
            if routing["national_status"] not in (7, 9) or intake["national_status"] != routing["national_status"]:
                return None
            if intake.get("withdrawal") == "requested":
                return None
            ends[code] = (routing["national_status"], intake["national_status"])
        return ends

    ends = await eventually(settled, timeout=90, interval=0.5)
    declined = {r.key.decode() for r in await read_to_end(system.kafka, system.status_topic)
                if json.loads(r.value)["type"] == DECLINED}
    for code in codes:
        routing_status, intake_status_ = ends[code]
        completed, withdrawn = answers[code]
        assert routing_status == intake_status_, code
        assert 500 not in answers[code], code
        if routing_status == 7:
            assert (completed, withdrawn) == (409, 202), code
        else:  # done first: intake refused the request itself, or routing declined it
            assert completed == 200, code
            assert withdrawn == 409 or code in declined, code

