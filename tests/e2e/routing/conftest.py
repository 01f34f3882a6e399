"""Routing's end-to-end tests share one intake + routing deployment (see tests/e2e/conftest.py).

``http`` here is a plain client (the tests address both services by full URL) and ``tokens``
are the deployment's parties' tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


@pytest.fixture
def tokens(system_tokens: dict[str, str]) -> dict[str, str]:
    return system_tokens
