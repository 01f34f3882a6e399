"""Intake applies the status changes their owner reports, refuses the others, and parks poison messages."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.intake import (
    IntakeDeployment,
    bearer,
    status_changed,
    uploaded_submission,
    withdrawal_declined,
)
from tests.support.kafka import eventually, produce, read_until

pytestmark = pytest.mark.e2e


async def _status(http: httpx.AsyncClient, token: str, code: str) -> dict:
    return (await http.get(f"/v1/dossiers/{code}", headers=bearer(token))).json()


async def _when_status(http: httpx.AsyncClient, token: str, code: str, status: int) -> dict | None:
    body = await _status(http, token, code)
    return body if body["national_status"] == status else None


async def _desk_dossier(intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> str:
    body = await uploaded_submission(http, tokens["desk"], intake.agency_id, channel="desk")
    response = await http.post("/v1/dossiers", json=body, headers=bearer(tokens["desk"]))
    assert response.status_code == 201, response.text
    return response.json()["code"]


async def _dead_letter_reason(intake: IntakeDeployment, code: str) -> str:
    dead = await read_until(intake.kafka, intake.dead_letter_topic, lambda rs: len(rs) >= 1,
                            keep=lambda r: r.key == code.encode())
    return dict(dead[0].headers)["dlq-reason"].decode()


async def test_a_poison_message_goes_to_dead_letters_and_the_consumer_keeps_consuming(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _desk_dossier(intake, http, tokens)
    poison_key = f"poison-{uuid.uuid4()}".encode()

    await produce(intake.kafka, intake.status_topic, b"\x00{definitely not a cloud event", key=poison_key)
    await produce(intake.kafka, intake.status_topic, status_changed(code, 4), key=code.encode())

    dead = await read_until(intake.kafka, intake.dead_letter_topic, lambda rs: len(rs) >= 1,
                            keep=lambda r: r.key == poison_key)
    headers = dict(dead[0].headers)
    assert "not JSON" in headers["dlq-reason"].decode()
    assert headers["dlq-original-topic"].decode() == intake.status_topic
    assert dead[0].value == b"\x00{definitely not a cloud event"
    body = await eventually(lambda: _when_status(http, tokens["auditor"], code, 4))
    assert body["history"][-1]["event"] == "StatusChanged"


async def test_a_status_for_an_unknown_dossier_is_dead_lettered_as_unprocessable(
        intake: IntakeDeployment) -> None:
    unknown = f"{intake.agency_id}-990101-{uuid.uuid4().int % 10000:04d}"
    await produce(intake.kafka, intake.status_topic, status_changed(unknown, 4), key=unknown.encode())

    assert f"no dossier {unknown}" in await _dead_letter_reason(intake, unknown)


async def test_a_status_change_delivered_twice_is_applied_once(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _desk_dossier(intake, http, tokens)
    message = status_changed(code, 4, event_id=str(uuid.uuid4()))
    marker = status_changed(code, 5)
    await produce(intake.kafka, intake.status_topic, message, key=code.encode())
    await produce(intake.kafka, intake.status_topic, message, key=code.encode())
    await produce(intake.kafka, intake.status_topic, marker, key=code.encode())

    body = await eventually(lambda: _when_status(http, tokens["auditor"], code, 5))
    changes = [h for h in body["history"] if h["event"] == "StatusChanged"]
    assert [h["national_status"] for h in changes] == [4, 5]


async def test_processing_reported_after_a_withdrawal_is_dead_lettered_and_the_dossier_stays_withdrawn(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _desk_dossier(intake, http, tokens)
    requested = await http.post(f"/v1/dossiers/{code}/withdrawal", json={"reason": "Không còn nhu cầu"},
                                headers=bearer(tokens["desk"]))
    assert requested.status_code == 202, requested.text
    await produce(intake.kafka, intake.status_topic, status_changed(code, 7), key=code.encode())
    await eventually(lambda: _when_status(http, tokens["auditor"], code, 7))

    await produce(intake.kafka, intake.status_topic, status_changed(code, 4), key=code.encode())

    reason = await _dead_letter_reason(intake, code)
    assert "terminal status 7" in reason
    body = await _status(http, tokens["auditor"], code)
    assert (body["national_status"], body["withdrawal"]) == (7, "withdrawn")


async def test_a_status_intake_owns_reported_by_another_service_is_dead_lettered(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _desk_dossier(intake, http, tokens)
    await produce(intake.kafka, intake.status_topic, status_changed(code, 4), key=code.encode())
    await eventually(lambda: _when_status(http, tokens["auditor"], code, 4))

    await produce(intake.kafka, intake.status_topic, status_changed(code, 3), key=code.encode())
    await produce(intake.kafka, intake.status_topic, status_changed(code, 5), key=code.encode())

    reason = await _dead_letter_reason(intake, code)
    assert "owned by intake" in reason
    body = await eventually(lambda: _when_status(http, tokens["auditor"], code, 5))
    assert [h["national_status"] for h in body["history"] if h["event"] == "StatusChanged"] == [4, 5]


async def test_a_decline_of_a_withdrawal_nobody_requested_is_dead_lettered(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = await _desk_dossier(intake, http, tokens)

    await produce(intake.kafka, intake.status_topic, withdrawal_declined(code, 2), key=code.encode())

    assert "no withdrawal" in await _dead_letter_reason(intake, code)
    assert (await _status(http, tokens["auditor"], code))["withdrawal"] is None
