"""Dossier content over HTTP (need to know): a step's view and its documents for the agency holding
the step (``/v1/inbox/{code}/steps/{step_key}/content``, ``…/documents/{sha256}``), the single-use
links stream agencies receive (``/v1/document-links/{token}``), and the results for the receiving
desk and the submitter (``/v1/routing/dossiers/{code}/results``). Every read is recorded
(:mod:`routing.content_access`); these routes only translate."""

from __future__ import annotations

import base64
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse

from routing.api.deps import (
    CONTENT_ERRORS,
    DOWNLOAD_ERRORS,
    ERRORS,
    LINK_ERRORS,
    RESULTS_ERRORS,
    AgencyActor,
    Reader,
    actor,
    agency_of,
)
from routing.api.schemas import ResultsView, StepContentView, content_documents
from routing.content_access import DossierContent, Download
from services.documents.links import TOKEN_MAX_LENGTH
from services.documents.store import MEDIA_SIGNATURES

router = APIRouter(tags=["dossier content"])

Address = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 của tệp")]
Token = Annotated[str, Path(min_length=1, max_length=TOKEN_MAX_LENGTH, description="Liên kết tải tệp đã ký")]
DOWNLOAD: dict[int | str, dict[str, Any]] = {200: {"description": "Nội dung tệp, đã kiểm tra khớp SHA-256",
                  "content": {media_type: {"schema": {"type": "string", "format": "binary"}}
                              for media_type in sorted(MEDIA_SIGNATURES)}}}


def _content(request: Request) -> DossierContent:
    return request.app.state.content


def _sent(download: Download) -> StreamingResponse:
    document = download.document
    digest = base64.b64encode(bytes.fromhex(document["sha256"])).decode("ascii")
    return StreamingResponse(download.chunks, media_type=document["media_type"], headers={
        "Content-Length": str(document["size_bytes"]),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(document['name'])}",
        "ETag": f'"{document["sha256"]}"', "Repr-Digest": f"sha-256=:{digest}:", "Cache-Control": "no-store"})


@router.get("/v1/inbox/{code}/steps/{step_key}/content", response_model=StepContentView,
            responses=ERRORS.responses(*CONTENT_ERRORS))
async def get_step_content(code: str, step_key: str, request: Request, principal: AgencyActor) -> StepContentView:
    """What the calling agency's step declares it needs of the dossier, while it holds the step (and,
    read-only, after it handled it): 404 for an agency with no step on the dossier, 403 for another
    agency's step. The applicant's fields shown are recorded as read."""
    agency_of(principal)
    with ERRORS.translating():
        content = await _content(request).step_view(actor(principal), code, step_key)
    href = f"/v1/inbox/{quote(code)}/steps/{quote(step_key)}/documents"
    return StepContentView(dossier_code=code, step_key=step_key, applicant=content["applicant"],
                           documents=content_documents(content["documents"], href))


@router.get("/v1/inbox/{code}/steps/{step_key}/documents/{sha256}", response_class=StreamingResponse,
            responses={**DOWNLOAD, **ERRORS.responses(*CONTENT_ERRORS, *DOWNLOAD_ERRORS)})
async def download_step_document(code: str, step_key: str, sha256: Address, request: Request,
                                 principal: AgencyActor) -> StreamingResponse:
    """One document of the step's view (403 for one the step does not declare); the read is recorded."""
    agency_of(principal)
    with ERRORS.translating():
        return _sent(await _content(request).step_document(actor(principal), code, step_key, sha256))


@router.get("/v1/document-links/{token}", response_class=StreamingResponse,
            responses={**DOWNLOAD, **ERRORS.responses(*CONTENT_ERRORS, *DOWNLOAD_ERRORS,
                                                *LINK_ERRORS)})
async def download_by_link(token: Token, request: Request, principal: AgencyActor) -> StreamingResponse:
    """The document a link sent with a stream agency's step names, with that agency's own token: 403
    for a link that is altered, expired, already used, or issued to another agency."""
    agency_of(principal)
    with ERRORS.translating():
        return _sent(await _content(request).by_link(actor(principal), token))


@router.get("/v1/routing/dossiers/{code}/results", response_model=ResultsView,
            responses=ERRORS.responses(*RESULTS_ERRORS))
async def get_results(code: str, request: Request, principal: Reader) -> ResultsView:
    """The results to hand over: for the receiving desk, the partner that submitted the dossier (the
    citizen's portal or postal partner) and auditors, once every step is done (409 before)."""
    with ERRORS.translating():
        entries = await _content(request).results(actor(principal), code)
    return ResultsView(dossier_code=code, documents=content_documents(
        entries, f"/v1/routing/dossiers/{quote(code)}/results"))


@router.get("/v1/routing/dossiers/{code}/results/{sha256}", response_class=StreamingResponse,
            responses={**DOWNLOAD, **ERRORS.responses(*RESULTS_ERRORS, *DOWNLOAD_ERRORS)})
async def download_result(code: str, sha256: Address, request: Request, principal: Reader) -> StreamingResponse:
    """One result document; the read is recorded."""
    with ERRORS.translating():
        return _sent(await _content(request).result_document(actor(principal), code, sha256))
