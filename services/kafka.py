"""Kafka plumbing shared by services: the idempotent producer and dead letters."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from services.failures import is_infrastructure_error

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


DEAD_LETTER_MAX_BODY_BYTES = 512 * 1024
"""A dead letter keeps at most this much of the original value (well under the producer's
default ``max_request_size`` of 1 MiB, headers and key included)."""

DEAD_LETTER_MAX_KEY_BYTES = 1024
"""The minimal fallback record keeps at most this much of the original key."""


def dead_letter_headers(record: ConsumerRecord, *, consumer: str, reason: str) -> list[tuple[str, bytes]]:
    """Why and where from: the headers every dead letter carries."""
    return [
        ("dlq-reason", reason[:2000].encode(errors="replace")),
        ("dlq-consumer", consumer.encode()),
        ("dlq-original-topic", record.topic.encode()),
        ("dlq-original-partition", str(record.partition).encode()),
        ("dlq-original-offset", str(record.offset).encode()),
        ("dlq-failed-at", datetime.now(UTC).isoformat().encode()),
    ]


def dead_letter_body(value: bytes | None, max_bytes: int = DEAD_LETTER_MAX_BODY_BYTES,
                     ) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The value a dead letter carries and the headers that say whether it was cut.

    A value longer than ``max_bytes`` is truncated; ``dlq-truncated``, ``dlq-original-size``
    and ``dlq-original-sha256`` let an operator find and check the original on its topic.
    """
    if value is None or len(value) <= max_bytes:
        return value, []
    return value[:max_bytes], cut_headers(value)


def cut_headers(value: bytes) -> list[tuple[str, bytes]]:
    """The headers of a dead letter that does not carry all of ``value``: ``dlq-truncated``, and
    ``dlq-original-size`` and ``dlq-original-sha256`` to find and check the original by."""
    return [
        ("dlq-truncated", b"true"),
        ("dlq-original-size", str(len(value)).encode()),
        ("dlq-original-sha256", hashlib.sha256(value).hexdigest().encode()),
    ]


async def send_dead_letter(
    producer: AIOKafkaProducer,
    topic: str,
    record: ConsumerRecord,
    *,
    consumer: str,
    reason: str,
) -> None:
    """Park ``record`` on the dead-letter topic with why and where it came from.

    The original key and bytes are kept (up to :data:`DEAD_LETTER_MAX_BODY_BYTES`) so the
    message can be replayed once the cause is fixed; the headers say which consumer refused
    it and why.  Only infrastructure errors are raised (the caller retries them); if the
    broker refuses the record for any other reason, a minimal record — headers, a cut key,
    no value — is sent instead, and if even that is refused the loss is logged: the dead-letter
    path never blocks a consumer.
    """
    headers = dead_letter_headers(record, consumer=consumer, reason=reason)
    value, size_headers = dead_letter_body(record.value)
    try:
        await producer.send_and_wait(topic, value, key=record.key, headers=headers + size_headers)
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise
        log.error("the broker refused a dead letter; sending a minimal one", extra={
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "error": f"{type(exc).__name__}: {exc}"[:500]})
        await _send_minimal_dead_letter(producer, topic, record, headers, exc)
    log.warning("message sent to dead letters", extra={
        "topic": record.topic, "partition": record.partition, "offset": record.offset, "reason": reason[:2000]})


async def _send_minimal_dead_letter(producer: AIOKafkaProducer, topic: str, record: ConsumerRecord,
                                    headers: list[tuple[str, bytes]], refused: Exception) -> None:
    minimal = [*headers, *cut_headers(record.value or b""),
               ("dlq-refused", f"{type(refused).__name__}: {refused}"[:500].encode(errors="replace"))]
    key = record.key[:DEAD_LETTER_MAX_KEY_BYTES] if record.key else record.key
    try:
        await producer.send_and_wait(topic, None, key=key, headers=minimal)
    except Exception as exc:
        if is_infrastructure_error(exc):
            raise
        log.error("dead letter lost: the broker refused even the minimal record", extra={
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "error": f"{type(exc).__name__}: {exc}"[:500]})


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
