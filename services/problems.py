"""RFC 9457 problem details for every HTTP error a service returns.

Entry points raise :class:`Problem` (or a subclass); validation errors from FastAPI and
plain ``HTTPException`` are translated too, so a client never sees a bare 500 for a bad
request.  Every body is ``application/problem+json``.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
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


_MESSAGES_VI = {
    "missing": "Thiếu trường bắt buộc",
    "extra_forbidden": "Trường này không được phép",
    "json_invalid": "Không phải JSON hợp lệ",
    "string_type": "Phải là chuỗi ký tự",
    "string_too_short": "Quá ngắn: tối thiểu {min_length} ký tự",
    "string_too_long": "Quá dài: tối đa {max_length} ký tự",
    "string_pattern_mismatch": "Không đúng định dạng",
    "int_type": "Phải là số nguyên",
    "int_parsing": "Phải là số nguyên",
    "int_from_float": "Phải là số nguyên",
    "float_type": "Phải là số",
    "float_parsing": "Phải là số",
    "bool_type": "Phải là true hoặc false",
    "bool_parsing": "Phải là true hoặc false",
    "greater_than": "Phải lớn hơn {gt}",
    "greater_than_equal": "Phải từ {ge} trở lên",
    "less_than": "Phải nhỏ hơn {lt}",
    "less_than_equal": "Phải từ {le} trở xuống",
    "literal_error": "Phải là một trong các giá trị: {expected}",
    "enum": "Phải là một trong các giá trị: {expected}",
    "list_type": "Phải là danh sách",
    "too_short": "Cần ít nhất {min_length} phần tử",
    "too_long": "Tối đa {max_length} phần tử",
    "dict_type": "Phải là đối tượng JSON",
    "model_type": "Phải là đối tượng JSON",
    "model_attributes_type": "Phải là đối tượng JSON",
    "date_type": "Phải là ngày (YYYY-MM-DD)",
    "date_parsing": "Phải là ngày (YYYY-MM-DD)",
    "date_from_datetime_parsing": "Phải là ngày (YYYY-MM-DD)",
    "datetime_type": "Phải là thời điểm theo ISO 8601",
    "datetime_parsing": "Phải là thời điểm theo ISO 8601",
    "datetime_from_date_parsing": "Phải là thời điểm theo ISO 8601",
    "timezone_aware": "Thời điểm phải có múi giờ",
    "uuid_type": "Phải là UUID",
    "uuid_parsing": "Phải là UUID",
    "union_tag_invalid": "Loại không hợp lệ: phải là một trong {expected_tags}",
    "union_tag_not_found": "Thiếu trường phân loại {discriminator}",
}


def validation_message(error: dict[str, Any]) -> str:
    """A Vietnamese reason for one pydantic error; pydantic's own message when there is none.

    Messages written by the project's validators (``value_error``) are already Vietnamese.
    """
    template = _MESSAGES_VI.get(error.get("type", ""))
    if template is None:
        return str(error.get("msg", "")).removeprefix("Value error, ")
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return template.split(":")[0]


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


_MALFORMED_JSON = ("malformed-json", "Dữ liệu gửi lên không phải JSON hợp lệ")
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


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            InvalidParam(name=_location(tuple(e.get("loc", ()))), code=e.get("type", "invalid"),
                         reason=validation_message(e))
            for e in exc.errors()
        ]
        malformed = any(e.code == "json_invalid" for e in errors)
        slug, title = _MALFORMED_JSON if malformed else ("validation-failed", "Dữ liệu không hợp lệ")
        problem = Problem(400 if malformed else 422, slug, title, f"{len(errors)} lỗi trong yêu cầu", errors=errors)
        return problem_response(problem, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_SLUGS.get(exc.status_code, ("http-error", "Lỗi"))
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 400:  # the framework could not parse the body (our code raises Problem)
            if "json" in request.headers.get("content-type", ""):
                slug, title = _MALFORMED_JSON
            else:
                slug, title = "malformed-body", "Không đọc được dữ liệu gửi lên"
            detail = "Nội dung yêu cầu không đúng định dạng đã khai báo trong Content-Type"
        elif detail is not None and detail == _phrase(exc.status_code):
            detail = None  # Starlette's English reason phrase says no more than the title
        problem = Problem(exc.status_code, slug, title, detail, headers=dict(exc.headers or {}))
        return problem_response(problem, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        problem = Problem(500, "internal-error", "Lỗi hệ thống", "Đã ghi nhận lỗi; vui lòng thử lại sau.")
        return problem_response(problem, request.url.path)


_PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_RESPONSE_TEXT = {
    "400": "Malformed body (problem+json)",
    "401": "Missing, expired or forged bearer token (problem+json)",
    "403": "Authenticated, but not entitled (problem+json)",
    "422": "Invalid request: every error listed in `errors` (problem+json)",
}


def document_problems(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI say what its errors look like.

    Every 4xx and 5xx response of every operation is ``application/problem+json`` with the
    :class:`ProblemDetail` schema; operations with a request body may answer 400, operations
    that need a token 401 and 403, and every operation but the probes 422.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ProblemDetail"] = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(components["ProblemDetail"].pop("$defs", {}))
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                expected = set()
                if path not in _PUBLIC_PATHS:
                    expected.add("422")
                if "requestBody" in operation:
                    expected.add("400")
                if operation.get("security"):
                    expected.update({"401", "403"})
                for status in expected:
                    responses.setdefault(status, {"description": _RESPONSE_TEXT[status]})
                for status, response in responses.items():
                    if status[0] in "45":
                        if status == "422":
                            response["description"] = _RESPONSE_TEXT["422"]
                        response["content"] = content
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
