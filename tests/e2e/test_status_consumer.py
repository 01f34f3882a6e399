"""Intake applies status changes other services report, and parks poison messages."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import httpx
import pytest

from shared_events import DossierStatusChanged, encode, to_cloud_event
from tests.support.intake import bearer
from tests.support.intake import IntakeDeployment, certified_copy_submission
from tests.support.kafka import eventually, produce, read_until

pytestmark = pytest.mark.e2e


def status_changed(code: str, status: int, event_id: str | None = None) -> bytes:
    contract = DossierStatusChanged(dossier_code=code, national_status=status, reason="đang xử lý",
                                    changed_by_agency_id="000.00.30.H40", changed_at=datetime.now(timezone.utc))
    return encode(to_cloud_event(contract, id=event_id or str(uuid.uuid4()), source="/lienthong/routing",
                                 subject=code, time=datetime.now(timezone.utc), correlation_id=str(uuid.uuid4())))


async def _status(http: httpx.AsyncClient, token: str, code: str) -> dict:
    return (await http.get(f"/v1/dossiers/{code}", headers=bearer(token))).json()


async def test_a_poison_message_goes_to_dead_letters_and_the_consumer_keeps_consuming(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = (await http.post("/v1/dossiers", json=certified_copy_submission(intake.agency_id),
                            headers=bearer(tokens["portal"]))).json()["code"]
    poison_key = f"poison-{uuid.uuid4()}".encode()

    await produce(intake.kafka, intake.status_topic, b"\x00{definitely not a cloud event", key=poison_key)
    await produce(intake.kafka, intake.status_topic, status_changed(code, 4), key=code.encode())

    dead = await read_until(intake.kafka, intake.dead_letter_topic, lambda rs: len(rs) >= 1,
                            keep=lambda r: r.key == poison_key)
    headers = dict(dead[0].headers)
    assert headers["dlq-reason"].decode().startswith("undecodable")
    assert headers["dlq-original-topic"].decode() == intake.status_topic
    assert dead[0].value == b"\x00{definitely not a cloud event"
    body = await eventually(lambda: _when_status(http, tokens["auditor"], code, 4))
    assert body["history"][-1]["event"] == "StatusChanged"


async def _when_status(http: httpx.AsyncClient, token: str, code: str, status: int) -> dict | None:
    body = await _status(http, token, code)
    return body if body["national_status"] == status else None


async def test_a_status_for_an_unknown_dossier_is_dead_lettered_as_unprocessable(
        intake: IntakeDeployment) -> None:
    unknown = f"{intake.agency_id}-990101-{uuid.uuid4().int % 10000:04d}"
    await produce(intake.kafka, intake.status_topic, status_changed(unknown, 4), key=unknown.encode())
    dead = await read_until(intake.kafka, intake.dead_letter_topic, lambda rs: len(rs) >= 1,
                            keep=lambda r: r.key == unknown.encode())
    assert dict(dead[0].headers)["dlq-reason"].decode().startswith("unprocessable")


async def test_a_status_change_delivered_twice_is_applied_once(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = (await http.post("/v1/dossiers", json=certified_copy_submission(intake.agency_id),
                            headers=bearer(tokens["portal"]))).json()["code"]
    message = status_changed(code, 4, event_id=str(uuid.uuid4()))
    marker = status_changed(code, 5)
    await produce(intake.kafka, intake.status_topic, message, key=code.encode())
    await produce(intake.kafka, intake.status_topic, message, key=code.encode())
    await produce(intake.kafka, intake.status_topic, marker, key=code.encode())

    body = await eventually(lambda: _when_status(http, tokens["auditor"], code, 5))
    changes = [h for h in body["history"] if h["event"] == "StatusChanged"]
    assert [h["national_status"] for h in changes] == [4, 5]
