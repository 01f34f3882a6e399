"""Download links for stream-integrated agencies: signed, short-lived, single-use, bound to one agency.

A link names one document of one step of one dossier for one agency, and expires after a TTL
(``documents_link_ttl_seconds``, 15 minutes by default). Its token is
``<payload>.<signature>``: the payload is base64url JSON ``{v, agency, dossier, step, sha256, exp,
nonce}`` and the signature base64url HMAC-SHA256 of the payload's text with the service's link
secret. Using a link needs the agency's own bearer token too: a link alone is worth nothing to
anyone else, and a link seen by another agency is refused.

:class:`LinkRedemptions` makes each link single-use: the first use records its nonce; any later use
(a replay) is refused. Every refusal is a :class:`LinkRefusedError` (403) that names why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.documents.checks import is_sha256

LINK_PATH = "/v1/document-links/"
"""Where a link is used (``GET <base URL>/v1/document-links/<token>``)."""
TOKEN_MAX_LENGTH = 1500

CREATE_USES = """
CREATE TABLE IF NOT EXISTS {schema}.document_link_uses (
    nonce        text        PRIMARY KEY,
    agency_id    text        NOT NULL,
    dossier_code text        NOT NULL,
    sha256       text        NOT NULL,
    used_at      timestamptz NOT NULL
)"""


class LinkRefusedError(Exception):
    """A link that may not be used (403): ``reason`` is ``link-invalid`` (malformed or altered),
    ``link-expired``, ``link-other-agency`` or ``link-used`` (a replay)."""

    def __init__(self, reason: str, message_vi: str) -> None:
        super().__init__(message_vi)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaims:
    """What a link grants: one document of one step of one dossier, to one agency, until ``expires_at``."""

    agency_id: str
    dossier_code: str
    step_key: str
    sha256: str
    expires_at: datetime
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Issues and checks links with one secret."""

    def __init__(self, secret: str, ttl_seconds: float, base_url: str) -> None:
        if not secret:
            raise ValueError("a link secret is needed")
        self._key = secret.encode("utf-8")
        self.ttl = timedelta(seconds=ttl_seconds)
        self.base_url = base_url.rstrip("/")

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def issue(self, *, agency_id: str, dossier_code: str, step_key: str, sha256: str,
              now: datetime) -> tuple[str, datetime]:
        """A fresh link's URL and its expiry (whole seconds)."""
        expires_at = (now + self.ttl).astimezone(UTC).replace(microsecond=0)
        claims = {"v": 1, "agency": agency_id, "dossier": dossier_code, "step": step_key, "sha256": sha256,
                  "exp": int(expires_at.timestamp()), "nonce": uuid.uuid4().hex}
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{self.base_url}{LINK_PATH}{payload}.{self._sign(payload)}", expires_at

    def verify(self, token: str, *, agency_id: str | None, now: datetime) -> LinkClaims:
        """The claims of a genuine, unexpired link of ``agency_id``; :class:`LinkRefusedError` otherwise
        (the signature is checked before anything in the payload is believed)."""
        payload, _, signature = token.partition(".")
        if (not payload or not signature or len(token) > TOKEN_MAX_LENGTH or not token.isascii()
                or not hmac.compare_digest(signature, self._sign(payload))):
            raise LinkRefusedError("link-invalid", "Liên kết tải tệp không hợp lệ hoặc đã bị sửa")
        try:
            claims = _claims(json.loads(_unb64(payload)))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise LinkRefusedError("link-invalid", "Liên kết tải tệp không hợp lệ") from None
        if now >= claims.expires_at:
            raise LinkRefusedError("link-expired", "Liên kết tải tệp đã hết hạn; hãy lấy liên kết mới")
        if claims.agency_id != agency_id:
            raise LinkRefusedError("link-other-agency", "Liên kết tải tệp được cấp cho cơ quan khác")
        return claims


def _claims(raw: Any) -> LinkClaims:
    if not isinstance(raw, dict) or raw.get("v") != 1:
        raise ValueError("unknown link version")
    if not is_sha256(raw["sha256"]) or not all(isinstance(raw[k], str) for k in ("agency", "dossier", "step",
                                                                                   "nonce")):
        raise ValueError("malformed claims")
    return LinkClaims(agency_id=raw["agency"], dossier_code=raw["dossier"], step_key=raw["step"],
                      sha256=raw["sha256"], expires_at=datetime.fromtimestamp(int(raw["exp"]), UTC),
                      nonce=raw["nonce"])


class LinkRedemptions:
    """The links used so far (``document_link_uses`` in the service's schema): each only once."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._table = f'"{schema}".document_link_uses'
        self._schema = schema

    async def create_table(self) -> None:
        await self._pool.execute(CREATE_USES.format(schema=f'"{self._schema}"'))

    async def redeem(self, claims: LinkClaims, at: datetime) -> None:
        """Record the link's use; :class:`LinkRefusedError` ``link-used`` when it was used before."""
        first = await self._pool.fetchval(
            f"INSERT INTO {self._table} (nonce, agency_id, dossier_code, sha256, used_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (nonce) DO NOTHING RETURNING true",
            claims.nonce, claims.agency_id, claims.dossier_code, claims.sha256, at)
        if not first:
            raise LinkRefusedError("link-used", "Liên kết tải tệp đã được dùng; mỗi liên kết chỉ dùng một lần")
