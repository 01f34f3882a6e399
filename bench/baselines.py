"""What the bare infrastructure does on the same machine, with the same concurrency.

* PostgreSQL: ``concurrency`` workers, one pooled asyncpg connection each, insert one
  row per statement (autocommit: INSERT + commit) into a scratch table.
* Kafka: one idempotent ``acks=all`` producer (as a service has one), records the size
  of an intake event; ``concurrency`` workers each ``send_and_wait`` one at a time, then
  a single task that sends many and flushes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from bench.figures import Figure


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
