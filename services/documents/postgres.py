"""The document store on PostgreSQL: one row per document, its bytes in rows of at most
:data:`~services.documents.store.CHUNK_BYTES`.

Tables (in the service's schema, made by :meth:`PostgresDocumentStore.create_tables`):

- ``documents`` — ``sha256`` (the address, primary key), ``size_bytes``, ``media_type``, ``stored_at``;
- ``document_chunks`` — ``sha256``, ``n`` (0, 1, …), ``bytes``; primary key ``(sha256, n)``; a chunk
  belongs to a document (foreign key checked at commit, deleted with it).

Every chunk is exactly ``CHUNK_BYTES`` long but the last, whatever sizes the uploader sent, so a
document's rows depend on its bytes only. A put writes the chunks as they pass the checks, in one
transaction, and adds the document's row only once :meth:`Checked.verify` has passed: a refused upload
rolls back and leaves nothing. Puts and deletes of one address take turns (a transaction-scoped
advisory lock named after the schema and the address), so two uploads of the same bytes store them
once: the second waits for the first, then finds the document and only checks its own bytes.
A read hashes the stored chunks first and yields them only when they still hash to the address,
both passes in one snapshot, so what was checked is what is sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator

import asyncpg

from services.clock import Clock, SystemClock
from services.documents.checks import Checked
from services.documents.store import (
    CHUNK_BYTES,
    CorruptDocumentError,
    Declared,
    DocumentNotFoundError,
    Limits,
    StoredDocument,
)

log = logging.getLogger(__name__)

CREATE_DOCUMENTS = """
CREATE TABLE IF NOT EXISTS {schema}.documents (
    sha256      text        PRIMARY KEY,
    size_bytes  bigint      NOT NULL CHECK (size_bytes > 0),
    media_type  text        NOT NULL,
    stored_at   timestamptz NOT NULL
)"""
CREATE_CHUNKS = """
CREATE TABLE IF NOT EXISTS {schema}.document_chunks (
    sha256  text    NOT NULL REFERENCES {schema}.documents (sha256) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    n       integer NOT NULL CHECK (n >= 0),
    bytes   bytea   NOT NULL,
    PRIMARY KEY (sha256, n)
)"""
UNCOMPRESSED_CHUNKS = "ALTER TABLE {schema}.document_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL"
"""PDF streams, JPEG and PNG are compressed already: PostgreSQL need not try again on every chunk."""

LOCK_ADDRESS = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


async def exact_chunks(chunks: AsyncIterable[bytes], size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """``chunks`` cut again into pieces of exactly ``size`` bytes, but the last (holds at most
    ``size`` bytes besides the chunk being cut)."""
    pending = bytearray()
    async for chunk in chunks:
        view = memoryview(chunk)
        if pending:
            taken = size - len(pending)
            pending += view[:taken]
            view = view[taken:]
            if len(pending) < size:
                continue
            yield bytes(pending)
            pending.clear()
        while len(view) >= size:
            yield bytes(view[:size])
            view = view[size:]
        pending += view
    if pending:
        yield bytes(pending)


class PostgresDocumentStore:
    """:class:`~services.documents.store.DocumentStore` on an asyncpg pool, in ``schema``."""

    def __init__(self, pool: asyncpg.Pool, schema: str, limits: Limits | None = None, *,
                 clock: Clock | None = None) -> None:
        if not schema or '"' in schema:
            raise ValueError(f"not a usable schema name: {schema!r}")
        self._pool = pool
        self._schema = schema
        self._quoted = f'"{schema}"'
        self.limits = limits or Limits()
        self._clock = clock or SystemClock()

    async def create_tables(self) -> None:
        """Create the schema and both tables when missing (safe to run from processes starting together)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(LOCK_ADDRESS, f"lienthong.documents.{self._schema}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._quoted}")
            for statement in (CREATE_DOCUMENTS, CREATE_CHUNKS, UNCOMPRESSED_CHUNKS):
                await conn.execute(statement.format(schema=self._quoted))

    async def put(self, declared: Declared, chunks: AsyncIterable[bytes]) -> StoredDocument:
        """Check and store ``chunks`` (see :class:`~services.documents.store.DocumentStore`); one transaction."""
        checked = Checked(declared, chunks, self.limits)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(LOCK_ADDRESS, self._lock_name(declared.sha256))
            stored = await self._stat(conn, declared.sha256)
            n = 0
            async for chunk in exact_chunks(checked):
                if stored is None:
                    await conn.execute(
                        f"INSERT INTO {self._quoted}.document_chunks (sha256, n, bytes) VALUES ($1, $2, $3)",
                        declared.sha256, n, chunk)
                n += 1
            checked.verify()
            if stored is not None:
                return stored
            stored = StoredDocument(declared.sha256, checked.size, declared.media_type, self._clock.now())
            await conn.execute(
                f"INSERT INTO {self._quoted}.documents (sha256, size_bytes, media_type, stored_at) "
                "VALUES ($1, $2, $3, $4)", stored.sha256, stored.size_bytes, stored.media_type, stored.stored_at)
        log.info("document %s stored: %d bytes of %s in %d chunks", stored.sha256, stored.size_bytes,
                 stored.media_type, n)
        return stored

    async def stat(self, sha256: str) -> StoredDocument:
        """The stored document at ``sha256`` (:class:`DocumentNotFoundError` if none)."""
        async with self._pool.acquire() as conn:
            stored = await self._stat(conn, sha256)
        if stored is None:
            raise DocumentNotFoundError(f"không có tệp {sha256}")
        return stored

    async def read(self, sha256: str) -> AsyncGenerator[bytes, None]:
        """The bytes at ``sha256``, hashed in full before the first chunk is yielded.

        Holds one pooled connection until the last chunk is taken: iterate to the end, or close the
        iterator (``contextlib.aclosing``) when stopping early.
        """
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            stored = await self._stat(conn, sha256)
            if stored is None:
                raise DocumentNotFoundError(f"không có tệp {sha256}")
            digest, size = hashlib.sha256(), 0
            async for chunk in self._chunks(conn, sha256):
                digest.update(chunk)
                size += len(chunk)
            if digest.hexdigest() != sha256 or size != stored.size_bytes:
                log.error("document %s refused on read: its %d stored bytes hash to %s (%d recorded)",
                          sha256, size, digest.hexdigest(), stored.size_bytes)
                raise CorruptDocumentError(f"tệp {sha256} đã bị hỏng trong kho")
            async for chunk in self._chunks(conn, sha256):
                yield chunk

    async def delete(self, sha256: str) -> bool:
        """Remove the document and its chunks; whether there was one."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(LOCK_ADDRESS, self._lock_name(sha256))
            deleted = await conn.fetchval(
                f"DELETE FROM {self._quoted}.documents WHERE sha256 = $1 RETURNING true", sha256)
        return bool(deleted)

    def _lock_name(self, sha256: str) -> str:
        return f"lienthong.documents.{self._schema}.{sha256}"

    async def _stat(self, conn: asyncpg.Connection, sha256: str) -> StoredDocument | None:
        row = await conn.fetchrow(
            f"SELECT sha256, size_bytes, media_type, stored_at FROM {self._quoted}.documents WHERE sha256 = $1",
            sha256)
        return None if row is None else StoredDocument(**dict(row))

    async def _chunks(self, conn: asyncpg.Connection, sha256: str) -> AsyncIterator[bytes]:
        """The chunks at ``sha256`` in order, one row in memory at a time (keyset on ``n``)."""
        n = -1
        while True:
            row = await conn.fetchrow(
                f"SELECT n, bytes FROM {self._quoted}.document_chunks WHERE sha256 = $1 AND n > $2 "
                "ORDER BY n LIMIT 1", sha256, n)
            if row is None:
                return
            n = row["n"]
            yield row["bytes"]
