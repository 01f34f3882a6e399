"""Builds the intake processes: the HTTP API, the relay and the consumer (status and postal topics).

Everything is constructed inside a lifespan or a worker's main, never at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from intake.api import router as dossiers_router
from intake.application import DossierIntake, IntakeApplication
from intake.catalogue import Catalogue
from intake.codes import DossierCodes
from intake.outbound import to_outbound
from intake.reactions import Reactions
from intake.reference import ReferenceData
from intake.settings import IntakeSettings
from services.app import create_service_app
from services.clock import Clock, clock_from
from services.documents.api import documents_router
from services.documents.settings import open_documents
from services.documents.uploads import sweep_periodically
from services.eventstore import EventStore
from services.runtime import blob_pool, http_resources, run_worker
from services.workers import Subscription, consumer_worker, relay_worker

DESCRIPTION = """
Tiếp nhận hồ sơ thủ tục hành chính — receives dossiers at the one-stop desk, online and
by public post, gives each its code and national status, and keeps its event-sourced
history. Authenticate with `POST /v1/auth/token` (client credentials), then send
`Authorization: Bearer <token>`. Errors are RFC 9457 problem+json.
"""


def open_store(settings: IntakeSettings) -> EventStore[IntakeApplication]:
    env = settings.eventsourcing_env()
    return EventStore(lambda: IntakeApplication(env=env), workers=settings.database_pool_size, name="intake-store")


def create_app(settings: IntakeSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The intake HTTP service."""
    settings = settings or IntakeSettings()

    service_clock = clock or clock_from(settings.clock_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (http_resources(app, settings, open_store(settings), "intake-api") as pool,
                    blob_pool(settings) as blobs,
                    open_documents(settings, pool, blob_pool=blobs, clock=service_clock) as documents):
            codes = DossierCodes(pool, settings.database_schema)
            await codes.create_table()
            catalogue = await asyncio.to_thread(Catalogue.load)
            reference = await asyncio.to_thread(ReferenceData.load, catalogue)
            app.state.documents = documents
            app.state.intake = DossierIntake(app.state.store, catalogue=catalogue, reference=reference,
                                             codes=codes, documents=documents.uploads, clock=service_clock)
            # The sweeper of unreferenced uploads runs in the API process, every sweep interval.
            sweeper = asyncio.create_task(sweep_periodically(
                documents.uploads, service_clock, settings.documents_sweep_interval_seconds), name="upload-sweeper")
            try:
                yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper

    return create_service_app(
        title="lienthong intake", description=DESCRIPTION, settings=settings,
        lifespan=lifespan, routers=[dossiers_router, documents_router(settings)])


async def relay_main(stop: asyncio.Event, settings: IntakeSettings | None = None) -> None:
    """Publish intake's stored events to ``lienthong.intake.dossier-events`` until stopped."""
    settings = settings or IntakeSettings()
    await relay_worker(stop, settings, open_store, name="intake-relay", topic=settings.events_topic,
                    source=settings.event_source, to_outbound=to_outbound)


async def consumer_main(stop: asyncio.Event, settings: IntakeSettings | None = None) -> None:
    """Apply status changes reported by other services, and pickups postal handed to the desk, to
    intake's dossiers until stopped."""
    settings = settings or IntakeSettings()
    reactions = Reactions(status_topic=settings.status_topic, postal_topic=settings.postal_topic)
    subscription = Subscription(topics=reactions.topics, handler=reactions)

    async def subscribe(app: IntakeApplication) -> Subscription:
        return subscription

    await consumer_worker(stop, settings, open_store, name="intake-consumer", group_id=settings.consumer_group,
                       subscribe=subscribe)


def run_relay() -> None:
    run_worker(relay_main)


def run_consumer() -> None:
    run_worker(consumer_main)
