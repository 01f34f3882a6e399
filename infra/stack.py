"""The whole development infrastructure at once: Kafka, PostgreSQL, topics and schemas.

Contract:

* :func:`up` starts (or reuses) the broker and the cluster, creates the missing topics of
  ``infra/topics.yaml`` and one schema per service (:data:`SERVICE_SCHEMAS`), and returns
  where they listen. Calling it while everything runs is harmless and quick.
* :func:`down` stops both; :func:`status` reports without changing anything;
  :func:`env` gives the environment variables services read to find them.
* Synchronous; from async code call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from infra import kafka, postgres, state
from infra.topics import ensure_topics

SERVICE_SCHEMAS = ["intake", "routing", "postal", "notify", "audit"]


@dataclass(frozen=True)
class InfraInfo:
    kafka_bootstrap_servers: str
    database_url: str


@dataclass(frozen=True)
class InfraStatus:
    kafka: kafka.KafkaStatus
    postgres: postgres.PostgresStatus

    @property
    def healthy(self) -> bool:
        """Both run, and the broker answers."""
        return self.kafka.answering and self.postgres.running


def up(
    kafka_port: int = kafka.DEFAULT_PORT,
    kafka_controller_port: int = kafka.DEFAULT_CONTROLLER_PORT,
    postgres_port: int = postgres.DEFAULT_PORT,
    report: Callable[[str], None] = lambda step: None,
) -> InfraInfo:
    """Start everything and return where it listens; ``report`` hears each step's name."""
    kafka.ensure_jars()
    report("Starting PostgreSQL…")
    database = postgres.up(postgres_port)
    for schema in SERVICE_SCHEMAS:
        postgres.create_schema(database.database_url, schema)
    report("Starting Kafka…")
    broker = kafka.up(kafka_port, kafka_controller_port)
    report("Creating topics…")
    asyncio.run(ensure_topics(broker.bootstrap_servers))
    return InfraInfo(broker.bootstrap_servers, database.database_url)


def down() -> dict[str, bool]:
    """Stop Kafka and PostgreSQL; maps each to whether it was running."""
    return {"kafka": kafka.down(), "postgres": postgres.down()}


def status() -> InfraStatus:
    return InfraStatus(kafka.status(), postgres.status())


def env() -> dict[str, str]:
    """``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` of the running (or default) infrastructure."""
    recorded = state.read_info().get("kafka", {})
    bootstrap = recorded.get("bootstrap_servers", f"127.0.0.1:{kafka.DEFAULT_PORT}")
    return {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": postgres.database_url()}
