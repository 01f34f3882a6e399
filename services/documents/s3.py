"""The document store on any S3-compatible object store (AWS S3, MinIO, Ceph; moto in tests).

Each blob is the object ``<prefix><sha256>``, its size and media type in the object's metadata.
An upload streams into a multipart upload *at the final key*: parts are invisible until the upload
is completed, and it is completed only after :meth:`Checked.verify` accepts the bytes — so a
refused upload never shows at its address, and the multipart upload is aborted on any error, which
leaves no part behind. At most one part (:data:`PART_BYTES`, the smallest S3 accepts, plus one
incoming chunk) is held in memory.

Reading streams the object twice: once to check that it still hashes to its key (a mismatch is
logged and raised as :class:`CorruptDocumentError` before any byte is yielded), then again —
conditional on the same ETag, so a replacement in between is caught — to yield it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError

from services.documents.checks import Checked, is_sha256
from services.documents.store import (
    CHUNK_BYTES,
    CorruptDocumentError,
    Declared,
    DocumentNotFoundError,
    Limits,
    StoredDocument,
)

log = logging.getLogger(__name__)

PART_BYTES = 5 * 1024 * 1024
"""The smallest part S3 accepts (every part but the last)."""

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_CHANGED = frozenset({"412", "PreconditionFailed"})
_SIZE_KEY, _MEDIA_TYPE_KEY = "size-bytes", "media-type"


@dataclass(frozen=True)
class S3Settings:
    """Where the store's objects live and how to reach them."""

    bucket: str
    endpoint_url: str | None = None
    """``None`` for AWS itself; e.g. ``http://127.0.0.1:9000`` for MinIO."""
    region: str = "us-east-1"
    access_key_id: str | None = None
    """With :attr:`secret_access_key`; both ``None`` to use the environment's credential chain."""
    secret_access_key: str | None = None
    prefix: str = "documents/"
    addressing_style: Literal["auto", "path", "virtual"] = "path"
    """``path`` suits local and self-hosted servers; ``virtual`` is AWS's default."""


class S3DocumentStore:
    """:class:`~services.documents.store.DocumentStore` on an S3 bucket.

    Open it for the life of the process (``async with S3DocumentStore(settings) as store``): it
    holds one client, and its connection pool, until closed.
    """

    def __init__(self, settings: S3Settings, limits: Limits = Limits()) -> None:
        self.settings, self.limits = settings, limits
        self._session = aioboto3.Session(
            aws_access_key_id=settings.access_key_id, aws_secret_access_key=settings.secret_access_key,
            region_name=settings.region)
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._s3: Any = None

    async def __aenter__(self) -> S3DocumentStore:
        stack = contextlib.AsyncExitStack()
        self._s3 = await stack.enter_async_context(self._session.client(
            "s3", endpoint_url=self.settings.endpoint_url,
            config=AioConfig(s3={"addressing_style": self.settings.addressing_style})))
        self._exit_stack = stack
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._exit_stack, self._s3 = self._exit_stack, None, None
        if stack is not None:
            await stack.aclose()

    def key(self, sha256: str) -> str:
        """The object key of the blob at ``sha256``."""
        return f"{self.settings.prefix}{sha256}"

    @property
    def _client(self) -> Any:
        if self._s3 is None:
            raise RuntimeError("S3DocumentStore used outside `async with`")
        return self._s3

    async def put(self, declared: Declared, chunks: AsyncIterable[bytes]) -> StoredDocument:
        checked = Checked(declared, chunks, self.limits)  # refuses a declaration that is no address
        try:
            existing = await self.stat(declared.sha256)
        except DocumentNotFoundError:
            existing = None
        if existing is not None:  # the same bytes again: check them, store nothing new
            async for _ in checked:
                pass
            checked.verify()
            return existing
        await self._upload(checked)
        return await self.stat(declared.sha256)

    async def _upload(self, checked: Checked) -> None:
        """Stream ``checked`` into a multipart upload at its key; complete it only once verified."""
        s3, bucket, key = self._client, self.settings.bucket, self.key(checked.declared.sha256)
        created = await s3.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=checked.declared.media_type,
            Metadata={_SIZE_KEY: str(checked.declared.size_bytes), _MEDIA_TYPE_KEY: checked.declared.media_type})
        upload_id = created["UploadId"]
        try:
            parts: list[dict[str, Any]] = []

            async def send(body: bytearray) -> None:
                number = len(parts) + 1
                sent = await s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
                parts.append({"PartNumber": number, "ETag": sent["ETag"]})

            buffer = bytearray()
            async for chunk in checked:
                buffer += chunk
                if len(buffer) >= PART_BYTES:
                    await send(buffer)
                    buffer = bytearray()  # sent as is, not copied: one part in memory at a time
            checked.verify()
            if buffer:
                await send(buffer)
            await s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(Exception):
                await s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise

    async def stat(self, sha256: str) -> StoredDocument:
        try:
            head = await self._client.head_object(Bucket=self.settings.bucket, Key=self._existing_key(sha256))
        except ClientError as error:
            raise _not_found_or(error, sha256) from error
        metadata = head.get("Metadata", {})
        stored_at: datetime = head["LastModified"]
        return StoredDocument(
            sha256=sha256, size_bytes=int(head["ContentLength"]),
            media_type=metadata.get(_MEDIA_TYPE_KEY) or head.get("ContentType", "application/octet-stream"),
            stored_at=stored_at.astimezone(UTC))

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        first = await self._get(sha256, if_match=None)
        digest = hashlib.sha256()
        async for chunk in _chunks(first["Body"]):
            digest.update(chunk)
        if digest.hexdigest() != sha256:
            log.error("document %s is corrupt: its stored bytes hash to %s", sha256, digest.hexdigest())
            raise CorruptDocumentError(f"tệp {sha256} đã hỏng: nội dung không còn khớp SHA-256")
        again = await self._get(sha256, if_match=first["ETag"])
        async for chunk in _chunks(again["Body"]):
            yield chunk

    async def _get(self, sha256: str, if_match: str | None) -> Any:
        """GET the object (only if its ETag is still ``if_match``, when given): its body not yet read."""
        conditions = {} if if_match is None else {"IfMatch": if_match}
        try:
            return await self._client.get_object(Bucket=self.settings.bucket, Key=self._existing_key(sha256),
                                                 **conditions)
        except ClientError as error:
            if _code(error) in _CHANGED:
                log.error("document %s changed while it was being read", sha256)
                raise CorruptDocumentError(f"tệp {sha256} bị thay đổi trong khi đọc") from error
            raise _not_found_or(error, sha256) from error

    async def delete(self, sha256: str) -> bool:
        try:
            await self.stat(sha256)
        except DocumentNotFoundError:
            return False
        await self._client.delete_object(Bucket=self.settings.bucket, Key=self.key(sha256))
        return True

    def _existing_key(self, sha256: str) -> str:
        """The key of ``sha256``; an address that is no SHA-256 can hold nothing."""
        if not is_sha256(sha256):
            raise DocumentNotFoundError(f"không có tệp {sha256!r}")
        return self.key(sha256)


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    """A response body in chunks of :data:`CHUNK_BYTES` (the last shorter); closed when done or abandoned."""
    async with body:
        pending = bytearray()
        async for piece in body.iter_chunks(CHUNK_BYTES):
            pending += piece
            while len(pending) >= CHUNK_BYTES:
                yield bytes(pending[:CHUNK_BYTES])
                del pending[:CHUNK_BYTES]
        if pending:
            yield bytes(pending)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _not_found_or(error: ClientError, sha256: str) -> Exception:
    """:class:`DocumentNotFoundError` for a missing object; any other error as it came."""
    if _code(error) in _NOT_FOUND:
        return DocumentNotFoundError(f"không có tệp {sha256}")
    return error
