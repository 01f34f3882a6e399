"""Running long-lived workers (relays, consumers) as processes that stop cleanly."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import asyncpg


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a worker's main loop to watch."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_worker(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` until a signal asks it to stop."""

    async def runner() -> None:
        await main(stop_on_signals())

    asyncio.run(runner())


async def ensure_schema(database_url: str, schema: str) -> None:
    """Create the service's schema if it is missing (the event store needs it first)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()
