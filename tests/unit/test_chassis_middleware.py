"""The request middleware answers what no entry point translated: 503 when a dependency failed,
500 otherwise, both problem+json carrying the request's correlation id."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from eventsourcing.persistence import OperationalError
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from services.app import create_service_app
from services.observability import CORRELATION_HEADER
from services.settings import ServiceSettings
from tests.random_refs import random_suffix


def a_router() -> APIRouter:
    router = APIRouter()

    @router.get("/store-down")
    async def store_down() -> None:
        raise OperationalError("couldn't get a connection after 0.50 sec")

    @router.get("/bug")
    async def bug() -> None:
        raise KeyError("a bug")

    return router


@pytest.fixture
def client() -> Iterator[TestClient]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    settings = ServiceSettings(service_name=f"test-{random_suffix()}", log_level="CRITICAL")
    app = create_service_app(title="test", description="test", settings=settings, lifespan=lifespan,
                             routers=[a_router()])
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_request_failing_because_the_event_store_is_unreachable_is_a_503_with_retry_after(
    client: TestClient,
) -> None:
    correlation_id = random_suffix()

    response = client.get("/store-down", headers={CORRELATION_HEADER: correlation_id})

    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers[CORRELATION_HEADER] == correlation_id


def test_a_bug_is_a_500_that_does_not_say_what_failed(client: TestClient) -> None:
    response = client.get("/bug")

    assert response.status_code == 500
    assert "a bug" not in response.text
