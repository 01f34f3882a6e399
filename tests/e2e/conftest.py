"""Deployments for end-to-end tests: intake alone and intake with routing, shared by the session;
a deployment of a test's own (``own_system``); and each test's own clock on its deployment
(``clock``, see tests/support/system.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.deployments import SYSTEM_START, deploy_intake, deploy_system
from tests.support.endpoints import Endpoints
from tests.support.intake import PARTIES, IntakeDeployment
from tests.support.system import OwnClock, SystemDeployment


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


@pytest.fixture
async def own_system(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory,
                     request: pytest.FixtureRequest) -> AsyncIterator[SystemDeployment]:
    """Intake and routing for this test alone (a start costs seconds): for tests that change what a
    deployment shares beyond time, such as the working calendar, or stop its processes."""
    async with deploy_system(endpoints, tmp_path_factory.mktemp("own-system"), clock_start(request)) as deployed:
        yield deployed


def clock_start(request: pytest.FixtureRequest) -> datetime:
    """The instant of the test's ``clock_starts_at`` marker, else the routing tests' usual start."""
    marker = request.node.get_closest_marker("clock_starts_at")
    return marker.args[0] if marker is not None else SYSTEM_START


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> OwnClock:
    """This test's clock on its deployment (``own_system`` if it has one, else ``system``), set to the
    test's first instant before the test runs."""
    deployment = request.getfixturevalue("own_system" if "own_system" in request.fixturenames else "system")
    return OwnClock(deployment, clock_start(request))


@pytest.fixture(autouse=True)
def _every_test_on_a_system_owns_its_clock(request: pytest.FixtureRequest) -> None:
    """A test using ``system`` or ``own_system`` starts from its own instant even when it does not
    ask for ``clock``: the instant the previous test left never leaks into the next."""
    if {"system", "own_system"} & set(request.fixturenames):
        request.getfixturevalue("clock")
