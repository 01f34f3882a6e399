"""Builds the routing processes: the HTTP API (REST inbox), the relay, the consumer and
the deadline timer.  Everything is constructed inside a lifespan or a worker's main."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from fastapi import FastAPI

from routing.api.calendar import router as calendar_router
from routing.api.content import router as content_router
from routing.api.dossiers import router as dossiers_router
from routing.api.inbox import router as inbox_router
from routing.api.unroutable import router as unroutable_router
from routing.application import RoutingApplication
from routing.calendar_keeping import reschedule_open_dossiers
from routing.content_access import DossierContent
from routing.documents import DocumentReferenceCheck
from routing.outbound import link_signer, outbound_mapper
from routing.reactions import Reactions, ReplyPolicy
from routing.readmodel import InboxQueries
from routing.settings import RoutingSettings
from services.app import create_service_app
from services.auth import ClientRegistry
from services.clock import Clock, clock_from
from services.documents.api import documents_router
from services.documents.links import LinkRedemptions
from services.documents.settings import Documents, open_documents
from services.eventstore import EventStore
from services.failures import is_infrastructure_error
from services.observability import ThrottledLog, configure_logging
from services.retrying import INITIAL_BACKOFF_SECONDS, Backoff
from services.runtime import blob_pool, create_read_pool, http_resources, open_event_store, run_worker
from services.workers import Subscription, consumer_worker, relay_worker

log = logging.getLogger(__name__)

DESCRIPTION = """
Luân chuyển hồ sơ liên thông — routes accepted dossiers from agency to agency along the
procedure's route in force on the day of receipt, with due times counted in working days.
Agencies work from their inbox (`/v1/inbox`): claim, complete, request a supplement or a
payment, refuse, send back, apologise when late. Errors are RFC 9457 problem+json.
"""


def open_store(settings: RoutingSettings) -> EventStore[RoutingApplication]:
    env = settings.eventsourcing_env()
    return EventStore(lambda: RoutingApplication(env=env), workers=settings.database_pool_size, name="routing-store")


def create_app(settings: RoutingSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The routing HTTP service."""
    settings = settings or RoutingSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with http_resources(app, settings, open_store(settings), "routing-api") as pool:
            app.state.inbox = InboxQueries(pool, settings.database_schema)
            app.state.clock = clock or clock_from(settings.clock_file)
            async with (blob_pool(settings) as blobs,
                        open_documents(settings, pool, blob_pool=blobs, clock=app.state.clock) as documents):
                app.state.documents = documents
                redemptions = LinkRedemptions(pool, settings.database_schema)
                await redemptions.create_table()
                app.state.content = DossierContent(app.state.store, documents.store, link_signer(settings),
                                                   redemptions, app.state.clock)
                accept_references(app.state.store.app, documents, settings)
                yield

    return create_service_app(title="lienthong routing", description=DESCRIPTION, settings=settings,
                              lifespan=lifespan, routers=[inbox_router, content_router, dossiers_router,
                                                          unroutable_router, calendar_router,
                                                          documents_router(settings)])


def accept_references(app: RoutingApplication, documents: Documents, settings: RoutingSettings) -> None:
    """Let ``app``'s use cases check and attach document references on this process's event loop."""
    app.document_references = DocumentReferenceCheck(
        documents.uploads, asyncio.get_running_loop(), timeout_seconds=4 * settings.database_connect_timeout_seconds)


@asynccontextmanager
async def worker_documents(settings: RoutingSettings) -> AsyncIterator[Documents]:
    """The document store and its upload registry for a worker process (its own small pool)."""
    pool = await create_read_pool(settings)
    try:
        async with blob_pool(settings) as blobs, open_documents(settings, pool, blob_pool=blobs) as documents:
            yield documents
    finally:
        await pool.close()


async def ensure_agency_topics(settings: RoutingSettings, agency_ids: list[str]) -> None:
    """Create the inbox and reply topics of every stream-integrated agency (idempotent; one
    partition each: an agency reads its whole inbox in order, routing its replies)."""
    wanted = [topic for a in agency_ids for topic in (settings.agency_inbox_topic(a), settings.agency_reply_topic(a))]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile by another process
                await admin.create_topics([NewTopic(name, 1, 1) for name in missing])
    finally:
        await admin.close()


async def relay_main(stop: asyncio.Event, settings: RoutingSettings | None = None) -> None:
    """Publish routing's stored events: its own topic, status changes, and agency inboxes."""
    settings = settings or RoutingSettings()
    config = settings

    async def published_on(app: RoutingApplication) -> list[str]:
        stream_agencies = sorted(app.geography.stream_integrated_agency_ids())
        await ensure_agency_topics(config, stream_agencies)
        return [config.events_topic, config.status_topic, *(config.agency_inbox_topic(a) for a in stream_agencies)]

    await relay_worker(stop, settings, open_store, name="routing-relay", topic=settings.events_topic,
                    source=settings.event_source, to_outbound=outbound_mapper(settings), published_on=published_on)


async def consumer_main(stop: asyncio.Event, settings: RoutingSettings | None = None) -> None:
    """Apply intake's events, postal's and the stream-integrated agencies' replies until stopped."""
    settings = settings or RoutingSettings()
    config = settings

    async with worker_documents(settings) as documents:

        async def subscribe(app: RoutingApplication) -> Subscription:
            stream_agencies = sorted(app.geography.stream_integrated_agency_ids())
            await ensure_agency_topics(config, stream_agencies)
            reply_topics = {config.agency_reply_topic(a): a for a in stream_agencies}
            accept_references(app, documents, config)
            policy = ReplyPolicy(agency_of_reply_topic=reply_topics.get, clock=clock_from(config.clock_file),
                                 max_skew=timedelta(seconds=config.reply_clock_skew_seconds),
                                 uploaders_of=ClientRegistry.load(config.auth_clients_file).of_agency)
            return Subscription(topics=[config.intake_topic, config.postal_topic, *reply_topics],
                                handler=Reactions(intake_topic=config.intake_topic, postal_topic=config.postal_topic,
                                                  policy=policy))

        await consumer_worker(stop, settings, open_store, name="routing-consumer",
                              group_id=settings.consumer_group, subscribe=subscribe)


async def timer_main(stop: asyncio.Event, settings: RoutingSettings | None = None) -> None:
    """Raise due-soon and overdue events as time passes (by the injected clock), and finish moving
    the dues of any dossier a working-calendar change has not reached yet (after a crash, or a
    dossier changed under the old calendar while the change was made).

    Survives outages: start-up waits for PostgreSQL, and a sweep failing because PostgreSQL
    (or anything else the infrastructure provides) is unavailable is retried with capped
    backoff; the process never exits for it."""
    settings = settings or RoutingSettings()
    configure_logging("routing-timer", settings.log_level)
    clock = clock_from(settings.clock_file)
    store = open_store(settings)
    await open_event_store(settings, store)
    pool = await create_read_pool(settings)
    try:
        queries = InboxQueries(pool, settings.database_schema)
        window = timedelta(hours=settings.due_soon_hours)
        backoff = Backoff(min(INITIAL_BACKOFF_SECONDS, settings.timer_interval_seconds),
                          max(settings.timer_interval_seconds, settings.timer_max_backoff_seconds))
        throttled = ThrottledLog(log)
        while not stop.is_set():
            try:
                await reschedule_open_dossiers(store, queries, clock)
                await check_deadlines_once(store, queries, clock, window)
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                throttled.warning("deadline sweep failed: a dependency is unavailable; retrying with backoff",
                                  extra={"error": f"{type(exc).__name__}: {exc}"[:500]})
                await backoff.wait(stop)
                continue
            backoff.reset()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.timer_interval_seconds)
    finally:
        await pool.close()
        await store.close()


async def check_deadlines_once(store: EventStore[RoutingApplication], queries: InboxQueries, clock: Clock,
                               window: timedelta) -> int:
    """One sweep: every dossier with a step overdue or due within ``window``; how many changed.

    An infrastructure failure ends the sweep (the caller retries it); any other failure of one
    dossier is logged and the sweep goes on."""
    app = store.app
    assert app is not None
    now = clock.now()
    # A generous calendar horizon: the exact working-time window is decided by the domain.
    horizon = now + window * 4 + timedelta(days=4)
    changed = 0
    for code in await queries.needing_deadline_check(now, horizon):
        try:
            changed += await store.call(app.check_deadlines, code, now, window) is not None
        except Exception as exc:
            if is_infrastructure_error(exc):
                raise
            log.exception("deadline check failed", extra={"dossier_code": code})
    return changed


def run_relay() -> None:
    run_worker(relay_main)


def run_consumer() -> None:
    run_worker(consumer_main)


def run_timer() -> None:
    run_worker(timer_main)
