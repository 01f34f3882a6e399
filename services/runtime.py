"""Running a service's processes: resources opened and closed in one place, workers that stop cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from fastapi import FastAPI

from services.documents.settings import DocumentSettings
from services.eventstore import EventStore
from services.retrying import retry_while_unavailable
from services.settings import ServiceSettings

log = logging.getLogger(__name__)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a worker's main loop to watch."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_worker(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` until a signal asks it to stop."""

    async def runner() -> None:
        await main(stop_on_signals())

    asyncio.run(runner())


async def open_event_store(settings: ServiceSettings, store: EventStore[Any]) -> None:
    """Create the service's schema and its event-store tables when missing, then open ``store``.

    A service's processes start together on an empty schema, and PostgreSQL's ``CREATE …
    IF NOT EXISTS`` is not safe against itself running concurrently (it can fail with a
    unique violation or "tuple concurrently updated"). So the processes take turns: each
    holds an advisory lock named after the schema while it creates what is missing.
    A database that is not there yet, or full, is waited for with capped backoff.
    """
    await retry_while_unavailable(partial(_open_event_store, settings, store),
                                  what="opening the event store", logger=log)


async def _open_event_store(settings: ServiceSettings, store: EventStore[Any]) -> None:
    conn = await asyncpg.connect(settings.database_url, timeout=settings.database_connect_timeout_seconds)
    lock = f"lienthong.schema.{settings.database_schema}"
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", lock)
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.database_schema}"')
            await store.open()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock)
    finally:
        await conn.close()


async def create_read_pool(settings: ServiceSettings) -> asyncpg.Pool:
    """The read side's asyncpg pool: ``database_pool_size`` connections at most, opened lazily,
    each connection attempt bounded by ``database_connect_timeout_seconds``."""
    async def attempt() -> asyncpg.Pool:
        return await asyncpg.create_pool(settings.database_url, min_size=1, max_size=settings.database_pool_size,
                                         timeout=settings.database_connect_timeout_seconds)

    return await retry_while_unavailable(attempt, what="opening the read-side pool", logger=log)


@asynccontextmanager
async def blob_pool(settings: ServiceSettings) -> AsyncIterator[asyncpg.Pool | None]:
    """The PostgreSQL document backend's own pool, as small as the read side's (None for another
    backend): its blobs never wait for a connection the upload registry holds
    (:func:`services.documents.settings.open_documents`)."""
    if not (isinstance(settings, DocumentSettings) and settings.documents_backend == "postgres"):
        yield None
        return
    pool = await create_read_pool(settings)
    try:
        yield pool
    finally:
        await pool.close()


class KafkaProbe:
    """Readiness of Kafka for an HTTP service: the broker answers a metadata request.

    The client bootstraps lazily, so a service starts (and serves what it can) while Kafka
    is down.
    """

    def __init__(self, settings: ServiceSettings, client_id: str) -> None:
        self._client = AIOKafkaClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id=client_id,
                                      retry_backoff_ms=500)
        self._bootstrapped = False

    async def __call__(self) -> None:
        if not self._bootstrapped:
            await self._client.bootstrap()
            self._bootstrapped = True
        await self._client.fetch_all_metadata()

    async def close(self) -> None:
        await self._client.close()


@asynccontextmanager
async def http_resources(app: FastAPI, settings: ServiceSettings, store: EventStore[Any],
                         client_id: str) -> AsyncIterator[asyncpg.Pool]:
    """What every HTTP service opens in its lifespan: its schema, event store, a connection
    pool for its read side and a Kafka client; each registered as a readiness check.

    Kafka is a *degradable* dependency: an HTTP service stores events while the broker is
    down (its relay publishes them later), so it stays ready and reports Kafka as degraded.
    """
    kafka = KafkaProbe(settings, client_id)
    pool: asyncpg.Pool | None = None
    try:
        await open_event_store(settings, store)
        pool = await create_read_pool(settings)
        app.state.store = store
        app.state.readiness.update({
            "postgresql": partial(pool.fetchval, "SELECT 1"),
            "event_store": store.ready,
            "kafka": kafka,
        })
        app.state.degradable.add("kafka")
        yield pool
    finally:
        await kafka.close()
        await store.close()
        if pool is not None:
            await pool.close()


@asynccontextmanager
async def worker_resources(settings: ServiceSettings, store: EventStore[Any],
                           producer: AIOKafkaProducer) -> AsyncIterator[EventStore[Any]]:
    """What a relay or consumer process opens: its schema, its event store, its producer
    (each waited for with capped backoff when it is not there yet)."""
    try:
        await open_event_store(settings, store)
        await retry_while_unavailable(producer.start, what="starting the Kafka producer", logger=log)
        yield store
    finally:
        await producer.stop()
        await store.close()
