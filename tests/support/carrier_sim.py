"""The carrier simulator as a real process for tests: started, driven through ``/admin``, stopped by PID.

``running_carrier_simulator(work_dir, webhook_url=..., clock_file=..., step_seconds=...)`` starts
``python -m services.cli run postal-sim`` on a free port with random credentials of its own
(:attr:`CarrierSimulator.pair`, to give postal the same ones), waits until it answers, and stops it
afterwards (SIGTERM, then SIGKILL). Keyword settings are the simulator's (``POSTAL_SIM_<NAME>``);
its log is ``work_dir/carrier-sim-<port>.log``, shown when it fails to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from services.sandbox import CarrierCredentials, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def simulator_settings(pair: CarrierCredentials) -> dict[str, str]:
    """The simulator's side of ``pair``: whom it issues tokens to and what it signs with."""
    return {"client_id": pair.client_id, "client_secret": pair.client_secret,
            "webhook_secret": pair.webhook_secret, "signing_key": pair.signing_key}


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CarrierAdmin:
    """A running simulator through its admin API (loopback, no credentials), at :attr:`url`."""

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    async def set_behaviour(self, **changes: Any) -> dict[str, Any]:
        """Change some misbehaviour fields (``PUT /admin/behaviour``); the behaviour now in force."""
        return await self._admin("PUT", "/admin/behaviour", json=changes)

    async def behaviour(self) -> dict[str, Any]:
        return await self._admin("GET", "/admin/behaviour")

    async def reset(self) -> dict[str, Any]:
        """Every misbehaviour off (``down_for_seconds`` too); orders stay."""
        return await self._admin("POST", "/admin/reset")

    async def stats(self) -> dict[str, Any]:
        return await self._admin("GET", "/admin/stats")

    async def orders(self) -> list[dict[str, Any]]:
        """Every order with its ``idempotency_key``, ``create_calls`` and ``events``."""
        return await self._admin("GET", "/admin/orders")

    async def order(self, order_id: str) -> dict[str, Any]:
        found = [order for order in await self.orders() if order["order_id"] == order_id]
        assert found, f"no order {order_id} at the simulator"
        return found[0]

    async def add_event(self, order_id: str, status: str, detail: str | None = None) -> dict[str, Any]:
        """Record ``status`` now, whatever the schedule, and send its webhook; the tracking event."""
        return await self._admin("POST", f"/admin/orders/{order_id}/events", json={"status": status,
                                                                                     "detail": detail})

    async def resend(self, event_id: str) -> None:
        """Send the webhook of that tracking event again (same ``webhook-id``)."""
        await self._admin("POST", f"/admin/webhooks/resend/{event_id}")

    async def _admin(self, method: str, path: str, json: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=30.0) as http:
            answer = await http.request(method, path, json=json)
        answer.raise_for_status()
        return answer.json()

    async def orders_per_leg(self) -> dict[tuple[str, str], int]:
        """How many orders the carrier holds for each (dossier code, leg)."""
        return {(row["reference"], row["leg"]): row["orders"] for row in (await self.stats())["by_reference"]}



class CarrierSimulator(CarrierAdmin):
    """One simulator process; :meth:`start` again after :meth:`stop` restarts it (new port, same pair)."""

    def __init__(self, work_dir: Path, pair: CarrierCredentials | None = None, **settings: Any) -> None:
        self.work_dir = work_dir
        self.pair = pair or CarrierCredentials.random()
        self.settings = settings
        self.port = 0
        self.log_path = work_dir / "carrier-sim.log"
        self._process: asyncio.subprocess.Process | None = None
        self._http: httpx.AsyncClient | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    @property
    def http(self) -> httpx.AsyncClient:
        """A client on :attr:`url` (no credentials)."""
        assert self._http is not None, "not started"
        return self._http

    def environment(self, **overrides: Any) -> dict[str, str]:
        """The process's environment: ours without any POSTAL_SIM_*, then the pair and the settings."""
        env = {name: value for name, value in os.environ.items() if not name.startswith("POSTAL_SIM_")}
        chosen = {**simulator_settings(self.pair), "log_level": "INFO", **self.settings, **overrides,
                  "http_port": self.port}
        env.update({f"POSTAL_SIM_{name.upper()}": _env_value(value) for name, value in chosen.items()
                    if value is not None})
        return env

    async def start(self, timeout: float = 60.0, **overrides: Any) -> None:
        """Start the process (settings ``overrides`` on top) and wait until ``/healthz`` answers."""
        assert self._process is None, "already running"
        self.port = free_port()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.work_dir / f"carrier-sim-{self.port}.log"
        with self.log_path.open("wb") as log_file:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.cli", "run", "postal-sim", cwd=REPO_ROOT,
                env=self.environment(**overrides), stdout=log_file, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        self._http = httpx.AsyncClient(base_url=self.url, timeout=10.0)
        try:
            await self._wait_until_answering(timeout)
        except BaseException:
            await self.stop()
            raise

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it lingers; by this process's own PID only."""
        process, self._process = self._process, None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            await process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self._process is not None
            if self._process.returncode is not None:
                raise RuntimeError(f"carrier simulator exited with {self._process.returncode}:\n{self.log()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if (await self.http.get("/healthz", timeout=1.0)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"carrier simulator not answering after {timeout}s:\n{self.log()[-3000:]}")
            await asyncio.sleep(0.1)

    async def token(self) -> str:
        """A fresh access token for the pair's client."""
        answer = await self.http.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": self.pair.client_id,
            "client_secret": self.pair.client_secret})
        answer.raise_for_status()
        return str(answer.json()["access_token"])

@contextlib.asynccontextmanager
async def running_carrier_simulator(work_dir: Path, pair: CarrierCredentials | None = None,
                                    **settings: Any) -> AsyncIterator[CarrierSimulator]:
    """A started simulator for the ``async with`` block; stopped by PID afterwards."""
    simulator = CarrierSimulator(work_dir, pair, **settings)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()
