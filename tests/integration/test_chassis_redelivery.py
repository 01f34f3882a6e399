"""Redelivery is not an error: consumers of one group rebalancing under load apply every
message exactly once and dead-letter none (real Kafka, real PostgreSQL)."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import pytest

from services.kafka import make_producer
from services.settings import ServiceSettings
from tests.random_refs import random_agency_id, random_suffix
from tests.support.endpoints import Endpoints
from tests.support.kafka import create_topics, eventually, read_to_end
from tests.support.receipts import Member, a_status_change, receipts

pytestmark = pytest.mark.integration

MESSAGES = 1200
PARTITIONS = 6
HANDLER_WORK_SECONDS = 0.01
"""What a real reaction spends loading and deciding: long enough that a rebalance lands while
a batch is being applied."""




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

    first = await Member(settings, topic, group, dead_letters, work_seconds=HANDLER_WORK_SECONDS).start()
    second = await Member(settings, topic, group, dead_letters, work_seconds=HANDLER_WORK_SECONDS).start()
    members = [first, second]

    async def applied() -> int:
        return sum(int(m.outcome("applied")) for m in members)

    try:
        # A third member joins and leaves, three times, while the batches are being applied.
        for round_ in range(3):
            await eventually(lambda r=round_: _at_least(applied, (r + 1) * MESSAGES // 5), timeout=120)
            third = await Member(settings, topic, group, dead_letters, work_seconds=HANDLER_WORK_SECONDS).start()
            members.append(third)
            await eventually(lambda r=round_: _at_least(applied, (r + 1) * MESSAGES // 5 + MESSAGES // 10),
                             timeout=120)
            await third.leave()
        await eventually(lambda: _at_least(applied, MESSAGES), timeout=180)
    finally:
        for member in (first, second):
            with contextlib.suppress(Exception):
                await member.leave()

    assert await receipts(endpoints.database_url, schema) == (MESSAGES, MESSAGES)
    assert sum(m.outcome("dead-lettered") for m in members) == 0
    assert await read_to_end(endpoints.kafka_bootstrap_servers, dead_letters) == []
    assert sum(m.outcome("applied") for m in members) == MESSAGES


async def _at_least(count: Any, target: int) -> bool:
    return await count() >= target


