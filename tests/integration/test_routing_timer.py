"""routing-timer lives through a PostgreSQL outage: its connections go through a TCP proxy the
test cuts (every connection dropped, new ones refused) and restores; the timer keeps retrying
its sweep with backoff instead of exiting, and once PostgreSQL is back it flags an overdue step."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from routing.application import RoutingApplication
from routing.service import timer_main
from routing.settings import RoutingSettings
from services.clock import FileClock
from services.sandbox import free_port
from tests.random_refs import random_agency_id
from tests.support.endpoints import Endpoints
from tests.support.kafka import eventually

pytestmark = pytest.mark.integration
VN = timezone(timedelta(hours=7))


class CuttableProxy:
    """Forwards TCP connections on a local port to PostgreSQL, until :meth:`cut`."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.listen_port = free_port()
        self.connected = True
        self.refused = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.listen_port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.connected:
            self.refused += 1
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def cut(self) -> None:
        self.connected = False
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.connected = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


async def test_the_timer_waits_out_a_postgresql_outage_and_then_flags_the_overdue_step(
        endpoints: Endpoints, tmp_path: Path) -> None:
    target = urlsplit(endpoints.database_url)
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    schema = f"routing_timer_{secrets.token_hex(4)}"
    clock_file = tmp_path / "clock.txt"
    FileClock(clock_file).set(datetime(2025, 7, 8, 9, tzinfo=VN))  # the day after receipt: overdue
    settings = RoutingSettings(
        database_url=with_port(endpoints.database_url, proxy.listen_port), database_schema=schema,
        kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers, clock_file=clock_file,
        timer_interval_seconds=0.1, timer_max_backoff_seconds=0.5, database_connect_timeout_seconds=1,
        database_pool_size=2, log_level="CRITICAL")
    stop = asyncio.Event()
    timer = asyncio.create_task(timer_main(stop, settings))
    direct = await asyncpg.connect(endpoints.database_url)
    try:
        async def tables_made() -> bool:
            assert not timer.done(), timer
            return await direct.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.inbox_steps")
        await eventually(tables_made, timeout=60)

        proxy.cut()

        async def refused_often() -> bool:
            assert not timer.done(), timer
            return proxy.refused >= 3
        await eventually(refused_often, timeout=60)
        assert not timer.done()

        proxy.restore()
        code = f"{random_agency_id()}-250707-0001"
        app = await asyncio.to_thread(RoutingApplication, env=RoutingSettings(
            database_url=endpoints.database_url, database_schema=schema).eventsourcing_env(pool_size=1))

        def receive() -> None:
            dossier = app.receive(code=code, procedure_code="2.000635", locality_code="16690",
                                  receiving_agency_id=random_agency_id(), channel="desk", result_delivery_method="desk",
                                  options=[], received_at=datetime(2025, 7, 7, 9, tzinfo=VN), national_status=2)
            assert dossier is not None
            app.save_dossier(dossier)
        await asyncio.to_thread(receive)

        async def flagged() -> bool:
            assert not timer.done(), timer
            history = await asyncio.to_thread(app.history, code)
            return "StepOverdue" in {type(e).__name__ for e in history}
        await eventually(flagged, timeout=60)
        await asyncio.to_thread(app.close)
    finally:
        stop.set()
        await asyncio.wait_for(timer, timeout=30)
        await direct.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await direct.close()
        await proxy.close()
