"""A service's relay and consumer processes, started the one way every service starts them.

:func:`relay_worker` publishes a service's stored events: a transactional producer named after the
service's events topic (so a restarted relay fences its predecessor), the stream id of the
service's notification log, the position already published on every topic the relay writes to,
then :class:`services.relay.Relay` until stopped. :func:`consumer_worker` applies the messages of a
service's subscription with :class:`services.consumer.TrackingConsumer` until stopped. Both open
and close their resources with :func:`services.runtime.worker_resources` and wait out PostgreSQL
or Kafka when they are not there yet.

What differs between services is passed in: the settings, how to build the store, the outbound
mapping or the handler, and — when they depend on the service's reference data — the topics, read
from the opened application by ``published_on`` / ``subscribe``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from services.consumer import Handler, TrackingConsumer
from services.eventstore import EventStore
from services.kafka import make_producer
from services.observability import Metrics, configure_logging
from services.relay import (
    Relay,
    ToOutbound,
    make_transactional_producer,
    published_position,
    published_position_once,
    stream_id_for,
)
from services.runtime import worker_resources
from services.settings import ServiceSettings

StoreFactory = Callable[[Any], EventStore[Any]]
"""``open_store(settings)``: the service's event store, not opened yet."""


@dataclass(frozen=True)
class Subscription:
    """What a consumer reads and how it applies each message."""

    topics: Sequence[str]
    handler: Handler


async def relay_worker(
    stop: asyncio.Event, settings: ServiceSettings, open_store: StoreFactory, *, name: str, topic: str,
    source: str, to_outbound: ToOutbound, published_on: Callable[[Any], Awaitable[Sequence[str]]] | None = None,
) -> None:
    """Publish the service's stored events until ``stop`` is set.

    ``topic`` is the service's own events topic; ``published_on(app)`` lists every topic the
    relay writes to (default: ``topic`` alone), whose records tell where the stream got to.
    """
    configure_logging(name, settings.log_level)
    producer = make_transactional_producer(settings.kafka_bootstrap_servers, f"relay-{topic}")
    async with worker_resources(settings, open_store(settings), producer) as store:
        topics = [topic] if published_on is None else list(await published_on(store.app))
        stream_id = await stream_id_for(settings.database_url, settings.database_schema, topic)
        # The producer has started: a crashed predecessor is fenced and its open
        # transaction aborted, so the topics' committed tails are final.
        start_after = await published_position(settings.kafka_bootstrap_servers, topics, stream_id)
        relay = Relay(store=store, producer=producer, topic=topic, source=source, to_outbound=to_outbound,
                      database_url=settings.database_url, stream_id=stream_id, metrics=Metrics(),
                      recover_position=partial(published_position_once, settings.kafka_bootstrap_servers, topics,
                                               stream_id))
        await relay.run(stop, start_after=start_after)


async def consumer_worker(
    stop: asyncio.Event, settings: ServiceSettings, open_store: StoreFactory, *, name: str, group_id: str,
    subscribe: Callable[[Any], Awaitable[Subscription]],
) -> None:
    """Apply the messages of ``subscribe(app)`` (read once the store is open) until ``stop`` is set;
    dead letters go to the settings' dead-letter topic."""
    configure_logging(name, settings.log_level)
    producer = make_producer(settings.kafka_bootstrap_servers, name)
    async with worker_resources(settings, open_store(settings), producer) as store:
        subscription = await subscribe(store.app)
        consumer = TrackingConsumer(
            name=name, topics=subscription.topics, group_id=group_id,
            bootstrap_servers=settings.kafka_bootstrap_servers, store=store, handler=subscription.handler,
            producer=producer, dead_letter_topic=settings.dead_letter_topic, metrics=Metrics())
        await consumer.run(stop)
