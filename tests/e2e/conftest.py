"""Session deployments for end-to-end tests: intake alone, and intake with routing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.deployments import SYSTEM_START, deploy_intake, deploy_system
from tests.support.endpoints import Endpoints
from tests.support.intake import PARTIES, IntakeDeployment


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


@pytest.fixture(scope="session")
async def system(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """Intake and routing for the routing tests (the clock starts Monday 7 July 2025, 09:00)."""
    async with deploy_system(endpoints, tmp_path_factory.mktemp("system"), SYSTEM_START) as deployed:
        yield deployed


@pytest.fixture(scope="session")
def system_tokens(system: Any) -> dict[str, str]:
    return system.tokens()
