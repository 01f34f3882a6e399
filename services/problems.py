"""RFC 9457 problem details for every HTTP error a service returns.

Entry points raise :class:`Problem` (or a subclass); validation errors from FastAPI and
plain ``HTTPException`` are translated too, so a client never sees a bare 500 for a bad
request.  Every body is ``application/problem+json``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://lienthong.gov.vn/problems/"

log = logging.getLogger(__name__)


class InvalidParam(BaseModel):
    """One reason a request was rejected: where, a stable code, and a message."""

    name: str
    code: str
    reason: str


class ProblemDetail(BaseModel):
    """The body of an error response (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[InvalidParam] | None = None


class Problem(Exception):
    """Raise from an entry point to answer with a problem+json response."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        errors: list[InvalidParam] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def body(self, instance: str | None = None) -> ProblemDetail:
        return ProblemDetail(
            type=PROBLEM_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    return JSONResponse(
        problem.body(instance).model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


_STATUS_SLUGS = {
    400: ("bad-request", "Yêu cầu không hợp lệ"),
    401: ("unauthorized", "Chưa xác thực"),
    403: ("forbidden", "Không có quyền"),
    404: ("not-found", "Không tìm thấy"),
    405: ("method-not-allowed", "Phương thức không được hỗ trợ"),
    406: ("not-acceptable", "Không chấp nhận định dạng"),
    409: ("conflict", "Xung đột trạng thái"),
    413: ("payload-too-large", "Dữ liệu quá lớn"),
    415: ("unsupported-media-type", "Định dạng dữ liệu không được hỗ trợ"),
    422: ("validation-failed", "Dữ liệu không hợp lệ"),
}


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            InvalidParam(name=_location(tuple(e.get("loc", ()))), code=e.get("type", "invalid"), reason=e.get("msg", ""))
            for e in exc.errors()
        ]
        malformed = any(e.code == "json_invalid" for e in errors)
        problem = Problem(
            400 if malformed else 422,
            "malformed-json" if malformed else "validation-failed",
            "Dữ liệu gửi lên không phải JSON hợp lệ" if malformed else "Dữ liệu không hợp lệ",
            f"{len(errors)} lỗi trong yêu cầu",
            errors=errors,
        )
        return problem_response(problem, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_SLUGS.get(exc.status_code, ("http-error", "Lỗi"))
        detail = exc.detail if isinstance(exc.detail, str) else None
        problem = Problem(exc.status_code, slug, title, detail, headers=dict(exc.headers or {}))
        return problem_response(problem, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        problem = Problem(500, "internal-error", "Lỗi hệ thống", "Đã ghi nhận lỗi; vui lòng thử lại sau.")
        return problem_response(problem, request.url.path)
