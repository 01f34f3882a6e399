"""A minimal tracking application for chassis tests on real Kafka and PostgreSQL: every
message applied creates a receipt whose id derives from the message's, and a repeat is refused
as a domain handler would refuse it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from services.consumer import TrackingConsumer, UnprocessableMessage
from services.eventstore import EventStore, TrackingApplication
from services.kafka import make_producer
from services.observability import Metrics
from services.runtime import open_event_store
from services.settings import ServiceSettings
from shared_events import CloudEvent, DossierStatusChanged, NationalStatus, encode, to_cloud_event
from tests.random_refs import random_agency_id, random_suffix


class Receipt(Aggregate):
    """One applied message: its id is derived from the message's, so a second apply is a repeat."""

    @event("Received")
    def __init__(self, event_id: str) -> None:
        self.event_id = event_id


class ReceiptBook(TrackingApplication):
    work_seconds = 0.0
    """How long the handler "works" on each message."""

    def receipt_id(self, event_id: str) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"receipt/{event_id}")


def receive_once(app: ReceiptBook, contract: Any, envelope: CloudEvent, topic: str) -> Sequence[Any]:
    """Creates the message's receipt; refuses a repeat as a domain handler would."""
    time.sleep(app.work_seconds)
    try:
        app.repository.get(app.receipt_id(envelope.id))
    except AggregateNotFoundError:
        return [Receipt(event_id=envelope.id)]
    raise UnprocessableMessage(f"receipt for {envelope.id} created twice")


def a_status_change(code: str) -> bytes:
    now = datetime.now(UTC)
    contract = DossierStatusChanged(dossier_code=code, national_status=NationalStatus.PROCESSING,
                                    changed_by_agency_id=random_agency_id(), changed_at=now)
    return encode(to_cloud_event(contract, id=str(uuid.uuid4()), source="/lienthong/test", subject=code,
                                 time=now, correlation_id=str(uuid.uuid4())))


class Member:
    """One consumer process of the group, in this test's event loop."""

    def __init__(self, settings: ServiceSettings, topic: str, group: str, dead_letters: str,
                 *, work_seconds: float = 0.0) -> None:
        env = {**settings.eventsourcing_env(), "CREATE_TABLE": "y"}

        def book() -> ReceiptBook:
            app = ReceiptBook(env=env)
            app.work_seconds = work_seconds
            return app

        self.store: EventStore[ReceiptBook] = EventStore(book, workers=4, name=f"member-{random_suffix()}")
        self.settings = settings
        self.producer: AIOKafkaProducer = make_producer(settings.kafka_bootstrap_servers, "redelivery-test")
        self.metrics = Metrics()
        self.stop = asyncio.Event()
        self.topic, self.group, self.dead_letters = topic, group, dead_letters
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Member:
        await open_event_store(self.settings, self.store)
        await self.producer.start()
        consumer = TrackingConsumer(
            name=f"member-{random_suffix()}", topics=[self.topic], group_id=self.group,
            bootstrap_servers=self.settings.kafka_bootstrap_servers, store=self.store, handler=receive_once,
            producer=self.producer, dead_letter_topic=self.dead_letters, metrics=self.metrics)
        self.task = asyncio.create_task(consumer.run(self.stop))
        return self

    async def leave(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
        await self.producer.stop()
        await self.store.close()

    def outcome(self, outcome: str) -> float:
        return self.metrics.registry.get_sample_value(
            "messages_consumed_total", {"topic": self.topic, "outcome": outcome}) or 0




async def receipts(database_url: str, schema: str) -> tuple[int, int]:
    """How many receipts were created, and for how many distinct messages."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            f'SELECT count(*) AS total, count(DISTINCT originator_id) AS distinct_ids '
            f'FROM "{schema}".receiptbook_events')
        return row["total"], row["distinct_ids"]
    finally:
        await conn.close()
