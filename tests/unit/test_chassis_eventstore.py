"""The tracking application and the event store's threads, on in-memory persistence."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest
from eventsourcing.persistence import IntegrityError, ProcessRecorder, Tracking
from eventsourcing.utils import Environment

from intake.application import IntakeApplication
from services.eventstore import EventStore, ResilientPostgresFactory
from services.settings import ServiceSettings
from tests.random_refs import random_suffix
from tests.support.builders import a_dossier

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def a_topic_partition() -> str:
    return f"test.{random_suffix()}.dossier-status:0"


@pytest.fixture
def app() -> IntakeApplication:
    return IntakeApplication(env=IN_MEMORY)


def test_the_in_memory_recorder_is_a_process_recorder(app: IntakeApplication) -> None:
    assert isinstance(app.process_recorder, ProcessRecorder)


def test_no_position_is_recorded_before_the_first_message(app: IntakeApplication) -> None:
    assert app.position(a_topic_partition()) is None


def test_saving_with_a_position_stores_the_events_and_the_position(app: IntakeApplication) -> None:
    name, dossier = a_topic_partition(), a_dossier()

    app.save_tracked(Tracking(name, 7), dossier)

    assert app.position(name) == 7
    assert app.dossier(dossier.code).code == dossier.code


def test_saving_at_offset_zero_records_position_zero(app: IntakeApplication) -> None:
    name = a_topic_partition()

    app.save_tracked(Tracking(name, 0), a_dossier())

    assert app.position(name) == 0


def test_a_position_already_recorded_is_refused_and_its_events_are_not_stored(app: IntakeApplication) -> None:
    name = a_topic_partition()
    app.save_tracked(Tracking(name, 7), a_dossier())
    late = a_dossier()

    with pytest.raises(IntegrityError):
        app.save_tracked(Tracking(name, 7), late)

    assert app.position(name) == 7
    assert late.id not in app.repository


def test_positions_are_kept_per_name(app: IntakeApplication) -> None:
    first, second = a_topic_partition(), a_topic_partition()

    app.save_tracked(Tracking(first, 3))
    app.save_tracked(Tracking(second, 11))

    assert (app.position(first), app.position(second)) == (3, 11)


async def test_the_event_store_runs_the_application_on_its_own_threads() -> None:
    name = f"store-{random_suffix()}"
    store = EventStore(lambda: IntakeApplication(env=IN_MEMORY), workers=2, name=name)
    app = await store.open()
    dossier = a_dossier()
    try:
        await store.call(app.submit, dossier, None)
        loaded = await store.call(app.dossier, dossier.code)
        thread_name = await store.call(lambda: threading.current_thread().name)
        await store.ready()
    finally:
        await store.close()

    assert loaded.code == dossier.code
    assert thread_name.startswith(name)


def test_the_postgres_factory_waits_briefly_for_a_connection_and_checks_each_before_use() -> None:
    env = ServiceSettings(database_url="postgresql://svc:pw@127.0.0.1:1/db", database_pool_size=3,
                          database_connect_timeout_seconds=5.0).eventsourcing_env()

    factory = ResilientPostgresFactory(Environment(env=env))  # nothing connects until first use

    pool = factory.datastore.pool
    assert (pool.min_size, pool.max_size) == (3, 3)
    assert pool.timeout == 0.5  # x 10 attempts of the library: a call fails after about 5 s
    assert pool.reconnect_timeout == 10.0
    assert pool.kwargs["connect_timeout"] == 3
    assert factory.datastore.pre_ping is True
    factory.close()


class FakePooledApplication:
    """An application whose recorder holds a pool of two connections."""

    def __init__(self) -> None:
        self.recorder = SimpleNamespace(datastore=SimpleNamespace(pool=SimpleNamespace(max_size=2)))

    def close(self) -> None:
        return None


async def test_no_more_calls_run_at_once_than_the_store_has_connections() -> None:
    running, most = 0, 0
    lock = threading.Lock()
    gate = threading.Event()

    def work() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        gate.wait(0.05)
        with lock:
            running -= 1

    store = EventStore(FakePooledApplication, workers=8, name=f"slots-{random_suffix()}")
    await store.open()
    try:
        await asyncio.gather(*(store.call(work) for _ in range(10)))
    finally:
        await store.close()

    assert store.workers == 2
    assert most == 2
