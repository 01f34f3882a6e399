"""The document store on the real PostgreSQL (services/documents/postgres.py): bytes go in checked,
in one transaction, and come out byte for byte only while they still hash to their address."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import aclosing
from dataclasses import dataclass

import asyncpg
import pytest

from services.documents.postgres import PostgresDocumentStore
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
from tests.random_refs import random_sha256
from tests.support.documents import PDF, PNG, a_file, declared_for, streamed
from tests.support.endpoints import Endpoints

pytestmark = pytest.mark.integration
MB = 1024 * 1024


def a_pdf(size: int = 3 * MB // 2) -> bytes:
    """Random bytes after a PDF header."""
    return a_file(PDF, size)


@dataclass
class Store:
    documents: PostgresDocumentStore
    pool: asyncpg.Pool
    schema: str

    async def rows(self) -> tuple[int, int]:
        """How many rows the documents and document_chunks tables hold."""
        return (await self.pool.fetchval(f'SELECT count(*) FROM "{self.schema}".documents'),
                await self.pool.fetchval(f'SELECT count(*) FROM "{self.schema}".document_chunks'))

    async def chunk_sizes(self, sha256: str) -> list[int]:
        return [r["size"] for r in await self.pool.fetch(
            f'SELECT octet_length(bytes) AS size FROM "{self.schema}".document_chunks WHERE sha256 = $1 ORDER BY n',
            sha256)]

    async def read(self, sha256: str) -> bytes:
        return b"".join([chunk async for chunk in self.documents.read(sha256)])

    def with_limits(self, limits: Limits) -> PostgresDocumentStore:
        """Another store on the same tables, with other limits."""
        return PostgresDocumentStore(self.pool, self.schema, limits)


@pytest.fixture
async def store(endpoints: Endpoints, schema: str) -> AsyncIterator[Store]:
    pool = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=6)
    try:
        documents = PostgresDocumentStore(pool, schema, Limits(max_document_bytes=40 * MB))
        await documents.create_tables()
        yield Store(documents, pool, schema)
    finally:
        await pool.close()


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


# --- in and out ----------------------------------------------------------------------------------


async def test_a_multi_chunk_pdf_comes_back_byte_for_byte_from_chunks_of_the_store_s_size(store: Store) -> None:
    data = a_pdf()

    stored = await store.documents.put(declared_for(data), streamed(cut(data, 100_001)))

    assert (stored.sha256, stored.size_bytes, stored.media_type) == (hashlib.sha256(data).hexdigest(), len(data), PDF)
    assert await store.documents.stat(stored.sha256) == stored
    assert await store.read(stored.sha256) == data
    assert await store.chunk_sizes(stored.sha256) == [CHUNK_BYTES] * 5 + [len(data) - 5 * CHUNK_BYTES]
    assert await store.rows() == (1, 6)


async def test_creating_the_tables_again_keeps_what_is_stored(store: Store) -> None:
    data = a_pdf(10_000)
    await store.documents.put(declared_for(data), streamed([data]))

    await store.documents.create_tables()

    assert await store.read(hashlib.sha256(data).hexdigest()) == data


async def test_the_same_bytes_put_again_return_the_stored_document_and_store_nothing_more(store: Store) -> None:
    data = a_pdf()
    first = await store.documents.put(declared_for(data), streamed(cut(data, CHUNK_BYTES)))

    again = await store.documents.put(declared_for(data), streamed(cut(data, 7_777)))

    assert again == first
    assert await store.rows() == (1, 6)
    assert await store.read(first.sha256) == data


async def test_concurrent_puts_of_the_same_bytes_store_one_document(store: Store) -> None:
    data = a_pdf()

    results = await asyncio.gather(*(store.documents.put(declared_for(data), streamed(cut(data, size)))
                                     for size in (CHUNK_BYTES, 65_536, 100_001, 333_333)))

    assert len(set(results)) == 1
    assert await store.rows() == (1, 6)
    assert await store.read(results[0].sha256) == data


async def test_a_refused_upload_racing_a_good_one_of_the_same_address_does_not_spoil_it(store: Store) -> None:
    data = a_pdf()
    forged = data[:-1] + b"\x00"

    bad, good = await asyncio.gather(store.documents.put(declared_for(data), streamed(cut(forged, 65_536))),
                                     store.documents.put(declared_for(data), streamed(cut(data, 65_536))),
                                     return_exceptions=True)

    assert isinstance(bad, HashMismatchError)
    assert not isinstance(good, BaseException)
    assert await store.read(good.sha256) == data


def generated_pdf(seed: int, size: int, piece: int) -> Iterator[bytes]:
    """``size`` bytes of a PDF in pieces of ``piece`` bytes, made as they are asked for."""
    rng = random.Random(seed)
    sent = 0
    while sent < size:
        chunk = rng.randbytes(min(piece, size - sent))
        if sent == 0:
            chunk = b"%PDF-" + chunk[5:]
        sent += len(chunk)
        yield chunk


async def test_a_30_mb_stream_under_a_40_mb_limit_is_stored_from_a_generator_and_read_back(store: Store) -> None:
    seed, size, piece = random.randrange(2**32), 30 * MB, 1_000_003
    digest = hashlib.sha256()
    for chunk in generated_pdf(seed, size, piece):
        digest.update(chunk)

    stored = await store.documents.put(Declared(digest.hexdigest(), size, PDF),
                                       streamed(generated_pdf(seed, size, piece)))

    assert stored.size_bytes == size
    assert await store.rows() == (1, size // CHUNK_BYTES + (size % CHUNK_BYTES > 0))
    read_back = hashlib.sha256()
    async for chunk in store.documents.read(stored.sha256):
        assert len(chunk) <= CHUNK_BYTES
        read_back.update(chunk)
    assert read_back.hexdigest() == digest.hexdigest()


# --- refusals leave nothing ----------------------------------------------------------------------


class UploaderGoneError(Exception):
    """The uploader's connection broke mid-stream."""


async def broken_after(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in streamed(chunks):
        yield chunk
    raise UploaderGoneError


Refusal = tuple[Declared, list[bytes], type[Exception]]
REFUSALS: dict[str, Callable[[bytes], Refusal]] = {
    "media type not accepted": lambda data: (declared_for(data, "application/zip"), cut(data, 65_536),
                                             MediaTypeMismatchError),
    "signature of another type": lambda data: (declared_for(data, PNG), cut(data, 65_536), MediaTypeMismatchError),
    "longer than declared": lambda data: (declared_for(data, size_bytes=len(data) - 1), cut(data, 65_536),
                                          SizeMismatchError),
    "shorter than declared": lambda data: (declared_for(data, size_bytes=len(data) + 1), cut(data, 65_536),
                                           SizeMismatchError),
    "another sha256 after 1.5 MB": lambda data: (declared_for(data, sha256=random_sha256()), cut(data, 65_536),
                                                 HashMismatchError),
    "declared over the limit": lambda data: (declared_for(data, size_bytes=41 * MB), cut(data, 65_536),
                                             DocumentTooLargeError),
    "empty": lambda data: (declared_for(b""), [], SizeMismatchError),
}
"""Each refusal, given a 1.5 MB PDF: what is declared, the chunks sent, the error expected."""


@pytest.mark.parametrize("refusal", list(REFUSALS))
async def test_a_refused_upload_leaves_no_row(store: Store, refusal: str) -> None:
    declared, chunks, error = REFUSALS[refusal](a_pdf())

    with pytest.raises(error):
        await store.documents.put(declared, streamed(chunks))

    assert await store.rows() == (0, 0)
    with pytest.raises(DocumentNotFoundError):
        await store.documents.stat(declared.sha256)


async def test_a_stream_over_the_limit_is_refused_while_it_streams_and_leaves_no_row(store: Store) -> None:
    small = store.with_limits(Limits(max_document_bytes=MB))
    data = a_pdf(MB)
    endless = (data if i == 0 else os.urandom(65_536) for i in range(10**6))

    with pytest.raises(DocumentTooLargeError):
        await small.put(declared_for(data), streamed(endless))

    assert await store.rows() == (0, 0)


async def test_an_upload_whose_uploader_goes_away_mid_stream_leaves_no_row(store: Store) -> None:
    data = a_pdf()

    with pytest.raises(UploaderGoneError):
        await store.documents.put(declared_for(data), broken_after(cut(data, 65_536)[:-3]))

    assert await store.rows() == (0, 0)


async def test_other_bytes_declared_under_a_stored_address_are_refused_and_the_stored_bytes_kept(
        store: Store) -> None:
    data = a_pdf()
    stored = await store.documents.put(declared_for(data), streamed([data]))
    forged = data[:1000] + b"\x00" + data[1001:]

    with pytest.raises(HashMismatchError):
        await store.documents.put(declared_for(data), streamed(cut(forged, 65_536)))

    assert await store.read(stored.sha256) == data


# --- corruption, unknown addresses, deletion -----------------------------------------------------


async def test_a_byte_altered_in_the_stored_chunks_is_refused_on_read_and_reported(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    data = a_pdf()
    stored = await store.documents.put(declared_for(data), streamed([data]))
    await store.pool.execute(
        f'UPDATE "{store.schema}".document_chunks SET bytes = set_byte(bytes, 1234, get_byte(bytes, 1234) # 1) '
        "WHERE sha256 = $1 AND n = 3", stored.sha256)

    yielded: list[bytes] = []
    with caplog.at_level(logging.ERROR, logger="services.documents.postgres"), \
            pytest.raises(CorruptDocumentError):
        async for chunk in store.documents.read(stored.sha256):
            yielded.append(chunk)

    assert yielded == []
    assert [(r.levelno, stored.sha256 in r.getMessage()) for r in caplog.records] == [(logging.ERROR, True)]


async def test_a_chunk_missing_from_the_store_is_refused_on_read(store: Store) -> None:
    data = a_pdf()
    stored = await store.documents.put(declared_for(data), streamed([data]))
    await store.pool.execute(f'DELETE FROM "{store.schema}".document_chunks WHERE sha256 = $1 AND n = 5',
                             stored.sha256)

    with pytest.raises(CorruptDocumentError):
        await store.read(stored.sha256)


async def test_an_unknown_address_is_not_found(store: Store) -> None:
    unknown = random_sha256()

    with pytest.raises(DocumentNotFoundError):
        await store.documents.stat(unknown)
    with pytest.raises(DocumentNotFoundError):
        await store.read(unknown)
    assert await store.documents.delete(unknown) is False


async def test_a_deleted_document_and_its_chunks_are_gone_and_can_be_stored_again(store: Store) -> None:
    data, other = a_pdf(), a_pdf(5000)
    stored = await store.documents.put(declared_for(data), streamed([data]))
    await store.documents.put(declared_for(other), streamed([other]))

    assert await store.documents.delete(stored.sha256) is True

    assert await store.rows() == (1, 1)
    with pytest.raises(DocumentNotFoundError):
        await store.read(stored.sha256)
    assert await store.documents.delete(stored.sha256) is False
    await store.documents.put(declared_for(data), streamed([data]))
    assert await store.read(stored.sha256) == data


async def test_a_read_stopped_early_gives_its_connection_back(store: Store) -> None:
    data = a_pdf()
    stored = await store.documents.put(declared_for(data), streamed([data]))

    for _ in range(10):
        async with aclosing(store.documents.read(stored.sha256)) as chunks:
            assert await anext(chunks) == data[:CHUNK_BYTES]

    assert await asyncio.wait_for(store.read(stored.sha256), timeout=10) == data
