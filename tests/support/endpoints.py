"""Where the real Kafka broker and PostgreSQL for integration tests come from.

In order: ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` when both are set; otherwise
testcontainers when a Docker daemon answers; otherwise the project's native
infrastructure (``infra.stack``), started for the session and stopped after it when it
was not already running.  With ``CI=true`` a missing piece fails the run; elsewhere the
tests that need it are skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap_servers: str
    database_url: str
    origin: str


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextmanager
def _from_testcontainers() -> Iterator[Endpoints]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer().with_kraft() as kafka, PostgresContainer("postgres:16", driver=None) as pg:
        yield Endpoints(kafka.get_bootstrap_server(), pg.get_connection_url(), "testcontainers")


@contextmanager
def _from_native_infra() -> Iterator[Endpoints]:
    from infra import stack

    found = stack.status()
    was_running = found.kafka.running or found.postgres.running
    info = stack.up()
    try:
        yield Endpoints(info.kafka_bootstrap_servers, info.database_url, "native")
    finally:
        if not was_running:
            stack.down()


@contextmanager
def provide_endpoints() -> Iterator[Endpoints]:
    kafka, database = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if kafka and database:
        yield Endpoints(kafka, database, "environment")
        return
    source = _from_testcontainers if _docker_answers() else _from_native_infra
    try:
        manager = source()
        endpoints = manager.__enter__()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Kafka/PostgreSQL for integration tests: {exc}")
    try:
        yield endpoints
    finally:
        manager.__exit__(None, None, None)
