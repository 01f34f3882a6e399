"""Builders for document-store tests: files of an accepted media type, their declarations, streams."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterable

from services.documents import Declared

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
HEADS = {PDF: b"%PDF-1.7\n", JPEG: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", PNG: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"}
"""The first bytes of a file of each accepted media type (its signature and a little more)."""


def a_file(media_type: str = PDF, size: int = 5000) -> bytes:
    """Random bytes after the signature of ``media_type``, ``size`` bytes in all."""
    head = HEADS[media_type]
    return head + os.urandom(size - len(head))


def declared_for(data: bytes, media_type: str = PDF, **overrides: object) -> Declared:
    """The honest declaration of ``data`` as ``media_type``, with ``overrides``."""
    fields: dict[str, object] = {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data),
                                 "media_type": media_type}
    fields.update(overrides)
    return Declared(**fields)  # type: ignore[arg-type]


async def streamed(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` as an uploader's stream, yielding to the loop between them."""
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk
