"""Plain aiokafka helpers for tests: topics of their own, and reading what is on them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord


async def create_topics(bootstrap: str, names: list[str], partitions: int = 3) -> None:
    """Create the topics and wait until the broker describes every partition of them with a leader
    (a producer sending at once to a topic created a moment ago can be told it does not exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])

        async def all_led() -> bool:
            described = await admin.describe_topics(list(names))
            return all(d["error_code"] == 0 and len(d["partitions"]) == partitions
                       and all(p["leader"] >= 0 for p in d["partitions"]) for d in described)
        await eventually(all_led, timeout=30)
    finally:
        await admin.close()


async def read_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[ConsumerRecord]], bool],
    *,
    timeout: float = 60.0,
    keep: Callable[[ConsumerRecord], bool] = lambda r: True,
) -> list[ConsumerRecord]:
    """Read ``topic`` from the beginning (committed records only) until ``done(records)``.

    Polls with a deadline; raises ``TimeoutError`` showing how many records it saw.
    """
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await consumer.start()
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while not done(records):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: condition not met after {timeout}s with {len(records)} records")
            batch = await consumer.getmany(timeout_ms=500)
            for tp_records in batch.values():
                records.extend(r for r in tp_records if keep(r))
        return records
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> Any:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        return await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def eventually(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll an async ``check`` until it returns a truthy value; raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)


async def read_to_end(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every committed record of ``topic`` up to its end offsets at the time of the call."""
    from aiokafka import TopicPartition

    from services.kafka import partitions_of

    known = await partitions_of(bootstrap, [topic])
    partitions = [TopicPartition(topic, p) for p in known[topic]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        consumer.assign(partitions)
        begins = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:  # explicit offsets: a lazy seek_to_beginning may race the default reset
            consumer.seek(tp, begins[tp])
        records: list[ConsumerRecord] = []
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                records.extend(r for r in batch.get(tp, []) if r.offset < ends[tp])
        return records
    finally:
        await consumer.stop()
