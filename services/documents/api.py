"""HTTP entry points of the document store, mounted in every service that takes uploads (intake,
routing): ``PUT /v1/documents/{sha256}`` and ``GET /v1/documents/{sha256}``.

The service's lifespan puts its opened :class:`services.documents.settings.Documents` at
``app.state.documents``; the service adds ``documents_router(settings)`` to its routers. The
route declares its own body limit (``x-max-body-bytes``, the per-document limit) and the media
types it takes, which the edge (:mod:`services.edge`) enforces before the route runs.

Refusals (problem+json, :data:`DOCUMENT_ERRORS`): 401/403 (no upload role), 404
``document-not-found``, 409 ``upload-conflict``, 411 ``length-required``, 413
``document-too-large`` (from ``Content-Length``, before reading), 415
``document-media-type-mismatch``, 422 ``document-hash-mismatch`` / ``document-size-mismatch``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel

from services.auth import CurrentPrincipal
from services.documents.settings import Documents, DocumentSettings
from services.documents.store import (
    MEDIA_SIGNATURES,
    Declared,
    DocumentError,
    DocumentNotFoundError,
    DocumentTooLargeError,
    HashMismatchError,
    MediaTypeMismatchError,
    SizeMismatchError,
)
from services.documents.uploads import (
    DossierTooLargeError,
    NotEntitledToUploadError,
    Upload,
    UploadConflictError,
    Uploaded,
)
from services.problems import CHASSIS_ERRORS, ErrorTable, ProblemType

SHA256_PATTERN = r"^[0-9a-f]{64}$"


class LengthRequiredError(DocumentError):
    """An upload without ``Content-Length`` (411): the declared size is the body's length."""


DOCUMENT_ERRORS = CHASSIS_ERRORS | ErrorTable({
    NotEntitledToUploadError: ProblemType(403, "forbidden", "Không có quyền"),
    DocumentNotFoundError: ProblemType(404, "document-not-found", "Không tìm thấy tệp"),
    UploadConflictError: ProblemType(409, "upload-conflict", "Tệp vừa bị xoá trong khi tải lên"),
    LengthRequiredError: ProblemType(411, "length-required", "Thiếu Content-Length"),
    DocumentTooLargeError: ProblemType(413, "document-too-large", "Tệp quá lớn"),
    DossierTooLargeError: ProblemType(413, "dossier-too-large", "Hồ sơ quá lớn"),
    MediaTypeMismatchError: ProblemType(415, "document-media-type-mismatch", "Loại tệp không khớp nội dung"),
    HashMismatchError: ProblemType(422, "document-hash-mismatch", "SHA-256 không khớp nội dung tệp"),
    SizeMismatchError: ProblemType(422, "document-size-mismatch", "Kích thước không khớp nội dung tệp"),
})
"""What each document error becomes over HTTP (intake and routing add these rows to their own)."""


class DocumentPublic(BaseModel):
    """A document the caller uploaded, as stored."""

    sha256: str
    size_bytes: int
    media_type: str
    stored_at: datetime
    uploaded_at: datetime


def _documents(request: Request) -> Documents:
    return request.app.state.documents


DocumentsDep = Annotated[Documents, Depends(_documents)]
Address = Annotated[str, Path(pattern=SHA256_PATTERN, description="SHA-256 của nội dung tệp (64 chữ số hex thường)")]


def _public(upload: Upload, stored_at: datetime) -> DocumentPublic:
    return DocumentPublic(sha256=upload.sha256, size_bytes=upload.size_bytes, media_type=upload.media_type,
                          stored_at=stored_at, uploaded_at=upload.uploaded_at)


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


def documents_router(settings: DocumentSettings) -> APIRouter:
    """The upload routes, their body limit the per-document limit of ``settings``."""
    router = APIRouter(prefix="/v1/documents", tags=["documents"])
    body = {"required": True, "description": "Nội dung tệp, nguyên bản",
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}
                        for media_type in sorted(MEDIA_SIGNATURES)}}

    @router.put(
        "/{sha256}", status_code=201, response_model=DocumentPublic,
        openapi_extra={"requestBody": body, "x-max-body-bytes": settings.documents_max_document_bytes},
        responses={200: {"model": DocumentPublic, "description": "Bên gọi đã tải tệp này lên trước đó"},
                   **DOCUMENT_ERRORS.responses(
                       NotEntitledToUploadError, UploadConflictError, LengthRequiredError, DocumentTooLargeError,
                       MediaTypeMismatchError, HashMismatchError, SizeMismatchError)},
    )
    async def upload_document(
        sha256: Address, request: Request, response: Response, principal: CurrentPrincipal,
        documents: DocumentsDep,
        content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
        content_length: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> DocumentPublic:
        """Upload a document (tải tệp lên): the raw bytes, ``Content-Type`` its media type (PDF,
        JPEG, PNG), ``Content-Length`` its size, the path its SHA-256.

        201 when the caller had not uploaded it before, 200 when it had; either way the bytes are
        checked. A dossier (or a step's result) then refers to it by its SHA-256. An upload no
        dossier refers to is removed after a while (``documents_upload_ttl_seconds``).
        """
        with DOCUMENT_ERRORS.translating():
            if content_length is None or not content_length.isdigit():
                raise LengthRequiredError("Tải tệp lên cần Content-Length bằng kích thước tệp")
            media_type = (content_type or "").split(";")[0].strip().lower()
            declared = Declared(sha256=sha256, size_bytes=int(content_length), media_type=media_type)
            uploaded: Uploaded = await documents.uploads.upload(principal, declared, _body(request),
                                                                documents.clock.now())
        response.status_code = 201 if uploaded.created else 200
        response.headers["Location"] = f"/v1/documents/{sha256}"
        return _public(uploaded.upload, uploaded.document.stored_at)

    @router.get("/{sha256}", response_model=DocumentPublic, responses=DOCUMENT_ERRORS.responses(DocumentNotFoundError))
    async def get_document(sha256: Address, principal: CurrentPrincipal, documents: DocumentsDep) -> DocumentPublic:
        """What the caller uploaded at this SHA-256 (404 when it did not, or the upload was removed)."""
        with DOCUMENT_ERRORS.translating():
            upload, stored = await documents.uploads.find(principal.client_id, sha256)
        return _public(upload, stored.stored_at)

    return router
