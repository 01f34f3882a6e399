"""Every error a service answers is RFC 9457 problem+json; the operations routes answer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import asyncpg
import psycopg
import psycopg_pool
import pytest
from eventsourcing import persistence
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, field_validator

from services.app import create_service_app
from services.edge import install_edge
from services.observability import CORRELATION_HEADER, correlation_id_var
from services.problems import ECHO_LIMIT, ERRORS_LIMIT, PROBLEM_BASE, PROBLEM_MEDIA_TYPE, install_problem_handlers
from services.settings import ServiceSettings
from shared_events import Applicant
from tests.random_refs import random_suffix


class Stamp(BaseModel):
    code: str = Field(pattern=r"^[0-9]{4}$")
    copies: int = Field(gt=0)


class Order(BaseModel):
    options: list[str] = []
    copies_by_office: dict[str, int] = {}

    @field_validator("options")
    @classmethod
    def _known(cls, options: list[str]) -> list[str]:
        for option in options:
            if option not in {"express", "post"}:
                raise ValueError(f"Lựa chọn không có: {option}")
        return options


INFRASTRUCTURE_FAILURES: dict[str, Callable[[], Exception]] = {
    "psycopg OperationalError": lambda: psycopg.OperationalError("server closed the connection unexpectedly"),
    "eventsourcing OperationalError": lambda: persistence.OperationalError("connection lost"),
    "asyncpg connection error": lambda: asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    "psycopg pool time-out": lambda: psycopg_pool.PoolTimeout("couldn't get a connection after 30.00 sec"),
}


def raised_from(cause: Exception) -> Exception:
    try:
        raise cause
    except Exception as exc:
        try:
            raise RuntimeError("could not load the dossier") from exc
        except RuntimeError as wrapped:
            return wrapped


class FakeDependency:
    """A readiness check that passes or fails on demand."""

    def __init__(self) -> None:
        self.failure: Exception | None = None

    async def check(self) -> None:
        if self.failure is not None:
            raise self.failure


class CorrelationRecorder(logging.Handler):
    """Keeps each record with the correlation id in force when it was logged."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), correlation_id_var.get()))


def a_router(secret_text: str) -> APIRouter:
    router = APIRouter()

    @router.post("/stamps")
    def stamp(body: Stamp) -> Stamp:
        return body

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError(secret_text)

    @router.post("/orders")
    def order(body: Order) -> Order:
        return body

    @router.post("/applicants")
    def applicant(body: Applicant) -> Applicant:
        return body

    @router.get("/down/{kind}")
    def down(kind: str, wrapped: bool = False) -> None:
        failure = INFRASTRUCTURE_FAILURES[kind]()
        raise raised_from(failure) if wrapped else failure

    return router




@pytest.fixture
def database() -> FakeDependency:
    return FakeDependency()


@pytest.fixture
def secret_text() -> str:
    return f"password=hunter2-{random_suffix()}"


@pytest.fixture
def client(restored_logging: None, database: FakeDependency, secret_text: str) -> Iterator[TestClient]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.readiness["database"] = database.check
        yield

    settings = ServiceSettings(environment="development", service_name=f"test-{random_suffix()}",
                               log_level="WARNING")
    app = create_service_app(title="test", description="test", settings=settings, lifespan=lifespan,
                             routers=[a_router(secret_text)])
    install_edge(app, settings)  # a no-op once create_service_app installs it
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == PROBLEM_BASE + slug
    assert body["status"] == status
    assert body["title"]
    return body


def test_an_invalid_body_is_a_422_problem_listing_every_error(client: TestClient) -> None:
    response = client.post("/stamps", json={"code": "12a", "copies": 0})

    body = assert_problem(response, 422, "validation-failed")
    assert body["instance"] == "/stamps"
    assert {e["name"] for e in body["errors"]} == {"code", "copies"}
    assert all(set(e) == {"name", "code", "reason"} for e in body["errors"])
    assert {e["code"] for e in body["errors"]} == {"string_pattern_mismatch", "greater_than"}
    assert all(e["reason"] for e in body["errors"])


def test_a_missing_field_is_named_in_the_422_problem(client: TestClient) -> None:
    response = client.post("/stamps", json={"code": "1234"})

    body = assert_problem(response, 422, "validation-failed")
    assert body["errors"] == [{"name": "copies", "code": "missing", "reason": "Thiếu trường bắt buộc"}]


def test_validation_reasons_are_in_vietnamese_with_the_limits_filled_in(client: TestClient) -> None:
    response = client.post("/stamps", json={"code": "12", "copies": 0})

    reasons = {e["name"]: e["reason"] for e in assert_problem(response, 422, "validation-failed")["errors"]}
    assert reasons == {"code": "Không đúng định dạng", "copies": "Phải lớn hơn 0"}


def test_json_that_is_not_utf_8_is_a_415_problem(client: TestClient) -> None:
    response = client.post("/stamps", content=b"N\xff\x11{", headers={"Content-Type": "application/json"})

    assert assert_problem(response, 415, "unsupported-media-type")["title"] == "Định dạng dữ liệu không được hỗ trợ"


def test_a_name_with_a_bidi_override_is_a_422_naming_the_field_in_vietnamese(client: TestClient) -> None:
    response = client.post("/applicants", json={"kind": "citizen", "full_name": "Trần Văn \u202eAn",
                                                "identity_number": "001203004567"})

    body = assert_problem(response, 422, "validation-failed")
    assert body["errors"] == [{"name": "full_name", "code": "text_bidi_control",
                               "reason": "Không được chứa ký tự điều khiển hướng văn bản"}]


def test_an_enormous_value_comes_back_capped_in_the_422(client: TestClient) -> None:
    option = "x" * 900_000

    response = client.post("/orders", json={"options": [option]})

    body = assert_problem(response, 422, "validation-failed")
    assert len(response.content) < 2_000
    assert body["errors"][0]["name"] == "options"
    assert body["errors"][0]["reason"].startswith("Lựa chọn không có: xxx")
    assert len(body["errors"][0]["reason"]) == ECHO_LIMIT


def test_an_enormous_field_name_comes_back_capped_in_the_422(client: TestClient) -> None:
    office = "o" * 900_000

    response = client.post("/orders", json={"copies_by_office": {office: "many"}})

    body = assert_problem(response, 422, "validation-failed")
    assert len(response.content) < 2_000
    assert body["errors"][0]["name"].startswith("copies_by_office.ooo")
    assert len(body["errors"][0]["name"]) <= ECHO_LIMIT


def test_a_422_lists_a_bounded_number_of_errors_and_counts_them_all(client: TestClient) -> None:
    response = client.post("/orders", json={"copies_by_office": {f"office-{n}": "many" for n in range(5_000)}})

    body = assert_problem(response, 422, "validation-failed")
    assert len(body["errors"]) == ERRORS_LIMIT
    assert body["detail"].startswith("5000 lỗi")


@pytest.fixture
def bare_client(restored_logging: None, secret_text: str) -> Iterator[TestClient]:
    """An app with the problem handlers alone: no middleware answers before them."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(a_router(secret_text))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("kind", list(INFRASTRUCTURE_FAILURES))
@pytest.mark.parametrize("wrapped", [False, True], ids=["raised", "raised from"])
def test_a_request_failing_because_the_infrastructure_failed_is_a_503_with_retry_after(
        bare_client: TestClient, kind: str, wrapped: bool) -> None:
    response = bare_client.get(f"/down/{kind}", params={"wrapped": wrapped})

    body = assert_problem(response, 503, "service-unavailable")
    assert body["title"] == "Dịch vụ tạm thời không khả dụng"
    assert int(response.headers["Retry-After"]) > 0
    assert str(INFRASTRUCTURE_FAILURES[kind]()) not in response.text


def test_any_other_unexpected_error_stays_a_500(bare_client: TestClient, secret_text: str) -> None:
    response = bare_client.get("/boom")

    assert_problem(response, 500, "internal-error")
    assert secret_text not in response.text


def test_the_openapi_document_lists_413_415_and_503_for_an_operation_with_a_body(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/stamps"]["post"]

    assert {"413", "415", "503"} <= set(operation["responses"])


def test_a_form_in_a_media_type_the_token_endpoint_does_not_document_is_a_415_problem(client: TestClient) -> None:
    response = client.post("/v1/auth/token", content=b"\xff\xfe=%%%",
                           headers={"Content-Type": "multipart/form-data; boundary=x"})

    assert assert_problem(response, 415, "unsupported-media-type")["title"] == "Định dạng dữ liệu không được hỗ trợ"


def test_the_openapi_document_describes_every_error_as_problem_json(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    operation = document["paths"]["/stamps"]["post"]
    assert {"400", "422"} <= set(operation["responses"])
    for status, response in operation["responses"].items():
        if status.startswith(("4", "5")):
            assert list(response["content"]) == [PROBLEM_MEDIA_TYPE]
    assert "ProblemDetail" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "422" not in document["paths"]["/healthz"]["get"]["responses"]


def test_malformed_json_is_a_400_malformed_json_problem(client: TestClient) -> None:
    response = client.post("/stamps", content=b'{"code": "1234", "copies": ',
                           headers={"content-type": "application/json"})

    body = assert_problem(response, 400, "malformed-json")
    assert body["errors"][0]["code"] == "json_invalid"


def test_an_unknown_route_is_a_404_problem(client: TestClient) -> None:
    response = client.get(f"/nowhere/{random_suffix()}")

    assert_problem(response, 404, "not-found")


def test_a_wrong_method_is_a_405_problem_keeping_the_allow_header(client: TestClient) -> None:
    response = client.delete("/stamps")

    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["allow"]


def test_an_unexpected_error_is_a_500_problem_that_does_not_leak_its_text(
    client: TestClient, secret_text: str
) -> None:
    response = client.get("/boom")

    body = assert_problem(response, 500, "internal-error")
    assert secret_text not in response.text
    assert "RuntimeError" not in response.text
    assert body["instance"] == "/boom"


def test_an_unexpected_error_still_echoes_the_correlation_id(client: TestClient) -> None:
    correlation_id = f"corr-{random_suffix()}"

    response = client.get("/boom", headers={CORRELATION_HEADER: correlation_id})

    assert response.status_code == 500
    assert response.headers.get(CORRELATION_HEADER) == correlation_id


def test_the_log_line_of_an_unexpected_error_carries_the_correlation_id(client: TestClient) -> None:
    recorder = CorrelationRecorder()
    logging.getLogger("services.problems").addHandler(recorder)
    correlation_id = f"corr-{random_suffix()}"
    try:
        client.get("/boom", headers={CORRELATION_HEADER: correlation_id})
    finally:
        logging.getLogger("services.problems").removeHandler(recorder)

    assert ("unhandled error", correlation_id) in recorder.seen


def test_healthz_answers(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_answer_in_the_prometheus_text_format(client: TestClient) -> None:
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in response.text


def test_readyz_is_200_when_every_check_passes(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_readyz_is_a_503_problem_when_a_check_fails(client: TestClient, database: FakeDependency) -> None:
    reason = f"connection refused {random_suffix()}"
    database.failure = ConnectionError(reason)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == 503
    assert body["type"].endswith("/not-ready")
    assert body["checks"]["database"] == f"failed: ConnectionError: {reason}"


def test_readyz_recovers_once_the_dependency_answers_again(client: TestClient, database: FakeDependency) -> None:
    database.failure = ConnectionError("down")
    assert client.get("/readyz").status_code == 503

    database.failure = None

    assert client.get("/readyz").status_code == 200


def test_the_correlation_id_sent_is_echoed(client: TestClient) -> None:
    correlation_id = f"corr-{random_suffix()}"

    response = client.get("/healthz", headers={CORRELATION_HEADER: correlation_id})

    assert response.headers[CORRELATION_HEADER] == correlation_id


def test_a_correlation_id_is_minted_when_none_is_sent(client: TestClient) -> None:
    first = client.get("/healthz").headers[CORRELATION_HEADER]
    second = client.get("/healthz").headers[CORRELATION_HEADER]

    assert first and second and first != second


def test_the_correlation_id_is_echoed_on_a_problem_too(client: TestClient) -> None:
    correlation_id = f"corr-{random_suffix()}"

    response = client.post("/stamps", json={}, headers={CORRELATION_HEADER: correlation_id})

    assert response.status_code == 422
    assert response.headers[CORRELATION_HEADER] == correlation_id
