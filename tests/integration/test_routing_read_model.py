"""Routing's read model on the real PostgreSQL (routing/readmodel.py): the recorder writes the
inbox's step rows and the unroutable dossiers' rows in the transaction that stores the events and
the consumed position — all or nothing — and the inbox queries filter, order and page those rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from routing.application import RoutingApplication
from routing.domain import RoutedDossier
from routing.readmodel import COLUMNS, InboxQueries
from routing.settings import RoutingSettings
from services.eventstore import EventStore, TrackingApplication
from services.runtime import open_event_store
from services.settings import ServiceSettings
from shared_events.contracts.values import TERMINAL_STATUSES
from tests.random_refs import random_agency_id, random_suffix
from tests.support.builders import (
    CIVIL_STATUS,
    LOCALITY,
    POLICE,
    SOCIAL_INSURANCE,
    a_routed_code,
    a_routed_dossier,
    vn,
)
from tests.support.endpoints import Endpoints

pytestmark = pytest.mark.integration
RECEIVED = vn(7, 7, 9)
NOW = vn(7, 8, 10)
HORIZON = NOW + timedelta(hours=2)


class RoutingRecords(TrackingApplication):
    """A tracking application whose recorder is routing's (events, position and read-model rows)."""

    name = "RoutingReadModelTest"


@dataclass
class ReadModel:
    app: RoutingRecords
    queries: InboxQueries
    pool: asyncpg.Pool
    schema: str

    async def record(self, *rows: dict[str, Any], unroutable: list[dict[str, Any]] | None = None,
                     dossier: RoutedDossier | None = None, position: Tracking | None = None) -> RoutedDossier:
        """Save a dossier's new events (a fresh dossier unless given) with ``rows``, as routing saves."""
        dossier = dossier or a_routed_dossier("2.000635", RECEIVED)
        await asyncio.to_thread(self.app.save_tracked, position, dossier, inbox_rows=list(rows),
                                unroutable_rows=unroutable or [])
        return dossier

    async def steps(self, code: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(f'SELECT * FROM "{self.schema}".inbox_steps WHERE dossier_code = $1 '
                                     "ORDER BY step_key", code)
        return [dict(r) for r in rows]

    async def events_of(self, dossier: RoutedDossier) -> list[Any]:
        return await asyncio.to_thread(lambda: list(self.app.events.get(dossier.id)))

    async def inbox(self, agency_id: str, *, states: list[str] | None = None, due_before: datetime | None = None,
                    overdue_only: bool = False, limit: int = 100, offset: int = 0) -> list[tuple[str, str]]:
        rows = await self.queries.for_agency(agency_id, states=states, due_before=due_before,
                                             overdue_only=overdue_only, limit=limit, offset=offset)
        return [(r["dossier_code"], r["step_key"]) for r in rows]


@pytest.fixture
async def read_model(endpoints: Endpoints, schema: str) -> AsyncIterator[ReadModel]:
    settings = ServiceSettings(database_url=endpoints.database_url, database_schema=schema)
    env = {**settings.eventsourcing_env(pool_size=2), "PROCESS_RECORDER_TOPIC": "routing.readmodel:RoutingRecorder"}
    store: EventStore[RoutingRecords] = EventStore(lambda: RoutingRecords(env=env))
    await open_event_store(settings, store)
    pool = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=2)
    try:
        assert store.app is not None
        yield ReadModel(store.app, InboxQueries(pool, schema), pool, schema)
    finally:
        await pool.close()
        await store.close()


def a_step_row(code: str, **overrides: Any) -> dict[str, Any]:
    """An open, unflagged step of ``code`` for a random agency, due on Monday 17:30."""
    row: dict[str, Any] = {
        "dossier_code": code, "step_key": f"step_{random_suffix()}", "step_name": "Cấp bản sao trích lục",
        "agency_id": random_agency_id(), "integration": "rest", "procedure_code": "2.000635", "state": "open",
        "opening": 1, "opened_at": RECEIVED, "due_at": vn(7, 7, 17, 30), "completed_at": None, "timeliness": None,
        "due_soon_raised": False, "overdue_raised": False, "national_status": 4,
        "appointment_at": vn(7, 7, 17, 30), "dossier_version": 2, "calendar_revision": 0,
    }
    row.update(overrides)
    assert set(row) == set(COLUMNS)
    return row


def an_unroutable_row(dossier: RoutedDossier, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "dossier_code": dossier.code, "receiving_agency_id": dossier.receiving_agency_id,
        "procedure_code": dossier.procedure_code, "locality_code": "99999", "received_at": RECEIVED,
        "reason": "UnknownUnitError: 99999", "detected_at": RECEIVED, "national_status": 2, "routed": False,
    }
    row.update(overrides)
    return row


def a_position(offset: int) -> Tracking:
    return Tracking(f"intake-events-{random_suffix()}:0", offset)


# --- the recorder: rows, events and position in one transaction ---------------------------------


async def test_step_rows_are_stored_with_the_events_and_the_position_that_caused_them(
        read_model: ReadModel) -> None:
    dossier = a_routed_dossier("2.000635", RECEIVED)
    row = a_step_row(dossier.code)
    position = a_position(41)

    await read_model.record(row, dossier=dossier, position=position)

    assert await read_model.steps(dossier.code) == [row]
    assert [type(e).__name__ for e in await read_model.events_of(dossier)] == ["Received"]
    assert await asyncio.to_thread(read_model.app.position, position.application_name) == 41


async def test_a_position_recorded_before_stores_neither_the_events_nor_the_rows_saved_with_it(
        read_model: ReadModel) -> None:
    position = a_position(7)
    await read_model.record(position=position)
    repeat = a_routed_dossier("2.000635", RECEIVED)

    with pytest.raises(IntegrityError):
        await read_model.record(a_step_row(repeat.code), unroutable=[an_unroutable_row(repeat)], dossier=repeat,
                                position=position)

    assert await read_model.steps(repeat.code) == []
    assert repeat.code not in {r["dossier_code"] for r in await read_model.queries.unroutable(
        receiving_agency_id=None, limit=500, offset=0)}
    assert await read_model.events_of(repeat) == []


async def test_events_refused_for_a_version_conflict_leave_the_rows_as_they_were(read_model: ReadModel) -> None:
    dossier = a_routed_dossier("2.000635", RECEIVED)
    row = a_step_row(dossier.code)
    await read_model.record(row, dossier=dossier)
    stale = await asyncio.to_thread(read_model.app.repository.get, dossier.id)
    fresh = await asyncio.to_thread(read_model.app.repository.get, dossier.id)
    fresh.withdraw("Công dân rút hồ sơ", NOW)
    await read_model.record({**row, "state": "closed", "national_status": 7}, dossier=fresh)
    stale.withdraw("Công dân rút hồ sơ", NOW)

    with pytest.raises(IntegrityError):
        await read_model.record({**row, "state": "done"}, dossier=stale, position=a_position(3))

    assert [(r["state"], r["national_status"]) for r in await read_model.steps(dossier.code)] == [("closed", 7)]


async def test_a_step_row_saved_again_is_updated_in_place(read_model: ReadModel) -> None:
    dossier = await read_model.record()
    row = a_step_row(dossier.code)
    await read_model.record(row)

    await read_model.record({**row, "state": "claimed", "opening": 2, "due_at": vn(7, 9, 9)})

    [stored] = await read_model.steps(dossier.code)
    assert (stored["state"], stored["opening"], stored["due_at"]) == ("claimed", 2, vn(7, 9, 9))


async def test_an_unroutable_dossier_is_listed_until_it_is_routed(read_model: ReadModel) -> None:
    dossier = a_routed_dossier("2.000635", RECEIVED)
    await read_model.record(unroutable=[an_unroutable_row(dossier)], dossier=dossier)
    listed = await read_model.queries.unroutable(receiving_agency_id=None, limit=500, offset=0)

    await read_model.record(unroutable=[an_unroutable_row(dossier, routed=True)])

    assert [(r["dossier_code"], r["reason"]) for r in listed] == [(dossier.code, "UnknownUnitError: 99999")]
    assert await read_model.queries.unroutable(receiving_agency_id=None, limit=500, offset=0) == []


async def test_a_dossier_routing_starts_has_a_row_per_step_of_its_route_in_the_agencies_inboxes(
        endpoints: Endpoints, schema: str) -> None:
    settings = RoutingSettings(database_url=endpoints.database_url, database_schema=schema)
    store: EventStore[RoutingApplication] = EventStore(
        lambda: RoutingApplication(env=settings.eventsourcing_env(pool_size=2)))
    await open_event_store(settings, store)
    pool = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=2)
    try:
        assert store.app is not None
        code = a_routed_code()
        await store.call(receive_birth_registration, store.app, code)

        rows = await pool.fetch(f'SELECT step_key, agency_id, state, due_at FROM "{schema}".inbox_steps '
                                "WHERE dossier_code = $1 ORDER BY step_key", code)
        inbox = await InboxQueries(pool, schema).for_agency(CIVIL_STATUS, states=["open"], due_before=None,
                                                            overdue_only=False, limit=100, offset=0)
    finally:
        await pool.close()
        await store.close()

    assert {(r["step_key"], r["agency_id"], r["state"]) for r in rows} == {
        ("birth_registration", CIVIL_STATUS, "open"), ("residence_registration", POLICE, "pending"),
        ("health_insurance_card", SOCIAL_INSURANCE, "pending")}
    assert [(r["dossier_code"], r["step_key"], r["due_at"]) for r in inbox] == [
        (code, "birth_registration", vn(7, 8, 9))]


def receive_birth_registration(app: RoutingApplication, code: str) -> None:
    """Routing receives a birth registration the desk accepted on Monday 09:00, and saves it."""
    dossier = app.receive(code=code, procedure_code="1.001193", locality_code=LOCALITY,
                          receiving_agency_id=random_agency_id(), channel="desk", result_delivery_method="desk",
                          options=[], received_at=RECEIVED, national_status=2)
    assert dossier is not None
    app.save_dossier(dossier)


# --- the inbox queries --------------------------------------------------------------------------


async def test_an_agencys_inbox_holds_only_its_steps_soonest_due_first_and_undated_ones_last(
        read_model: ReadModel) -> None:
    agency = random_agency_id()
    paused, later, sooner, other = a_routed_code(), a_routed_code(), a_routed_code(), a_routed_code()
    await read_model.record(
        a_step_row(paused, agency_id=agency, step_key="pay", due_at=None),
        a_step_row(later, agency_id=agency, step_key="check", due_at=vn(7, 9, 9)),
        a_step_row(sooner, agency_id=agency, step_key="check", due_at=vn(7, 8, 9)),
        a_step_row(other, step_key="check", due_at=vn(7, 7, 10)))

    inbox = await read_model.inbox(agency)

    assert inbox == [(sooner, "check"), (later, "check"), (paused, "pay")]


async def test_steps_due_at_the_same_instant_are_listed_by_dossier_code(read_model: ReadModel) -> None:
    agency = random_agency_id()
    codes = sorted(a_routed_code() for _ in range(3))
    await read_model.record(*[a_step_row(code, agency_id=agency, step_key="check") for code in reversed(codes)])

    assert [code for code, _ in await read_model.inbox(agency)] == codes


async def test_the_inbox_keeps_only_the_states_asked_for(read_model: ReadModel) -> None:
    agency = random_agency_id()
    rows = {state: a_step_row(a_routed_code(), agency_id=agency, state=state) for state in ("open", "claimed", "done")}
    await read_model.record(*rows.values())

    active = await read_model.inbox(agency, states=["open", "claimed"])
    every = await read_model.inbox(agency)

    assert {code for code, _ in active} == {rows["open"]["dossier_code"], rows["claimed"]["dossier_code"]}
    assert len(every) == 3


async def test_the_inbox_keeps_only_steps_due_by_the_instant_asked_for_and_leaves_undated_ones_out(
        read_model: ReadModel) -> None:
    agency = random_agency_id()
    on_time, after, undated = a_routed_code(), a_routed_code(), a_routed_code()
    await read_model.record(a_step_row(on_time, agency_id=agency, due_at=NOW),
                            a_step_row(after, agency_id=agency, due_at=NOW + timedelta(seconds=1)),
                            a_step_row(undated, agency_id=agency, due_at=None))

    assert [code for code, _ in await read_model.inbox(agency, due_before=NOW)] == [on_time]


async def test_the_overdue_inbox_keeps_only_steps_flagged_overdue(read_model: ReadModel) -> None:
    agency = random_agency_id()
    late, soon = a_routed_code(), a_routed_code()
    await read_model.record(a_step_row(late, agency_id=agency, overdue_raised=True),
                            a_step_row(soon, agency_id=agency, due_soon_raised=True),
                            a_step_row(a_routed_code(), agency_id=agency))

    assert [code for code, _ in await read_model.inbox(agency, overdue_only=True)] == [late]


async def test_the_inbox_is_read_page_by_page_in_one_order(read_model: ReadModel) -> None:
    agency = random_agency_id()
    await read_model.record(*[a_step_row(a_routed_code(), agency_id=agency, due_at=RECEIVED + timedelta(minutes=n))
                              for n in range(7)])

    pages = [await read_model.inbox(agency, limit=3, offset=offset) for offset in (0, 3, 6, 9)]

    assert [len(page) for page in pages] == [3, 3, 1, 0]
    assert [step for page in pages for step in page] == await read_model.inbox(agency, limit=7)


async def test_unroutable_lists_the_open_unrouted_dossiers_oldest_first(read_model: ReadModel) -> None:
    oldest, newer, routed, closed = (a_routed_dossier("2.000635", RECEIVED) for _ in range(4))
    for dossier, overrides in [(newer, {"detected_at": vn(7, 7, 11)}), (oldest, {"detected_at": vn(7, 7, 10)}),
                               (routed, {"routed": True}), (closed, {"national_status": sorted(TERMINAL_STATUSES)[0]})]:
        await read_model.record(unroutable=[an_unroutable_row(dossier, **overrides)], dossier=dossier)

    listed = await read_model.queries.unroutable(receiving_agency_id=None, limit=500, offset=0)

    assert [r["dossier_code"] for r in listed] == [oldest.code, newer.code]


async def test_a_desk_sees_only_the_unroutable_dossiers_its_agency_received(read_model: ReadModel) -> None:
    desk, other = random_agency_id(), random_agency_id()
    ours = a_routed_dossier("2.000635", RECEIVED)
    theirs = a_routed_dossier("2.000635", RECEIVED)
    await read_model.record(unroutable=[an_unroutable_row(ours, receiving_agency_id=desk)], dossier=ours)
    await read_model.record(unroutable=[an_unroutable_row(theirs, receiving_agency_id=other)], dossier=theirs)

    listed = await read_model.queries.unroutable(receiving_agency_id=desk, limit=500, offset=0)

    assert [r["dossier_code"] for r in listed] == [ours.code]


@pytest.mark.parametrize(("case", "step", "checked"), [
    ("overdue, not flagged", {"due_at": NOW}, True),
    ("claimed and overdue, not flagged", {"state": "claimed", "due_at": NOW - timedelta(hours=1)}, True),
    ("overdue, flagged overdue", {"due_at": NOW, "overdue_raised": True}, False),
    ("overdue, flagged due soon only", {"due_at": NOW, "due_soon_raised": True}, True),
    ("due within the horizon, not flagged", {"due_at": HORIZON}, True),
    ("due within the horizon, flagged due soon", {"due_at": HORIZON, "due_soon_raised": True}, False),
    ("due after the horizon", {"due_at": HORIZON + timedelta(seconds=1)}, False),
    ("done, overdue", {"state": "done", "due_at": NOW - timedelta(hours=1)}, False),
    ("paused: no due time", {"due_at": None}, False),
])
async def test_a_dossier_needs_a_deadline_check_when_an_active_step_is_overdue_or_due_soon_and_not_flagged_so(
        read_model: ReadModel, case: str, step: dict[str, Any], checked: bool) -> None:
    code = a_routed_code()
    await read_model.record(a_step_row(code, **step))

    assert (code in await read_model.queries.needing_deadline_check(NOW, HORIZON)) is checked, case


async def test_a_dossier_with_several_steps_to_check_is_listed_once(read_model: ReadModel) -> None:
    code = a_routed_code()
    await read_model.record(a_step_row(code, due_at=NOW), a_step_row(code, due_at=HORIZON))

    assert (await read_model.queries.needing_deadline_check(NOW, HORIZON)).count(code) == 1


async def test_the_deadline_check_list_is_bounded(read_model: ReadModel) -> None:
    await read_model.record(*[a_step_row(a_routed_code(), due_at=NOW) for _ in range(5)])

    assert len(await read_model.queries.needing_deadline_check(NOW, HORIZON, limit=3)) == 3
