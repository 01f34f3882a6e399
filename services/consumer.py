"""The tracking consumer: applies Kafka messages exactly once to a service's event store.

For every message the handler loads aggregates, acts, and returns what to save; the new
events and the consumed position (``<topic>:<partition>`` → offset) are written in one
PostgreSQL transaction.  On (re)assignment of a partition the consumer loads the position
recorded in PostgreSQL and seeks past it — Kafka's committed offsets are kept only for
monitoring.

* **Redelivery is not an error.**  The consumer keeps the tracked position of each
  partition it owns (loaded on assignment, advanced on every apply); a record at or below
  it is skipped before it reaches the handler.  Records of a partition revoked while its
  batch was being applied are dropped: the partition's next owner starts from PostgreSQL.
* **Only infrastructure failures are retried** (``services.failures``), with capped
  exponential backoff and jitter, logged at most once per interval.  Any other error from
  decoding or from the handler sends the message to the dead-letter topic with the reason
  ``<ExceptionType>: <message>``, its position is recorded, and the consumer goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import ConsumerRecord
from eventsourcing.persistence import IntegrityError, Tracking
from pydantic import BaseModel

from services.eventstore import EventStore, TrackingApplication
from services.failures import is_infrastructure_error
from services.kafka import send_dead_letter
from services.observability import Metrics, ThrottledLog, correlation_id_var, dossier_code_var
from services.retrying import INITIAL_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, Backoff, retry_while_unavailable
from shared_events import CloudEvent, decode, from_cloud_event

log = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 5
"""How often a reaction that lost a version race with another writer is re-applied before it
is dead-lettered (a reaction that always conflicts, e.g. creates an aggregate that exists)."""

Handler = Callable[[Any, BaseModel, CloudEvent, str], Sequence[Any]]
"""``handler(app, contract, envelope, topic) -> objects to save`` — runs on the store's threads.

``topic`` is the topic the record was read from (a stream agency's reply topic names the agency)."""


class UnprocessableMessage(Exception):
    """The message is well-formed but can never be applied (send it to dead letters)."""


def tracking_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class _SeekToTrackedPositions(ConsumerRebalanceListener):
    def __init__(self, runner: TrackingConsumer) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._runner.forget(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._runner.seek_to_tracked(assigned)


class TrackingConsumer:
    """Consumes ``topics`` in group ``group_id`` and applies each message with ``handler``."""

    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        group_id: str,
        bootstrap_servers: str,
        store: EventStore[TrackingApplication],
        handler: Handler,
        producer: AIOKafkaProducer,
        dead_letter_topic: str,
        metrics: Metrics,
        retry_backoff_seconds: float = INITIAL_BACKOFF_SECONDS,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        max_batch: int = 200,
    ) -> None:
        self.name = name
        self._topics = list(topics)
        self._store = store
        self._handler = handler
        self._producer = producer
        self._dead_letter_topic = dead_letter_topic
        self._metrics = metrics
        self._backoff = (retry_backoff_seconds, max(retry_backoff_seconds, max_backoff_seconds))
        self._max_batch = max_batch
        self._positions: dict[TopicPartition, int] = {}
        """The last applied (or dead-lettered) offset of each partition this consumer owns; -1: none."""
        self._retry_log = ThrottledLog(log)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            retry_backoff_ms=500,
        )

    @property
    def app(self) -> TrackingApplication:
        assert self._store.app is not None
        return self._store.app

    def forget(self, partitions: Any) -> None:
        """Partitions revoked: drop their positions, so their in-flight records are not applied."""
        dropped = {f"{tp.topic}:{tp.partition}": self._positions.pop(TopicPartition(tp.topic, tp.partition), None)
                   for tp in partitions}
        log.info("partitions revoked", extra={"consumer": self.name, "positions": dropped})

    async def seek_to_tracked(self, partitions: Any) -> None:
        """Seek every assigned partition to just after its position in PostgreSQL.

        The positions are read in one call first and the seeks made together, so no partition
        is fetched for long from Kafka's committed offset while the others are read."""
        wanted = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        found = await self._recorded_once_available(wanted)
        for tp, position in zip(wanted, found, strict=True):
            self._seek(tp, position)
        log.info("partitions assigned", extra={"consumer": self.name, "positions": {
            tracking_name(tp.topic, tp.partition): position for tp, position in zip(wanted, found, strict=True)}})

    async def _recorded(self, partitions: Sequence[TopicPartition]) -> list[int | None]:
        """The positions PostgreSQL records for ``partitions`` (None: nothing applied yet), read
        in one call on the event-store threads; an outage raises its infrastructure error."""
        names = [tracking_name(tp.topic, tp.partition) for tp in partitions]
        return await self._store.call(lambda: [self.app.position(name) for name in names])

    async def _recorded_once_available(self, partitions: Sequence[TopicPartition]) -> list[int | None]:
        """:meth:`_recorded`, an outage waited out with capped backoff."""
        return await retry_while_unavailable(lambda: self._recorded(partitions), what="reading tracked positions",
                                             logger=log)

    def _seek(self, tp: TopicPartition, position: int | None) -> None:
        self._positions[tp] = -1 if position is None else position
        self._consumer.seek(tp, 0 if position is None else position + 1)

    async def _seek_unsought(self, tp: TopicPartition) -> None:
        """A partition Kafka assigned but whose seek did not happen (the listener was interrupted):
        the records fetched from Kafka's committed offset are dropped and the partition sought here."""
        if tp not in self._consumer.assignment():
            return
        [position] = await self._recorded_once_available([tp])
        if tp not in self._positions and tp in self._consumer.assignment():
            self._seek(tp, position)
            log.warning("an assigned partition had not been sought; sought to its tracked position",
                        extra={"consumer": self.name, "partition": f"{tp.topic}:{tp.partition}",
                               "position": position})

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set."""
        await retry_while_unavailable(self._consumer.start, what=f"{self.name}: connecting to Kafka",
                                      logger=log, stop=stop)
        self._consumer.subscribe(self._topics, listener=_SeekToTrackedPositions(self))
        fetch_backoff = Backoff(*self._backoff)
        try:
            while not stop.is_set():
                try:
                    batches = await self._consumer.getmany(timeout_ms=500, max_records=self._max_batch)
                except Exception as exc:
                    if not is_infrastructure_error(exc):
                        raise
                    self._retry_log.error("fetching from Kafka failed: the broker is unavailable; retrying",
                                          extra={"error": f"{type(exc).__name__}: {exc}"[:500]})
                    await fetch_backoff.wait(stop)
                    continue
                fetch_backoff.reset()
                for tp, records in batches.items():
                    applied = await self._apply_batch(tp, records, stop)
                    if stop.is_set():
                        return
                    if applied is not None:
                        await self._commit(tp, applied)
        finally:
            await self._consumer.stop()

    async def _apply_batch(self, tp: TopicPartition, records: Sequence[ConsumerRecord],
                           stop: asyncio.Event) -> int | None:
        """Apply a partition's records while it stays assigned; the last offset applied."""
        last: int | None = None
        for record in records:
            if tp not in self._positions:
                self._metrics.messages_consumed.labels(record.topic, "revoked-in-flight").inc()
                log.info("records of a partition not (or no longer) sought dropped", extra={
                    "consumer": self.name, "partition": f"{tp.topic}:{tp.partition}", "from_offset": record.offset})
                await self._seek_unsought(tp)
                break
            await self._apply_with_retry(record, stop)
            if stop.is_set():
                break
            last = record.offset
        return last

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        """Kafka's committed offset is for monitoring only: a failed commit is not an error."""
        if tp not in self._positions:
            return
        try:
            await self._consumer.commit({tp: offset + 1})
        except Exception as exc:
            log.debug("committing an offset to Kafka failed", extra={"error": repr(exc)})

    async def _apply_with_retry(self, record: ConsumerRecord, stop: asyncio.Event) -> None:
        backoff = Backoff(*self._backoff)
        while True:
            try:
                await self.apply(record)
                return
            except Exception as exc:
                if not is_infrastructure_error(exc):
                    raise
                self._metrics.retries.labels("consume").inc()
                self._retry_log.error("applying a message failed: a dependency is unavailable; retrying",
                                      extra={"topic": record.topic, "partition": record.partition,
                                             "offset": record.offset,
                                             "error": f"{type(exc).__name__}: {exc}"[:500]})
                if stop.is_set():
                    raise
                await backoff.wait(stop)
                if stop.is_set():
                    raise
                if TopicPartition(record.topic, record.partition) not in self._positions and self._subscribed:
                    log.info("revoked while retrying; left to the partition's next owner", extra={
                        "consumer": self.name, "partition": f"{record.topic}:{record.partition}",
                        "offset": record.offset})
                    return  # revoked while we waited: its next owner applies it

    @property
    def _subscribed(self) -> bool:
        return bool(self._consumer.subscription())

    async def apply(self, record: ConsumerRecord) -> None:
        """Apply one record exactly once (or dead-letter it), recording its position.

        Raises only infrastructure errors (the caller retries them).
        """
        tp = TopicPartition(record.topic, record.partition)
        if tp not in self._positions:
            [position] = await self._recorded([tp])
            self._positions[tp] = -1 if position is None else position
        if record.offset <= self._positions[tp]:
            self._metrics.messages_consumed.labels(record.topic, "already-applied").inc()
            return
        outcome = await self._apply_new(record)
        if tp in self._positions:
            self._positions[tp] = max(self._positions[tp], record.offset)
        self._metrics.messages_consumed.labels(record.topic, outcome).inc()

    async def _apply_new(self, record: ConsumerRecord) -> str:
        tracking = Tracking(tracking_name(record.topic, record.partition), record.offset)
        try:
            envelope = decode(record.value or b"")
            contract = from_cloud_event(envelope)
        except Exception as exc:
            if is_infrastructure_error(exc):
                raise
            return await self._dead_letter(record, tracking, exc)
        dossier_token = dossier_code_var.set(envelope.subject)
        correlation_token = correlation_id_var.set(envelope.correlationid)
        try:
            for attempt in range(1, CONFLICT_ATTEMPTS + 1):
                try:
                    await self._store.call(self._handle_and_save, tracking, contract, envelope, record.topic)
                    return "applied"
                except Exception as exc:
                    if is_infrastructure_error(exc):
                        raise
                    if await self._recorded_at_or_after(record):
                        # Applied meanwhile (by this process before a rebalance, or by another
                        # member): the handler refused a repeat, or the position was taken.
                        return "already-applied"
                    if isinstance(exc, IntegrityError) and attempt < CONFLICT_ATTEMPTS:
                        continue  # lost a version race with another writer: reload and re-apply
                    return await self._dead_letter(record, tracking, exc)
            raise AssertionError("unreachable")
        finally:
            dossier_code_var.reset(dossier_token)
            correlation_id_var.reset(correlation_token)

    async def _recorded_at_or_after(self, record: ConsumerRecord) -> bool:
        [recorded] = await self._recorded([TopicPartition(record.topic, record.partition)])
        return recorded is not None and recorded >= record.offset

    def _handle_and_save(self, tracking: Tracking, contract: BaseModel, envelope: CloudEvent, topic: str) -> None:
        objs = self._handler(self.app, contract, envelope, topic)
        self.app.save_reaction(tracking, objs)

    async def _dead_letter(self, record: ConsumerRecord, tracking: Tracking, exc: BaseException) -> str:
        reason = dead_letter_reason(exc)
        await send_dead_letter(self._producer, self._dead_letter_topic, record, consumer=self.name, reason=reason)
        self._metrics.dead_letters.labels(record.topic).inc()
        with contextlib.suppress(IntegrityError):  # recorded already, by a concurrent apply
            await self._store.call(self.app.process_recorder.insert_tracking, tracking)
        return "dead-lettered"


def dead_letter_reason(exc: BaseException) -> str:
    """``<ExceptionType>: <message>``, as the dead letter's ``dlq-reason`` says it."""
    return f"{type(exc).__name__}: {exc}"
