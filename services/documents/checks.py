"""The checks every document passes on its way into the store, applied while it streams.

:class:`Checked` wraps the uploader's chunks: it refuses a declared media type the store does not
accept, bytes whose signature contradicts it, more bytes than the limit or than declared, and —
once the stream ends — a length or SHA-256 other than declared. A backend writes the chunks as they
pass and keeps them only when :meth:`Checked.verify` succeeds at the end (in one transaction, or
by renaming a temporary object), so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterable, AsyncIterator

from services.documents.store import (
    MEDIA_SIGNATURES,
    Declared,
    DocumentTooLargeError,
    HashMismatchError,
    Limits,
    MediaTypeMismatchError,
    SizeMismatchError,
)

SIGNATURE_BYTES = max(len(s) for signatures in MEDIA_SIGNATURES.values() for s in signatures)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: str) -> bool:
    """Whether ``text`` is written as a content address: 64 lowercase hex digits."""
    return _SHA256.fullmatch(text) is not None


def check_declared(declared: Declared, limits: Limits) -> None:
    """Refuse, before any byte is read, what the declaration alone rules out."""
    if not is_sha256(declared.sha256):
        raise HashMismatchError(f"{declared.sha256[:80]!r} không phải SHA-256 (64 chữ số hex viết thường)")
    if declared.media_type not in MEDIA_SIGNATURES:
        raise MediaTypeMismatchError(
            f"loại tệp {declared.media_type!r} không được nhận; chỉ nhận {', '.join(sorted(MEDIA_SIGNATURES))}")
    if declared.size_bytes > limits.max_document_bytes:
        raise DocumentTooLargeError(
            f"tệp {declared.size_bytes} byte vượt giới hạn {limits.max_document_bytes} byte")
    if declared.size_bytes <= 0:
        raise SizeMismatchError("tệp rỗng")


def signature_matches(media_type: str, head: bytes) -> bool:
    """Whether ``head`` (the first bytes) starts as a file of ``media_type`` does."""
    return any(head.startswith(signature) for signature in MEDIA_SIGNATURES.get(media_type, ()))


class Checked:
    """The uploader's chunks, checked as they pass (iterate once, then call :meth:`verify`)."""

    def __init__(self, declared: Declared, chunks: AsyncIterable[bytes], limits: Limits) -> None:
        check_declared(declared, limits)
        self.declared, self._chunks, self._limits = declared, chunks, limits
        self._digest = hashlib.sha256()
        self.size = 0
        self._head = b""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            if not chunk:
                continue
            self.size += len(chunk)
            if self.size > self._limits.max_document_bytes:
                raise DocumentTooLargeError(f"tệp vượt giới hạn {self._limits.max_document_bytes} byte")
            if self.size > self.declared.size_bytes:
                raise SizeMismatchError(f"tệp dài hơn {self.declared.size_bytes} byte đã khai")
            if len(self._head) < SIGNATURE_BYTES:
                self._head += chunk[: SIGNATURE_BYTES - len(self._head)]
                if len(self._head) >= SIGNATURE_BYTES and not signature_matches(self.declared.media_type, self._head):
                    raise MediaTypeMismatchError(f"nội dung tệp không phải {self.declared.media_type}")
            self._digest.update(chunk)
            yield chunk

    def verify(self) -> None:
        """After the last chunk: the length, the signature (of a short file) and the SHA-256."""
        if self.size != self.declared.size_bytes:
            raise SizeMismatchError(f"tệp dài {self.size} byte, đã khai {self.declared.size_bytes}")
        if not signature_matches(self.declared.media_type, self._head):
            raise MediaTypeMismatchError(f"nội dung tệp không phải {self.declared.media_type}")
        if self._digest.hexdigest() != self.declared.sha256:
            raise HashMismatchError(f"SHA-256 của tệp là {self._digest.hexdigest()}, đã khai {self.declared.sha256}")
