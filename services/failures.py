"""Which errors mean "the infrastructure failed" — the only ones worth retrying.

A consumer retries a message, a relay a batch, a timer a sweep, and an HTTP endpoint answers
503 with ``Retry-After`` only when PostgreSQL or Kafka could not be reached or timed out.
Every other error is a property of the message or request itself: retrying it would stall
the partition forever, so it is dead-lettered (messages) or answered with a 4xx (requests).
"""

from __future__ import annotations

import asyncio

import asyncpg
import psycopg
import psycopg_pool
from aiokafka import errors as kafka_errors
from eventsourcing import persistence

_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    # the event store (eventsourcing wraps psycopg's errors in its own classes)
    persistence.OperationalError,
    persistence.InterfaceError,
    persistence.ConnectionUnavailableError,
    persistence.ConnectionPoolClosedError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    # read models and listeners on asyncpg
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.OperatorInterventionError,
    # Kafka
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.RequestTimedOutError,
    kafka_errors.NotLeaderForPartitionError,
    kafka_errors.LeaderNotAvailableError,
    kafka_errors.NotEnoughReplicasError,
    kafka_errors.CoordinatorNotAvailableError,
    kafka_errors.NotCoordinatorError,
    # sockets and time-outs of either
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
)


def is_infrastructure_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what it was raised from) says a dependency failed, not the input."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _INFRASTRUCTURE):
            return True
        if isinstance(current, kafka_errors.KafkaError) and getattr(current, "retriable", False):
            return True
        current = current.__cause__
    return False
