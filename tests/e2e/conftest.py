"""Intake deployments of their own — API, relay and status consumer as real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support.endpoints import Endpoints
from tests.support.intake import PARTIES, IntakeDeployment, bearer  # noqa: F401 - re-exported for tests
from tests.support.kafka import create_topics


@asynccontextmanager
async def deploy_intake(endpoints: Endpoints, log_dir: Path) -> AsyncIterator[IntakeDeployment]:
    """A fresh intake: own schema, topics, agency, credentials, port; stopped by PID after."""
    deployment = IntakeDeployment(endpoints.kafka_bootstrap_servers, endpoints.database_url, log_dir)
    await create_topics(deployment.kafka, [deployment.events_topic, deployment.status_topic])
    await create_topics(deployment.kafka, [deployment.dead_letter_topic], partitions=1)
    env = deployment.env()
    deployment.processes = {name: deployment.process(name, env)
                            for name in ("intake", "intake-relay", "intake-consumer")}
    try:
        for process in deployment.processes.values():
            process.start()
        deployment.processes["intake"].wait_http_ready(deployment.base_url)
        yield deployment
    finally:
        for process in deployment.processes.values():
            process.stop()


@pytest.fixture(scope="session")
async def intake(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IntakeDeployment]:
    async with deploy_intake(endpoints, tmp_path_factory.mktemp("intake")) as deployment:
        yield deployment


@pytest.fixture
async def http(intake: IntakeDeployment) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=intake.base_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def tokens(intake: IntakeDeployment) -> dict[str, str]:
    return {party: intake.token(party) for party in PARTIES}


@asynccontextmanager
async def deploy_system(endpoints: Endpoints, log_dir: Path, start_at: datetime) -> AsyncIterator[Any]:
    """Intake and routing as real processes, sharing topics, credentials and a clock file."""
    from tests.support.system import INTAKE_PROCESSES, ROUTING_PROCESSES, SystemDeployment

    system = SystemDeployment(endpoints.kafka_bootstrap_servers, endpoints.database_url, log_dir)
    system.set_time(start_at)
    await create_topics(system.kafka, [system.events_topic, system.status_topic, system.routing_topic,
                                       system.replies_topic])
    await create_topics(system.kafka, [system.dead_letter_topic], partitions=1)
    env = system.env()
    system.processes = {name: system.process(name, env) for name in (*INTAKE_PROCESSES, *ROUTING_PROCESSES)}
    try:
        for process in system.processes.values():
            process.start()
        system.processes["intake"].wait_http_ready(system.base_url)
        system.processes["routing"].wait_http_ready(system.routing_url)
        yield system
    finally:
        for process in system.processes.values():
            process.stop()


SYSTEM_START = datetime.fromisoformat("2025-07-07T09:00:00+07:00")


@pytest.fixture(scope="session")
async def system(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """Intake and routing for the routing tests (the clock starts Monday 7 July 2025, 09:00)."""
    async with deploy_system(endpoints, tmp_path_factory.mktemp("system"), SYSTEM_START) as deployed:
        yield deployed


@pytest.fixture(scope="session")
def system_tokens(system: Any) -> dict[str, str]:
    return system.tokens()
