"""An intake of the bench's own: schema, topics, credentials, port and processes.

Nothing it uses is shared with a running system or with the tests: the schema is
``intake_bench_<hex>``, the topics ``bench.<hex>.…``, the client list a temporary file
with one random secret, the signing key random, the port free. ``intake`` and
``intake-relay`` run as real processes (``python -m services.cli run …``), stopped by
PID. :meth:`BenchIntake.clean_up` drops the schema and deletes the topics.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 3  # as lienthong.intake.dossier-events in infra/topics.yaml
PROCESS_NAMES = ("intake", "intake-relay")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """``python -m services.cli run <name>`` in a session of its own, its output in a log file."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "run", name], cwd=REPO_ROOT, env={**os.environ, **env},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time this process has used so far (0 once it is gone)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to this PID, SIGKILL if it has not exited within ``timeout``."""
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


@dataclass
class BenchIntake:
    kafka: str
    database_url: str
    suffix: str = field(default_factory=lambda: secrets.token_hex(4))
    port: int = field(default_factory=free_port)
    work_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lienthong-bench-")))
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client_id = f"bench-portal-{self.suffix}"
        self.client_secret = secrets.token_urlsafe(32)

    @property
    def schema(self) -> str:
        return f"intake_bench_{self.suffix}"

    @property
    def events_topic(self) -> str:
        return f"bench.{self.suffix}.intake.dossier-events"

    @property
    def baseline_topic(self) -> str:
        return f"bench.{self.suffix}.baseline"

    @property
    def topics(self) -> list[str]:
        return [self.events_topic, self.baseline_topic]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- resources ------------------------------------------------------------------

    async def create_resources(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute(f'CREATE SCHEMA "{self.schema}"')
        finally:
            await conn.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in self.topics])
        finally:
            await admin.close()

    async def clean_up(self) -> list[str]:
        """Stop the processes, drop the schema, delete the topics; what was done or failed."""
        self.stop()
        done: list[str] = []
        try:
            conn = await asyncpg.connect(self.database_url)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
                done.append(f"dropped schema {self.schema}")
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError) as exc:
            done.append(f"could not drop schema {self.schema}: {exc}")
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            mine = [name for name in self.topics if name in existing]
            if mine:
                await admin.delete_topics(mine)
                done.extend(f"deleted topic {name}" for name in mine)
        except Exception as exc:  # noqa: BLE001 - report and go on cleaning up
            done.append(f"could not delete topics {', '.join(self.topics)}: {exc}")
        finally:
            await admin.close()
        return done

    def remove_work_dir(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)

    # --- processes ------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        clients_file = self.work_dir / "clients.yaml"
        clients_file.write_text(yaml.safe_dump({"clients": [{
            "client_id": self.client_id, "party": "portal", "agency_id": None,
            "roles": ["dossier:submit", "dossier:read"],
            "secret_sha256": hashlib.sha256(self.client_secret.encode()).hexdigest()}]}), encoding="utf-8")
        clients_file.chmod(0o600)
        return {
            "INTAKE_ENVIRONMENT": "test",
            "INTAKE_AUTH_SIGNING_KEY": secrets.token_urlsafe(48),
            "INTAKE_AUTH_CLIENTS_FILE": str(clients_file),
            "INTAKE_KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "INTAKE_DATABASE_URL": self.database_url,
            "INTAKE_DATABASE_SCHEMA": self.schema,
            "INTAKE_EVENTS_TOPIC": self.events_topic,
            "INTAKE_STATUS_TOPIC": f"bench.{self.suffix}.dossier-status",
            "INTAKE_DEAD_LETTER_TOPIC": f"bench.{self.suffix}.dead-letters",
            "INTAKE_CONSUMER_GROUP": f"intake-status-bench-{self.suffix}",
            "INTAKE_HTTP_PORT": str(self.port),
            "INTAKE_LOG_LEVEL": "WARNING",
        }

    async def start(self, timeout: float = 90.0) -> None:
        """Start the API and the relay; return when the API answers ``/readyz``."""
        env = self.environment()
        for name in PROCESS_NAMES:
            self.processes[name] = Process(name, env, self.work_dir / f"{name}.log")
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"intake not ready after {timeout:.0f}s:\n{self.processes['intake'].log_tail()}")

    def check_alive(self) -> None:
        for process in self.processes.values():
            if not process.alive():
                raise RuntimeError(f"{process.name} (pid {process.pid}) exited; its log "
                                   f"{process.log_path}:\n{process.log_tail()}")

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    async def token(self, client: httpx.AsyncClient) -> str:
        response = await client.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret})
        response.raise_for_status()
        return response.json()["access_token"]
