"""Authentication every service shares.

Each party — citizen portal, one-stop desk, agency system, postal partner, auditor, operator — has
its own client credentials (a client id and a high-entropy secret, stored as a SHA-256
digest in the client list).  ``POST /v1/auth/token`` exchanges them (OAuth 2 client
credentials grant) for a short-lived HS256 JWT carrying the party kind, its agency id and
its roles; every service verifies tokens with the same signing key.

A token is accepted only while its client is in the client list (the file is read again when
it changes, so removing a client revokes its tokens), its lifetime ``exp - iat`` is at most the
configured one and its ``iat`` is not in the future. The token endpoint refuses, with 429, a
client id or an address that failed too often lately (:class:`FailedAttempts`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import jwt
import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from services.problems import Problem

PartyKind = Literal["portal", "desk", "agency", "postal", "auditor", "operator"]
ISSUER = "lienthong"
AUDIENCE = "lienthong"
CLOCK_SKEW_SECONDS = 60
"""How far in the future a token's ``iat`` may be (another process's clock may run ahead)."""

log = logging.getLogger(__name__)


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


def _read_clients(path: Path) -> list[Client]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [Client.model_validate(c) for c in data.get("clients", [])]


class ClientRegistry:
    """The client list, loaded from a YAML file at start-up and read again when the file changes.

    A file that became unreadable or invalid is logged and the last good list kept.
    """

    def __init__(self, clients: list[Client], path: Path | None = None) -> None:
        self._clients = {c.client_id: c for c in clients}
        self._path = path
        self._signature = self._file_signature()

    @classmethod
    def load(cls, path: Path) -> ClientRegistry:
        return cls(_read_clients(path), path)

    def _file_signature(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    def _refresh(self) -> None:
        signature = self._file_signature()
        if self._path is None or signature == self._signature:
            return
        self._signature = signature
        try:
            self._clients = {c.client_id: c for c in _read_clients(self._path)}
        except (OSError, ValueError, yaml.YAMLError) as exc:
            log.error("client list %s could not be read again; keeping the last one: %s", self._path, exc)

    def get(self, client_id: str) -> Client | None:
        """The client registered as ``client_id`` now, or ``None``."""
        self._refresh()
        return self._clients.get(client_id)

    def of_agency(self, agency_id: str) -> list[str]:
        """The ids of the clients registered now for ``agency_id``, sorted."""
        self._refresh()
        return sorted(c.client_id for c in self._clients.values() if c.agency_id == agency_id)

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        client = self.get(client_id)
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

    def verify(self, token: str, registry: ClientRegistry) -> Principal:
        """The principal ``token`` proves, checked against the client list as it is now.

        Refused (401): a bad signature, issuer or audience; no ``exp``, ``iat`` or ``sub``;
        expired; issued in the future (beyond :data:`CLOCK_SKEW_SECONDS`); a lifetime longer
        than this issuer's; a client that is not (or no longer) in ``registry``, or whose party
        or agency changed since. Roles are those the token and the client both still hold.
        """
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"], "verify_iat": False},
            )
            principal = Principal(
                client_id=claims["sub"], party=claims["party"],
                agency_id=claims.get("agency_id"), roles=frozenset(claims.get("roles", [])),
            )
            issued_at, expires_at = claims["iat"], claims["exp"]
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (issued_at, expires_at)):
                raise ValueError("iat and exp must be integers")
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            raise _unauthorized("Mã truy cập không hợp lệ hoặc đã hết hạn") from exc
        if issued_at > time.time() + CLOCK_SKEW_SECONDS or expires_at - issued_at > self._ttl:
            raise _unauthorized("Thời hạn của mã truy cập không hợp lệ")
        client = registry.get(principal.client_id)
        if client is None or (client.party, client.agency_id) != (principal.party, principal.agency_id):
            raise _unauthorized("Bên gọi không còn được đăng ký; hãy xin mã truy cập mới")
        return principal.model_copy(update={"roles": principal.roles & client.roles})


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
    return issuer.verify(credentials.credentials, request.app.state.client_registry)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(role: str):
    """A dependency that lets through only principals holding ``role`` (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if role not in principal.roles:
            raise Problem(403, "forbidden", "Không có quyền",
                          f"Bên gọi '{principal.client_id}' không có quyền '{role}'")
        return principal

    return check


class FailedAttempts:
    """Failed token requests per key (a client id, an address) in a sliding window.

    A key with ``limit`` failures in the last ``window_seconds`` is blocked until the oldest of
    them leaves the window; refused and successful requests are not counted, so an attacker can
    hold a key blocked only while they keep failing. An address from which a client succeeded
    lately is not blocked by failures on that client's id elsewhere (:meth:`trusted`), so
    nobody locks a working client out from a distance. At most ``max_keys`` keys are kept
    (the stalest go first).
    """

    TRUST_SECONDS = 86400.0

    def __init__(self, limit: int, window_seconds: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()  # the token endpoint runs in the thread pool

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or ``None`` when it may now."""
        with self._lock:
            now = self._clock()
            failures = self._recent(key, now)
            if len(failures) < self.limit:
                return None
            return max(1, math.ceil(failures[-self.limit] + self.window - now))

    def fail(self, key: str) -> None:
        with self._lock:
            now = self._clock()
            failures = self._recent(key, now)
            if key not in self._failures:
                self._failures[key] = failures
            self._failures.move_to_end(key)
            failures.append(now)
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def trust(self, client_id: str, address: str) -> None:
        """``client_id`` authenticated from ``address``."""
        with self._lock:
            self._trusted[(client_id, address)] = self._clock()
            self._trusted.move_to_end((client_id, address))
            while len(self._trusted) > self._max_keys:
                self._trusted.popitem(last=False)

    def trusted(self, client_id: str, address: str) -> bool:
        with self._lock:
            since = self._trusted.get((client_id, address))
            return since is not None and self._clock() - since < self.TRUST_SECONDS


def _too_many_attempts(retry_after: int) -> Problem:
    return Problem(429, "too-many-requests", "Quá nhiều yêu cầu",
                   f"Quá nhiều lần xác thực sai; vui lòng thử lại sau {retry_after} giây",
                   headers={"Retry-After": str(retry_after)})


def token_attempts(request: Request) -> FailedAttempts:
    """The app's limiter (built by ``services.edge.install_edge``; from the settings if it was not)."""
    state = request.app.state
    if getattr(state, "token_attempts", None) is None:
        settings = state.settings
        state.token_attempts = FailedAttempts(settings.auth_failed_attempts_limit,
                                              settings.auth_failed_attempts_window_seconds)
    return state.token_attempts


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
                 responses={400: {"description": "Unsupported grant"}, 401: {"description": "Bad credentials"},
                            429: {"description": "Too many failed attempts for this client or address"}})
    def issue_token(
        request: Request,
        attempts: Annotated[FailedAttempts, Depends(token_attempts)],
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
        client_id, address = client_id or "", request.client.host if request.client else "unknown"
        keys = [f"address:{address}"]
        if not attempts.trusted(client_id, address):
            keys.append(f"client:{client_id}")
        waits = [wait for key in keys if (wait := attempts.retry_after(key)) is not None]
        if waits:
            raise _too_many_attempts(max(waits))
        registry: ClientRegistry = request.app.state.client_registry
        client = registry.authenticate(client_id, client_secret or "")
        if client is None:
            attempts.fail(f"address:{address}")
            attempts.fail(f"client:{client_id}")
            raise _unauthorized("Sai mã định danh hoặc khóa bí mật của bên gọi")
        attempts.trust(client.client_id, address)
        token, ttl = request.app.state.token_issuer.issue(client)
        return TokenResponse(access_token=token, expires_in=ttl)

    return router
