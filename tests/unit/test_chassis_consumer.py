"""The tracking consumer applies each message once, or parks it on the dead-letter topic
(in memory, with a fake producer; no broker is contacted)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import ConsumerRecord
from eventsourcing.persistence import Tracking

from intake.application import IntakeApplication
from intake.reactions import apply_status_change
from services.consumer import TrackingConsumer, tracking_name
from services.eventstore import EventStore
from services.kafka import dead_letter_body
from services.observability import Metrics
from shared_events import DossierStatusChanged, NationalStatus, encode, to_cloud_event
from tests.random_refs import random_agency_id, random_suffix
from tests.support.builders import a_code, a_dossier

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@dataclass
class FakeProducer:
    """Keeps every message sent."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send_and_wait(self, topic: str, value: bytes | None, *, key: bytes | None,
                            headers: list[tuple[str, bytes]]) -> None:
        self.sent.append({"topic": topic, "value": value, "key": key,
                          "headers": {k: v.decode() for k, v in headers}})


@pytest.fixture
async def store() -> AsyncIterator[EventStore[IntakeApplication]]:
    store = EventStore(lambda: IntakeApplication(env=IN_MEMORY), workers=2, name=f"consumer-{random_suffix()}")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def topic() -> str:
    return f"test.{random_suffix()}.dossier-status"


@pytest.fixture
def dead_letter_topic() -> str:
    return f"test.{random_suffix()}.dead-letters"


@pytest.fixture
async def consumer(store: EventStore[IntakeApplication], producer: FakeProducer, metrics: Metrics, topic: str,
                   dead_letter_topic: str) -> TrackingConsumer:
    return TrackingConsumer(
        name="intake-consumer", topics=[topic], group_id=f"group-{random_suffix()}",
        bootstrap_servers="127.0.0.1:1", store=store, handler=apply_status_change, producer=producer,
        dead_letter_topic=dead_letter_topic, metrics=metrics)


def a_record(topic: str, offset: int, value: bytes, key: bytes | None = None) -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=key,
                          value=value, checksum=None, serialized_key_size=len(key or b""),
                          serialized_value_size=len(value), headers=())


def a_status_change(code: str, status: NationalStatus = NationalStatus.PROCESSING) -> bytes:
    contract = DossierStatusChanged(dossier_code=code, national_status=status,
                                    changed_by_agency_id=random_agency_id(), changed_at=datetime.now(UTC))
    return encode(to_cloud_event(contract, id=str(uuid4()), source="/lienthong/routing", subject=code,
                                 time=datetime.now(UTC), correlation_id=str(uuid4())))


def consumed(metrics: Metrics, topic: str, outcome: str) -> float:
    return metrics.registry.get_sample_value("messages_consumed_total", {"topic": topic, "outcome": outcome}) or 0


async def test_a_status_change_is_applied_and_its_position_recorded(
    consumer: TrackingConsumer, store: EventStore[IntakeApplication], metrics: Metrics, topic: str
) -> None:
    dossier = a_dossier(channel="desk")
    store.app.submit(dossier, None)

    await consumer.apply(a_record(topic, 5, a_status_change(dossier.code, NationalStatus.PROCESSING)))

    assert store.app.dossier(dossier.code).national_status == NationalStatus.PROCESSING
    assert store.app.position(tracking_name(topic, 0)) == 5
    assert consumed(metrics, topic, "applied") == 1


async def test_a_message_delivered_again_is_not_applied_twice(
    consumer: TrackingConsumer, store: EventStore[IntakeApplication], producer: FakeProducer,
    metrics: Metrics, topic: str
) -> None:
    dossier = a_dossier(channel="desk")
    store.app.submit(dossier, None)
    record = a_record(topic, 0, a_status_change(dossier.code))
    await consumer.apply(record)

    await consumer.apply(record)

    assert [type(e).__name__ for e in store.app.history(dossier.code)] == ["Submitted", "StatusChanged"]
    assert consumed(metrics, topic, "already-applied") == 1
    assert producer.sent == []


async def test_an_undecodable_message_goes_to_dead_letters_and_its_position_is_recorded(
    consumer: TrackingConsumer, store: EventStore[IntakeApplication], producer: FakeProducer,
    topic: str, dead_letter_topic: str
) -> None:
    value, key = json.dumps({"not": "an envelope"}).encode(), random_suffix().encode()

    await consumer.apply(a_record(topic, 9, value, key))

    [parked] = producer.sent
    assert (parked["topic"], parked["value"], parked["key"]) == (dead_letter_topic, value, key)
    assert parked["headers"]["dlq-reason"].startswith("EnvelopeError: ")
    assert parked["headers"]["dlq-original-offset"] == "9"
    assert store.app.position(tracking_name(topic, 0)) == 9


async def test_a_status_change_for_an_unknown_dossier_goes_to_dead_letters(
    consumer: TrackingConsumer, store: EventStore[IntakeApplication], producer: FakeProducer,
    metrics: Metrics, topic: str
) -> None:
    code = a_code()

    await consumer.apply(a_record(topic, 3, a_status_change(code)))

    [parked] = producer.sent
    assert parked["headers"]["dlq-reason"] == f"UnprocessableMessage: no dossier {code}"
    assert parked["headers"]["dlq-consumer"] == "intake-consumer"
    assert store.app.position(tracking_name(topic, 0)) == 3
    assert consumed(metrics, topic, "dead-lettered") == 1


def a_handler_raising(exc: Exception) -> Any:
    def handler(app: Any, contract: Any, envelope: Any, _topic: str) -> list[Any]:
        raise exc
    return handler


def a_consumer_with(store: EventStore[IntakeApplication], producer: FakeProducer, metrics: Metrics, topic: str,
                    handler: Any) -> TrackingConsumer:
    return TrackingConsumer(
        name="test-consumer", topics=[topic], group_id=f"group-{random_suffix()}", bootstrap_servers="127.0.0.1:1",
        store=store, handler=handler, producer=producer, dead_letter_topic="dead", metrics=metrics)


async def test_any_error_of_the_handler_that_is_not_an_outage_dead_letters_the_message_with_its_type(
    store: EventStore[IntakeApplication], producer: FakeProducer, metrics: Metrics, topic: str
) -> None:
    consumer = a_consumer_with(store, producer, metrics, topic,
                               a_handler_raising(OverflowError("date value out of range")))

    await consumer.apply(a_record(topic, 4, a_status_change(a_code())))

    [parked] = producer.sent
    assert parked["headers"]["dlq-reason"] == "OverflowError: date value out of range"
    assert store.app.position(tracking_name(topic, 0)) == 4


async def test_an_outage_seen_by_the_handler_is_raised_for_a_retry_and_nothing_is_dead_lettered(
    store: EventStore[IntakeApplication], producer: FakeProducer, metrics: Metrics, topic: str
) -> None:
    consumer = a_consumer_with(store, producer, metrics, topic, a_handler_raising(ConnectionRefusedError("db down")))

    with pytest.raises(ConnectionRefusedError):
        await consumer.apply(a_record(topic, 4, a_status_change(a_code())))

    assert producer.sent == []
    assert store.app.position(tracking_name(topic, 0)) is None


async def test_a_record_at_or_below_the_tracked_position_is_skipped_before_the_handler_sees_it(
    store: EventStore[IntakeApplication], producer: FakeProducer, metrics: Metrics, topic: str
) -> None:
    seen: list[str] = []

    def handler(app: Any, contract: Any, envelope: Any, _topic: str) -> list[Any]:
        seen.append(envelope.id)
        raise ValueError("created twice")  # what a handler refusing a repeat does

    consumer = a_consumer_with(store, producer, metrics, topic, handler)
    first = a_record(topic, 7, a_status_change(a_code()))
    await consumer.apply(first)

    await consumer.apply(first)
    await consumer.apply(a_record(topic, 6, a_status_change(a_code())))

    assert len(seen) == 1 and len(producer.sent) == 1
    assert consumed(metrics, topic, "already-applied") == 2


async def test_a_repeat_refused_by_the_handler_after_another_process_applied_it_is_not_a_dead_letter(
    store: EventStore[IntakeApplication], producer: FakeProducer, metrics: Metrics, topic: str
) -> None:
    consumer = a_consumer_with(store, producer, metrics, topic, a_handler_raising(ValueError("created twice")))
    record = a_record(topic, 2, a_status_change(a_code()))
    await consumer.apply(a_record(topic, 1, a_status_change(a_code())))  # loads the position: offset 1
    producer.sent.clear()
    # Meanwhile (a rebalance) another member applied offset 2 and recorded it.
    store.app.process_recorder.insert_tracking(Tracking(tracking_name(topic, 0), 2))

    await consumer.apply(record)

    assert producer.sent == []
    assert consumed(metrics, topic, "already-applied") == 1


async def test_records_of_a_revoked_partition_still_in_a_batch_are_not_applied(
    store: EventStore[IntakeApplication], producer: FakeProducer, metrics: Metrics, topic: str
) -> None:
    applied: list[int] = []
    consumer = a_consumer_with(store, producer, metrics, topic, lambda app, c, e, t: applied.append(1) or [])
    tp = TopicPartition(topic, 0)
    records = [a_record(topic, offset, a_status_change(a_code())) for offset in range(3)]
    await consumer.apply(records[0])

    consumer.forget([tp])
    last = await consumer._apply_batch(tp, records[1:], asyncio.Event())

    assert last is None and applied == [1]


def test_a_dead_letter_body_over_the_limit_is_cut_and_says_how_large_the_original_was() -> None:
    value = b"x" * 2000

    body, headers = dead_letter_body(value, max_bytes=1000)

    assert body == value[:1000]
    assert dict(headers) == {"dlq-truncated": b"true", "dlq-original-size": b"2000",
                             "dlq-original-sha256": hashlib.sha256(value).hexdigest().encode()}


def test_a_dead_letter_body_within_the_limit_is_kept_whole() -> None:
    assert dead_letter_body(b"small", max_bytes=1000) == (b"small", [])


@dataclass
class RefusingProducer(FakeProducer):
    """A broker that refuses records with a value (as it refuses one too large)."""

    def __post_init__(self) -> None:
        self.refused = 0

    async def send_and_wait(self, topic: str, value: bytes | None, *, key: bytes | None,
                            headers: list[tuple[str, bytes]]) -> None:
        if value is not None:
            self.refused += 1
            raise MessageSizeTooLargeError("the message is too large")
        await super().send_and_wait(topic, value, key=key, headers=headers)


async def test_a_dead_letter_the_broker_refuses_falls_back_to_a_minimal_record_with_the_reason(
    store: EventStore[IntakeApplication], metrics: Metrics, topic: str
) -> None:
    producer = RefusingProducer()
    consumer = a_consumer_with(store, producer, metrics, topic, apply_status_change)
    value = b"\xff" * 5000

    await consumer.apply(a_record(topic, 11, value, key=b"k"))

    [parked] = producer.sent
    assert parked["value"] is None and parked["key"] == b"k"
    assert parked["headers"]["dlq-reason"].startswith("EnvelopeError: not UTF-8")
    assert parked["headers"]["dlq-original-size"] == "5000"
    assert parked["headers"]["dlq-refused"].startswith("MessageSizeTooLargeError")
    assert store.app.position(tracking_name(topic, 0)) == 11
