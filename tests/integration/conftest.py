"""Fixtures of the integration tests (real Kafka and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.random_refs import random_suffix
from tests.support.endpoints import Endpoints


@pytest.fixture
async def schema(endpoints: Endpoints, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A PostgreSQL schema of the test's own, dropped afterwards."""
    name = f"{request.module.__name__.rsplit('.', 1)[-1].removeprefix('test_')}_{random_suffix()}"
    yield name
    conn = await asyncpg.connect(endpoints.database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()
