"""Content-addressed document store every service uses through one interface.

A document is stored once per SHA-256 of its bytes, streamed in chunks (never whole in memory),
and checked on the way in — the declared size and SHA-256 must match the bytes, the declared media
type must match the bytes' signature — and on the way out: a blob whose bytes no longer hash to its
address is refused (:class:`CorruptDocumentError`) and the refusal is logged. Backends:
PostgreSQL (:mod:`services.documents.postgres`, the default) and any S3-compatible object store
(:mod:`services.documents.s3`). See ``docs/DOCUMENTS.md``.
"""

from services.documents.store import (
    MEDIA_SIGNATURES,
    CorruptDocumentError,
    Declared,
    DocumentError,
    DocumentNotFoundError,
    DocumentStore,
    DocumentTooLargeError,
    HashMismatchError,
    Limits,
    MediaTypeMismatchError,
    SizeMismatchError,
    StoredDocument,
)

__all__ = [
    "MEDIA_SIGNATURES",
    "CorruptDocumentError",
    "Declared",
    "DocumentError",
    "DocumentNotFoundError",
    "DocumentStore",
    "DocumentTooLargeError",
    "HashMismatchError",
    "Limits",
    "MediaTypeMismatchError",
    "SizeMismatchError",
    "StoredDocument",
]
