"""On real Kafka and PostgreSQL: a poison record too large to dead-letter whole does not stall
its partition, and what the relay publishes is read by the CloudEvents SDK's Kafka binding."""

from __future__ import annotations

import hashlib
import secrets
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event, from_structured_event

from intake.application import IntakeApplication
from intake.outbound import to_outbound
from services.eventstore import EventStore
from services.observability import Metrics
from services.relay import Relay, make_transactional_producer
from services.settings import ServiceSettings
from tests.random_refs import random_agency_id, random_suffix
from tests.support.builders import a_dossier
from tests.support.endpoints import Endpoints
from tests.support.kafka import create_topics, eventually, read_to_end
from tests.support.receipts import Member, a_status_change, receipts

pytestmark = pytest.mark.integration

NEARLY_A_MEBIBYTE = 1_048_300
"""A value the broker takes, but whose dead-letter copy with its headers would exceed the
producer's default ``max_request_size`` (1 MiB)."""




def a_code() -> str:
    return f"{random_agency_id()}-251128-{secrets.randbelow(10**6):06d}"


async def test_an_undecodable_record_of_a_mebibyte_is_dead_lettered_cut_and_the_records_after_it_are_applied(
    endpoints: Endpoints, schema: str
) -> None:
    bootstrap = endpoints.kafka_bootstrap_servers
    topic, dead_letters = f"test.{random_suffix()}.poison", f"test.{random_suffix()}.dead-letters"
    await create_topics(bootstrap, [topic, dead_letters], partitions=1)
    poison = b"\xff" + secrets.token_bytes(NEARLY_A_MEBIBYTE - 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                                max_request_size=2 * NEARLY_A_MEBIBYTE)
    await producer.start()
    try:
        await producer.send_and_wait(topic, poison, key=b"poison")
        for _ in range(50):
            code = a_code()
            await producer.send(topic, a_status_change(code), key=code.encode())
        await producer.flush()
    finally:
        await producer.stop()
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, database_url=endpoints.database_url,
                               database_schema=schema)

    member = await Member(settings, topic, f"poison-{random_suffix()}", dead_letters).start()
    try:
        await eventually(lambda: _applied(member, 50), timeout=60)
    finally:
        await member.leave()

    assert await receipts(endpoints.database_url, schema) == (50, 50)
    [parked] = await read_to_end(bootstrap, dead_letters)
    headers = {name: value.decode() for name, value in parked.headers}
    assert headers["dlq-reason"].startswith("EnvelopeError: not UTF-8")
    assert headers["dlq-original-offset"] == "0"
    assert headers["dlq-truncated"] == "true"
    assert headers["dlq-original-size"] == str(len(poison))
    assert headers["dlq-original-sha256"] == hashlib.sha256(poison).hexdigest()
    assert parked.key == b"poison" and poison.startswith(parked.value) and len(parked.value) < len(poison)


async def _applied(member: Member, count: int) -> bool:
    return member.outcome("applied") >= count


async def test_records_the_relay_publishes_are_structured_cloudevents_the_sdk_reads(endpoints: Endpoints) -> None:
    bootstrap = endpoints.kafka_bootstrap_servers
    topic = f"test.{random_suffix()}.intake.dossier-events"
    await create_topics(bootstrap, [topic])
    store = EventStore(lambda: IntakeApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), workers=2)
    await store.open()
    producer = make_transactional_producer(bootstrap, f"relay-{random_suffix()}")
    await producer.start()
    dossiers = [a_dossier() for _ in range(3)]
    try:
        for dossier in dossiers:
            store.app.submit(dossier, None)
        relay = Relay(store=store, producer=producer, topic=topic, source="/lienthong/intake",
                      to_outbound=to_outbound, database_url="postgresql://unused", stream_id=str(uuid4()),
                      metrics=Metrics())
        await relay.publish_batch(0)
    finally:
        await producer.stop()
        await store.close()

    records = await read_to_end(bootstrap, topic)

    assert len(records) == len(dossiers)
    for record in records:
        message = KafkaMessage(headers=dict(record.headers), key=record.key,
                               value=record.value)
        assert message.headers["content-type"] == b"application/cloudevents+json"
        assert not [name for name in message.headers if name.lower().startswith("ce_")]
        detected, structured = from_kafka_event(message), from_structured_event(message)
        for event in (detected, structured):
            assert event.get_type() == "vn.lienthong.intake.dossier.submitted.v1"
            assert event.get_id() and event.get_source() == "/lienthong/intake"
            assert event.get_data()["dossier_code"] == record.key.decode()
    assert {r.key.decode() for r in records} == {d.code for d in dossiers}
    assert len({from_kafka_event(_message(r)).get_id() for r in records}) == len(dossiers)


def _message(record: object) -> KafkaMessage:
    return KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)  # type: ignore[attr-defined]
