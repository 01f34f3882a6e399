"""/readyz says what a process can still serve: degraded without Kafka, not ready without PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.app import create_service_app
from services.settings import ServiceSettings
from tests.random_refs import random_suffix


class FakeDependency:
    def __init__(self) -> None:
        self.failure: Exception | None = None

    async def check(self) -> None:
        if self.failure is not None:
            raise self.failure


@pytest.fixture
def postgresql() -> FakeDependency:
    return FakeDependency()


@pytest.fixture
def kafka() -> FakeDependency:
    return FakeDependency()


@pytest.fixture
def client(postgresql: FakeDependency, kafka: FakeDependency) -> Iterator[TestClient]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.readiness.update({"postgresql": postgresql.check, "kafka": kafka.check})
        app.state.degradable.add("kafka")
        yield

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    settings = ServiceSettings(service_name=f"test-{random_suffix()}", log_level="WARNING")
    app = create_service_app(title="test", description="test", settings=settings, lifespan=lifespan, routers=[])
    with TestClient(app) as test_client:
        yield test_client
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_service_is_ready_when_every_dependency_answers(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_a_service_without_kafka_stays_ready_and_says_kafka_is_degraded(
    client: TestClient, kafka: FakeDependency
) -> None:
    kafka.failure = ConnectionRefusedError("broker down")

    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["degraded"]) == ("degraded", ["kafka"])
    assert body["checks"]["kafka"].startswith("failed: ConnectionRefusedError")
    assert body["checks"]["postgresql"] == "ok"


def test_a_service_without_postgresql_is_not_ready_and_asks_to_retry_later(
    client: TestClient, postgresql: FakeDependency, kafka: FakeDependency
) -> None:
    postgresql.failure = ConnectionRefusedError("database down")
    kafka.failure = ConnectionRefusedError("broker down")

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["checks"]["postgresql"].startswith("failed:")
