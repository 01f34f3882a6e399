"""The tracking consumer applies each message once, or parks it on the dead-letter topic
(in memory, with a fake producer; no broker is contacted)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import uuid4

import pytest
from aiokafka.structs import ConsumerRecord

from intake.application import IntakeApplication
from intake.reactions import apply_status_change
from services.consumer import TrackingConsumer, tracking_name
from services.eventstore import EventStore
from services.observability import Metrics
from shared_events import DossierStatusChanged, NationalStatus, encode, to_cloud_event
from tests.random_refs import random_agency_id, random_suffix
from tests.unit.test_intake_domain import a_code, a_dossier

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
                                    changed_by_agency_id=random_agency_id(), changed_at=datetime.now(timezone.utc))
    return encode(to_cloud_event(contract, id=str(uuid4()), source="/lienthong/routing", subject=code,
                                 time=datetime.now(timezone.utc), correlation_id=str(uuid4())))


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
    assert parked["headers"]["dlq-reason"].startswith("undecodable:")
    assert parked["headers"]["dlq-original-offset"] == "9"
    assert store.app.position(tracking_name(topic, 0)) == 9


async def test_a_status_change_for_an_unknown_dossier_goes_to_dead_letters(
    consumer: TrackingConsumer, store: EventStore[IntakeApplication], producer: FakeProducer,
    metrics: Metrics, topic: str
) -> None:
    code = a_code()

    await consumer.apply(a_record(topic, 3, a_status_change(code)))

    [parked] = producer.sent
    assert parked["headers"]["dlq-reason"] == f"unprocessable: no dossier {code}"
    assert parked["headers"]["dlq-consumer"] == "intake-consumer"
    assert store.app.position(tracking_name(topic, 0)) == 3
    assert consumed(metrics, topic, "dead-lettered") == 1
