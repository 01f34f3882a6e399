"""Kafka plumbing shared by services: the idempotent producer and dead letters."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

log = logging.getLogger(__name__)


def make_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """An idempotent producer (``acks=all``): retries never duplicate or reorder a partition."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        request_timeout_ms=30000,
    )


async def kafka_ready(producer: AIOKafkaProducer) -> None:
    """Readiness check: the broker answers a metadata request."""
    await producer.client.fetch_all_metadata()


async def send_dead_letter(
    producer: AIOKafkaProducer,
    topic: str,
    record: ConsumerRecord,
    *,
    consumer: str,
    reason: str,
) -> None:
    """Park ``record`` on the dead-letter topic with why and where it came from.

    The original key and bytes are kept untouched so the message can be replayed once
    the cause is fixed; the headers say which consumer refused it and why.
    """
    headers = [
        ("dlq-reason", reason[:2000].encode()),
        ("dlq-consumer", consumer.encode()),
        ("dlq-original-topic", record.topic.encode()),
        ("dlq-original-partition", str(record.partition).encode()),
        ("dlq-original-offset", str(record.offset).encode()),
        ("dlq-failed-at", datetime.now(timezone.utc).isoformat().encode()),
    ]
    await producer.send_and_wait(topic, record.value, key=record.key, headers=headers)
    log.warning("message sent to dead letters", extra={
        "topic": record.topic, "partition": record.partition, "offset": record.offset, "reason": reason})


class TopicMissingError(RuntimeError):
    """A topic the process needs does not exist (create it with `lienthong infra up`)."""


async def partitions_of(bootstrap_servers: str, topics: list[str]) -> dict[str, list[int]]:
    """The partitions of each topic, asked of the broker (not a possibly stale cache).

    Raises :class:`TopicMissingError` for a topic the broker does not know.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    found = {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described if d["error_code"] == 0}
    missing = [t for t in topics if not found.get(t)]
    if missing:
        raise TopicMissingError(f"missing Kafka topics: {', '.join(missing)}")
    return found
