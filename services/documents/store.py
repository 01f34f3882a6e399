"""The document store's interface, its checks and its errors (backends implement :class:`DocumentStore`)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

CHUNK_BYTES = 256 * 1024
"""How much of a document is held in memory at once, in and out."""

MAX_DOCUMENT_BYTES_DEFAULT = 20 * 1024 * 1024
MAX_DOSSIER_BYTES_DEFAULT = 100 * 1024 * 1024

MEDIA_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
"""The first bytes a file of each accepted media type starts with."""


@dataclass(frozen=True)
class Limits:
    """Size limits: one document, and all documents of one dossier (configurable per service)."""

    max_document_bytes: int = MAX_DOCUMENT_BYTES_DEFAULT
    max_dossier_bytes: int = MAX_DOSSIER_BYTES_DEFAULT


@dataclass(frozen=True)
class Declared:
    """What the uploader says of the bytes it sends."""

    sha256: str
    size_bytes: int
    media_type: str


@dataclass(frozen=True)
class StoredDocument:
    """A blob in the store, at its content address."""

    sha256: str
    size_bytes: int
    media_type: str
    stored_at: datetime


class DocumentError(Exception):
    """A document that may not be stored or read; nothing is stored."""


class HashMismatchError(DocumentError):
    """The bytes' SHA-256 is not the one declared (422)."""


class SizeMismatchError(DocumentError):
    """The bytes' length is not the size declared (422)."""


class DocumentTooLargeError(DocumentError):
    """Over the per-document limit (413)."""


class MediaTypeMismatchError(DocumentError):
    """The declared media type is not accepted, or the bytes' signature contradicts it (415)."""


class DocumentNotFoundError(DocumentError):
    """No blob at that address (404, or 422 when a submission refers to it)."""


class CorruptDocumentError(DocumentError):
    """The stored bytes no longer hash to their address: refused on read, and reported."""


class DocumentStore(Protocol):
    """Every backend: content-addressed, streaming, checked in and out."""

    async def put(self, declared: Declared, chunks: AsyncIterable[bytes]) -> StoredDocument:
        """Store the bytes ``chunks`` yields after checking them against ``declared``; idempotent (the
        same bytes again return the stored document). Raises a :class:`DocumentError` subclass and
        stores nothing when a check fails."""
        ...

    async def stat(self, sha256: str) -> StoredDocument:
        """The stored document at ``sha256`` (:class:`DocumentNotFoundError` if none)."""
        ...

    def read(self, sha256: str) -> AsyncIterator[bytes]:
        """The bytes at ``sha256`` in chunks, verified against the address before the first chunk is
        yielded (:class:`CorruptDocumentError` when they no longer match)."""
        ...

    async def delete(self, sha256: str) -> bool:
        """Remove the blob; whether there was one."""
        ...
