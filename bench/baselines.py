"""What the bare infrastructure does on the same machine, with the same concurrency.

* PostgreSQL: ``concurrency`` workers, one pooled asyncpg connection each, insert one
  row per statement (autocommit: INSERT + commit) into a scratch table.
* Kafka: one idempotent ``acks=all`` producer (as a service has one), records the size
  of an intake event; ``concurrency`` workers each ``send_and_wait`` one at a time, then
  a single task that sends many and flushes.
* Kafka round trips, beside routing's step hand-off: a record produced (idempotent,
  ``acks=all``), or produced in a transaction and committed (as a relay publishes), until
  a separate ``read_committed`` consumer reads it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.figures import Figure
from bench.load import TopicTail


async def postgres_inserts(database_url: str, schema: str, count: int, concurrency: int, payload_bytes: int,
                           on_done: Callable[[], None] = lambda: None) -> Figure:
    table = f'"{schema}".bench_scratch'
    payload = os.urandom(payload_bytes)
    pool = await asyncpg.create_pool(database_url, min_size=concurrency, max_size=concurrency)
    try:
        async with pool.acquire() as conn:
            await conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, "
                               "created_at timestamptz NOT NULL DEFAULT now(), payload bytea NOT NULL)")
        latencies: list[float] = []
        remaining = iter(range(count))
        insert = f"INSERT INTO {table} (payload) VALUES ($1)"

        async def worker() -> None:
            async with pool.acquire() as conn:
                for _ in remaining:
                    t0 = time.perf_counter()
                    await conn.execute(insert, payload)
                    latencies.append(time.perf_counter() - t0)
                    on_done()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        async with pool.acquire() as conn:
            await conn.execute(f"DROP TABLE {table}")
    finally:
        await pool.close()
    return Figure("PostgreSQL INSERT+commit", count, seconds, latencies, baseline=True,
                  note=f"one row of {payload_bytes} B per transaction, {concurrency} connections")


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                            client_id="lienthong-bench")


def _key(i: int) -> bytes:
    return f"BENCH.H40-000000-{i:06d}".encode()


async def kafka_send_and_wait(bootstrap: str, topic: str, count: int, concurrency: int, payload_bytes: int,
                              on_done: Callable[[], None] = lambda: None) -> Figure:
    payload = os.urandom(payload_bytes)
    producer = _producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=_key(0))  # metadata and producer id first
        latencies: list[float] = []
        remaining = iter(range(count))

        async def worker() -> None:
            for i in remaining:
                t0 = time.perf_counter()
                await producer.send_and_wait(topic, payload, key=_key(i))
                latencies.append(time.perf_counter() - t0)
                on_done()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return Figure("Kafka send_and_wait", count, seconds, latencies, baseline=True,
                  note=f"{payload_bytes} B records, one at a time per worker, {concurrency} workers, "
                       "one idempotent acks=all producer")


async def kafka_batched(bootstrap: str, topic: str, count: int, payload_bytes: int,
                        on_done: Callable[[int], None] = lambda n: None) -> Figure:
    payload = os.urandom(payload_bytes)
    producer = _producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=_key(0))
        started = time.perf_counter()
        futures = []
        for i in range(count):
            futures.append(await producer.send(topic, payload, key=_key(i)))
            if i % 1000 == 999:
                on_done(1000)
        await producer.flush()
        await asyncio.gather(*futures)  # raises if any record failed
        seconds = time.perf_counter() - started
        on_done(count % 1000)
    finally:
        await producer.stop()
    return Figure("Kafka batched send+flush", count, seconds, baseline=True,
                  note=f"{payload_bytes} B records, all sent then flushed, one idempotent acks=all producer")


async def kafka_round_trips(bootstrap: str, tail: TopicTail, topic: str, count: int, workers: int,
                            payload_bytes: int, *, transactional: bool, run_id: str,
                            on_done: Callable[[], None] = lambda: None) -> Figure:
    """Produce a record, then wait until ``tail`` (a ``read_committed`` consumer of ``topic``)
    reads it; ``workers`` at a time, one record each in flight, ``count`` in all.

    Plain: one idempotent ``acks=all`` producer shared by the workers, ``send_and_wait``.
    Transactional: one transactional producer per worker (a producer runs one transaction at
    a time), each record sent in its own transaction and committed — the relay's path with a
    batch of one. The latency runs from the send to the record being read.
    """
    payload = os.urandom(payload_bytes)
    kind = "tx" if transactional else "rt"
    if transactional:
        producers = [AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                                      linger_ms=2, transactional_id=f"lienthong-bench-{run_id}-tx-{i}",
                                      client_id="lienthong-bench") for i in range(workers)]
    else:
        shared = _producer(bootstrap)
        producers = [shared] * workers
    unique = list({id(p): p for p in producers}.values())
    await asyncio.gather(*(p.start() for p in unique))
    latencies: list[float] = []
    commits: list[float] = []
    failures = 0
    try:
        async def produce(producer: AIOKafkaProducer, key: bytes) -> None:
            if transactional:
                async with producer.transaction():
                    await producer.send(topic, payload, key=key)
            else:
                await producer.send_and_wait(topic, payload, key=key)

        for i, producer in enumerate(producers):  # metadata, producer ids, first transaction: not counted
            await produce(producer, f"BENCH-{kind}-warm-{i}".encode())

        remaining = iter(range(count))

        async def worker(producer: AIOKafkaProducer) -> None:
            nonlocal failures
            for i in remaining:
                key = f"BENCH-{kind}-{run_id}-{i:06d}"
                t0 = time.perf_counter()
                await produce(producer, key.encode())
                commits.append(time.perf_counter() - t0)
                seen = await tail.wait_key(key, 60)
                if seen is None:
                    failures += 1
                else:
                    latencies.append(seen - t0)
                on_done()

        started = time.perf_counter()
        await asyncio.gather(*(worker(p) for p in producers))
        seconds = time.perf_counter() - started
    finally:
        await asyncio.gather(*(p.stop() for p in unique), return_exceptions=True)
    acked = sorted(commits)[len(commits) // 2] * 1000 if commits else 0.0
    if transactional:
        return Figure("Kafka tx commit → read", len(latencies), seconds, latencies,
                      failures=failures, baseline=True,
                      note=f"{payload_bytes} B record sent in a transaction of its own and committed "
                           f"(p50 {acked:.1f} ms to commit), until a read_committed consumer reads it; "
                           f"{workers} transactional producer(s), one record in flight each")
    return Figure("Kafka produce → read", len(latencies), seconds, latencies, failures=failures, baseline=True,
                  note=f"{payload_bytes} B record, send_and_wait on an idempotent acks=all producer "
                       f"(p50 {acked:.1f} ms to the ack), until a read_committed consumer reads it; "
                       f"{workers} worker(s), one record in flight each")
