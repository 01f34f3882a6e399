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

Records follow the CloudEvents Kafka protocol binding in **structured mode**: the value is
the JSON event, the header ``content-type`` is ``application/cloudevents+json``, and no
``ce_*`` header is set (those would mean binary mode).

A relay never stops on a stored event: one that cannot be turned into a record is logged
at ERROR with its notification id, counted (``relay_unpublishable_events_total``) and
skipped.  An outage of PostgreSQL or Kafka is waited out with capped backoff.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, cast

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from services.eventstore import EventStore, TrackingApplication
from services.failures import is_infrastructure_error
from services.kafka import TopicMissingError, partitions_of
from services.observability import Metrics, ThrottledLog
from services.retrying import INITIAL_BACKOFF_SECONDS, Backoff, retry_while_unavailable
from shared_events.contracts.base import Contract
from shared_events.envelope import deterministic_event_id, encode
from shared_events.registry import to_cloud_event

log = logging.getLogger(__name__)

POSITION_HEADER = "relay-position"
STREAM_HEADER = "relay-stream"
CONTENT_TYPE_HEADER = "content-type"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
"""The Kafka protocol binding's structured mode, JSON event format."""

TAIL_READERS = 8
"""How many partitions' tails the relay reads at once on start-up."""

TOPIC_APPEARANCE_SECONDS = 30.0
"""How long the relay waits for topics it (or ``lienthong infra up``) just created to appear."""

TAIL_READ_TIMEOUT_SECONDS = 30.0
"""A start-up read of the topics' tails that takes longer is abandoned and retried."""

EMPTY_FETCH_PAUSE_SECONDS = 0.2
"""Pause after a fetch that returned nothing while records are still expected (no spinning)."""

STREAMS_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.relay_streams (
    topic     text PRIMARY KEY,
    stream_id uuid NOT NULL
)"""


class _Timestamped(Protocol):
    """What the relay reads of every stored event besides the protocol: when it happened."""

    timestamp: datetime


@dataclass(frozen=True)
class Outbound:
    """What a stored domain event becomes on the wire."""

    contract: Contract
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
    """This event store's identity on ``topic``, created once and kept in PostgreSQL
    (waits out an unavailable database)."""
    return await retry_while_unavailable(lambda: _stream_id(database_url, schema, topic),
                                         what="reading the relay's stream id", logger=log)


async def _stream_id(database_url: str, schema: str, topic: str) -> str:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await conn.execute(STREAMS_TABLE.format(schema=f'"{schema}"'))
        await conn.execute(
            f'INSERT INTO "{schema}".relay_streams (topic, stream_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
            topic, uuid.uuid4())
        return str(await conn.fetchval(f'SELECT stream_id FROM "{schema}".relay_streams WHERE topic = $1', topic))
    finally:
        await conn.close()


async def published_position_once(bootstrap_servers: str, topics: str | Sequence[str], stream_id: str) -> int:
    """One attempt of :func:`published_position`: raises when Kafka cannot be read now."""
    topic_list = [topics] if isinstance(topics, str) else list(topics)
    return await asyncio.wait_for(_published_position(bootstrap_servers, topic_list, stream_id),
                                  timeout=TAIL_READ_TIMEOUT_SECONDS)


async def published_position(bootstrap_servers: str, topics: str | Sequence[str], stream_id: str) -> int:
    """The highest notification id this stream committed to any of ``topics`` (0 if none).

    Reads the tails of all non-empty partitions at once (each backwards in growing windows
    until it finds a committed record of this stream or reaches the start of the
    partition).  An unreachable broker is waited out with backoff.
    """
    async def attempt() -> int:
        return await published_position_once(bootstrap_servers, topics, stream_id)

    backoff = Backoff()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TOPIC_APPEARANCE_SECONDS
    while True:
        try:
            return await retry_while_unavailable(attempt, what="reading the relay's position on its topics",
                                                 logger=log)
        except TopicMissingError:
            # Topics created a moment ago (agency inboxes) take a while to show in metadata.
            if loop.time() > deadline:
                raise
            await backoff.wait()


async def _published_position(bootstrap_servers: str, topics: list[str], stream_id: str) -> int:
    partitions = await partitions_of(bootstrap_servers, topics)
    tps = [TopicPartition(topic, p) for topic in topics for p in partitions[topic]]
    consumer = _tail_consumer(bootstrap_servers)
    await consumer.start()
    try:
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    non_empty = [tp for tp in tps if ends[tp] > begins[tp]]
    readers = asyncio.Semaphore(TAIL_READERS)

    async def read(tp: TopicPartition) -> int:
        async with readers:
            return await _partition_position(bootstrap_servers, tp, begins[tp], ends[tp], stream_id)

    found = await asyncio.gather(*(read(tp) for tp in non_empty))
    return max(found, default=0)


def _tail_consumer(bootstrap_servers: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                            isolation_level="read_committed", group_id=None, retry_backoff_ms=500)


async def _partition_position(bootstrap_servers: str, tp: TopicPartition, begin: int, end: int,
                              stream_id: str) -> int:
    consumer = _tail_consumer(bootstrap_servers)
    await consumer.start()
    try:
        consumer.assign([tp])
        window = 64
        stop_at = end
        while stop_at > begin:
            start = max(begin, stop_at - window)
            consumer.seek(tp, start)
            found = 0
            while await consumer.position(tp) < stop_at:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                if not batch:
                    await asyncio.sleep(EMPTY_FETCH_PAUSE_SECONDS)  # a broker gone away answers at once
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
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class _Record:
    topic: str
    value: bytes
    key: bytes
    headers: list[tuple[str, bytes]]


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
        retry_backoff_seconds: float = INITIAL_BACKOFF_SECONDS,
        recover_position: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        """``recover_position`` reads from Kafka how far this stream got (``published_position``
        over every topic the relay writes to); it is asked after a failed batch, whose commit may
        have reached the broker although its answer did not, so that batch is not published twice."""
        self._recover_position = recover_position
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
        self._retry_backoff = retry_backoff_seconds
        self._wakeup = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    @property
    def app(self) -> TrackingApplication:
        assert self._store.app is not None
        return self._store.app

    async def run(self, stop: asyncio.Event, *, start_after: int) -> None:
        """Publish notifications after ``start_after`` until ``stop`` is set.

        The producer must already be started (which fences any predecessor) and
        ``start_after`` read from the topic after that.  Outages of PostgreSQL or Kafka
        are waited out with capped backoff; the relay never exits because of one.
        """
        position = start_after
        backoff = Backoff(self._retry_backoff)
        throttled = ThrottledLog(log)
        log.info("relay started", extra={"topic": self._topic, "position": position})
        try:
            while not stop.is_set():
                await self._listen()
                self._wakeup.clear()
                try:
                    published = await self.publish_batch(position)
                except Exception as exc:
                    if not is_infrastructure_error(exc):
                        raise
                    self._metrics.retries.labels("relay").inc()
                    throttled.error("publishing a batch failed: a dependency is unavailable; retrying",
                                    extra={"topic": self._topic, "position": position,
                                           "error": f"{type(exc).__name__}: {exc}"[:500]})
                    await backoff.wait(stop)
                    position = await self._recovered(position)
                    continue
                backoff.reset()
                if published is not None:
                    position = published
                    continue
                await self._wait(stop)
        finally:
            await self._unlisten()

    async def _recovered(self, position: int) -> int:
        """After a failed batch: the position the topics show, when it is further than ours."""
        if self._recover_position is None:
            return position
        try:
            on_kafka = await self._recover_position()
        except Exception as exc:
            if not is_infrastructure_error(exc):
                raise
            return position  # asked again after the next failure
        if on_kafka > position:
            log.warning("a batch whose commit seemed to fail is on Kafka; going on after it",
                        extra={"topic": self._topic, "position": on_kafka})
        return max(position, on_kafka)

    async def _listen(self) -> None:
        """(Re)open the LISTEN connection that wakes the relay; polling covers its absence."""
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = None
        try:
            listener = await asyncpg.connect(self._database_url, timeout=5)
            channel = self.app.recorder.channel_name  # type: ignore[attr-defined]
            await listener.add_listener(channel, lambda *_: self._wakeup.set())
            self._listener = listener
        except Exception as exc:
            if not is_infrastructure_error(exc):
                raise
            log.debug("the relay's LISTEN connection is unavailable; polling", extra={"error": repr(exc)})

    async def _unlisten(self) -> None:
        if self._listener is not None:
            try:
                await self._listener.close(timeout=2)
            except Exception:
                self._listener.terminate()
            self._listener = None

    async def _wait(self, stop: asyncio.Event) -> None:
        stopper = asyncio.create_task(stop.wait())
        waker = asyncio.create_task(self._wakeup.wait())
        await asyncio.wait({stopper, waker}, timeout=self._idle_poll, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        waker.cancel()

    async def publish_batch(self, after: int) -> int | None:
        """Publish the notifications after ``after`` in one transaction; the new position or None.

        A stored event that cannot be encoded is skipped (and reported); infrastructure
        errors are raised for :meth:`run` to retry.
        """
        notifications = await self._store.call(
            self.app.recorder.select_notifications, start=after + 1, limit=self._batch_size)
        if not notifications:
            return None
        records = [record for notification in notifications for record in self._records_of(notification)]
        if records:
            async with self._producer.transaction():
                for record in records:
                    await self._producer.send(record.topic, record.value, key=record.key, headers=record.headers)
            self._metrics.events_published.labels(self._topic).inc(len(records))
        return notifications[-1].id

    def _records_of(self, notification: Notification) -> list[_Record]:
        """The records one stored event becomes; none (reported loudly) if it cannot be encoded."""
        try:
            domain_event = self.app.mapper.to_domain_event(notification)
            return [self._record(notification.id, domain_event, outbound)
                    for outbound in _as_list(self._to_outbound(domain_event))]
        except Exception as exc:
            if is_infrastructure_error(exc):
                raise
            self._metrics.unpublishable_events.labels(self._topic).inc()
            log.error("a stored event cannot be published; skipped", exc_info=exc, extra={
                "topic": self._topic, "notification_id": notification.id,
                "originator_id": str(notification.originator_id),
                "originator_version": notification.originator_version,
                "event_topic": notification.topic, "error": f"{type(exc).__name__}: {exc}"[:1000]})
            return []

    def _record(self, position: int, domain_event: DomainEventProtocol, outbound: Outbound) -> _Record:
        identifier = event_id(domain_event, outbound.discriminator)
        cloud_event = to_cloud_event(
            outbound.contract,
            id=identifier,
            source=self._source,
            subject=outbound.subject,
            time=_aware(cast(_Timestamped, domain_event).timestamp),
            # An event no request caused (e.g. a timer's) starts a correlation of its own.
            correlation_id=outbound.correlation_id or identifier,
            causation_id=outbound.causation_id,
        )
        return _Record(
            outbound.topic or self._topic, encode(cloud_event), outbound.subject.encode(),
            [
                (CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE.encode()),
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
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
