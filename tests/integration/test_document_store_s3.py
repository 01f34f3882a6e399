"""The S3 document store against a real S3-compatible HTTP server (moto's, as a child process).

Each test stores under a prefix of its own, so what a refusal leaves behind is read from the bucket
itself: no object under the prefix, and no multipart upload left unfinished.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterator

import pytest

from services.documents.s3 import S3DocumentStore, S3Settings
from services.documents.store import (
    CHUNK_BYTES,
    CorruptDocumentError,
    Declared,
    DocumentNotFoundError,
    DocumentTooLargeError,
    HashMismatchError,
    Limits,
    MediaTypeMismatchError,
    SizeMismatchError,
)
from tests.random_refs import random_sha256, random_suffix
from tests.support.documents import PDF, a_file, declared_for
from tests.support.s3_server import S3Server

pytestmark = pytest.mark.integration

LIMIT_BYTES = 8 * 1024 * 1024
"""The per-document limit of these tests' store: more than one part, less than the big PDF."""



def settings_for(server: S3Server) -> S3Settings:
    return server.store_settings(prefix=f"documents-{random_suffix()}/")


@pytest.fixture
async def store(s3_server: S3Server) -> AsyncIterator[S3DocumentStore]:
    async with S3DocumentStore(settings_for(s3_server)) as opened:
        yield opened


@pytest.fixture
async def small_store(s3_server: S3Server) -> AsyncIterator[S3DocumentStore]:
    """A store whose per-document limit is :data:`LIMIT_BYTES`."""
    async with S3DocumentStore(settings_for(s3_server), Limits(max_document_bytes=LIMIT_BYTES)) as opened:
        yield opened


async def in_chunks(data: bytes, size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def read_all(store: S3DocumentStore, sha256: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(sha256)])


def left_behind(server: S3Server, store: S3DocumentStore) -> tuple[list[str], list[str]]:
    """The keys under the store's prefix, and the keys of its unfinished multipart uploads."""
    client, prefix = server.client(), store.settings.prefix
    objects = client.list_objects_v2(Bucket=server.bucket, Prefix=prefix).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=server.bucket, Prefix=prefix).get("Uploads", [])
    return [o["Key"] for o in objects], [u["Key"] for u in uploads]


async def test_a_multipart_pdf_comes_back_byte_for_byte_in_chunks_of_chunk_bytes(
        store: S3DocumentStore, s3_server: S3Server) -> None:
    data = a_file(PDF, 12 * 1024 * 1024 + 12345)
    declared = declared_for(data)

    stored = await store.put(declared, in_chunks(data, 1024 * 1024 + 7))

    assert (stored.sha256, stored.size_bytes, stored.media_type) == (declared.sha256, len(data), "application/pdf")
    assert await store.stat(declared.sha256) == stored
    chunks = [chunk async for chunk in store.read(declared.sha256)]
    assert b"".join(chunks) == data
    assert {len(chunk) for chunk in chunks[:-1]} == {CHUNK_BYTES}
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key=store.key(declared.sha256))
    assert head["ETag"].strip('"').endswith("-3")  # two parts of five chunks (over PART_BYTES), and the rest
    assert head["Metadata"] == {"size-bytes": str(len(data)), "media-type": "application/pdf"}
    assert left_behind(s3_server, store) == ([store.key(declared.sha256)], [])


async def test_putting_the_same_bytes_again_returns_the_stored_document(
        store: S3DocumentStore, s3_server: S3Server) -> None:
    data = a_file(PDF, 6 * 1024 * 1024)
    declared = declared_for(data)
    first = await store.put(declared, in_chunks(data))

    again = await store.put(declared, in_chunks(data))

    assert again == first
    assert await read_all(store, declared.sha256) == data
    assert left_behind(s3_server, store) == ([store.key(declared.sha256)], [])


async def test_the_same_address_with_other_bytes_is_refused_and_the_stored_document_kept(
        store: S3DocumentStore, s3_server: S3Server) -> None:
    data = a_file(PDF, 100_000)
    declared = declared_for(data)
    await store.put(declared, in_chunks(data))

    with pytest.raises(HashMismatchError):
        await store.put(declared, in_chunks(a_file(PDF, 100_000)))

    assert await read_all(store, declared.sha256) == data


async def test_bytes_that_do_not_hash_to_the_declared_sha256_leave_nothing(
        store: S3DocumentStore, s3_server: S3Server) -> None:
    data = a_file(PDF, 6 * 1024 * 1024)  # one full part is uploaded before the hash is known
    declared = Declared(sha256=random_sha256(), size_bytes=len(data), media_type="application/pdf")

    with pytest.raises(HashMismatchError):
        await store.put(declared, in_chunks(data))

    assert left_behind(s3_server, store) == ([], [])
    with pytest.raises(DocumentNotFoundError):
        await store.stat(declared.sha256)


async def test_a_declared_sha256_that_is_no_hex_digest_is_refused_and_leaves_nothing(
        store: S3DocumentStore, s3_server: S3Server) -> None:
    data = a_file(PDF, 10_000)
    declared = Declared(sha256="../" + hashlib.sha256(data).hexdigest().upper(), size_bytes=len(data),
                        media_type="application/pdf")

    with pytest.raises(HashMismatchError):
        await store.put(declared, in_chunks(data))

    assert left_behind(s3_server, store) == ([], [])


@pytest.mark.parametrize("sent_bytes", [6 * 1024 * 1024 - 1, 6 * 1024 * 1024 + 1], ids=["shorter", "longer"])
async def test_bytes_of_another_length_than_declared_leave_nothing(
        store: S3DocumentStore, s3_server: S3Server, sent_bytes: int) -> None:
    data = a_file(PDF, 6 * 1024 * 1024)
    declared = declared_for(data)

    with pytest.raises(SizeMismatchError):
        await store.put(declared, in_chunks(a_file(PDF, sent_bytes)))

    assert left_behind(s3_server, store) == ([], [])


async def test_more_bytes_than_the_limit_leave_nothing(small_store: S3DocumentStore, s3_server: S3Server) -> None:
    data = a_file(PDF, LIMIT_BYTES + 1)
    declared = Declared(sha256=hashlib.sha256(data).hexdigest(), size_bytes=LIMIT_BYTES, media_type="application/pdf")

    with pytest.raises(DocumentTooLargeError):
        await small_store.put(declared, in_chunks(data))

    assert left_behind(s3_server, small_store) == ([], [])


async def test_a_declared_size_over_the_limit_is_refused_before_anything_is_sent(
        small_store: S3DocumentStore, s3_server: S3Server) -> None:
    data = a_file(PDF, LIMIT_BYTES + 1)

    with pytest.raises(DocumentTooLargeError):
        await small_store.put(declared_for(data), in_chunks(data))

    assert left_behind(s3_server, small_store) == ([], [])


async def test_a_media_type_the_bytes_contradict_leaves_nothing(
        store: S3DocumentStore, s3_server: S3Server) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(200_000)

    with pytest.raises(MediaTypeMismatchError):
        await store.put(declared_for(data, "application/pdf"), in_chunks(data))

    assert left_behind(s3_server, store) == ([], [])


async def test_bytes_replaced_behind_the_stores_back_are_refused_on_read_before_any_chunk(
        store: S3DocumentStore, s3_server: S3Server, caplog: pytest.LogCaptureFixture) -> None:
    data = a_file(PDF, 3 * CHUNK_BYTES)
    declared = declared_for(data)
    await store.put(declared, in_chunks(data))
    tampered = bytearray(data)
    tampered[-1] ^= 0xFF
    s3_server.client().put_object(Bucket=s3_server.bucket, Key=store.key(declared.sha256), Body=bytes(tampered))
    yielded: list[bytes] = []

    with caplog.at_level(logging.ERROR, logger="services.documents.s3"), pytest.raises(CorruptDocumentError):
        async for chunk in store.read(declared.sha256):
            yielded.append(chunk)

    assert yielded == []
    assert any(r.levelno == logging.ERROR and declared.sha256 in r.getMessage() for r in caplog.records)


async def test_an_unknown_address_is_not_found(store: S3DocumentStore) -> None:
    unknown = random_sha256()

    with pytest.raises(DocumentNotFoundError):
        await store.stat(unknown)
    with pytest.raises(DocumentNotFoundError):
        await read_all(store, unknown)
    with pytest.raises(DocumentNotFoundError):
        await read_all(store, "../not-a-sha256")
    assert await store.delete(unknown) is False


async def test_a_deleted_document_is_gone(store: S3DocumentStore, s3_server: S3Server) -> None:
    data = a_file(PDF, 50_000)
    declared = declared_for(data)
    await store.put(declared, in_chunks(data))

    assert await store.delete(declared.sha256) is True

    with pytest.raises(DocumentNotFoundError):
        await store.stat(declared.sha256)
    with pytest.raises(DocumentNotFoundError):
        await read_all(store, declared.sha256)
    assert left_behind(s3_server, store) == ([], [])
    assert await store.delete(declared.sha256) is False
