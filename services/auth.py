"""Authentication every service shares.

Each party — citizen portal, one-stop desk, agency system, postal partner, auditor — has
its own client credentials (a client id and a high-entropy secret, stored as a SHA-256
digest in the client list).  ``POST /v1/auth/token`` exchanges them (OAuth 2 client
credentials grant) for a short-lived HS256 JWT carrying the party kind, its agency id and
its roles; every service verifies tokens with the same signing key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Annotated, Literal

import jwt
import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from services.problems import Problem

PartyKind = Literal["portal", "desk", "agency", "postal", "auditor"]
ISSUER = "lienthong"
AUDIENCE = "lienthong"


class Client(BaseModel):
    """One registered party's credentials and entitlements."""

    client_id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    secret_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    party: PartyKind
    agency_id: str | None = Field(default=None, pattern=r"^[A-Z0-9.]{1,35}$")
    roles: frozenset[str] = frozenset()


class Principal(BaseModel):
    """Who is calling, as proven by a verified token."""

    client_id: str
    party: PartyKind
    agency_id: str | None
    roles: frozenset[str]


class ClientRegistry:
    """The client list, loaded from a YAML file at start-up."""

    def __init__(self, clients: list[Client]) -> None:
        self._clients = {c.client_id: c for c in clients}

    @classmethod
    def load(cls, path: Path) -> "ClientRegistry":
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls([Client.model_validate(c) for c in data.get("clients", [])])

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        client = self._clients.get(client_id)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if client is None or not hmac.compare_digest(digest, client.secret_sha256):
            return None
        return client


class TokenIssuer:
    """Signs and verifies the tokens; one per process, built in the lifespan."""

    def __init__(self, signing_key: str, ttl_seconds: int) -> None:
        self._key = signing_key
        self._ttl = ttl_seconds

    def issue(self, client: Client) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": client.client_id,
            "iat": now,
            "exp": now + self._ttl,
            "party": client.party,
            "agency_id": client.agency_id,
            "roles": sorted(client.roles),
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), self._ttl

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
            return Principal(
                client_id=claims["sub"], party=claims["party"],
                agency_id=claims.get("agency_id"), roles=frozenset(claims.get("roles", [])),
            )
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise _unauthorized("Mã truy cập không hợp lệ hoặc đã hết hạn") from exc


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "Chưa xác thực", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="lienthong"'})


_bearer = HTTPBearer(auto_error=False)


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller; 401 problem when the token is missing or invalid."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("Thiếu mã truy cập (Authorization: Bearer …)")
    issuer: TokenIssuer = request.app.state.token_issuer
    return issuer.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(role: str):
    """A dependency that lets through only principals holding ``role`` (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if role not in principal.roles:
            raise Problem(403, "forbidden", "Không có quyền",
                          f"Bên gọi '{principal.client_id}' không có quyền '{role}'")
        return principal

    return check


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return client_id, secret


def token_router() -> APIRouter:
    """``POST /v1/auth/token`` — client credentials grant (form or HTTP Basic)."""
    router = APIRouter(tags=["auth"])

    @router.post("/v1/auth/token", response_model=TokenResponse,
                 responses={400: {"description": "Unsupported grant"}, 401: {"description": "Bad credentials"}})
    def issue_token(
        request: Request,
        grant_type: Annotated[str, Form()],
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
    ) -> TokenResponse:
        """Exchange a party's client credentials for a bearer token."""
        if grant_type != "client_credentials":
            raise Problem(400, "unsupported-grant-type", "Kiểu cấp quyền không được hỗ trợ",
                          "Chỉ hỗ trợ grant_type=client_credentials")
        basic = _basic_credentials(request)
        if basic is not None:
            client_id, client_secret = basic
        registry: ClientRegistry = request.app.state.client_registry
        client = registry.authenticate(client_id or "", client_secret or "")
        if client is None:
            raise _unauthorized("Sai mã định danh hoặc khóa bí mật của bên gọi")
        token, ttl = request.app.state.token_issuer.issue(client)
        return TokenResponse(access_token=token, expires_in=ttl)

    return router
