"""Postal's end-to-end tests share one deployment of intake, routing, postal and the carrier simulator,
all real processes on the real broker and database; each test owns the clock while it runs
(:class:`tests.support.system.OwnClock`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.carrier_sim import CarrierAdmin
from tests.support.deployments import SYSTEM_START, deploy_system
from tests.support.endpoints import Endpoints
from tests.support.system import OwnClock, SystemDeployment


@pytest.fixture(scope="package")
async def by_post(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SystemDeployment]:
    async with deploy_system(endpoints, tmp_path_factory.mktemp("postal"), SYSTEM_START, postal=True) as deployed:
        yield deployed


@pytest.fixture(scope="package")
def tokens(by_post: SystemDeployment) -> dict[str, str]:
    return by_post.tokens()


@pytest.fixture
async def carrier(by_post: SystemDeployment) -> AsyncIterator[CarrierAdmin]:
    """The deployment's carrier simulator, behaving well when the test starts and after it ends."""
    admin = CarrierAdmin(by_post.carrier_url)
    await admin.reset()
    yield admin
    await admin.reset()


@pytest.fixture
def clock(by_post: SystemDeployment) -> OwnClock:
    return OwnClock(by_post, SYSTEM_START)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client
