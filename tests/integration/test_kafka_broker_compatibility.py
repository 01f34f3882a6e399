"""aiokafka 0.14 against the Kafka 4.x broker we run: the features the services rely on.

Kafka 4.0 removed old protocol versions (KIP-896); these tests prove that idempotent
produce, transactions and consumer groups still work with aiokafka.
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.random_refs import random_suffix
from tests.support.endpoints import Endpoints
from tests.support.kafka import create_topics, read_to_end

pytestmark = pytest.mark.integration


async def test_an_idempotent_producer_with_acks_all_writes_in_order(endpoints: Endpoints) -> None:
    topic = f"test.compat.{random_suffix()}"
    await create_topics(endpoints.kafka_bootstrap_servers, [topic], partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap_servers,
                                enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for i in range(100):
            await producer.send(topic, str(i).encode(), key=b"k")
        await producer.flush()
    finally:
        await producer.stop()
    records = await read_to_end(endpoints.kafka_bootstrap_servers, topic)
    assert [int(r.value) for r in records] == list(range(100))


async def test_an_aborted_transaction_is_invisible_to_read_committed_consumers(endpoints: Endpoints) -> None:
    topic = f"test.compat.{random_suffix()}"
    await create_topics(endpoints.kafka_bootstrap_servers, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap_servers,
                                transactional_id=f"compat-{random_suffix()}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed", key=b"a")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted", key=b"b")
        await producer.abort_transaction()
    finally:
        await producer.stop()
    records = await read_to_end(endpoints.kafka_bootstrap_servers, topic)
    assert [r.value for r in records] == [b"committed"]


async def test_a_consumer_group_commits_and_resumes_from_its_offset(endpoints: Endpoints) -> None:
    topic, group = f"test.compat.{random_suffix()}", f"group-{random_suffix()}"
    await create_topics(endpoints.kafka_bootstrap_servers, [topic], partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap_servers, enable_idempotence=True)
    await producer.start()
    for i in range(10):
        await producer.send_and_wait(topic, str(i).encode())
    await producer.stop()

    async def consume(count: int) -> list[int]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=endpoints.kafka_bootstrap_servers, group_id=group,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            seen: list[int] = []
            while len(seen) < count:
                record = await consumer.getone()
                seen.append(int(record.value))
            await consumer.commit({TopicPartition(topic, 0): record.offset + 1})
            return seen
        finally:
            await consumer.stop()

    assert await consume(4) == [0, 1, 2, 3]
    assert await consume(6) == [4, 5, 6, 7, 8, 9]
