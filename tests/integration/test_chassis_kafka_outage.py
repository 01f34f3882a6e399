"""A relay starting while Kafka is down waits for it with backoff (a few log lines, no exit) and
then finds its position on its topics.  On a Kafka broker of the test's own."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from services.relay import POSITION_HEADER, STREAM_HEADER, published_position
from tests.random_refs import random_suffix
from tests.support.kafka import create_topics, eventually
from tests.support.private_infra import PrivateInfra

pytestmark = pytest.mark.integration

GUARD_SECONDS = 120.0
"""Only to end the test if the relay never resumes; not a timing requirement."""


@pytest.fixture(scope="module")
def private_kafka() -> Iterator[PrivateInfra]:
    infra = PrivateInfra(Path(tempfile.mkdtemp(prefix="lienthong-kafka-outage-")))
    try:
        infra.start_kafka()
        yield infra
    finally:
        infra.stop()


async def test_a_relay_starting_while_kafka_is_down_waits_and_then_finds_its_position(
    private_kafka: PrivateInfra, caplog: pytest.LogCaptureFixture
) -> None:
    bootstrap = private_kafka.kafka_bootstrap_servers
    main, inboxes = f"test.{random_suffix()}.events", [f"test.{random_suffix()}.inbox.{n}" for n in range(8)]
    await create_topics(bootstrap, [main], partitions=3)
    await create_topics(bootstrap, inboxes, partitions=1)
    stream = str(uuid.uuid4())
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for position, topic in enumerate([main] * 30 + inboxes[:2] * 5, start=1):
            await producer.send(topic, b"{}", key=str(position).encode(),
                                headers=[(STREAM_HEADER, stream.encode()), (POSITION_HEADER, str(position).encode())])
        await producer.flush()
    finally:
        await producer.stop()
    private_kafka.kill_kafka()
    caplog.set_level(logging.WARNING)

    starting = asyncio.create_task(published_position(bootstrap, [main, *inboxes], stream))
    # Either it says it is waiting for the broker, or it gave up (the bug).
    await eventually(lambda: _waiting_or_done(caplog, starting), timeout=GUARD_SECONDS)
    assert not starting.done(), f"the relay gave up: {starting.exception()!r}"
    private_kafka.start_kafka()
    position = await asyncio.wait_for(starting, timeout=GUARD_SECONDS)

    assert position == 40
    ours = [r for r in caplog.records if r.name.startswith("services.")]
    assert len(ours) <= 20, f"{len(ours)} lines logged while waiting"


async def _waiting_or_done(caplog: pytest.LogCaptureFixture, task: asyncio.Task[int]) -> bool:
    return task.done() or any("reading the relay's position" in r.getMessage() for r in caplog.records)
