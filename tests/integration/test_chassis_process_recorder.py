"""What the event store's process recorder (eventsourcing's PostgresProcessRecorder, behind
services/eventstore.py's TrackingApplication) does for the consumers, on the real PostgreSQL: a
consumed position is recorded in the transaction that stores the events it caused, once; a position
recorded before, or behind the last one, is refused with its events; events refused for a version
conflict leave the position unrecorded; and of two processes applying one position, one wins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Tracking

from services.eventstore import EventStore
from services.runtime import open_event_store
from services.settings import ServiceSettings
from tests.random_refs import random_suffix
from tests.support.endpoints import Endpoints
from tests.support.receipts import Receipt, ReceiptBook

pytestmark = pytest.mark.integration


@asynccontextmanager
async def book_on(endpoints: Endpoints, schema: str) -> AsyncIterator[ReceiptBook]:
    """A tracking application on ``schema``, opened as a service's process opens its store (the
    schema and tables are created when missing), and closed after."""
    settings = ServiceSettings(database_url=endpoints.database_url, database_schema=schema)
    store: EventStore[ReceiptBook] = EventStore(lambda: ReceiptBook(env=settings.eventsourcing_env(pool_size=2)))
    await open_event_store(settings, store)
    try:
        assert store.app is not None
        yield store.app
    finally:
        await store.close()


@pytest.fixture
async def book(endpoints: Endpoints, schema: str) -> AsyncIterator[ReceiptBook]:
    async with book_on(endpoints, schema) as app:
        yield app


def a_position(offset: int) -> Tracking:
    """The position ``offset`` of a partition no other test consumes."""
    return Tracking(f"topic-{random_suffix()}:0", offset)


def a_receipt() -> Receipt:
    return Receipt(event_id=f"event-{random_suffix()}")


def stored(app: ReceiptBook, receipt: Receipt) -> bool:
    try:
        app.repository.get(receipt.id)
    except AggregateNotFoundError:
        return False
    return True


async def test_a_consumed_position_is_recorded_with_the_events_it_caused(book: ReceiptBook) -> None:
    position, receipt = a_position(7), a_receipt()

    await asyncio.to_thread(book.save_tracked, position, receipt)

    assert await asyncio.to_thread(book.position, position.application_name) == 7
    assert await asyncio.to_thread(stored, book, receipt)


async def test_a_position_recorded_before_is_refused_and_the_events_saved_with_it_are_not_stored(
        book: ReceiptBook) -> None:
    position, first, second = a_position(7), a_receipt(), a_receipt()
    await asyncio.to_thread(book.save_tracked, position, first)

    with pytest.raises(IntegrityError):
        await asyncio.to_thread(book.save_tracked, position, second)

    assert not await asyncio.to_thread(stored, book, second)
    assert await asyncio.to_thread(book.position, position.application_name) == 7


async def test_a_position_behind_the_last_one_recorded_is_refused_too(book: ReceiptBook) -> None:
    ahead = a_position(7)
    behind, receipt = Tracking(ahead.application_name, 3), a_receipt()
    await asyncio.to_thread(book.save_tracked, ahead, a_receipt())

    with pytest.raises(IntegrityError):
        await asyncio.to_thread(book.save_tracked, behind, receipt)

    assert not await asyncio.to_thread(stored, book, receipt)
    assert await asyncio.to_thread(book.position, ahead.application_name) == 7


async def test_events_refused_for_a_version_conflict_leave_their_position_unrecorded(book: ReceiptBook) -> None:
    receipt = a_receipt()
    await asyncio.to_thread(book.save_tracked, None, receipt)
    stale = await asyncio.to_thread(book.repository.get, receipt.id)
    fresh = await asyncio.to_thread(book.repository.get, receipt.id)
    fresh.trigger_event(Receipt.Event)
    await asyncio.to_thread(book.save_tracked, None, fresh)
    stale.trigger_event(Receipt.Event)
    position = a_position(1)

    with pytest.raises(IntegrityError):
        await asyncio.to_thread(book.save_tracked, position, stale)

    assert await asyncio.to_thread(book.position, position.application_name) is None
    assert (await asyncio.to_thread(book.repository.get, receipt.id)).version == fresh.version


async def test_positions_are_kept_apart_per_partition(book: ReceiptBook) -> None:
    topic = f"topic-{random_suffix()}"

    await asyncio.to_thread(book.save_tracked, Tracking(f"{topic}:0", 40), a_receipt())
    await asyncio.to_thread(book.save_tracked, Tracking(f"{topic}:1", 2), a_receipt())

    assert [await asyncio.to_thread(book.position, f"{topic}:{p}") for p in (0, 1, 2)] == [40, 2, None]


async def test_a_position_recorded_alone_as_a_dead_letter_is_recorded_once(book: ReceiptBook) -> None:
    position = a_position(5)
    recorder = book.process_recorder
    await asyncio.to_thread(recorder.insert_tracking, position)

    with pytest.raises(IntegrityError):
        await asyncio.to_thread(recorder.insert_tracking, position)

    assert await asyncio.to_thread(recorder.has_tracking_id, position.application_name, 5)
    assert await asyncio.to_thread(book.position, position.application_name) == 5


async def test_of_two_processes_applying_one_position_at_once_exactly_one_stores_its_events(
        endpoints: Endpoints, schema: str) -> None:
    async with book_on(endpoints, schema) as first, book_on(endpoints, schema) as second:
        for offset in range(20):
            position = a_position(offset)
            receipts = a_receipt(), a_receipt()

            outcomes = await asyncio.gather(
                asyncio.to_thread(first.save_tracked, position, receipts[0]),
                asyncio.to_thread(second.save_tracked, position, receipts[1]), return_exceptions=True)

            assert sorted(type(o).__name__ for o in outcomes) == ["IntegrityError", "list"], outcomes
            kept = [await asyncio.to_thread(stored, first, r) for r in receipts]
            assert kept == [not isinstance(o, Exception) for o in outcomes]
