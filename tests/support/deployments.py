"""Isolated deployments of the services under test, as real processes stopped by PID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from services.documents.s3 import S3Settings
from tests.support.endpoints import Endpoints
from tests.support.intake import IntakeDeployment
from tests.support.kafka import create_topics

SYSTEM_START = datetime.fromisoformat("2025-07-07T09:00:00+07:00")
"""When the routing tests' clock starts: Monday 7 July 2025, 09:00 in Vietnam."""


@asynccontextmanager
async def deploy_intake(endpoints: Endpoints, log_dir: Path) -> AsyncIterator[IntakeDeployment]:
    """A fresh intake: own schema, topics, agency, credentials, port; stopped by PID after."""
    deployment = IntakeDeployment(endpoints.kafka_bootstrap_servers, endpoints.database_url, log_dir)
    await create_topics(deployment.kafka, [deployment.events_topic, deployment.status_topic, deployment.postal_topic])
    await create_topics(deployment.kafka, [deployment.dead_letter_topic], partitions=1)
    try:
        await deployment.start(("intake", "intake-relay", "intake-consumer"))
        yield deployment
    finally:
        deployment.stop()


@asynccontextmanager
async def deploy_system(endpoints: Endpoints, log_dir: Path, start_at: datetime, *,
                        documents_s3: S3Settings | None = None, postal: bool = False,
                        carrier_settings: dict[str, str] | None = None,
                        postal_settings: dict[str, str] | None = None) -> AsyncIterator[Any]:
    """Intake and routing as real processes, sharing topics, credentials, a clock file and a document
    store (PostgreSQL, or the S3 bucket ``documents_s3`` names); with ``postal``, postal's processes and
    the carrier simulator too (``carrier_settings``: more ``POSTAL_SIM_*``, ``postal_settings``: more
    ``POSTAL_*``, without the prefix)."""
    from tests.support.system import (
        INTAKE_PROCESSES,
        POSTAL_PROCESSES,
        ROUTING_PROCESSES,
        SystemDeployment,
    )

    system = SystemDeployment(endpoints.kafka_bootstrap_servers, endpoints.database_url, log_dir,
                              documents_s3=documents_s3, carrier_settings=dict(carrier_settings or {}),
                              postal_settings=dict(postal_settings or {}))
    system.set_time(start_at)
    await create_topics(system.kafka, [system.events_topic, system.status_topic, system.routing_topic,
                                       system.postal_topic])
    await create_topics(system.kafka, [system.dead_letter_topic], partitions=1)
    # The agencies' reply topics exist before a test replies (routing-consumer also creates them).
    await create_topics(system.kafka, [system.agency_reply_topic(a) for a in system.stream_agency_ids], partitions=1)
    try:
        await system.start((*INTAKE_PROCESSES, *ROUTING_PROCESSES, *(POSTAL_PROCESSES if postal else ())))
        yield system
    finally:
        system.stop()
