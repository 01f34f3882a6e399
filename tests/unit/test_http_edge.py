"""The HTTP edge refuses oversized bodies (413) and bodies in the wrong media type or encoding (415)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI, Form
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.edge import BodyGuard, install_edge
from services.observability import CORRELATION_HEADER, Metrics, correlation_middleware
from services.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, install_problem_handlers
from services.settings import ServiceSettings
from tests.random_refs import random_suffix

LIMIT = 1024


class Note(BaseModel):
    text: str


class BodyCounter:
    """Counts the body bytes the app itself was handed."""

    def __init__(self) -> None:
        self.read = 0


@pytest.fixture
def counter() -> BodyCounter:
    return BodyCounter()


@pytest.fixture
def client(counter: BodyCounter) -> Iterator[TestClient]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/notes")
    def add_note(note: Note) -> Note:
        counter.read += len(note.text.encode())
        return note

    @app.post("/form")
    def form(name: str = Form()) -> dict[str, str]:
        return {"name": name}

    @app.post("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "yes"}

    install_edge(app, ServiceSettings(environment="development", http_max_body_bytes=LIMIT))
    with TestClient(app) as test_client:
        yield test_client


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == PROBLEM_BASE + slug
    assert body["status"] == status
    return body


def test_a_json_body_within_the_limit_reaches_the_operation(client: TestClient) -> None:
    response = client.post("/notes", json={"text": "xin chào"})

    assert response.status_code == 200
    assert response.json() == {"text": "xin chào"}


def test_a_body_declared_larger_than_the_limit_is_refused_with_413_before_the_app_reads_it(
        client: TestClient, counter: BodyCounter) -> None:
    response = client.post("/notes", content=b'{"text": "' + b"a" * LIMIT + b'"}',
                           headers={"content-type": "application/json"})

    assert_problem(response, 413, "payload-too-large")
    assert counter.read == 0


def test_a_chunked_body_is_refused_with_413_once_the_bytes_streamed_pass_the_limit(
        client: TestClient, counter: BodyCounter) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(LIMIT // 100 + 1):
            yield b"a" * 100
        yield b'"}'

    response = client.post("/notes", content=chunks(), headers={"content-type": "application/json"})

    assert_problem(response, 413, "payload-too-large")
    assert counter.read == 0


def test_a_chunked_body_within_the_limit_reaches_the_operation(client: TestClient) -> None:
    response = client.post("/notes", content=iter([b'{"text": ', b'"ok"}']),
                           headers={"content-type": "application/json"})

    assert response.status_code == 200


class StreamingClient:
    """A client streaming ``total`` bytes in 64 KiB chunks, as an ASGI server hands them over."""

    CHUNK = b"a" * 65536

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        self.pulled += len(self.CHUNK)
        return {"type": "http.request", "body": self.CHUNK, "more_body": self.pulled < self.total}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])


def run_guard(client: StreamingClient) -> int:
    """Run the guard over an app that reads the whole body; the bytes the app was handed."""
    handed = 0

    async def app(scope, receive, send) -> None:
        nonlocal handed
        while True:
            message = await receive()
            handed += len(message.get("body", b""))
            if not message.get("more_body"):
                return

    guard = BodyGuard(app, max_body_bytes=LIMIT, openapi=lambda: {"paths": {}})
    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [(b"transfer-encoding", b"chunked")],
             "query_string": b"", "root_path": ""}
    asyncio.run(guard(scope, client.receive, client.send))
    return handed


def test_a_100_mb_stream_is_cut_off_at_the_limit_and_the_rest_read_and_dropped_before_the_413() -> None:
    client = StreamingClient(100 * 1024 * 1024)

    handed = run_guard(client)

    assert handed <= LIMIT + len(StreamingClient.CHUNK)
    assert client.sent[0]["status"] == 413
    assert client.pulled >= client.total  # drained, so the client reads the answer, not a reset
    assert b"connection" not in client.headers()


def test_a_stream_longer_than_the_drain_bound_is_answered_and_its_connection_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.edge.DRAIN_BYTES", 1024 * 1024)
    client = StreamingClient(100 * 1024 * 1024)

    run_guard(client)

    assert client.sent[0]["status"] == 413
    assert client.pulled < 2 * 1024 * 1024
    assert client.headers()[b"connection"] == b"close"


@pytest.mark.parametrize("content_type", [
    "application/problem+json",
    "text/plain",
    "application/json; charset=utf-16",
    "application/json; charset=latin-1",
    "application/x-www-form-urlencoded",
    None,
], ids=["problem+json", "text/plain", "utf-16 charset", "latin-1 charset", "a form", "no content type"])
def test_a_json_operation_refuses_another_media_type_with_415(client: TestClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}

    response = client.post("/notes", content=b'{"text": "x"}', headers=headers)

    assert_problem(response, 415, "unsupported-media-type")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", 'application/json; charset="UTF-8"',
                                          "Application/JSON"])
def test_a_json_operation_accepts_json_declared_as_utf_8(client: TestClient, content_type: str) -> None:
    response = client.post("/notes", content=b'{"text": "x"}', headers={"content-type": content_type})

    assert response.status_code == 200


@pytest.mark.parametrize("body", [
    '{"text": "Nguyễn"}'.encode("utf-16"),
    '{"text": "Nguyễn"}'.encode("utf-16-le"),
    '{"text": "Nguyễn"}'.encode("utf-32"),
    '{"text": "café"}'.encode("latin-1"),
], ids=["utf-16 with BOM", "utf-16 without BOM", "utf-32", "latin-1"])
def test_a_json_body_that_is_not_utf_8_is_refused_with_415(client: TestClient, body: bytes) -> None:
    response = client.post("/notes", content=body, headers={"content-type": "application/json"})

    assert_problem(response, 415, "unsupported-media-type")


def test_a_non_utf_8_json_body_streamed_in_chunks_is_refused_with_415(client: TestClient) -> None:
    response = client.post("/notes", content=iter([b'{"text": "', b"\xff\xfe", b'"}']),
                           headers={"content-type": "application/json"})

    assert_problem(response, 415, "unsupported-media-type")


def test_a_utf_8_character_split_across_chunks_is_accepted(client: TestClient) -> None:
    encoded = '{"text": "ễ"}'.encode()
    split = encoded.index("ễ".encode()) + 1

    response = client.post("/notes", content=iter([encoded[:split], encoded[split:]]),
                           headers={"content-type": "application/json"})

    assert response.status_code == 200
    assert response.json() == {"text": "ễ"}


def test_a_form_operation_keeps_accepting_url_encoded_forms(client: TestClient) -> None:
    response = client.post("/form", data={"name": "Lan"})

    assert response.status_code == 200


def test_a_form_operation_refuses_json_with_415(client: TestClient) -> None:
    response = client.post("/form", json={"name": "Lan"})

    assert_problem(response, 415, "unsupported-media-type")


def test_an_operation_without_a_body_is_not_refused_for_an_empty_request(client: TestClient) -> None:
    assert client.post("/ping").status_code == 200


def test_installing_the_edge_twice_adds_one_guard() -> None:
    app = FastAPI()
    settings = ServiceSettings(environment="development")

    install_edge(app, settings)
    install_edge(app, settings)

    assert [m.cls for m in app.user_middleware].count(BodyGuard) == 1


@pytest.fixture
def app_in_service_order() -> FastAPI:
    """The edge installed before the correlation middleware, as create_service_app does."""
    app = FastAPI()
    install_problem_handlers(app)
    install_edge(app, ServiceSettings(environment="development", http_max_body_bytes=LIMIT))
    app.middleware("http")(correlation_middleware(Metrics()))

    @app.get("/lost-database")
    def lost_database() -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    @app.get("/bug")
    def bug() -> None:
        raise KeyError("a bug")

    return app


def test_an_infrastructure_failure_behind_the_correlation_middleware_is_a_503_keeping_the_correlation_id(
        app_in_service_order: FastAPI) -> None:
    correlation_id = f"corr-{random_suffix()}"
    with TestClient(app_in_service_order, raise_server_exceptions=False) as client:
        response = client.get("/lost-database", headers={CORRELATION_HEADER: correlation_id})

    assert_problem(response, 503, "service-unavailable")
    assert response.headers["Retry-After"]
    assert response.headers[CORRELATION_HEADER] == correlation_id


def test_a_bug_behind_the_correlation_middleware_stays_a_500_keeping_the_correlation_id(
        app_in_service_order: FastAPI) -> None:
    correlation_id = f"corr-{random_suffix()}"
    with TestClient(app_in_service_order, raise_server_exceptions=False) as client:
        response = client.get("/bug", headers={CORRELATION_HEADER: correlation_id})

    assert_problem(response, 500, "internal-error")
    assert response.headers[CORRELATION_HEADER] == correlation_id


def test_a_refused_body_behind_the_correlation_middleware_keeps_the_correlation_id(
        app_in_service_order: FastAPI) -> None:
    correlation_id = f"corr-{random_suffix()}"
    with TestClient(app_in_service_order) as client:
        response = client.post("/lost-database", content=b"x" * (LIMIT + 1),
                               headers={CORRELATION_HEADER: correlation_id})

    assert_problem(response, 413, "payload-too-large")
    assert response.headers[CORRELATION_HEADER] == correlation_id
