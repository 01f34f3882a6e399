"""Running the synchronous ``eventsourcing`` library from asyncio code.

``eventsourcing`` 9.5 has no asyncio API.  :class:`EventStore` owns a dedicated thread
pool and a service's application object; coroutines call the application through
:meth:`EventStore.call` so the event loop never blocks on PostgreSQL.
"""

from __future__ import annotations

import asyncio
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

    def construct_recorder(self) -> ProcessRecorder:  # type: ignore[override]
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def save_tracked(self, tracking: Tracking | None, *objs: Any, **kwargs: Any) -> list[Recording]:
        """Save ``objs`` (and ``kwargs`` for the recorder) with the position ``tracking``."""
        processing_event = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*objs, **kwargs)
        return self._record(processing_event)

    def save_reaction(self, tracking: Tracking, objs: Sequence[Any]) -> None:
        """How a consumer saves a handler's output with the consumed position (override to add records)."""
        self.save_tracked(tracking, *objs)

    def position(self, name: str) -> int | None:
        """The last position recorded under ``name`` (``None`` if none)."""
        return self.process_recorder.max_tracking_id(name)


class EventStore(Generic[A]):
    """An application plus the threads that call it."""

    def __init__(self, factory: Callable[[], A], *, workers: int = 8, name: str = "eventstore") -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._factory = factory
        self.app: A | None = None

    async def open(self) -> A:
        """Construct the application, creating its tables when missing.

        Processes that may start together on one schema open their stores one at a time
        (``services.runtime.open_event_store``): concurrent table creation is not safe.
        """
        self.app = await self.call_raw(self._factory)
        return self.app

    async def call_raw(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
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
