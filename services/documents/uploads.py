"""Uploads: who sent which document, which dossiers refer to it, and the clean-up of the rest.

The upload registry is two tables in the store's schema (:class:`UploadRegistry`):

- ``document_uploads`` — ``client_id``, ``sha256`` (primary key together), ``size_bytes``,
  ``media_type``, ``uploaded_at``, ``confirmed`` (the bytes reached the store) and
  ``referenced_at`` (when a dossier first referred to it; an upload with none is swept after the TTL);
- ``document_references`` — ``client_id``, ``sha256``, ``dossier_code`` (primary key together),
  ``referenced_at``: which dossiers refer to each upload (only ever inserted into, so many dossiers
  may refer to one upload at once without waiting for one another).

The use cases (:class:`Uploads`), each taking the instant ``at`` it acts at:

- :meth:`Uploads.upload` — a caller with role ``dossier:submit`` or ``inbox:act`` streams a
  document into the store; the upload is recorded before the bytes go in and confirmed after, so
  the sweeper never removes a blob an upload is still writing;
- :meth:`Uploads.check_references` — whether the documents a dossier (or a step's result) refers
  to were uploaded by that client and match the store, and their total against the per-dossier
  limit;
- :meth:`Uploads.attach` — record that a dossier refers to them, **before** the dossier is saved
  (a crash in between leaves a reference to a dossier never stored: its storage is kept, and no
  stored dossier ever lacks its files);
- :meth:`Uploads.sweep` — remove uploads no dossier refers to that are older than the TTL, and a
  blob once no upload of its hash remains.

Sweeping one hash waits for whatever registers or attaches it, and the other way round: the sweeper
holds a transaction-scoped advisory lock named after the schema and the hash exclusively, the others
hold it shared (so uploads and attachments of one hash do not wait for one another).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from services.auth import Principal
from services.clock import Clock
from services.documents.checks import check_declared, is_sha256
from services.documents.postgres import LOCK_ADDRESS
from services.documents.store import (
    Declared,
    DocumentError,
    DocumentNotFoundError,
    DocumentStore,
    Limits,
    StoredDocument,
)
from services.failures import is_infrastructure_error

log = logging.getLogger(__name__)

UPLOAD_ROLES = frozenset({"dossier:submit", "inbox:act"})
"""Who may upload: submitters (portal, desk, postal partner) and agencies (their results)."""
SWEEP_BATCH = 500
"""At most this many hashes are looked at in one sweep; the next sweep goes on."""

CREATE_UPLOADS = """
CREATE TABLE IF NOT EXISTS {schema}.document_uploads (
    client_id      text        NOT NULL,
    sha256         text        NOT NULL,
    size_bytes     bigint      NOT NULL,
    media_type     text        NOT NULL,
    uploaded_at    timestamptz NOT NULL,
    confirmed      boolean     NOT NULL DEFAULT false,
    referenced_at  timestamptz,
    PRIMARY KEY (client_id, sha256)
)"""
CREATE_REFERENCES = """
CREATE TABLE IF NOT EXISTS {schema}.document_references (
    client_id      text        NOT NULL,
    sha256         text        NOT NULL,
    dossier_code   text        NOT NULL,
    referenced_at  timestamptz NOT NULL,
    PRIMARY KEY (client_id, sha256, dossier_code)
)"""
LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))"
CREATE_BY_HASH = "CREATE INDEX IF NOT EXISTS document_uploads_by_hash ON {schema}.document_uploads (sha256)"
CREATE_UNREFERENCED = ("CREATE INDEX IF NOT EXISTS document_uploads_unreferenced ON {schema}.document_uploads "
                       "(uploaded_at) WHERE referenced_at IS NULL")


class NotEntitledToUploadError(DocumentError):
    """The caller holds neither ``dossier:submit`` nor ``inbox:act`` (403)."""


class UploadNotFoundError(DocumentNotFoundError):
    """The caller never uploaded this document, or its upload was removed (404)."""


class UploadConflictError(DocumentError):
    """The document was removed from the store while this upload was confirmed; send it again (409)."""


class DossierTooLargeError(DocumentError):
    """The documents of one dossier add up to more than the per-dossier limit (413)."""


@dataclass(frozen=True)
class Upload:
    """One client's upload of one document."""

    client_id: str
    sha256: str
    size_bytes: int
    media_type: str
    uploaded_at: datetime
    dossier_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Uploaded:
    """The outcome of :meth:`Uploads.upload`: the stored document, the upload, and whether it is new
    for this client (201) or the client had uploaded it before (200)."""

    document: StoredDocument
    upload: Upload
    created: bool


@dataclass(frozen=True)
class ReferenceProblem:
    """Why one referenced document cannot be accepted: ``field`` is ``documents[i]``."""

    field: str
    code: str
    message_vi: str


@dataclass(frozen=True)
class Swept:
    """What one sweep removed."""

    uploads: int = 0
    documents: int = 0


class DocumentReferences(Protocol):
    """What a service that accepts references to uploaded documents needs (intake; routing's results)."""

    async def check_references(self, client_id: str, documents: Sequence[Mapping[str, Any]], *,
                               field: str = "documents") -> list[ReferenceProblem]: ...

    async def attach(self, client_id: str, hashes: Sequence[str], dossier_code: str,
                     at: datetime) -> list[str]: ...


class UploadRegistry:
    """The ``document_uploads`` table on an asyncpg pool, in ``schema``."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        if not schema or '"' in schema:
            raise ValueError(f"not a usable schema name: {schema!r}")
        self.pool = pool
        self.schema = schema
        self.table = f'"{schema}".document_uploads'
        self.references = f'"{schema}".document_references'
        self._columns = ("client_id, sha256, size_bytes, media_type, uploaded_at, "
                         f"ARRAY(SELECT r.dossier_code FROM {self.references} r WHERE r.client_id = u.client_id "
                         "AND r.sha256 = u.sha256 ORDER BY r.referenced_at, r.dossier_code) AS dossier_codes")

    async def create_tables(self) -> None:
        """Create the schema and the table when missing (under the store's schema lock)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(LOCK_ADDRESS, f"lienthong.documents.{self.schema}")
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            for statement in (CREATE_UPLOADS, CREATE_REFERENCES, CREATE_BY_HASH, CREATE_UNREFERENCED):
                await conn.execute(statement.format(schema=f'"{self.schema}"'))

    def lock_name(self, sha256: str) -> str:
        return f"lienthong.document_uploads.{self.schema}.{sha256}"

    async def lock(self, conn: asyncpg.Connection, sha256: str, *, shared: bool = True) -> None:
        """Hold the hash's lock until the transaction ends: shared to register or attach, exclusive to sweep."""
        await conn.execute(LOCK_SHARED if shared else LOCK_ADDRESS, self.lock_name(sha256))

    async def begin(self, declared: Declared, client_id: str, at: datetime) -> bool:
        """Record an upload about to stream in (unconfirmed unless it was before); whether the row is new."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lock(conn, declared.sha256)
            inserted = await conn.fetchval(
                f"INSERT INTO {self.table} (client_id, sha256, size_bytes, media_type, uploaded_at) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_id, sha256) DO NOTHING RETURNING true",
                client_id, declared.sha256, declared.size_bytes, declared.media_type, at)
        return bool(inserted)

    async def abandon(self, client_id: str, sha256: str) -> None:
        """Forget an upload that never reached the store (if no later upload confirmed it)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lock(conn, sha256)
            await conn.execute(f"DELETE FROM {self.table} WHERE client_id = $1 AND sha256 = $2 AND NOT confirmed",
                               client_id, sha256)

    async def confirm(self, document: StoredDocument, client_id: str, at: datetime,
                      store: DocumentStore) -> tuple[Upload, bool]:
        """Mark the upload as stored, once the blob is (still) there; the upload and whether it was
        confirmed before."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lock(conn, document.sha256)
            try:
                await store.stat(document.sha256)
            except DocumentNotFoundError:
                raise UploadConflictError(f"tệp {document.sha256} vừa bị xoá khỏi kho; hãy tải lên lại") from None
            before = await conn.fetchval(
                f"SELECT confirmed FROM {self.table} WHERE client_id = $1 AND sha256 = $2", client_id, document.sha256)
            row = await conn.fetchrow(
                f"INSERT INTO {self.table} (client_id, sha256, size_bytes, media_type, uploaded_at, confirmed) "
                "VALUES ($1, $2, $3, $4, $5, true) ON CONFLICT (client_id, sha256) DO UPDATE SET confirmed = true, "
                "size_bytes = EXCLUDED.size_bytes, media_type = EXCLUDED.media_type, "
                f"uploaded_at = CASE WHEN {self.table}.referenced_at IS NULL THEN EXCLUDED.uploaded_at "
                f"ELSE {self.table}.uploaded_at END "
                "RETURNING client_id, sha256",
                client_id, document.sha256, document.size_bytes, document.media_type, at)
            upload = await self._find(conn, row["client_id"], row["sha256"])
        assert upload is not None
        return upload, bool(before)

    async def find(self, client_id: str, sha256: str) -> Upload | None:
        """The client's confirmed upload of ``sha256``."""
        async with self.pool.acquire() as conn:
            return await self._find(conn, client_id, sha256)

    async def _find(self, conn: asyncpg.Connection, client_id: str, sha256: str) -> Upload | None:
        row = await conn.fetchrow(f"SELECT {self._columns} FROM {self.table} u "
                                  "WHERE client_id = $1 AND sha256 = $2 AND confirmed", client_id, sha256)
        return None if row is None else _upload(row)

    async def find_many(self, client_id: str, hashes: Sequence[str]) -> dict[str, Upload]:
        """The client's confirmed uploads among ``hashes`` (without their dossiers)."""
        rows = await self.pool.fetch(
            f"SELECT client_id, sha256, size_bytes, media_type, uploaded_at, ARRAY[]::text[] AS dossier_codes "
            f"FROM {self.table} WHERE client_id = $1 AND sha256 = ANY($2::text[]) AND confirmed",
            client_id, list(hashes))
        return {row["sha256"]: _upload(row) for row in rows}

    async def attach(self, client_id: str, hashes: Sequence[str], dossier_code: str, at: datetime) -> None:
        """Record that ``dossier_code`` refers to the client's uploads of ``hashes``; raises
        :class:`_Rollback` naming the hashes the client has no confirmed upload of (nothing is
        recorded then)."""
        wanted = sorted(set(hashes))
        async with self.pool.acquire() as conn, conn.transaction():
            for sha256 in wanted:
                await self.lock(conn, sha256)
            found = await conn.fetch(f"SELECT sha256 FROM {self.table} WHERE client_id = $1 "
                                     "AND sha256 = ANY($2::text[]) AND confirmed", client_id, wanted)
            missing = sorted(set(wanted) - {row["sha256"] for row in found})
            if missing:
                raise _Rollback(missing)
            # Only the first reference writes the upload's row; later ones only add theirs.
            await conn.execute(f"UPDATE {self.table} SET referenced_at = $3 WHERE client_id = $1 "
                               "AND sha256 = ANY($2::text[]) AND referenced_at IS NULL", client_id, wanted, at)
            await conn.execute(
                f"INSERT INTO {self.references} (client_id, sha256, dossier_code, referenced_at) "
                "SELECT $1, sha256, $3, $4 FROM unnest($2::text[]) AS sha256 ON CONFLICT DO NOTHING",
                client_id, wanted, dossier_code, at)

    async def expired_hashes(self, before: datetime, limit: int = SWEEP_BATCH) -> list[str]:
        rows = await self.pool.fetch(
            f"SELECT DISTINCT sha256 FROM {self.table} WHERE referenced_at IS NULL AND uploaded_at < $1 LIMIT $2",
            before, limit)
        return [row["sha256"] for row in rows]

    async def sweep_hash(self, sha256: str, before: datetime, store: DocumentStore) -> Swept:
        """Remove the unreferenced uploads of ``sha256`` older than ``before``; the blob too when no
        upload of it remains (deleted before the rows' removal commits: a crash in between leaves
        rows the next sweep removes again)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lock(conn, sha256, shared=False)
            removed = await conn.fetch(
                f"DELETE FROM {self.table} WHERE sha256 = $1 AND referenced_at IS NULL AND uploaded_at < $2 "
                "RETURNING client_id", sha256, before)
            remaining = await conn.fetchval(f"SELECT count(*) FROM {self.table} WHERE sha256 = $1", sha256)
            deleted = remaining == 0 and await store.delete(sha256)
        return Swept(uploads=len(removed), documents=int(bool(deleted)))


class _Rollback(Exception):
    """Raised inside a transaction to undo it; carries what was missing."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"{len(missing)} uploads missing")
        self.missing = missing


def _upload(row: Mapping[str, Any]) -> Upload:
    return Upload(client_id=row["client_id"], sha256=row["sha256"], size_bytes=row["size_bytes"],
                  media_type=row["media_type"], uploaded_at=row["uploaded_at"],
                  dossier_codes=tuple(row["dossier_codes"]))


class Uploads:
    """The upload use cases over one store and its registry (built once per process)."""

    def __init__(self, store: DocumentStore, registry: UploadRegistry, limits: Limits, *,
                 upload_ttl_seconds: float) -> None:
        self.store = store
        self.registry = registry
        self.limits = limits
        self.upload_ttl = timedelta(seconds=upload_ttl_seconds)

    async def upload(self, principal: Principal, declared: Declared, chunks: AsyncIterable[bytes],
                     at: datetime) -> Uploaded:
        """Store the bytes ``chunks`` yields as the caller's upload of ``declared``.

        Refused before any byte is read: a caller without an upload role
        (:class:`NotEntitledToUploadError`), a declaration the checks rule out; then as the bytes
        stream (:mod:`services.documents.checks`). A refused upload stores nothing.
        """
        if not principal.roles & UPLOAD_ROLES:
            raise NotEntitledToUploadError(f"bên gọi '{principal.client_id}' không được tải tệp lên")
        check_declared(declared, self.limits)
        inserted = await self.registry.begin(declared, principal.client_id, at)
        try:
            document = await self.store.put(declared, chunks)
        except BaseException:
            if inserted:
                await asyncio.shield(self.registry.abandon(principal.client_id, declared.sha256))
            raise
        upload, before = await self.registry.confirm(document, principal.client_id, at, self.store)
        return Uploaded(document=document, upload=upload, created=not before)

    async def find(self, client_id: str, sha256: str) -> tuple[Upload, StoredDocument]:
        """The client's own upload of ``sha256`` and the stored document (:class:`UploadNotFoundError`)."""
        upload = await self.registry.find(client_id, sha256) if is_sha256(sha256) else None
        if upload is None:
            raise UploadNotFoundError(f"bên gọi chưa tải lên tệp {sha256[:80]}")
        try:
            return upload, await self.store.stat(sha256)
        except DocumentNotFoundError:
            raise UploadNotFoundError(f"tệp {sha256} không còn trong kho") from None

    async def check_references(self, client_id: str, documents: Sequence[Mapping[str, Any]], *,
                               field: str = "documents") -> list[ReferenceProblem]:
        """Every problem with the references ``documents`` (each ``{name, media_type, size_bytes,
        sha256}``) for ``client_id``: ``document_not_uploaded`` (never uploaded by this client, or
        removed since) and ``document_mismatch`` (size or media type other than stored), each
        naming ``<field>[i]``. Raises :class:`DossierTooLargeError` when the distinct documents add
        up to more than the per-dossier limit (before anything is looked up)."""
        sizes = {str(d["sha256"]): int(d["size_bytes"]) for d in documents}
        total = sum(sizes.values())
        if total > self.limits.max_dossier_bytes:
            raise DossierTooLargeError(
                f"các tệp của hồ sơ tổng cộng {total} byte, vượt giới hạn {self.limits.max_dossier_bytes} byte")
        uploads = await self.registry.find_many(client_id, [h for h in sizes if is_sha256(h)])
        problems: list[ReferenceProblem] = []
        stored: dict[str, StoredDocument | None] = {}
        for i, document in enumerate(documents):
            sha256, where = str(document["sha256"]), f"{field}[{i}]"
            upload = uploads.get(sha256)
            if upload is not None and sha256 not in stored:
                try:
                    stored[sha256] = await self.store.stat(sha256)
                except DocumentNotFoundError:
                    stored[sha256] = None
            found = stored.get(sha256) if upload is not None else None
            if found is None:
                problems.append(ReferenceProblem(
                    where, "document_not_uploaded",
                    f"Tệp '{_short(document.get('name'))}' (SHA-256 {sha256[:16]}…) chưa được bên gọi tải lên"))
            elif (found.size_bytes, found.media_type) != (document["size_bytes"], document["media_type"]):
                problems.append(ReferenceProblem(
                    where, "document_mismatch",
                    f"Tệp '{_short(document.get('name'))}' đã tải lên là {found.media_type}, {found.size_bytes} "
                    f"byte; hồ sơ khai {document['media_type']}, {document['size_bytes']} byte"))
        return problems

    async def attach(self, client_id: str, hashes: Sequence[str], dossier_code: str, at: datetime) -> list[str]:
        """Record that ``dossier_code`` refers to these uploads of ``client_id``, before the dossier is
        saved; the hashes that are no longer uploaded (then nothing is recorded)."""
        try:
            await self.registry.attach(client_id, hashes, dossier_code, at)
        except _Rollback as missing:
            return missing.missing
        return []

    async def sweep(self, now: datetime) -> Swept:
        """Remove the uploads no dossier refers to that are older than the TTL, and each blob left
        without an upload."""
        before = now - self.upload_ttl
        uploads = documents = 0
        for sha256 in await self.registry.expired_hashes(before):
            swept = await self.registry.sweep_hash(sha256, before, self.store)
            uploads += swept.uploads
            documents += swept.documents
        if uploads:
            log.info("swept %d unreferenced uploads and %d documents", uploads, documents)
        return Swept(uploads=uploads, documents=documents)


def _short(name: object) -> str:
    text = str(name or "")
    return text if len(text) <= 80 else text[:79] + "…"


async def sweep_periodically(uploads: Uploads, clock: Clock, interval_seconds: float,
                             stop: asyncio.Event | None = None) -> None:
    """Sweep every ``interval_seconds`` until ``stop`` is set (or the task is cancelled); a failed
    sweep is logged and the next one tries again."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await uploads.sweep(clock.now())
        except Exception as exc:
            level = logging.WARNING if is_infrastructure_error(exc) else logging.ERROR
            log.log(level, "sweeping unreferenced uploads failed: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
