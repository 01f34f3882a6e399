"""The edge lets an upload route reach its own body limit (``x-max-body-bytes``, the per-document
limit) while every other operation keeps ``http_max_body_bytes``; the upload route's media types
are the store's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.edge import install_edge
from services.problems import install_problem_handlers
from services.settings import ServiceSettings

JSON_LIMIT, UPLOAD_LIMIT = 1024, 8192


class Note(BaseModel):
    text: str


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/notes")
    def add_note(note: Note) -> Note:
        return note

    @app.put("/files/{name}", openapi_extra={
        "x-max-body-bytes": UPLOAD_LIMIT,
        "requestBody": {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
    async def put_file(name: str, request: Request) -> dict[str, int]:
        return {"read": sum([len(chunk) async for chunk in request.stream()])}

    install_edge(app, ServiceSettings(environment="development", http_max_body_bytes=JSON_LIMIT))
    with TestClient(app) as test_client:
        yield test_client


def test_an_upload_over_the_json_limit_but_within_its_own_reaches_the_route(client: TestClient) -> None:
    response = client.put("/files/a", content=b"%PDF-" + b"x" * 5000, headers={"Content-Type": "application/pdf"})
    assert (response.status_code, response.json()) == (200, {"read": 5005})


def test_an_upload_over_its_own_limit_is_refused_with_413_naming_that_limit(client: TestClient) -> None:
    response = client.put("/files/a", content=b"x" * (UPLOAD_LIMIT + 1), headers={"Content-Type": "application/pdf"})
    assert response.status_code == 413
    assert str(UPLOAD_LIMIT) in response.json()["detail"]


def test_a_json_body_keeps_the_services_limit(client: TestClient) -> None:
    response = client.post("/notes", json={"text": "x" * 2000})
    assert response.status_code == 413
    assert str(JSON_LIMIT) in response.json()["detail"]


def test_an_upload_in_a_media_type_the_route_does_not_take_is_refused_with_415(client: TestClient) -> None:
    response = client.put("/files/a", content=b"hello", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
