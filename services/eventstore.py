"""Running the synchronous ``eventsourcing`` library from asyncio code.

``eventsourcing`` 9.5 has no asyncio API.  :class:`EventStore` owns a dedicated thread
pool and a service's application object; coroutines call the application through
:meth:`EventStore.call` so the event loop never blocks on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Generic, TypeVar

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import (
    IntegrityError,
    ProcessRecorder,
    Recording,
    Tracking,
)
from eventsourcing.postgres import PostgresFactory

from services.settings import POSTGRES_CALL_TIMEOUT

T = TypeVar("T")
A = TypeVar("A", bound="TrackingApplication")


class ConcurrentChangeError(Exception):
    """Another writer kept changing the same aggregate; the command was re-applied and gave up (409)."""


def retry_on_conflict(change: Callable[[], T], *, attempts: int = 5) -> T:
    """Run ``change`` (load → act → save) again when its save lost a version race.

    ``change`` must reload what it changes on every call, so a command that commutes with
    the concurrent one (say, parallel steps of two agencies) succeeds on a later attempt,
    and one that conflicts with it fails on re-application with its own domain error.
    After ``attempts`` lost races :class:`ConcurrentChangeError` is raised.
    """
    for _ in range(attempts):
        try:
            return change()
        except IntegrityError:
            continue
    raise ConcurrentChangeError(f"gave up after {attempts} concurrent changes")


class TrackingApplication(Application):
    """An application whose recorder also stores tracking positions.

    :meth:`save_tracked` writes new events and the consumed position in one
    transaction; the recorder refuses a position that is not beyond the last one
    recorded under the same name, so nothing is applied twice.
    """

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def save_tracked(self, tracking: Tracking | None, *objs: Any, **kwargs: Any) -> list[Recording]:
        """Save ``objs`` (and ``kwargs`` for the recorder) with the position ``tracking``."""
        processing_event: ProcessingEvent[Any] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*objs, **kwargs)
        return self._record(processing_event)

    def save_reaction(self, tracking: Tracking, objs: Sequence[Any]) -> None:
        """How a consumer saves a handler's output with the consumed position (override to add records)."""
        self.save_tracked(tracking, *objs)

    def position(self, name: str) -> int | None:
        """The last position recorded under ``name`` (``None`` if none)."""
        return self.process_recorder.max_tracking_id(name)


RECONNECT_WINDOW_CALLS = 2
"""A lost pooled connection is retried for this many call time-outs, then a new call starts afresh."""

LIBRARY_ATTEMPTS = 10
"""The library retries every recorder call on ``OperationalError`` this many times (``@retry``)."""


class ResilientPostgresFactory(PostgresFactory):
    """``eventsourcing.postgres`` with time-outs a service can live through an outage with.

    The library waits ``POSTGRES_CONNECT_TIMEOUT`` (whole seconds) for a pooled connection on
    each of its ten attempts per call: with PostgreSQL down a call hung 16–50 s.  Given
    :data:`~services.settings.POSTGRES_CALL_TIMEOUT` (seconds, a float), this factory waits a
    tenth of it per attempt, so a call fails after about that long, and gives libpq a connect
    time-out of half of it, and stops retrying a lost connection after two call time-outs (the
    next call starts a new attempt, so service resumes soon after the database is back); pre-ping
    (``POSTGRES_PRE_PING``) discards connections a restart of the server left stale.
    """

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        call_timeout = self.env.get(POSTGRES_CALL_TIMEOUT)
        if call_timeout:
            pool = self.datastore.pool
            pool.timeout = float(call_timeout) / LIBRARY_ATTEMPTS
            # The pool retries a lost connection with doubling delays until it gives up after
            # ``reconnect_timeout`` (5 min by default): after an outage of a minute it would come
            # back up to a minute late.  Giving up sooner lets the next call start a fresh attempt.
            pool.reconnect_timeout = RECONNECT_WINDOW_CALLS * float(call_timeout)
            assert isinstance(pool.kwargs, dict)
            pool.kwargs["connect_timeout"] = max(1, math.ceil(float(call_timeout) / 2))


def pool_size_of(app: Application) -> int | None:
    """How many connections the application's recorder may hold (None: not a pooled store)."""
    datastore = getattr(app.recorder, "datastore", None)
    pool = getattr(datastore, "pool", None)
    return getattr(pool, "max_size", None)


class EventStore(Generic[A]):
    """An application plus the threads that call it.

    At most as many calls run at once as the store's connection pool has connections
    (others wait on the event loop, not in the pool), so a call never times out waiting
    for a connection another call of this process holds.
    """

    def __init__(self, factory: Callable[[], A], *, workers: int = 8, name: str = "eventstore") -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._factory = factory
        self._slots = asyncio.Semaphore(workers)
        self.app: A | None = None

    async def open(self) -> A:
        """Construct the application, creating its tables when missing.

        Processes that may start together on one schema open their stores one at a time
        (``services.runtime.open_event_store``): concurrent table creation is not safe.
        """
        self.app = await self.call_raw(self._factory)
        pool_size = pool_size_of(self.app)
        if pool_size is not None and pool_size < self.workers:
            self.workers = pool_size
            self._slots = asyncio.Semaphore(pool_size)
        return self.app

    async def call_raw(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        async with self._slots:
            return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the store's threads."""
        return await self.call_raw(fn, *args, **kwargs)

    async def ready(self) -> None:
        """Readiness check: the event store's database answers."""
        assert self.app is not None
        await self.call(self.app.recorder.max_notification_id)

    async def close(self) -> None:
        if self.app is not None:
            await self.call(self.app.close)
        self._executor.shutdown(wait=True, cancel_futures=True)
