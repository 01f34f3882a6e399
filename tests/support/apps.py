"""Building the chassis's app in unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI


@asynccontextmanager
async def no_resources(app: FastAPI) -> AsyncIterator[None]:
    """A service lifespan that opens nothing."""
    yield
