"""The Idempotency-Key is text compared in NFC, and bounded."""

from __future__ import annotations

import unicodedata
import uuid

import httpx
import pytest

from intake.api import IDEMPOTENCY_KEY_MAX_LENGTH
from tests.support.intake import IntakeDeployment, bearer, certified_copy_submission, uploaded_submission

pytestmark = pytest.mark.e2e


def _headers(token: str, key: str) -> dict[str, bytes]:
    return {"Authorization": f"Bearer {token}".encode(), "Idempotency-Key": key.encode("utf-8")}


async def test_the_nfc_and_nfd_forms_of_one_key_are_the_same_key(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    key = f"hồ-sơ-Nguyễn-{uuid.uuid4()}"
    body = await uploaded_submission(http, tokens["portal"], intake.agency_id)
    nfc, nfd = unicodedata.normalize("NFC", key), unicodedata.normalize("NFD", key)

    first = await http.post("/v1/dossiers", json=body, headers=_headers(tokens["portal"], nfc))
    retry = await http.post("/v1/dossiers", json=body, headers=_headers(tokens["portal"], nfd))

    assert first.status_code == retry.status_code == 201, retry.text
    assert retry.json()["code"] == first.json()["code"]
    assert retry.headers["idempotent-replayed"] == "true"


async def test_a_key_longer_than_the_bound_is_refused_with_422_naming_the_header(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    key = "k" * (IDEMPOTENCY_KEY_MAX_LENGTH + 1)

    response = await http.post("/v1/dossiers", json=certified_copy_submission(intake.agency_id),
                               headers=_headers(tokens["portal"], key))

    assert response.status_code == 422
    assert [e["name"] for e in response.json()["errors"]] == ["Idempotency-Key"]


async def test_a_key_of_many_combining_marks_that_is_short_in_nfc_is_accepted(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    key = unicodedata.normalize("NFD", "ệ" * IDEMPOTENCY_KEY_MAX_LENGTH)  # 3 code points each in NFD

    response = await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                               headers=_headers(tokens["portal"], key[:-3] + uuid.uuid4().hex[:1]))

    assert response.status_code == 201, response.text


async def test_a_dossier_code_longer_than_any_code_is_refused_with_422(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await http.get(f"/v1/dossiers/{'A' * 1000}", headers=bearer(tokens["auditor"]))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
