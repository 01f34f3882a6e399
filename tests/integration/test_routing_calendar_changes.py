"""Working-calendar changes on the real PostgreSQL: a change saved by one routing instance is in
force in another at once, and the rescheduling sweep finds every dossier whose dues were computed
under an older revision — including one saved under the old calendar after the change — and leaves
up-to-date ones alone."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta, timezone

import asyncpg
import pytest

from routing.application import RoutingApplication
from routing.calendar.changes import ChangeKind
from routing.calendar_keeping import reschedule_open_dossiers
from routing.readmodel import InboxQueries
from routing.settings import RoutingSettings
from services.clock import FixedClock
from services.eventstore import EventStore
from tests.random_refs import random_agency_id
from tests.support.endpoints import Endpoints

pytestmark = pytest.mark.integration
VN = timezone(timedelta(hours=7))
MONDAY = datetime(2027, 3, 1, 9, tzinfo=VN)


def a_code() -> str:
    return f"{random_agency_id()}-270301-{secrets.randbelow(9000) + 1000}"


@pytest.fixture
async def env(endpoints: Endpoints, schema: str) -> dict[str, str]:
    conn = await asyncpg.connect(endpoints.database_url)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()
    return RoutingSettings(database_url=endpoints.database_url, database_schema=schema).eventsourcing_env(pool_size=2)


@pytest.fixture
def instances(env: dict[str, str]) -> Iterator[tuple[RoutingApplication, RoutingApplication]]:
    first, second = RoutingApplication(env=env), RoutingApplication(env=env)
    yield first, second
    first.close()
    second.close()


@pytest.fixture
async def queries(endpoints: Endpoints, schema: str) -> AsyncIterator[InboxQueries]:
    pool = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=2)
    yield InboxQueries(pool, schema)
    await pool.close()


def received(app: RoutingApplication, at: datetime = MONDAY) -> str:
    code = a_code()
    dossier = app.receive(code=code, procedure_code="1.001193", locality_code="16690",
                          receiving_agency_id=random_agency_id(), channel="desk", result_delivery_method="desk",
                          options=[], received_at=at, national_status=2)
    assert dossier is not None
    app.save_dossier(dossier)
    return code


def due(app: RoutingApplication, code: str) -> datetime | None:
    return app.dossier(code).step("birth_registration").due_at


async def test_a_change_saved_by_one_instance_is_in_force_in_another_at_once(instances) -> None:
    first, second = instances
    assert second.calendar.is_working_day(date(2027, 3, 2))

    await asyncio.to_thread(first.change_calendar, ChangeKind.ADD_DAY_OFF, date(2027, 3, 2), "1234/QĐ-TTg",
                            "Nghỉ đột xuất", by="operator", at=MONDAY)

    assert not second.calendar.is_working_day(date(2027, 3, 2))
    assert second.calendar.revision == 1


async def test_the_sweep_moves_stale_dossiers_once_and_marks_those_the_change_does_not_touch(
        instances, env, queries) -> None:
    first, _ = instances
    near = await asyncio.to_thread(received, first)  # due Tuesday 09:00: Tuesday off moves it
    far = await asyncio.to_thread(received, first, MONDAY + timedelta(days=14))  # two weeks later: unaffected
    await asyncio.to_thread(first.change_calendar, ChangeKind.ADD_DAY_OFF, date(2027, 3, 2), "1234/QĐ-TTg",
                            "Nghỉ đột xuất", by="operator", at=MONDAY + timedelta(hours=1))
    store = EventStore(lambda: RoutingApplication(env=env), workers=2, name="calendar-test")
    await store.open()
    try:
        assert set(await queries.stale_for_calendar(1)) >= {near, far}

        moved = await reschedule_open_dossiers(store, queries, FixedClock(MONDAY + timedelta(hours=1)))

        assert moved == 1
        assert await asyncio.to_thread(due, first, near) == datetime(2027, 3, 3, 9, tzinfo=VN)
        assert await asyncio.to_thread(due, first, far) == datetime(2027, 3, 16, 9, tzinfo=VN)
        assert not {near, far} & set(await queries.stale_for_calendar(1))
        assert await reschedule_open_dossiers(store, queries, FixedClock(MONDAY + timedelta(hours=2))) == 0
        history = [type(e).__name__ for e in await asyncio.to_thread(first.history, near)]
        assert history.count("DueTimesRecomputed") == 1
    finally:
        await store.close()


async def test_a_dossier_saved_under_the_old_calendar_after_the_change_is_found_by_the_next_sweep(
        env, instances, queries) -> None:
    first, _ = instances
    stale_instance = RoutingApplication(env=env)
    try:
        code = a_code()
        # The instance loaded the old calendar before the change and saves after it.
        old_calendar = stale_instance.calendar
        await asyncio.to_thread(first.change_calendar, ChangeKind.ADD_DAY_OFF, date(2027, 3, 2), "1234/QĐ-TTg",
                                "Nghỉ đột xuất", by="operator", at=MONDAY)
        dossier = stale_instance.receive(code=code, procedure_code="1.001193", locality_code="16690",
                                         receiving_agency_id=random_agency_id(), channel="desk",
                                         result_delivery_method="desk", options=[], received_at=MONDAY,
                                         national_status=2)
        assert dossier is not None
        dossier.calendar_revision = old_calendar.revision
        stale_instance.save_dossier(dossier)

        assert code in await queries.stale_for_calendar(1)
        store = EventStore(lambda: RoutingApplication(env=env), workers=1, name="calendar-test")
        await store.open()
        try:
            await reschedule_open_dossiers(store, queries, FixedClock(MONDAY + timedelta(hours=1)))
        finally:
            await store.close()
        assert await asyncio.to_thread(due, first, code) == datetime(2027, 3, 3, 9, tzinfo=VN)
    finally:
        stale_instance.close()
