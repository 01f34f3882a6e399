"""The tracking consumer: applies Kafka messages exactly once to a service's event store.

For every message the handler loads aggregates, acts, and returns what to save; the new
events and the consumed position (``<topic>:<partition>`` → offset) are written in one
PostgreSQL transaction.  On (re)assignment of a partition the consumer seeks to the
position after the last one recorded in PostgreSQL — Kafka's committed offsets are kept
only for monitoring.  A message that cannot be decoded, or that the handler rejects with
:class:`UnprocessableMessage`, goes to the dead-letter topic with the reason, its
position is recorded, and the consumer goes on.  Any other error (database or broker
unavailable) is retried: the message is never skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import ConsumerRecord
from eventsourcing.persistence import IntegrityError, Tracking
from pydantic import BaseModel

from services.eventstore import EventStore, TrackingApplication
from services.kafka import send_dead_letter
from services.observability import Metrics, correlation_id_var, dossier_code_var
from shared_events import CloudEvent, ContractError, EnvelopeError, decode, from_cloud_event

log = logging.getLogger(__name__)

Handler = Callable[[Any, BaseModel, CloudEvent], Sequence[Any]]
"""``handler(app, contract, envelope) -> objects to save`` — runs on the store's threads."""


class UnprocessableMessage(Exception):
    """The message is well-formed but can never be applied (send it to dead letters)."""


def tracking_name(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


class _SeekToTrackedPositions(ConsumerRebalanceListener):
    def __init__(self, runner: "TrackingConsumer") -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

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
        retry_backoff_seconds: float = 0.5,
    ) -> None:
        self.name = name
        self._topics = list(topics)
        self._store = store
        self._handler = handler
        self._producer = producer
        self._dead_letter_topic = dead_letter_topic
        self._metrics = metrics
        self._backoff = retry_backoff_seconds
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )

    @property
    def app(self) -> TrackingApplication:
        assert self._store.app is not None
        return self._store.app

    async def seek_to_tracked(self, partitions: Any) -> None:
        for tp in partitions:
            position = await self._store.call(self.app.position, tracking_name(tp.topic, tp.partition))
            if position is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, position + 1)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set."""
        await self._consumer.start()
        self._consumer.subscribe(self._topics, listener=_SeekToTrackedPositions(self))
        try:
            while not stop.is_set():
                batches = await self._consumer.getmany(timeout_ms=500, max_records=200)
                for tp, records in batches.items():
                    for record in records:
                        await self._apply_with_retry(record, stop)
                        if stop.is_set():
                            return
                    await self._consumer.commit({tp: records[-1].offset + 1})
        finally:
            await self._consumer.stop()

    async def _apply_with_retry(self, record: ConsumerRecord, stop: asyncio.Event) -> None:
        while True:
            try:
                await self.apply(record)
                return
            except Exception:  # noqa: BLE001 - transient: retry, never skip
                log.exception("applying a message failed; retrying",
                              extra={"topic": record.topic, "offset": record.offset})
                if stop.is_set():
                    raise
                await asyncio.sleep(self._backoff)

    async def apply(self, record: ConsumerRecord) -> None:
        """Apply one record exactly once (or dead-letter it), recording its position."""
        tracking = Tracking(tracking_name(record.topic, record.partition), record.offset)
        try:
            envelope = decode(record.value or b"")
            contract = from_cloud_event(envelope)
        except (EnvelopeError, ContractError) as exc:
            await self._dead_letter(record, tracking, f"undecodable: {exc}")
            return
        dossier_token = dossier_code_var.set(envelope.subject)
        correlation_token = correlation_id_var.set(envelope.correlationid)
        try:
            await self._store.call(self._handle_and_save, tracking, contract, envelope)
            self._metrics.messages_consumed.labels(record.topic, "applied").inc()
        except UnprocessableMessage as exc:
            await self._dead_letter(record, tracking, f"unprocessable: {exc}")
        except IntegrityError:
            # Either this position was recorded before (the message was applied already)
            # or another writer changed the same aggregate concurrently (retry).
            recorded = await self._store.call(self.app.position, tracking.application_name)
            if recorded is None or recorded < record.offset:
                raise
            self._metrics.messages_consumed.labels(record.topic, "already-applied").inc()
        finally:
            dossier_code_var.reset(dossier_token)
            correlation_id_var.reset(correlation_token)

    def _handle_and_save(self, tracking: Tracking, contract: BaseModel, envelope: CloudEvent) -> None:
        objs = self._handler(self.app, contract, envelope)
        self.app.save_reaction(tracking, objs)

    async def _dead_letter(self, record: ConsumerRecord, tracking: Tracking, reason: str) -> None:
        await send_dead_letter(self._producer, self._dead_letter_topic, record, consumer=self.name, reason=reason)
        self._metrics.dead_letters.labels(record.topic).inc()
        self._metrics.messages_consumed.labels(record.topic, "dead-lettered").inc()
        try:
            await self._store.call(self.app.process_recorder.insert_tracking, tracking)
        except IntegrityError:
            pass
