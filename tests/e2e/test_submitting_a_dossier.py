"""Submitting dossiers to intake over HTTP, with the relay publishing to Kafka."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.support.intake import IntakeDeployment, bearer, certified_copy_submission, uploaded_submission
from tests.support.kafka import read_to_end, read_until

pytestmark = pytest.mark.e2e


def _submitted_events_of(code: str):
    def keep(record) -> bool:
        return record.key == code.encode()
    return keep


async def test_a_submission_over_http_produces_exactly_one_dossier_submitted_event(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                               headers=bearer(tokens["portal"]))
    assert response.status_code == 201, response.text
    dossier = response.json()
    code = dossier["code"]
    assert code.startswith(f"{intake.agency_id}-")
    assert dossier["national_status"] == 1
    assert response.headers["location"] == f"/v1/dossiers/{code}"

    await read_until(intake.kafka, intake.events_topic, lambda rs: len(rs) >= 1, keep=_submitted_events_of(code))
    records = [r for r in await read_to_end(intake.kafka, intake.events_topic) if r.key == code.encode()]
    assert len(records) == 1
    envelope = json.loads(records[0].value)
    assert envelope["type"] == "vn.lienthong.intake.dossier.submitted.v1"
    assert envelope["subject"] == code
    assert envelope["data"]["dossier_code"] == code
    assert envelope["data"]["receiving_agency_id"] == intake.agency_id


async def test_a_desk_submission_is_accepted_at_once_with_status_2(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    body = await uploaded_submission(http, tokens["desk"], intake.agency_id, channel="desk")
    response = await http.post("/v1/dossiers", json=body,
                               headers=bearer(tokens["desk"]))
    assert response.status_code == 201, response.text
    assert response.json()["national_status"] == 2


async def test_the_dossier_can_be_looked_up_with_its_status_and_history(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    created = (await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                               headers=bearer(tokens["portal"]))).json()
    accepted = await http.post(f"/v1/dossiers/{created['code']}/acceptance", headers=bearer(tokens["desk"]))
    assert accepted.status_code == 200, accepted.text

    found = await http.get(f"/v1/dossiers/{created['code']}", headers=bearer(tokens["portal"]))

    assert found.status_code == 200
    body = found.json()
    assert body["national_status"] == 2
    assert body["national_status_label"]
    assert [h["event"] for h in body["history"]] == ["Submitted", "Accepted"]


async def test_anonymous_submissions_get_401_and_store_nothing(
        intake: IntakeDeployment, http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/dossiers", json=certified_copy_submission(intake.agency_id))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


async def test_a_forged_token_gets_401(intake: IntakeDeployment, http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/dossiers", json=certified_copy_submission(intake.agency_id),
                               headers=bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad"))
    assert response.status_code == 401


async def test_wrong_client_secret_gets_401(intake: IntakeDeployment, http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": intake.client_id("portal"), "client_secret": "wrong"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_auditor_may_not_submit(intake: IntakeDeployment, http: httpx.AsyncClient,
                                         tokens: dict[str, str]) -> None:
    response = await http.post("/v1/dossiers", json=certified_copy_submission(intake.agency_id),
                               headers=bearer(tokens["auditor"]))
    assert response.status_code == 403


async def test_an_invalid_submission_lists_every_error_and_stores_nothing(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    before = (await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                              headers=bearer(tokens["portal"]))).json()["code"]
    body = certified_copy_submission(intake.agency_id)
    body["documents"] = [{"name": "giay_to_la", "media_type": "application/x-msdownload",
                          "size_bytes": 10, "sha256": "0" * 64}]
    body["result_delivery"] = {"method": "post", "address": "Số 1 đường Lê Lợi, phường Vinh"}
    body["procedure_code"] = "2.000635"

    response = await http.post("/v1/dossiers", json=body, headers=bearer(tokens["portal"]))

    assert response.status_code == 422
    problem = response.json()
    codes = {e["code"] for e in problem["errors"]}
    assert {"document_unknown", "document_missing"} <= codes, problem
    after = (await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                             headers=bearer(tokens["portal"]))).json()["code"]
    # No number was taken by the refused submission: the two valid ones are consecutive.
    assert int(after.rsplit("-", 1)[1]) == int(before.rsplit("-", 1)[1]) + 1


async def test_schema_violations_are_all_reported_together(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    body = certified_copy_submission(intake.agency_id, channel="fax", locality_code="x")
    body["applicant"]["identity_number"] = "12"
    response = await http.post("/v1/dossiers", json=body, headers=bearer(tokens["portal"]))
    assert response.status_code == 422
    names = {e["name"] for e in response.json()["errors"]}
    assert {"channel", "locality_code", "applicant.identity_number"} <= names


async def test_malformed_json_gets_a_400_problem(intake: IntakeDeployment, http: httpx.AsyncClient,
                                                 tokens: dict[str, str]) -> None:
    response = await http.post("/v1/dossiers", content=b"{not json",
                               headers=bearer(tokens["portal"], **{"content-type": "application/json"}))
    assert response.status_code == 400
    assert response.json()["type"].endswith("/malformed-json")


async def test_a_retried_submission_with_the_same_idempotency_key_returns_the_first_dossier(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    body = await uploaded_submission(http, tokens["portal"], intake.agency_id)
    key = str(uuid.uuid4())
    first = await http.post("/v1/dossiers", json=body, headers=bearer(tokens["portal"], **{"Idempotency-Key": key}))
    retry = await http.post("/v1/dossiers", json=body, headers=bearer(tokens["portal"], **{"Idempotency-Key": key}))
    assert first.status_code == retry.status_code == 201
    assert retry.json()["code"] == first.json()["code"]
    assert retry.headers["idempotent-replayed"] == "true"


async def test_concurrent_retries_with_one_idempotency_key_create_one_dossier(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    import asyncio

    body = await uploaded_submission(http, tokens["portal"], intake.agency_id)
    headers = bearer(tokens["portal"], **{"Idempotency-Key": str(uuid.uuid4())})
    responses = await asyncio.gather(*[http.post("/v1/dossiers", json=body, headers=headers) for _ in range(10)])
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["code"] for r in responses}) == 1


async def test_reusing_an_idempotency_key_for_another_submission_is_refused(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    key = str(uuid.uuid4())
    headers = bearer(tokens["portal"], **{"Idempotency-Key": key})
    first = await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                            headers=headers)
    second = await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                             headers=headers)
    assert first.status_code == 201
    assert second.status_code == 422
    assert second.json()["type"].endswith("/idempotency-key-reused")


async def test_accepting_a_dossier_twice_conflicts(intake: IntakeDeployment, http: httpx.AsyncClient,
                                                   tokens: dict[str, str]) -> None:
    code = (await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                            headers=bearer(tokens["portal"]))).json()["code"]
    assert (await http.post(f"/v1/dossiers/{code}/acceptance", headers=bearer(tokens["desk"]))).status_code == 200
    again = await http.post(f"/v1/dossiers/{code}/acceptance", headers=bearer(tokens["desk"]))
    assert again.status_code == 409
    assert again.json()["type"].endswith("/dossier-state-conflict")


async def test_another_agencys_desk_may_neither_read_nor_accept_the_dossier_and_is_not_told_it_exists(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    code = (await http.post("/v1/dossiers", json=await uploaded_submission(http, tokens["portal"], intake.agency_id),
                            headers=bearer(tokens["portal"]))).json()["code"]
    unknown = f"{intake.agency_id}-251128-9999"
    read = await http.get(f"/v1/dossiers/{code}", headers=bearer(tokens["other-desk"]))
    read_unknown = await http.get(f"/v1/dossiers/{unknown}", headers=bearer(tokens["other-desk"]))
    assert (read.status_code, read_unknown.status_code) == (404, 404)
    assert read.json()["type"] == read_unknown.json()["type"] and read.json()["title"] == read_unknown.json()["title"]
    accept = await http.post(f"/v1/dossiers/{code}/acceptance", headers=bearer(tokens["other-desk"]))
    assert accept.status_code == 404
    status = (await http.get(f"/v1/dossiers/{code}", headers=bearer(tokens["auditor"]))).json()["national_status"]
    assert status == 1


async def test_an_unknown_dossier_code_gets_404(intake: IntakeDeployment, http: httpx.AsyncClient,
                                                tokens: dict[str, str]) -> None:
    response = await http.get(f"/v1/dossiers/{intake.agency_id}-251128-9999", headers=bearer(tokens["auditor"]))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_service_reports_health_readiness_metrics_and_openapi(
        intake: IntakeDeployment, http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = (await http.get("/readyz")).json()
    assert ready["status"] == "ready"
    assert set(ready["checks"]) == {"postgresql", "event_store", "kafka"}
    assert "http_requests_total" in (await http.get("/metrics")).text
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert "/v1/dossiers" in paths and "/v1/dossiers/{code}" in paths


async def test_another_portal_client_may_not_withdraw_a_dossier_it_cannot_see(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    body = await uploaded_submission(http, tokens["postal"], intake.agency_id, channel="post")
    code = (await http.post("/v1/dossiers", json=body,
                            headers=bearer(tokens["postal"]))).json()["code"]
    response = await http.post(f"/v1/dossiers/{code}/withdrawal", json={"reason": "Không còn nhu cầu"},
                               headers=bearer(tokens["portal"]))
    assert response.status_code == 404
