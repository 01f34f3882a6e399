"""Builds the postal processes: the HTTP API (webhooks, shipments, fees), the relay, the consumer and the
dispatcher (carrier calls and reconciliation). Everything is constructed inside a lifespan or a worker's
main, never at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from postal.api import document_webhooks
from postal.api import router as postal_router
from postal.application import LegPolicy, PostalApplication
from postal.carrier import CarrierClient, CarrierPolicy
from postal.dispatcher import Dispatcher, DispatchPolicy
from postal.outbound import to_outbound
from postal.partners import Partners
from postal.reactions import Reactions
from postal.readmodel import PostalQueries
from postal.settings import PostalSettings
from services.app import create_service_app
from services.clock import Clock, clock_from
from services.eventstore import EventStore
from services.observability import configure_logging
from services.runtime import create_read_pool, http_resources, open_event_store, run_worker
from services.workers import Subscription, consumer_worker, relay_worker

DESCRIPTION = """
Bưu chính công ích — collects dossiers at the applicant's home and brings results back by the public
postal service (Decision 45/2016/QĐ-TTg). Postal orders each leg from the carrier (idempotently, with
retries and a circuit breaker), takes the carrier's status webhooks (Standard Webhooks, signed), and
reports what they mean to the other services. Errors are RFC 9457 problem+json.
"""


def leg_policy(settings: PostalSettings) -> LegPolicy:
    return LegPolicy(default_partner=settings.default_partner, pickup_postage_vnd=settings.pickup_postage_vnd,
                     return_postage_vnd=settings.return_postage_vnd,
                     max_delivery_attempts=settings.max_delivery_attempts)


def open_store(settings: PostalSettings) -> EventStore[PostalApplication]:
    env = settings.eventsourcing_env()
    policy = leg_policy(settings)
    return EventStore(lambda: PostalApplication(env=env, policy=policy), workers=settings.database_pool_size,
                      name="postal-store")


def load_partners(settings: PostalSettings) -> Partners:
    partners = Partners.load(settings.partners_file, tolerance_seconds=settings.webhook_tolerance_seconds)
    if partners.get(settings.default_partner) is None:
        raise ValueError(f"the default partner {settings.default_partner!r} is not in {settings.partners_file}")
    return partners


def create_app(settings: PostalSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The postal HTTP service."""
    settings = settings or PostalSettings()
    partners = load_partners(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with http_resources(app, settings, open_store(settings), "postal-api") as pool:
            app.state.queries = PostalQueries(pool, settings.database_schema)
            app.state.partners = partners
            app.state.clock = clock or clock_from(settings.clock_file)
            yield

    app = create_service_app(title="lienthong postal", description=DESCRIPTION, settings=settings,
                             lifespan=lifespan, routers=[postal_router])
    document_webhooks(app)
    return app


async def relay_main(stop: asyncio.Event, settings: PostalSettings | None = None) -> None:
    """Publish postal's stored events to ``lienthong.postal.events`` until stopped."""
    settings = settings or PostalSettings()
    await relay_worker(stop, settings, open_store, name="postal-relay", topic=settings.events_topic,
                       source=settings.event_source, to_outbound=to_outbound)


async def consumer_main(stop: asyncio.Event, settings: PostalSettings | None = None) -> None:
    """Open and call off legs from intake's and routing's events until stopped."""
    settings = settings or PostalSettings()
    config = settings

    async def subscribe(app: PostalApplication) -> Subscription:
        return Subscription(topics=[config.intake_topic, config.routing_topic],
                            handler=Reactions(intake_topic=config.intake_topic, routing_topic=config.routing_topic))

    await consumer_worker(stop, settings, open_store, name="postal-consumer", group_id=settings.consumer_group,
                          subscribe=subscribe)


def carrier_policy(settings: PostalSettings) -> CarrierPolicy:
    return CarrierPolicy(attempts=settings.carrier_attempts,
                         initial_backoff_seconds=settings.carrier_initial_backoff_seconds,
                         max_backoff_seconds=settings.carrier_max_backoff_seconds,
                         timeout_seconds=settings.carrier_timeout_seconds,
                         breaker_threshold=settings.carrier_breaker_threshold,
                         breaker_reset_seconds=settings.carrier_breaker_reset_seconds,
                         max_retry_after_seconds=settings.carrier_max_retry_after_seconds)


async def dispatcher_main(stop: asyncio.Event, settings: PostalSettings | None = None) -> None:
    """Make the queued carrier calls and reconcile quiet shipments until stopped; outages of PostgreSQL
    and of the carrier are waited out."""
    settings = settings or PostalSettings()
    configure_logging("postal-dispatcher", settings.log_level)
    partners = load_partners(settings)
    store = open_store(settings)
    await open_event_store(settings, store)
    pool = await create_read_pool(settings)
    try:
        async with AsyncExitStack() as stack:
            policy = carrier_policy(settings)
            carriers = {p.partner_id: await stack.enter_async_context(CarrierClient(p.carrier, policy))
                        for p in partners.by_id.values()}
            dispatcher = Dispatcher(store, PostalQueries(pool, settings.database_schema), carriers,
                                    clock_from(settings.clock_file), DispatchPolicy(
                                        interval_seconds=settings.dispatch_interval_seconds,
                                        concurrency=settings.dispatch_concurrency,
                                        retry_max_seconds=settings.action_retry_max_seconds,
                                        reconcile_interval_seconds=settings.reconcile_interval_seconds,
                                        quiet_after_seconds=settings.quiet_after_seconds))
            await dispatcher.run(stop)
    finally:
        with contextlib.suppress(Exception):
            await pool.close()
        await store.close()


def run_relay() -> None:
    run_worker(relay_main)


def run_consumer() -> None:
    run_worker(consumer_main)


def run_dispatcher() -> None:
    run_worker(dispatcher_main)
