"""Documents for submissions that end-to-end tests send: real files, uploaded before the dossier.

A submission refers to its documents by SHA-256, and intake accepts only documents the submitting
client uploaded. :func:`a_document` builds a valid file (PDF, PNG or JPEG bytes) and remembers it
by its hash; :func:`uploaded` PUTs every remembered file a submission refers to with the
submitter's token and returns the submission, ready to post::

    body = await uploaded(http, token, certified_copy_submission(agency_id))
    await http.post("/v1/dossiers", json=body, headers=bearer(token))

References to files no builder made (a test's deliberately wrong ones) are left as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from tests.support.documents import PDF, a_file

DOCUMENT_BYTES = 4096
"""How large the tests' documents are unless a test says otherwise."""

_FILES: dict[str, bytes] = {}


def a_document(name: str, media_type: str = PDF, size: int = DOCUMENT_BYTES) -> dict[str, Any]:
    """A reference ``{name, media_type, size_bytes, sha256}`` to a new random file, remembered for upload."""
    data = a_file(media_type, size)
    sha256 = hashlib.sha256(data).hexdigest()
    _FILES[sha256] = data
    return {"name": name, "media_type": media_type, "size_bytes": len(data), "sha256": sha256}


def file_of(sha256: str) -> bytes:
    """The bytes of a document :func:`a_document` made."""
    return _FILES[sha256]


def remembered(sha256: str) -> bytes | None:
    """The bytes of a document :func:`a_document` made, or None for a reference no builder made."""
    return _FILES.get(sha256)


async def upload(http: httpx.AsyncClient, token: str, data: bytes, media_type: str = PDF, *,
                 base_url: str = "", sha256: str | None = None, **headers: str) -> httpx.Response:
    """``PUT /v1/documents/<sha256 of data>`` with ``data`` as the body (the answer, whatever it is)."""
    address = sha256 or hashlib.sha256(data).hexdigest()
    return await http.put(f"{base_url}/v1/documents/{address}", content=data, headers={
        "Authorization": f"Bearer {token}", "Content-Type": media_type, **headers})


async def upload_documents(http: httpx.AsyncClient, token: str, documents: Iterable[Mapping[str, Any]], *,
                           base_url: str = "") -> None:
    """Upload every remembered file among ``documents`` as the client of ``token`` (each must be taken)."""
    for document in documents:
        data = remembered(str(document.get("sha256")))
        if data is None:
            continue
        response = await upload(http, token, data, str(document["media_type"]), base_url=base_url)
        assert response.status_code in (200, 201), response.text


async def uploaded(http: httpx.AsyncClient, token: str, body: dict[str, Any], *,
                   base_url: str = "") -> dict[str, Any]:
    """``body`` (a submission) once the files it refers to are uploaded by the client of ``token``."""
    await upload_documents(http, token, body.get("documents", []), base_url=base_url)
    return body
