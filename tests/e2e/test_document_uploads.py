"""Uploads and submission by hash through the real processes: intake's ``PUT /v1/documents/{sha256}``
and every refusal of it, submissions refused when their documents were not uploaded by the
submitter or do not match, the per-dossier limit, the sweeper removing only unreferenced uploads
once the TTL passed, and the same round trip with the S3 backend (moto's server as a process)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from services.clock import FileClock
from services.documents.s3 import S3Settings
from tests.support.documents import JPEG, PDF, PNG, a_file
from tests.support.endpoints import Endpoints
from tests.support.intake import PARTIES, IntakeDeployment, bearer, certified_copy_submission
from tests.support.kafka import create_topics, eventually
from tests.support.s3_server import S3Server
from tests.support.uploads import a_document, file_of, upload, uploaded

pytestmark = pytest.mark.e2e

MAX_DOCUMENT_BYTES = 200_000
MAX_DOSSIER_BYTES = 300_000
TTL = timedelta(hours=1)
START = datetime.fromisoformat("2026-03-02T09:00:00+07:00")
LIMITS = {"MAX_DOCUMENT_BYTES": str(MAX_DOCUMENT_BYTES), "MAX_DOSSIER_BYTES": str(MAX_DOSSIER_BYTES),
          "UPLOAD_TTL_SECONDS": str(TTL.total_seconds()), "SWEEP_INTERVAL_SECONDS": "0.2"}


async def deployed(endpoints: Endpoints, work_dir: Any, label: str, s3: S3Settings | None = None,
                   ) -> IntakeDeployment:
    deployment = IntakeDeployment(endpoints.kafka_bootstrap_servers, endpoints.database_url, work_dir, label=label,
                                  documents_settings=dict(LIMITS), documents_s3=s3)
    deployment.clock_file = work_dir / "clock.txt"
    FileClock(deployment.clock_file).set(START)
    await create_topics(deployment.kafka, [deployment.events_topic, deployment.status_topic])
    await create_topics(deployment.kafka, [deployment.dead_letter_topic], partitions=1)
    await deployment.start(("intake",))
    return deployment


@pytest.fixture(scope="module")
async def intake(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IntakeDeployment]:
    """An intake of this module's own: small limits, a short TTL, a sweep every 0.2 s and a clock file."""
    deployment = await deployed(endpoints, tmp_path_factory.mktemp("uploads"), "uploads")
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="module")
def tokens(intake: IntakeDeployment) -> dict[str, str]:
    return {party: intake.token(party) for party in PARTIES}


@pytest.fixture
async def http(intake: IntakeDeployment) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=intake.base_url, timeout=60) as client:
        yield client


@pytest.fixture
def clock(intake: IntakeDeployment) -> Iterator[FileClock]:
    """The deployment's clock, at :data:`START` for each test and put back after it."""
    assert intake.clock_file is not None
    file = FileClock(intake.clock_file)
    file.set(START)
    yield file
    file.set(START)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def raw_request(base_url: str, head: str) -> tuple[int, bytes]:
    """Send only ``head`` (request line and headers, no body) on a socket of its own; the status and
    the body of the answer."""
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
        await writer.drain()
        # The answer may come in several packets: its head first, then as many bytes as it announces.
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        status_line, _, fields = head_bytes.partition(b"\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in fields.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = await asyncio.wait_for(reader.readexactly(length), timeout=10)
    finally:
        writer.close()
    return int(status_line.split()[1]), body


async def not_uploaded(http: httpx.AsyncClient, token: str, sha256: str) -> bool:
    response = await http.get(f"/v1/documents/{sha256}", headers=bearer(token))
    return response.status_code == 404


# --- uploads ----------------------------------------------------------------------------------


async def test_an_upload_is_created_then_known_to_its_client_and_to_no_other(
        http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    data = a_file(PDF, 50_000)

    first = await upload(http, tokens["portal"], data, PDF)
    again = await upload(http, tokens["portal"], data, PDF)

    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert first.headers["location"] == f"/v1/documents/{sha(data)}"
    body = first.json()
    assert {k: body[k] for k in ("sha256", "size_bytes", "media_type")} == {
        "sha256": sha(data), "size_bytes": 50_000, "media_type": PDF}
    found = await http.get(f"/v1/documents/{sha(data)}", headers=bearer(tokens["portal"]))
    assert (found.status_code, found.json()["sha256"]) == (200, sha(data))
    assert await not_uploaded(http, tokens["postal"], sha(data))


@pytest.mark.parametrize("media_type", [PDF, JPEG, PNG])
async def test_every_accepted_media_type_can_be_uploaded_by_a_desk_and_by_an_agency(
        http: httpx.AsyncClient, tokens: dict[str, str], media_type: str) -> None:
    for party in ("desk", "agency"):
        response = await upload(http, tokens[party], a_file(media_type, 3000), media_type)
        assert response.status_code == 201, response.text


async def test_bytes_that_do_not_hash_to_the_address_are_refused_with_422_and_nothing_is_stored(
        http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    data, claimed = a_file(PDF, 8000), sha(a_file(PDF, 8000))

    response = await upload(http, tokens["portal"], data, PDF, sha256=claimed)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/document-hash-mismatch")
    assert await not_uploaded(http, tokens["portal"], claimed)
    assert await not_uploaded(http, tokens["portal"], sha(data))


async def test_an_empty_file_is_refused_with_422(http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    response = await upload(http, tokens["portal"], b"", PDF)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/document-size-mismatch")


async def test_bytes_whose_signature_contradicts_the_media_type_are_refused_with_415_and_nothing_is_stored(
        http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    data = a_file(PDF, 6000)

    response = await upload(http, tokens["portal"], data, PNG)

    assert response.status_code == 415, response.text
    assert response.json()["type"].endswith("/document-media-type-mismatch")
    assert await not_uploaded(http, tokens["portal"], sha(data))


async def test_a_media_type_the_store_does_not_take_is_refused_with_415(
        http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    data = a_file(PDF, 2000)
    response = await upload(http, tokens["portal"], data, "application/x-msdownload")
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_file_over_the_limit_is_refused_with_413_from_its_content_length_before_any_byte_is_sent(
        intake: IntakeDeployment, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    address = sha(b"never sent")
    status, body = await raw_request(intake.base_url, (
        f"PUT /v1/documents/{address} HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer {tokens['portal']}\n"
        f"Content-Type: application/pdf\nContent-Length: {MAX_DOCUMENT_BYTES + 1}\nExpect: 100-continue\n"))
    assert status == 413
    assert b"payload-too-large" in body or b"document-too-large" in body
    assert await not_uploaded(http, tokens["portal"], address)


async def test_a_file_within_the_document_limit_but_over_the_json_limit_is_taken(
        http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    data = a_file(PDF, MAX_DOCUMENT_BYTES)  # the route's own limit, not http_max_body_bytes
    assert (await upload(http, tokens["portal"], data, PDF)).status_code == 201


async def test_an_upload_without_content_length_is_refused_with_411(
        http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    data = a_file(PDF, 4000)

    async def chunked() -> AsyncIterator[bytes]:
        yield data

    response = await http.put(f"/v1/documents/{sha(data)}", content=chunked(), headers=bearer(
        tokens["portal"], **{"Content-Type": PDF}))
    assert response.status_code == 411, response.text
    assert response.json()["type"].endswith("/length-required")
    assert await not_uploaded(http, tokens["portal"], sha(data))


async def test_a_caller_without_an_upload_role_gets_403_and_an_anonymous_one_401(
        http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    data = a_file(PDF, 3000)
    assert (await upload(http, tokens["auditor"], data, PDF)).status_code == 403
    anonymous = await http.put(f"/v1/documents/{sha(data)}", content=data, headers={"Content-Type": PDF})
    assert anonymous.status_code == 401
    assert await not_uploaded(http, tokens["portal"], sha(data))



async def test_intake_killed_in_the_middle_of_an_upload_stores_nothing_and_the_upload_is_new_afterwards(
        intake: IntakeDeployment, tokens: dict[str, str]) -> None:
    data = a_file(PDF, MAX_DOCUMENT_BYTES - 1000)
    half_sent, killed = asyncio.Event(), asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield data[: len(data) // 2]
        half_sent.set()
        await killed.wait()  # the rest goes to a process that is gone
        yield data[len(data) // 2:]

    async def killed_then_restarted() -> None:
        await half_sent.wait()
        intake.processes["intake"].kill()
        killed.set()
        intake.processes["intake"].start()

    async with httpx.AsyncClient(base_url=intake.base_url, timeout=60) as http:
        sending = asyncio.create_task(http.put(f"/v1/documents/{sha(data)}", content=body(), headers={
            **bearer(tokens["portal"]), "Content-Type": PDF, "Content-Length": str(len(data))}))
        await killed_then_restarted()
        with pytest.raises(httpx.TransportError):
            await sending

        async def ready() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False
        await eventually(ready, timeout=90)

        assert await not_uploaded(http, tokens["portal"], sha(data))
        again = await upload(http, tokens["portal"], data, PDF)
        assert again.status_code == 201, again.text  # new: nothing of the first attempt was kept

# --- submission by hash ------------------------------------------------------------------------


def _number(code: str) -> int:
    return int(code.rsplit("-", 1)[1])


async def refused_between_two_valid(intake: IntakeDeployment, http: httpx.AsyncClient, token: str,
                                    body: dict[str, Any]) -> httpx.Response:
    """Post ``body`` between two valid submissions of the same client; assert that it took no number."""
    before = await http.post("/v1/dossiers", json=await uploaded(http, token, certified_copy_submission(
        intake.agency_id)), headers=bearer(token))
    refused = await http.post("/v1/dossiers", json=body, headers=bearer(token))
    after = await http.post("/v1/dossiers", json=await uploaded(http, token, certified_copy_submission(
        intake.agency_id)), headers=bearer(token))
    assert (before.status_code, after.status_code) == (201, 201), (before.text, after.text)
    assert _number(after.json()["code"]) == _number(before.json()["code"]) + 1
    assert refused.headers["content-type"] == "application/problem+json"
    return refused


def errors_of(response: httpx.Response) -> list[tuple[str, str]]:
    return [(e["name"], e["code"]) for e in response.json()["errors"]]


async def test_a_submission_of_documents_the_submitter_uploaded_is_received(
        http: httpx.AsyncClient, intake: IntakeDeployment, tokens: dict[str, str]) -> None:
    body = await uploaded(http, tokens["portal"], certified_copy_submission(intake.agency_id))
    response = await http.post("/v1/dossiers", json=body, headers=bearer(tokens["portal"]))
    assert response.status_code == 201, response.text
    assert response.json()["documents"] == body["documents"]


async def test_a_document_never_uploaded_is_refused_with_422_naming_it_and_takes_no_number(
        http: httpx.AsyncClient, intake: IntakeDeployment, tokens: dict[str, str]) -> None:
    body = certified_copy_submission(intake.agency_id)  # its file is never uploaded

    refused = await refused_between_two_valid(intake, http, tokens["portal"], body)

    assert refused.status_code == 422, refused.text
    assert errors_of(refused) == [("documents[0]", "document_not_uploaded")]


async def test_a_document_another_client_uploaded_is_refused_with_422(
        http: httpx.AsyncClient, intake: IntakeDeployment, tokens: dict[str, str]) -> None:
    body = await uploaded(http, tokens["postal"], certified_copy_submission(intake.agency_id))

    refused = await refused_between_two_valid(intake, http, tokens["portal"], body)

    assert refused.status_code == 422, refused.text
    assert errors_of(refused) == [("documents[0]", "document_not_uploaded")]


async def test_a_reference_whose_size_or_media_type_differs_from_the_upload_is_refused_with_422(
        http: httpx.AsyncClient, intake: IntakeDeployment, tokens: dict[str, str]) -> None:
    body = await uploaded(http, tokens["portal"], certified_copy_submission(intake.agency_id))
    document = body["documents"][0]
    body["documents"] = [{**document, "size_bytes": document["size_bytes"] + 1}]

    refused = await refused_between_two_valid(intake, http, tokens["portal"], body)

    assert refused.status_code == 422, refused.text
    assert errors_of(refused) == [("documents[0]", "document_mismatch")]


async def test_documents_over_the_dossier_limit_are_refused_with_413_and_take_no_number(
        http: httpx.AsyncClient, intake: IntakeDeployment, tokens: dict[str, str]) -> None:
    big = [a_document(f"phu_luc_{n}", size=MAX_DOCUMENT_BYTES) for n in range(2)]
    body = await uploaded(http, tokens["portal"], certified_copy_submission(intake.agency_id))
    await uploaded(http, tokens["portal"], {"documents": big})
    body["documents"] += big

    refused = await refused_between_two_valid(intake, http, tokens["portal"], body)

    assert refused.status_code == 413, refused.text
    assert refused.json()["type"].endswith("/dossier-too-large")


# --- the sweeper -------------------------------------------------------------------------------


async def test_the_sweeper_removes_unreferenced_uploads_after_the_ttl_and_keeps_referenced_ones(
        http: httpx.AsyncClient, intake: IntakeDeployment, tokens: dict[str, str], clock: FileClock) -> None:
    token = tokens["portal"]
    kept = await uploaded(http, token, certified_copy_submission(intake.agency_id))
    assert (await http.post("/v1/dossiers", json=kept, headers=bearer(token))).status_code == 201
    left = a_file(PDF, 3000)
    assert (await upload(http, token, left, PDF)).status_code == 201
    clock.set(START + TTL - timedelta(minutes=1))
    fresh = a_file(PDF, 3000)
    assert (await upload(http, token, fresh, PDF)).status_code == 201

    clock.set(START + TTL + timedelta(minutes=1))

    await eventually(lambda: not_uploaded(http, token, sha(left)), timeout=30)
    referenced = await http.get(f"/v1/documents/{kept['documents'][0]['sha256']}", headers=bearer(token))
    assert referenced.status_code == 200
    assert (await http.get(f"/v1/documents/{sha(fresh)}", headers=bearer(token))).status_code == 200
    # The removed upload can no longer be referred to.
    body = certified_copy_submission(intake.agency_id, documents=[
        {"name": "to_khai_cap_ban_sao_trich_luc", "media_type": PDF, "size_bytes": len(left), "sha256": sha(left)}])
    refused = await http.post("/v1/dossiers", json=body, headers=bearer(token))
    assert (refused.status_code, errors_of(refused)) == (422, [("documents[0]", "document_not_uploaded")])


# --- the S3 backend ----------------------------------------------------------------------------



@pytest.fixture(scope="module")
async def intake_on_s3(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory,
                       s3_server: S3Server) -> AsyncIterator[IntakeDeployment]:
    deployment = await deployed(endpoints, tmp_path_factory.mktemp("uploads-s3"), "uploads_s3",
                                s3_server.store_settings())
    try:
        yield deployment
    finally:
        deployment.stop()


async def test_with_the_s3_backend_uploads_land_in_the_bucket_and_submissions_refer_to_them(
        intake_on_s3: IntakeDeployment, s3_server: S3Server) -> None:
    intake = intake_on_s3
    token = intake.token("portal")
    async with httpx.AsyncClient(base_url=intake.base_url, timeout=60) as http:
        body = await uploaded(http, token, certified_copy_submission(intake.agency_id))
        document = body["documents"][0]
        submitted = await http.post("/v1/dossiers", json=body, headers=bearer(token))
        unknown = certified_copy_submission(intake.agency_id)
        refused = await http.post("/v1/dossiers", json=unknown, headers=bearer(token))
        mismatch = await upload(http, token, a_file(PDF, 4000), PNG)

    assert submitted.status_code == 201, submitted.text
    key = f"{intake.documents_prefix}{document['sha256']}"
    stored = s3_server.client().get_object(Bucket=s3_server.bucket, Key=key)
    assert stored["Body"].read() == file_of(document["sha256"])
    assert (refused.status_code, errors_of(refused)) == (422, [("documents[0]", "document_not_uploaded")])
    assert mismatch.status_code == 415
    listed = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=intake.documents_prefix)
    assert [o["Key"] for o in listed.get("Contents", [])] == [key]
