"""The HTTP edge: what a request body must be before any route reads it.

:class:`BodyGuard` is a pure ASGI middleware (it never buffers a body):

* a body larger than ``max_body_bytes`` (or the operation's own ``x-max-body-bytes``: uploads)
  is refused with **413** — at once when
  ``Content-Length`` says so, otherwise as soon as the bytes received while streaming
  (chunked transfer) pass the limit;
* a body must be in a media type the operation's OpenAPI document lists for it (a ``charset``,
  if given, ``utf-8``), and a JSON body UTF-8 without NUL bytes (so neither UTF-16 nor UTF-32
  JSON gets through) — otherwise **415**. JSON operations take ``application/json`` only (not
  ``application/problem+json``); the token endpoint ``application/x-www-form-urlencoded``.

Every refusal is a problem+json (:mod:`services.problems`), and so is an exception escaping the
app (503 with ``Retry-After`` when the infrastructure failed, 500 otherwise), answered here so a
middleware around the guard (correlation ids, metrics) sees a response, not an exception.
:func:`install_edge` adds the guard to an app and builds the token endpoint's failed-attempt
limiter (:mod:`services.auth`).
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers

from services.auth import FailedAttempts
from services.problems import Problem, problem_response, unexpected_error_response
from services.settings import ServiceSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
OpenAPI = Callable[[], dict[str, Any]]

JSON_MEDIA_TYPE = "application/json"
ACCEPTED_CHARSETS = frozenset({"utf-8", "utf8"})
DRAIN_BYTES = 256 * 1024 * 1024
DRAIN_SECONDS = 5.0
"""A refused body is read on and dropped (never kept) up to these bounds before the answer, so a
client that sends its whole body before reading reads the 413 or 415 instead of a reset
connection; past them the connection is closed. A client that sent ``Expect: 100-continue``
is answered at once and never sends the body."""


def too_large(limit: int) -> Problem:
    return Problem(413, "payload-too-large", "Dữ liệu quá lớn",
                   f"Nội dung yêu cầu vượt quá giới hạn {limit} byte")


def unsupported_media_type(detail: str) -> Problem:
    return Problem(415, "unsupported-media-type", "Định dạng dữ liệu không được hỗ trợ", detail)


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    """``("application/json", {"charset": "utf-8"})`` for ``application/json; charset="UTF-8"``."""
    kind, *parameters = value.split(";")
    found: dict[str, str] = {}
    for parameter in parameters:
        name, _, argument = parameter.partition("=")
        found[name.strip().lower()] = argument.strip().strip('"').lower()
    return kind.strip().lower(), found


def check_content_type(accepted: frozenset[str], content_type: str | None) -> Problem | None:
    """Why a body declared as ``content_type`` cannot go to an operation taking ``accepted``, if it cannot."""
    expected = " hoặc ".join(sorted(accepted))
    if not content_type:
        return unsupported_media_type(f"Thiếu Content-Type; thao tác này nhận {expected}")
    media_type, parameters = _media_type(content_type)
    if media_type not in accepted:
        return unsupported_media_type(f"Content-Type '{media_type}' không được nhận; thao tác này nhận {expected}")
    charset = parameters.get("charset")
    if charset is not None and charset not in ACCEPTED_CHARSETS:
        return unsupported_media_type(f"Bảng mã '{charset}' không được nhận; chỉ nhận UTF-8")
    return None


MAX_BODY_BYTES_EXTENSION = "x-max-body-bytes"
"""An operation's own body limit in its OpenAPI document (e.g. uploads: the per-document limit);
every other operation keeps the service's ``http_max_body_bytes``."""


class BodyMediaTypes:
    """The media types each operation of an OpenAPI document takes as its request body, and the
    operations with a body limit of their own."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._operations: list[tuple[re.Pattern[str], str, frozenset[str], int | None]] = []
        for path, operations in document.get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
            for method, operation in operations.items():
                body = operation.get("requestBody") if isinstance(operation, dict) else None
                accepted = frozenset(body.get("content", {})) if body else frozenset()
                limit = operation.get(MAX_BODY_BYTES_EXTENSION) if isinstance(operation, dict) else None
                self._operations.append((pattern, method.upper(), accepted, limit if isinstance(limit, int) else None))

    def _find(self, method: str, path: str) -> tuple[frozenset[str], int | None] | None:
        for pattern, operation_method, accepted, limit in self._operations:
            if operation_method == method and pattern.match(path):
                return accepted, limit
        return None

    def accepted(self, method: str, path: str) -> frozenset[str] | None:
        """What ``method path`` takes; ``None`` for no body or an unknown operation."""
        found = self._find(method, path)
        return (found[0] or None) if found is not None else None

    def limit(self, method: str, path: str) -> int | None:
        """The body limit of ``method path`` when it declares one of its own."""
        found = self._find(method, path)
        return found[1] if found is not None else None


class _BodyRefused(Exception):
    """Raised into the app from ``receive`` once the body is known to be refused."""


class BodyGuard:
    """Refuses oversized bodies (413) and bodies in the wrong media type or encoding (415)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, openapi: OpenAPI) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._openapi = openapi
        self._media_types: BodyMediaTypes | None = None

    @property
    def _operations(self) -> BodyMediaTypes:
        if self._media_types is None:  # the document is complete only once the app is built
            self._media_types = BodyMediaTypes(self._openapi())
        return self._media_types

    def accepted(self, scope: Scope) -> frozenset[str] | None:
        return self._operations.accepted(scope["method"], scope["path"])

    def limit(self, scope: Scope) -> int:
        """The operation's own body limit, or the service's."""
        return self._operations.limit(scope["method"], scope["path"]) or self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            length = int(declared) if declared is not None else None
        except ValueError:
            length = None
        limit = self.limit(scope)
        if length is not None and length > limit:
            await self._answer(too_large(limit), scope, receive, send, drain=True)
            return
        json = False
        if chunked or (length or 0) > 0:
            accepted = self.accepted(scope)
            if accepted is not None and (refusal := check_content_type(accepted, headers.get("content-type"))):
                await self._answer(refusal, scope, receive, send, drain=True)
                return
            json = accepted is not None and _media_type(headers.get("content-type", ""))[0] == JSON_MEDIA_TYPE
        await self._guarded(scope, receive, send, json=json, limit=limit)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, *, json: bool, limit: int) -> None:
        received = 0
        decoder = codecs.getincrementaldecoder("utf-8")() if json else None
        refusal: Problem | None = None
        response_started = body_complete = False

        async def guarded_receive() -> Message:
            nonlocal received, refusal, body_complete
            message = await receive()
            if message["type"] != "http.request":
                body_complete = True
                return message
            body_complete = not message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                refusal = too_large(limit)
            elif decoder is not None:
                try:
                    decoder.decode(chunk, final=not message.get("more_body", False))
                    if b"\0" in chunk:
                        raise UnicodeDecodeError("utf-8", chunk, chunk.index(b"\0"), chunk.index(b"\0") + 1,
                                                 "NUL byte")
                except UnicodeDecodeError:
                    refusal = unsupported_media_type("Nội dung JSON phải được mã hoá UTF-8")
            if refusal is not None:
                raise _BodyRefused()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refusal is not None:
                return  # whatever the app answers to the refused body, the refusal is the answer
            response_started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception as exc:
            if response_started:
                raise
            if refusal is None:
                await unexpected_error_response(exc, scope.get("path"))(scope, receive, send)
                return
        if refusal is not None and not response_started:
            await self._answer(refusal, scope, receive, send, drain=not body_complete)

    @staticmethod
    async def _answer(problem: Problem, scope: Scope, receive: Receive, send: Send, *, drain: bool = False) -> None:
        response = problem_response(problem, scope.get("path"))
        expects_continue = Headers(scope=scope).get("expect", "").lower() == "100-continue"
        if not drain or expects_continue or not await _drained(receive):
            response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


async def _drained(receive: Receive) -> bool:
    """Read the rest of the body and drop it; False when it went on past :data:`DRAIN_BYTES` or
    :data:`DRAIN_SECONDS`."""
    received, deadline = 0, time.monotonic() + DRAIN_SECONDS
    while received <= DRAIN_BYTES and time.monotonic() < deadline:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return True
        received += len(message.get("body", b""))
    return False


def install_edge(app: FastAPI, settings: ServiceSettings) -> None:
    """Guard ``app``'s request bodies and limit failed token requests, per ``settings``.

    Call it once while building the app, before adding middlewares that should see its
    refusals (a later middleware wraps it); calling it again on the same app does nothing.
    """
    if getattr(app.state, "edge_installed", False):
        return
    app.state.edge_installed = True
    app.state.token_attempts = FailedAttempts(settings.auth_failed_attempts_limit,
                                              settings.auth_failed_attempts_window_seconds)
    app.add_middleware(BodyGuard, max_body_bytes=settings.http_max_body_bytes, openapi=lambda: app.openapi())
