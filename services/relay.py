"""The relay: publishes a service's stored events to Kafka, in order, exactly once.

A service never writes to Kafka directly (no dual writes).  The relay tails the event
store's notification log (gap-free, in commit order), turns each domain event that has a
public contract into a CloudEvent and publishes each batch in one Kafka transaction.
Every record carries the notification id it came from (header ``relay-position``) and
the relay's stream id (``relay-stream``), so **the topic itself records how far the
relay got**: on start the relay first initialises its transactional producer — which
fences a crashed predecessor and aborts its open transaction — then reads the committed
tail of the topic to find the last position it published, and resumes after it.
Nothing is lost (positions advance only past committed batches) and nothing is
published twice (an aborted batch is invisible to ``read_committed`` consumers).
Event ids are deterministic, so even a re-published copy would be recognisable.
PostgreSQL's ``NOTIFY`` (sent by the event store on every insert) wakes the relay, so
latency stays low without busy polling.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from eventsourcing.domain import DomainEventProtocol
from pydantic import BaseModel

from services.eventstore import EventStore, TrackingApplication
from services.kafka import partitions_of
from services.observability import Metrics
from shared_events.envelope import deterministic_event_id, encode
from shared_events.registry import to_cloud_event

log = logging.getLogger(__name__)

POSITION_HEADER = "relay-position"
STREAM_HEADER = "relay-stream"

STREAMS_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.relay_streams (
    topic     text PRIMARY KEY,
    stream_id uuid NOT NULL
)"""


@dataclass(frozen=True)
class Outbound:
    """What a stored domain event becomes on the wire."""

    contract: BaseModel
    subject: str
    correlation_id: str | None = None
    causation_id: str | None = None
    topic: str | None = None
    """None: the relay's main topic."""
    discriminator: int = 0
    """Tells apart several records made from one stored event (it enters their ids)."""


ToOutbound = Callable[[DomainEventProtocol], "Outbound | Sequence[Outbound] | None"]


def make_transactional_producer(bootstrap_servers: str, transactional_id: str) -> AIOKafkaProducer:
    """The relay's producer: idempotent, ``acks=all``, one transaction per batch."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=transactional_id,
        transactional_id=transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
    )


async def stream_id_for(database_url: str, schema: str, topic: str) -> str:
    """This event store's identity on ``topic``, created once and kept in PostgreSQL."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(STREAMS_TABLE.format(schema=f'"{schema}"'))
        await conn.execute(
            f'INSERT INTO "{schema}".relay_streams (topic, stream_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
            topic, uuid.uuid4())
        return str(await conn.fetchval(f'SELECT stream_id FROM "{schema}".relay_streams WHERE topic = $1', topic))
    finally:
        await conn.close()


async def published_position(bootstrap_servers: str, topics: str | Sequence[str], stream_id: str) -> int:
    """The highest notification id this stream committed to any of ``topics`` (0 if none).

    Reads each partition backwards in growing windows until it finds a committed
    record of this stream or reaches the start of the partition.
    """
    topic_list = [topics] if isinstance(topics, str) else list(topics)
    partitions = await partitions_of(bootstrap_servers, topic_list)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                isolation_level="read_committed", group_id=None)
    await consumer.start()
    try:
        best = 0
        for topic in topic_list:
            for partition in partitions[topic]:
                best = max(best, await _partition_position(consumer, TopicPartition(topic, partition), stream_id))
        return best
    finally:
        await consumer.stop()


async def _partition_position(consumer: AIOKafkaConsumer, tp: TopicPartition, stream_id: str) -> int:
    consumer.assign([tp])
    begin = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    window = 64
    stop_at = end
    while stop_at > begin:
        start = max(begin, stop_at - window)
        consumer.seek(tp, start)
        found = 0
        while await consumer.position(tp) < stop_at:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                if record.offset >= stop_at:
                    break
                headers = dict(record.headers or ())
                if headers.get(STREAM_HEADER, b"").decode() == stream_id:
                    found = max(found, int(headers[POSITION_HEADER]))
        if found:
            return found
        stop_at = start
        window *= 4
    return 0


class Relay:
    """Publishes one application's notification log to one Kafka topic."""

    def __init__(
        self,
        *,
        store: EventStore[TrackingApplication],
        producer: AIOKafkaProducer,
        topic: str,
        source: str,
        to_outbound: ToOutbound,
        database_url: str,
        stream_id: str,
        metrics: Metrics,
        batch_size: int = 500,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        self._store = store
        self._producer = producer
        self._topic = topic
        self._source = source
        self._to_outbound = to_outbound
        self._database_url = database_url
        self._stream_id = stream_id
        self._metrics = metrics
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._wakeup = asyncio.Event()

    @property
    def app(self) -> TrackingApplication:
        assert self._store.app is not None
        return self._store.app

    async def run(self, stop: asyncio.Event, *, start_after: int) -> None:
        """Publish notifications after ``start_after`` until ``stop`` is set.

        The producer must already be started (which fences any predecessor) and
        ``start_after`` read from the topic after that.
        """
        listener = await asyncpg.connect(self._database_url)
        channel = self.app.recorder.channel_name  # type: ignore[attr-defined]
        await listener.add_listener(channel, lambda *_: self._wakeup.set())
        position = start_after
        log.info("relay started", extra={"topic": self._topic, "position": position})
        try:
            while not stop.is_set():
                self._wakeup.clear()
                published = await self.publish_batch(position)
                if published is not None:
                    position = published
                    continue
                await self._wait(stop)
        finally:
            await listener.close()

    async def _wait(self, stop: asyncio.Event) -> None:
        stopper = asyncio.create_task(stop.wait())
        waker = asyncio.create_task(self._wakeup.wait())
        await asyncio.wait({stopper, waker}, timeout=self._idle_poll, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        waker.cancel()

    async def publish_batch(self, after: int) -> int | None:
        """Publish the notifications after ``after`` in one transaction; the new position or None."""
        notifications = await self._store.call(
            self.app.recorder.select_notifications, start=after + 1, limit=self._batch_size)
        if not notifications:
            return None
        published = 0
        async with self._producer.transaction():
            for notification in notifications:
                domain_event = self.app.mapper.to_domain_event(notification)
                for outbound in _as_list(self._to_outbound(domain_event)):
                    await self._send(notification.id, domain_event, outbound)
                    published += 1
        self._metrics.events_published.labels(self._topic).inc(published)
        return notifications[-1].id

    async def _send(self, position: int, domain_event: DomainEventProtocol, outbound: Outbound) -> None:
        identifier = event_id(domain_event, outbound.discriminator)
        cloud_event = to_cloud_event(
            outbound.contract,
            id=identifier,
            source=self._source,
            subject=outbound.subject,
            time=_aware(domain_event.timestamp),
            # An event no request caused (e.g. a timer's) starts a correlation of its own.
            correlation_id=outbound.correlation_id or identifier,
            causation_id=outbound.causation_id,
        )
        await self._producer.send(
            outbound.topic or self._topic, encode(cloud_event), key=outbound.subject.encode(),
            headers=[
                ("ce_id", cloud_event.id.encode()),
                ("ce_type", cloud_event.type.encode()),
                (POSITION_HEADER, str(position).encode()),
                (STREAM_HEADER, self._stream_id.encode()),
            ])


def event_id(domain_event: DomainEventProtocol, discriminator: int = 0) -> str:
    """The CloudEvent id of a stored event's ``discriminator``-th record: the same on every run."""
    origin = domain_event.originator_id
    if discriminator:
        origin = uuid.uuid5(origin, str(discriminator))
    return deterministic_event_id(origin, domain_event.originator_version)


def _as_list(outbound: Outbound | Sequence[Outbound] | None) -> Sequence[Outbound]:
    if outbound is None:
        return ()
    return (outbound,) if isinstance(outbound, Outbound) else outbound


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
