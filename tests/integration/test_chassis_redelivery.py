"""Redelivery is not an error: consumers of one group rebalancing under load apply every
message exactly once and dead-letter none (real Kafka, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timezone
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from eventsourcing.domain import Aggregate, event
from eventsourcing.application import AggregateNotFoundError

from services.consumer import TrackingConsumer, UnprocessableMessage
from services.eventstore import EventStore, TrackingApplication
from services.kafka import make_producer
from services.observability import Metrics
from services.runtime import open_event_store
from services.settings import ServiceSettings
from shared_events import CloudEvent, DossierStatusChanged, NationalStatus, encode, to_cloud_event
from tests.random_refs import random_agency_id, random_suffix
from tests.support.endpoints import Endpoints
from tests.support.kafka import create_topics, eventually, read_to_end

pytestmark = pytest.mark.integration

MESSAGES = 1200
PARTITIONS = 6


class Receipt(Aggregate):
    """One applied message: its id is derived from the message's, so a second apply is a repeat."""

    @event("Received")
    def __init__(self, event_id: str) -> None:
        self.event_id = event_id


class ReceiptBook(TrackingApplication):
    def receipt_id(self, event_id: str) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"receipt/{event_id}")


HANDLER_WORK_SECONDS = 0.01
"""What a real reaction spends loading and deciding: long enough that a rebalance lands while
a batch is being applied."""


def receive_once(app: ReceiptBook, contract: Any, envelope: CloudEvent) -> Sequence[Any]:
    """Creates the message's receipt; refuses a repeat as a domain handler would."""
    time.sleep(HANDLER_WORK_SECONDS)
    try:
        app.repository.get(app.receipt_id(envelope.id))
    except AggregateNotFoundError:
        return [Receipt(event_id=envelope.id)]
    raise UnprocessableMessage(f"receipt for {envelope.id} created twice")


def a_status_change(code: str) -> bytes:
    now = datetime.now(timezone.utc)
    contract = DossierStatusChanged(dossier_code=code, national_status=NationalStatus.PROCESSING,
                                    changed_by_agency_id=random_agency_id(), changed_at=now)
    return encode(to_cloud_event(contract, id=str(uuid.uuid4()), source="/lienthong/test", subject=code,
                                 time=now, correlation_id=str(uuid.uuid4())))


class Member:
    """One consumer process of the group, in this test's event loop."""

    def __init__(self, settings: ServiceSettings, topic: str, group: str, dead_letters: str) -> None:
        env = {**settings.eventsourcing_env(), "CREATE_TABLE": "y"}
        self.store: EventStore[ReceiptBook] = EventStore(lambda: ReceiptBook(env=env), workers=4,
                                                         name=f"member-{random_suffix()}")
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


@pytest.fixture
async def schema(endpoints: Endpoints) -> AsyncIterator[str]:
    name = f"redelivery_{random_suffix()}"
    yield name
    conn = await asyncpg.connect(endpoints.database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


async def test_consumers_rebalancing_under_load_apply_every_message_once_and_dead_letter_none(
    endpoints: Endpoints, schema: str
) -> None:
    topic, dead_letters = f"test.{random_suffix()}.redelivery", f"test.{random_suffix()}.dead-letters"
    group = f"redelivery-{random_suffix()}"
    await create_topics(endpoints.kafka_bootstrap_servers, [topic], partitions=PARTITIONS)
    await create_topics(endpoints.kafka_bootstrap_servers, [dead_letters], partitions=1)
    settings = ServiceSettings(kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers,
                               database_url=endpoints.database_url, database_schema=schema)
    producer = make_producer(endpoints.kafka_bootstrap_servers, "redelivery-load")
    await producer.start()
    try:
        for _ in range(MESSAGES):
            code = f"{random_agency_id()}-251128-{secrets.randbelow(10**6):06d}"
            await producer.send(topic, a_status_change(code), key=code.encode())
        await producer.flush()
    finally:
        await producer.stop()

    first = await Member(settings, topic, group, dead_letters).start()
    second = await Member(settings, topic, group, dead_letters).start()
    members = [first, second]

    async def applied() -> int:
        return sum(int(m.outcome("applied")) for m in members)

    try:
        # A third member joins and leaves, three times, while the batches are being applied.
        for round_ in range(3):
            await eventually(lambda r=round_: _at_least(applied, (r + 1) * MESSAGES // 5), timeout=120)
            third = await Member(settings, topic, group, dead_letters).start()
            members.append(third)
            await eventually(lambda r=round_: _at_least(applied, (r + 1) * MESSAGES // 5 + MESSAGES // 10),
                             timeout=120)
            await third.leave()
        await eventually(lambda: _at_least(applied, MESSAGES), timeout=180)
    finally:
        for member in (first, second):
            with contextlib.suppress(Exception):
                await member.leave()

    receipts = await _receipts(endpoints.database_url, schema)
    assert (receipts.total, receipts.distinct) == (MESSAGES, MESSAGES)
    assert sum(m.outcome("dead-lettered") for m in members) == 0
    assert await read_to_end(endpoints.kafka_bootstrap_servers, dead_letters) == []
    assert sum(m.outcome("applied") for m in members) == MESSAGES


class _Counts:
    def __init__(self, total: int, distinct: int) -> None:
        self.total, self.distinct = total, distinct


async def _receipts(database_url: str, schema: str) -> _Counts:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            f'SELECT count(*) AS total, count(DISTINCT originator_id) AS distinct_ids '
            f'FROM "{schema}".receiptbook_events')
        return _Counts(row["total"], row["distinct_ids"])
    finally:
        await conn.close()


async def _at_least(count: Any, target: int) -> bool:
    return await count() >= target


