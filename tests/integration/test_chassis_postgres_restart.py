"""The event store lives through a restart of PostgreSQL: a call fails (as an outage) instead of
hanging while the database is down, works again once it is back, and a process starting while
the database is not there yet waits for it.  On a PostgreSQL cluster of the test's own."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest

from services.eventstore import EventStore
from services.failures import is_infrastructure_error
from services.runtime import open_event_store
from services.settings import ServiceSettings
from tests.random_refs import random_suffix
from tests.support.kafka import eventually
from tests.support.private_infra import PrivateInfra
from tests.support.receipts import Receipt, ReceiptBook

pytestmark = pytest.mark.integration

GUARD_SECONDS = 60.0
"""Only to end the test if a call hangs for good; not a timing requirement."""


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivateInfra]:
    infra = PrivateInfra(Path(tempfile.mkdtemp(prefix="lienthong-pg-restart-")))
    try:
        infra.start_postgres()
        yield infra
    finally:
        infra.stop()


async def _failure_of(call: Awaitable[object]) -> BaseException | None:
    """What ``call`` raised; the test fails if it still hangs after the guard time."""
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=GUARD_SECONDS)
    if not done:
        task.cancel()
        pytest.fail(f"the call still hung after {GUARD_SECONDS}s")
    return task.exception()


async def _answer(store: EventStore[ReceiptBook], receipt: Receipt) -> Receipt | None:
    """The stored receipt, or None while the store still reports the outage."""
    try:
        return await store.call(store.app.repository.get, receipt.id)
    except Exception as exc:
        if not is_infrastructure_error(exc):
            raise
        return None


def a_store(settings: ServiceSettings) -> EventStore[ReceiptBook]:
    env = settings.eventsourcing_env()
    return EventStore(lambda: ReceiptBook(env=env), workers=settings.database_pool_size,
                      name=f"pg-restart-{random_suffix()}")


async def test_a_call_during_an_outage_fails_as_an_outage_and_works_again_once_the_database_is_back(
    private_postgres: PrivateInfra,
) -> None:
    settings = ServiceSettings(database_url=private_postgres.database_url, database_schema=f"restart_{random_suffix()}",
                               database_connect_timeout_seconds=2.0)
    store = a_store(settings)
    await open_event_store(settings, store)
    try:
        receipt = Receipt(event_id=random_suffix())
        await store.call(store.app.save, receipt)

        private_postgres.stop_postgres_immediately()
        started = time.monotonic()
        failure = await _failure_of(store.call(store.app.repository.get, receipt.id))
        # The pool's stale connections are gone now: a call waits for a new one, which never comes.
        later = await _failure_of(store.call(store.app.repository.get, receipt.id))
        took = time.monotonic() - started
        private_postgres.start_postgres()

        assert is_infrastructure_error(failure), repr(failure)
        assert is_infrastructure_error(later), repr(later)
        back = time.monotonic()
        again = await eventually(lambda: _answer(store, receipt), timeout=GUARD_SECONDS)
        print(f"two calls with PostgreSQL down failed after {took:.1f}s; "
              f"calls worked {time.monotonic() - back:.1f}s after it was back")  # measured for the record
        assert again.event_id == receipt.event_id
    finally:
        await store.close()


async def test_a_process_starting_while_the_database_is_down_waits_for_it(private_postgres: PrivateInfra) -> None:
    settings = ServiceSettings(database_url=private_postgres.database_url, database_schema=f"restart_{random_suffix()}",
                               database_connect_timeout_seconds=2.0)
    store = a_store(settings)
    private_postgres.stop_postgres_immediately()
    try:
        opening = asyncio.create_task(open_event_store(settings, store))
        await asyncio.sleep(0)  # let it meet the outage first
        private_postgres.start_postgres()
        await asyncio.wait_for(opening, timeout=GUARD_SECONDS)

        assert await store.call(store.app.recorder.max_notification_id) is None
    finally:
        await store.close()
