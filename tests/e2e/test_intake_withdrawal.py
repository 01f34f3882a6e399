"""The applicant's withdrawal: intake refuses what it can decide itself, records the request,
publishes it, and shows routing's decision (withdrawn or declined)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.intake import (
    IntakeDeployment,
    bearer,
    status_changed,
    uploaded_submission,
    withdrawal_declined,
)
from tests.support.kafka import eventually, produce, read_to_end, read_until

pytestmark = pytest.mark.e2e

WITHDRAWAL = {"reason": "Không còn nhu cầu"}


async def _submit(intake: IntakeDeployment, http: httpx.AsyncClient, token: str, channel: str = "online") -> str:
    body = await uploaded_submission(http, token, intake.agency_id, channel=channel)
    response = await http.post("/v1/dossiers", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()["code"]


async def _withdrawal_of(http: httpx.AsyncClient, token: str, code: str, state: str) -> dict | None:
    body = (await http.get(f"/v1/dossiers/{code}", headers=bearer(token))).json()
    return body if body["withdrawal"] == state else None


READ = "vn.lienthong.dossier.content-read.v1"
"""Intake also publishes each read of a dossier's applicant data (the audit ledger's): not a change."""


def _types(records: list, code: str) -> list[str]:
    """The types of the events that changed dossier ``code``, in order (reads of it left out)."""
    return [t for r in records if r.key == code.encode() and (t := json.loads(r.value)["type"]) != READ]


async def test_a_withdrawal_request_is_answered_202_requested_and_published_for_routing(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _submit(intake, http, tokens["portal"])

    response = await http.post(f"/v1/dossiers/{code}/withdrawal", json=WITHDRAWAL, headers=bearer(tokens["portal"]))

    assert response.status_code == 202, response.text
    assert (response.json()["withdrawal"], response.json()["national_status"]) == ("requested", 1)
    records = await read_until(intake.kafka, intake.events_topic, lambda rs: len(rs) >= 2,
                               keep=lambda r: r.key == code.encode())
    published = json.loads(records[-1].value)
    assert published["type"] == "vn.lienthong.intake.dossier.withdrawal-requested.v1"
    assert published["data"]["reason"] == WITHDRAWAL["reason"]


async def test_a_second_request_while_one_is_pending_gets_the_same_answer_and_no_new_event(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _submit(intake, http, tokens["portal"])
    first = await http.post(f"/v1/dossiers/{code}/withdrawal", json=WITHDRAWAL, headers=bearer(tokens["portal"]))

    again = await http.post(f"/v1/dossiers/{code}/withdrawal", json=WITHDRAWAL, headers=bearer(tokens["portal"]))

    assert first.status_code == again.status_code == 202
    assert again.json()["withdrawal"] == "requested"
    assert again.json()["history"] == first.json()["history"]
    # A later event of the same dossier marks the point up to which the topic is read.
    await produce(intake.kafka, intake.status_topic, withdrawal_declined(code, 1), key=code.encode())
    await eventually(lambda: _withdrawal_of(http, tokens["auditor"], code, "declined"))
    await read_until(intake.kafka, intake.events_topic, lambda rs: len(rs) >= 2, keep=lambda r: r.key == code.encode())
    assert _types(await read_to_end(intake.kafka, intake.events_topic), code) == [
        "vn.lienthong.intake.dossier.submitted.v1", "vn.lienthong.intake.dossier.withdrawal-requested.v1"]


async def test_routings_status_7_shows_the_dossier_withdrawn(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _submit(intake, http, tokens["desk"], channel="desk")
    await http.post(f"/v1/dossiers/{code}/withdrawal", json=WITHDRAWAL, headers=bearer(tokens["desk"]))

    await produce(intake.kafka, intake.status_topic, status_changed(code, 7), key=code.encode())

    body = await eventually(lambda: _withdrawal_of(http, tokens["auditor"], code, "withdrawn"))
    assert body["national_status"] == 7
    again = await http.post(f"/v1/dossiers/{code}/withdrawal", json=WITHDRAWAL, headers=bearer(tokens["desk"]))
    assert again.status_code == 409


async def test_routings_decline_shows_the_withdrawal_declined_and_the_status_kept(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _submit(intake, http, tokens["desk"], channel="desk")
    await produce(intake.kafka, intake.status_topic, status_changed(code, 4), key=code.encode())
    await http.post(f"/v1/dossiers/{code}/withdrawal", json=WITHDRAWAL, headers=bearer(tokens["desk"]))

    await produce(intake.kafka, intake.status_topic, withdrawal_declined(code, 4), key=code.encode())

    body = await eventually(lambda: _withdrawal_of(http, tokens["auditor"], code, "declined"))
    assert body["national_status"] == 4
    assert body["history"][-1]["event"] == "WithdrawalDeclined"


async def test_intake_refuses_with_409_the_withdrawal_of_a_dossier_it_refused(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _submit(intake, http, tokens["portal"])
    refused = await http.post(f"/v1/dossiers/{code}/refusal", json={"reason": "Sai thủ tục"},
                              headers=bearer(tokens["desk"]))
    assert refused.status_code == 200

    response = await http.post(f"/v1/dossiers/{code}/withdrawal", json=WITHDRAWAL, headers=bearer(tokens["portal"]))

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/dossier-state-conflict")


@pytest.mark.parametrize("status", [8, 9, 10])
async def test_intake_refuses_with_409_the_withdrawal_of_a_dossier_stopped_done_or_returned(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str], status: int) -> None:
    code = await _submit(intake, http, tokens["desk"], channel="desk")
    await produce(intake.kafka, intake.status_topic, status_changed(code, status), key=code.encode())
    await eventually(lambda: _status_is(http, tokens["auditor"], code, status))

    response = await http.post(f"/v1/dossiers/{code}/withdrawal", json=WITHDRAWAL, headers=bearer(tokens["desk"]))

    assert response.status_code == 409
    assert (await http.get(f"/v1/dossiers/{code}", headers=bearer(tokens["auditor"]))).json()["withdrawal"] is None


async def _status_is(http: httpx.AsyncClient, token: str, code: str, status: int) -> bool:
    return (await http.get(f"/v1/dossiers/{code}", headers=bearer(token))).json()["national_status"] == status
