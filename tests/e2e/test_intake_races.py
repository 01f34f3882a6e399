"""Concurrent commands on one dossier get 409 or succeed, never 500 (15 trials each)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.intake import IntakeDeployment, bearer, uploaded_submission

pytestmark = pytest.mark.e2e

TRIALS = 15


async def _new_dossier(intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> str:
    response = await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                               headers=bearer(tokens["portal"]))
    assert response.status_code == 201, response.text
    return response.json()["code"]


async def test_of_four_concurrent_acceptances_exactly_one_succeeds_and_the_others_get_409(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    for _ in range(TRIALS):
        code = await _new_dossier(intake, http, tokens)

        answers = await asyncio.gather(*[
            http.post(f"/v1/dossiers/{code}/acceptance", headers=bearer(tokens["desk"])) for _ in range(4)])

        assert sorted(r.status_code for r in answers) == [200, 409, 409, 409], [r.text for r in answers]
        conflicts = [r.json() for r in answers if r.status_code == 409]
        assert all(p["detail"] for p in conflicts)
        history = (await http.get(f"/v1/dossiers/{code}", headers=bearer(tokens["auditor"]))).json()["history"]
        assert [h["event"] for h in history] == ["Submitted", "Accepted"]


async def test_an_acceptance_racing_a_withdrawal_request_never_fails_and_the_answers_match_the_dossier(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    for _ in range(TRIALS):
        code = await _new_dossier(intake, http, tokens)

        acceptance, withdrawal = await asyncio.gather(
            http.post(f"/v1/dossiers/{code}/acceptance", headers=bearer(tokens["desk"])),
            http.post(f"/v1/dossiers/{code}/withdrawal", json={"reason": "Không còn nhu cầu"},
                      headers=bearer(tokens["portal"])))

        # The request is always recorded; the acceptance succeeds only when it came first
        # (a desk does not accept a dossier whose withdrawal is pending).
        assert withdrawal.status_code == 202, withdrawal.text
        assert acceptance.status_code in (200, 409), acceptance.text
        dossier = (await http.get(f"/v1/dossiers/{code}", headers=bearer(tokens["auditor"]))).json()
        events = [h["event"] for h in dossier["history"]]
        accepted = acceptance.status_code == 200
        assert dossier["withdrawal"] == "requested"
        assert dossier["national_status"] == (2 if accepted else 1)
        assert events == (["Submitted", "Accepted", "WithdrawalRequested"] if accepted
                          else ["Submitted", "WithdrawalRequested"])
