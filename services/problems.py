"""RFC 9457 problem details for every HTTP error a service returns.

Entry points raise :class:`Problem` (or a subclass); validation errors from FastAPI and
plain ``HTTPException`` are translated too, so a client never sees a bare 500 for a bad
request.  Every body is ``application/problem+json``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.eventstore import ConcurrentChangeError
from services.failures import is_infrastructure_error

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://lienthong.gov.vn/problems/"

log = logging.getLogger(__name__)

ECHO_LIMIT = 200
"""At most this many characters of any value a client sent come back in an error body."""
DETAIL_LIMIT = 1000
"""The longest ``detail`` an error body carries."""
ERRORS_LIMIT = 50
"""At most this many entries in ``errors``; ``detail`` still counts them all."""
RETRY_AFTER_SECONDS = 5
"""What a 503 tells the client to wait before trying again."""


def capped(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        """The body, every text capped (``detail`` and ``instance`` may carry what was sent)."""
        errors = None
        if self.errors is not None:
            errors = [InvalidParam(name=capped(e.name), code=capped(e.code), reason=capped(e.reason))
                      for e in self.errors[:ERRORS_LIMIT]]
        return ProblemDetail(
            type=PROBLEM_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=None if self.detail is None else capped(self.detail, DETAIL_LIMIT),
            instance=None if instance is None else capped(instance),
            errors=errors,
        )


@dataclass(frozen=True)
class ProblemType:
    """What one kind of application error becomes over HTTP: status, problem type, title.

    ``detail`` makes the detail from the error (default: the error's message); ``errors`` lists the
    invalid fields when the error names them.
    """

    status: int
    slug: str
    title: str
    detail: Callable[[Exception], str | None] | None = None
    errors: Callable[[Exception], list[InvalidParam] | None] | None = None

    def problem(self, exc: Exception) -> Problem:
        detail = str(exc) if self.detail is None else self.detail(exc)
        return Problem(self.status, self.slug, self.title, detail,
                       errors=None if self.errors is None else self.errors(exc))


class ErrorTable(Mapping[type[Exception], ProblemType]):
    """The one table ``{error class: ProblemType}`` a service's entry points answer errors with.

    The most specific class listed wins (an error's MRO is walked in order). Entry points wrap a
    use case in :meth:`translating`; an error no row names goes on unchanged (to the 500 / 503
    handlers). Tables combine with ``|``: every service starts from :data:`CHASSIS_ERRORS`.
    """

    def __init__(self, rows: Mapping[type[Exception], ProblemType]) -> None:
        self._rows = dict(rows)

    def __getitem__(self, cls: type[Exception]) -> ProblemType:
        return self._rows[cls]

    def __iter__(self) -> Iterator[type[Exception]]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __or__(self, other: Mapping[type[Exception], ProblemType]) -> ErrorTable:
        return ErrorTable({**self._rows, **other})

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """Every error class the table answers."""
        return tuple(self._rows)

    def kind_of(self, exc: BaseException) -> ProblemType | None:
        """The row for ``exc``: its most specific class listed, or None."""
        for cls in type(exc).__mro__:
            if cls in self._rows:
                return self._rows[cls]
        return None

    def problem(self, exc: Exception) -> Problem:
        """``exc`` as a :class:`Problem`; raises ``exc`` itself when no row names it."""
        kind = self.kind_of(exc)
        if kind is None:
            raise exc
        return kind.problem(exc)

    @contextmanager
    def translating(self) -> Iterator[None]:
        """Turn every error the table names, raised inside the block, into its problem."""
        try:
            yield
        except self.errors as exc:
            raise self.problem(exc) from None

    def responses(self, *classes: type[Exception]) -> dict[int | str, dict[str, Any]]:
        """OpenAPI ``responses`` for the problems ``classes`` (default: all) can become."""
        described: dict[int | str, dict[str, Any]] = {}
        for cls in classes or self.errors:
            kind = self._rows[cls]
            entry = described.setdefault(kind.status, {"model": ProblemDetail, "description": ""})
            entry["description"] = "; ".join(filter(None, [entry["description"], f"`{kind.slug}`: {kind.title}"]))
        return described


CHASSIS_ERRORS = ErrorTable({
    ConcurrentChangeError: ProblemType(
        409, "concurrent-change", "Hồ sơ đang được thay đổi đồng thời",
        lambda exc: "Hồ sơ vừa được thay đổi nhiều lần cùng lúc; vui lòng tải lại và thử lại"),
})
"""The errors of the chassis itself, which every service's table starts from."""


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
    # shared_events/scalars.py
    "text_nul_character": "Không được chứa ký tự NUL",
    "string_unicode": "Không phải văn bản Unicode hợp lệ",
    "text_control_character": "Không được chứa ký tự điều khiển",
    "text_bidi_control": "Không được chứa ký tự điều khiển hướng văn bản",
    "text_byte_order_mark": "Không được chứa ký tự BOM (U+FEFF)",
    "text_only_combining_marks": "Không được chỉ gồm các dấu kết hợp",
}


def validation_message(error: dict[str, Any]) -> str:
    """A Vietnamese reason for one pydantic error; pydantic's own message when there is none.

    Messages written by the project's validators (``value_error``) are already Vietnamese.
    """
    template = _MESSAGES_VI.get(error.get("type", ""))
    if template is None:
        return capped(str(error.get("msg", "")).removeprefix("Value error, "))
    ctx = {key: capped(str(value)) for key, value in (error.get("ctx") or {}).items()}
    try:
        return capped(template.format(**ctx))
    except (KeyError, IndexError):
        return template.split(":")[0]


def _location(loc: tuple[Any, ...]) -> str:
    """``a.b.0.c`` for a pydantic location; each part capped (a dict key is what was sent)."""
    parts = [capped(str(p), 64) for p in loc if p not in ("body",)]
    return capped(".".join(parts) or "body")


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
    429: ("too-many-requests", "Quá nhiều yêu cầu"),
    503: ("service-unavailable", "Dịch vụ tạm thời không khả dụng"),
}


def service_unavailable(detail: str = "Hệ thống tạm thời không kết nối được cơ sở dữ liệu hoặc hàng đợi "
                                      "thông điệp; vui lòng thử lại sau.") -> Problem:
    """503 with ``Retry-After``: the request failed because a dependency did, not because of itself."""
    slug, title = _STATUS_SLUGS[503]
    return Problem(503, slug, title, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def unexpected_error_response(exc: BaseException, path: str | None) -> JSONResponse:
    """The answer to an exception no entry point translated: 503 when a dependency failed, else 500.

    Logged either way; neither body says what the exception was.
    """
    if is_infrastructure_error(exc):
        log.warning("dependency failed: %s: %s", type(exc).__name__, capped(str(exc)), extra={"path": path})
        return problem_response(service_unavailable(), path)
    log.error("unhandled error", exc_info=exc, extra={"path": path})
    return problem_response(Problem(500, "internal-error", "Lỗi hệ thống", "Đã ghi nhận lỗi; vui lòng thử lại sau."),
                            path)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        found = exc.errors()
        errors = [
            InvalidParam(name=_location(tuple(e.get("loc", ()))), code=capped(str(e.get("type", "invalid"))),
                         reason=validation_message(e))
            for e in found[:ERRORS_LIMIT]
        ]
        malformed = any(e.code == "json_invalid" for e in errors)
        slug, title = _MALFORMED_JSON if malformed else ("validation-failed", "Dữ liệu không hợp lệ")
        detail = f"{len(found)} lỗi trong yêu cầu"
        if len(found) > ERRORS_LIMIT:
            detail += f" (liệt kê {ERRORS_LIMIT} lỗi đầu tiên)"
        problem = Problem(400 if malformed else 422, slug, title, detail, errors=errors)
        return problem_response(problem, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_SLUGS.get(exc.status_code, ("http-error", "Lỗi"))
        detail: str | None = exc.detail if isinstance(exc.detail, str) else None
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
        return unexpected_error_response(exc, request.url.path)


_PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_RESPONSE_TEXT = {
    "400": "Malformed body (problem+json)",
    "401": "Missing, expired or forged bearer token (problem+json)",
    "403": "Authenticated, but not entitled (problem+json)",
    "413": "Body larger than the service accepts (problem+json)",
    "415": "Body not in a media type the operation accepts, or not UTF-8 (problem+json)",
    "422": "Invalid request: every error listed in `errors` (problem+json)",
    "429": "Too many failed attempts; wait as `Retry-After` says (problem+json)",
    "503": "A dependency (PostgreSQL, Kafka) failed; retry after `Retry-After` seconds (problem+json)",
}


def document_problems(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI say what its errors look like.

    Every 4xx and 5xx response of every operation is ``application/problem+json`` with the
    :class:`ProblemDetail` schema; operations with a request body may answer 400, 413 and 415,
    operations that need a token 401 and 403, and every operation but the probes 422 and 503.
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
                    expected.update({"422", "503"})
                if "requestBody" in operation:
                    expected.update({"400", "413", "415"})
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
