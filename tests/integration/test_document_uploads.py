"""The upload use cases (services/documents/uploads.py) on the real PostgreSQL, each test run once
with the PostgreSQL store and once with the S3 store (moto's server as a child process): who
uploaded what, references checked and attached, and the sweeper removing only what no dossier
refers to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.auth import Principal
from services.documents.settings import Documents, DocumentSettings, open_documents
from services.documents.store import DocumentNotFoundError, HashMismatchError, Limits
from services.documents.uploads import DossierTooLargeError, NotEntitledToUploadError, UploadNotFoundError
from tests.random_refs import random_suffix
from tests.support.documents import PDF, PNG, a_file, declared_for, streamed
from tests.support.endpoints import Endpoints
from tests.support.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
TTL = timedelta(hours=24)



@pytest.fixture(params=["postgres", "s3"])
def settings(request: pytest.FixtureRequest, schema: str) -> DocumentSettings:
    fields: dict[str, Any] = {"documents_schema": schema, "documents_backend": request.param,
                              "documents_max_document_bytes": 64_000, "documents_max_dossier_bytes": 100_000,
                              "documents_upload_ttl_seconds": TTL.total_seconds()}
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        fields.update(documents_s3_bucket=server.bucket, documents_s3_endpoint_url=server.endpoint_url,
                      documents_s3_region=REGION, documents_s3_access_key_id=ACCESS_KEY_ID,
                      documents_s3_secret_access_key=SECRET_ACCESS_KEY,
                      documents_s3_prefix=f"documents-{random_suffix()}/")
    return DocumentSettings(**fields)


@pytest.fixture
async def documents(endpoints: Endpoints, settings: DocumentSettings) -> AsyncIterator[Documents]:
    pool = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=4)
    blobs = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=4)
    try:
        async with open_documents(settings, pool, blob_pool=blobs) as opened:
            yield opened
    finally:
        await pool.close()
        await blobs.close()


def a_client(*roles: str) -> Principal:
    return Principal(client_id=f"portal-{random_suffix()}", party="portal", agency_id=None,
                     roles=frozenset(roles or {"dossier:submit"}))


async def upload(documents: Documents, client: Principal, data: bytes, media_type: str = PDF,
                 at: datetime = NOW) -> Any:
    return await documents.uploads.upload(client, declared_for(data, media_type), streamed([data]), at)


def reference(data: bytes, media_type: str = PDF, **overrides: Any) -> dict[str, Any]:
    declared = declared_for(data, media_type)
    return {"name": "to_khai", "media_type": media_type, "size_bytes": declared.size_bytes,
            "sha256": declared.sha256, **overrides}


async def test_an_upload_is_stored_and_recorded_for_its_client(documents: Documents) -> None:
    client, data = a_client(), a_file(PDF, 20_000)
    first = await upload(documents, client, data)
    again = await upload(documents, client, data)
    assert (first.created, again.created) == (True, False)
    upload_found, stored = await documents.uploads.find(client.client_id, first.document.sha256)
    assert (stored.size_bytes, stored.media_type, upload_found.client_id) == (20_000, PDF, client.client_id)
    assert b"".join([c async for c in documents.store.read(stored.sha256)]) == data


async def test_the_same_bytes_uploaded_by_another_client_are_a_new_upload_of_one_stored_document(
        documents: Documents) -> None:
    data = a_file(PNG, 3000)
    mine, theirs = await upload(documents, a_client(), data, PNG), await upload(documents, a_client(), data, PNG)
    assert (mine.created, theirs.created) == (True, True)
    assert mine.document == theirs.document


async def test_a_refused_upload_stores_nothing_and_records_no_upload(documents: Documents) -> None:
    client, data = a_client(), a_file(PDF, 5000)
    declared = declared_for(data, sha256=declared_for(a_file()).sha256)
    with pytest.raises(HashMismatchError):
        await documents.uploads.upload(client, declared, streamed([data]), NOW)
    with pytest.raises(DocumentNotFoundError):
        await documents.store.stat(declared.sha256)
    with pytest.raises(UploadNotFoundError):
        await documents.uploads.find(client.client_id, declared.sha256)
    assert await documents.uploads.registry.find(client.client_id, declared.sha256) is None


async def test_a_caller_without_an_upload_role_is_refused_before_anything_is_read(documents: Documents) -> None:
    data = a_file()

    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("read")
        yield b""

    with pytest.raises(NotEntitledToUploadError):
        await documents.uploads.upload(a_client("dossier:read"), declared_for(data), never(), NOW)


async def test_an_agency_may_upload_its_results(documents: Documents) -> None:
    assert (await upload(documents, a_client("inbox:act"), a_file())).created


async def test_references_to_the_clients_own_matching_uploads_have_no_problem(documents: Documents) -> None:
    client, pdf, png = a_client(), a_file(PDF, 4000), a_file(PNG, 6000)
    await upload(documents, client, pdf)
    await upload(documents, client, png, PNG)
    assert await documents.uploads.check_references(client.client_id, [reference(pdf), reference(png, PNG)]) == []


async def test_a_reference_to_a_document_never_uploaded_or_uploaded_by_another_client_is_a_problem(
        documents: Documents) -> None:
    client, mine, theirs, never = a_client(), a_file(), a_file(), a_file()
    await upload(documents, client, mine)
    await upload(documents, a_client(), theirs)
    problems = await documents.uploads.check_references(
        client.client_id, [reference(mine), reference(theirs), reference(never)])
    assert [(p.field, p.code) for p in problems] == [
        ("documents[1]", "document_not_uploaded"), ("documents[2]", "document_not_uploaded")]


async def test_a_reference_whose_size_or_media_type_differs_from_the_store_is_a_mismatch(
        documents: Documents) -> None:
    client, data = a_client(), a_file(PDF, 7000)
    await upload(documents, client, data)
    problems = await documents.uploads.check_references(
        client.client_id, [reference(data, size_bytes=7001), reference(data, media_type=PNG)])
    assert [(p.field, p.code) for p in problems] == [
        ("documents[0]", "document_mismatch"), ("documents[1]", "document_mismatch")]


async def test_documents_adding_up_to_more_than_the_dossier_limit_are_refused_before_any_lookup(
        documents: Documents) -> None:
    refs = [reference(a_file(PDF, 40_000)) for _ in range(3)]
    with pytest.raises(DossierTooLargeError):
        await documents.uploads.check_references(a_client().client_id, refs)


async def test_attaching_records_the_dossier_and_refuses_a_hash_not_uploaded(documents: Documents) -> None:
    client, data, other = a_client(), a_file(), a_file()
    sha = (await upload(documents, client, data)).document.sha256
    missing = declared_for(other).sha256
    assert await documents.uploads.attach(client.client_id, [sha, missing], "X-1", NOW) == [missing]
    assert (await documents.uploads.find(client.client_id, sha))[0].dossier_codes == ()
    assert await documents.uploads.attach(client.client_id, [sha], "X-1", NOW) == []
    assert await documents.uploads.attach(client.client_id, [sha], "X-2", NOW) == []
    assert (await documents.uploads.find(client.client_id, sha))[0].dossier_codes == ("X-1", "X-2")


async def test_the_sweeper_removes_only_unreferenced_uploads_older_than_the_ttl(documents: Documents) -> None:
    client = a_client()
    old, referenced, fresh = a_file(), a_file(), a_file()
    old_sha = (await upload(documents, client, old, at=NOW - TTL - timedelta(minutes=1))).document.sha256
    referenced_sha = (await upload(documents, client, referenced, at=NOW - TTL * 3)).document.sha256
    fresh_sha = (await upload(documents, client, fresh, at=NOW - TTL + timedelta(minutes=1))).document.sha256
    await documents.uploads.attach(client.client_id, [referenced_sha], "X-1", NOW - TTL * 2)

    swept = await documents.uploads.sweep(NOW)

    assert (swept.uploads, swept.documents) >= (1, 1)
    with pytest.raises(UploadNotFoundError):
        await documents.uploads.find(client.client_id, old_sha)
    with pytest.raises(DocumentNotFoundError):
        await documents.store.stat(old_sha)
    for kept in (referenced_sha, fresh_sha):
        assert (await documents.uploads.find(client.client_id, kept))[1].sha256 == kept


async def test_the_sweeper_keeps_a_blob_another_clients_upload_still_holds(documents: Documents) -> None:
    data, early, late = a_file(), a_client(), a_client()
    sha = (await upload(documents, early, data, at=NOW - TTL * 2)).document.sha256
    await upload(documents, late, data, at=NOW)
    await documents.uploads.attach(late.client_id, [sha], "X-9", NOW)

    await documents.uploads.sweep(NOW)

    with pytest.raises(UploadNotFoundError):
        await documents.uploads.find(early.client_id, sha)
    assert (await documents.uploads.find(late.client_id, sha))[1].sha256 == sha
    assert b"".join([c async for c in documents.store.read(sha)]) == data


async def test_an_upload_again_after_the_sweep_stores_the_document_again(documents: Documents) -> None:
    client, data = a_client(), a_file()
    await upload(documents, client, data, at=NOW - TTL * 2)
    await documents.uploads.sweep(NOW)
    again = await upload(documents, client, data)
    assert again.created
    assert await documents.uploads.check_references(client.client_id, [reference(data)]) == []


async def test_two_stores_opened_on_one_schema_share_documents_and_uploads(
        documents: Documents, endpoints: Endpoints, settings: DocumentSettings) -> None:
    client, data = a_client(), a_file()
    await upload(documents, client, data)
    pool = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=2)
    blobs = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=2)
    try:
        async with open_documents(settings, pool, blob_pool=blobs) as other:
            assert await other.uploads.check_references(client.client_id, [reference(data)]) == []
            assert other.limits == Limits(64_000, 100_000)
    finally:
        await pool.close()
        await blobs.close()


async def test_many_dossiers_may_refer_to_one_upload_at_once(documents: Documents) -> None:
    client, data = a_client(), a_file()
    sha = (await upload(documents, client, data)).document.sha256
    codes = [f"X-{n:02d}" for n in range(20)]
    answers = await asyncio.gather(*(documents.uploads.attach(client.client_id, [sha], code, NOW) for code in codes))
    assert answers == [[]] * len(codes)
    assert (await documents.uploads.find(client.client_id, sha))[0].dossier_codes == tuple(codes)


async def test_more_uploads_at_once_than_the_registry_has_connections_all_finish(
        documents: Documents, settings: DocumentSettings) -> None:
    clients = [a_client() for _ in range(12)]  # the registry's pool has 4 connections
    files = [a_file(PDF, 40_000) for _ in clients]

    done = await asyncio.wait_for(asyncio.gather(*(upload(documents, c, f) for c, f in zip(clients, files,
                                                                                           strict=True))), 60)

    assert all(d.created for d in done)
    for client, data in zip(clients, files, strict=True):
        assert await documents.uploads.check_references(client.client_id, [reference(data)]) == []


async def test_the_postgresql_backend_refuses_to_share_the_registrys_pool(endpoints: Endpoints) -> None:
    pool = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=2)
    try:
        with pytest.raises(ValueError, match="blob_pool of its own"):
            async with open_documents(DocumentSettings(documents_schema=f"unused_{random_suffix()}"), pool,
                                      blob_pool=pool):
                pass
        with pytest.raises(ValueError, match="blob_pool of its own"):
            async with open_documents(DocumentSettings(documents_schema=f"unused_{random_suffix()}"), pool):
                pass
    finally:
        await pool.close()
