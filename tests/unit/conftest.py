"""Fixtures the unit tests share (no broker, no database)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from intake.application import IntakeApplication
from services.eventstore import EventStore
from tests.random_refs import random_suffix
from tests.support.builders import CountingCodes


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """An app's lifespan configures the root logger; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
async def intake_store() -> AsyncIterator[EventStore[IntakeApplication]]:
    """Intake's application on the in-memory event store, opened for one test."""
    store = EventStore(lambda: IntakeApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), workers=2,
                       name=f"intake-{random_suffix()}")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def codes() -> CountingCodes:
    return CountingCodes()
