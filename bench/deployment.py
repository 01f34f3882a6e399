"""Deployments of the bench's own: schemas, topics, credentials, ports and processes.

Nothing they use is shared with a running system or with the tests: the schemas are
``intake_bench_<hex>`` (and ``routing_bench_<hex>``), the topics ``bench.<hex>.…``, the
client list a temporary file with random secrets, the signing key random, the ports free.
The services run as real processes (``python -m services.cli run …``), stopped by PID.

* :class:`BenchIntake`: ``intake`` and ``intake-relay``;
* :class:`BenchSystem`: intake (``intake``, ``intake-relay``) and routing (``routing``,
  ``routing-relay``, ``routing-consumer``) sharing topics, one client list (a desk, and one
  client per agency of routing's geography) and the system clock.

``clean_up`` stops the processes, drops the schemas, deletes the topics (and the routing
consumer's group).
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
from aiokafka.protocol.admin import DeleteGroupsRequest

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 3  # as lienthong.intake.dossier-events in infra/topics.yaml
PROCESS_NAMES = ("intake", "intake-relay")
SYSTEM_PROCESS_NAMES = ("intake", "intake-relay", "routing", "routing-relay", "routing-consumer")


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
    def topic_partitions(self) -> dict[str, int]:
        """Every topic the bench creates (and deletes), with its number of partitions."""
        return {self.events_topic: PARTITIONS, self.baseline_topic: PARTITIONS}

    @property
    def topics(self) -> list[str]:
        return list(self.topic_partitions)

    @property
    def schemas(self) -> list[str]:
        return [self.schema]

    @property
    def consumer_groups(self) -> list[str]:
        return []

    @property
    def process_names(self) -> tuple[str, ...]:
        return PROCESS_NAMES

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ready_urls(self) -> dict[str, str]:
        """The HTTP processes and their base URLs, for ``/readyz``."""
        return {"intake": self.base_url}

    # --- resources ------------------------------------------------------------------

    async def create_resources(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            for schema in self.schemas:
                await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)
                                       for name, partitions in self.topic_partitions.items()])
        finally:
            await admin.close()

    async def clean_up(self) -> list[str]:
        """Stop the processes, drop the schemas, delete the topics and groups; what was done or failed."""
        self.stop()
        done: list[str] = []
        try:
            conn = await asyncpg.connect(self.database_url)
            try:
                for schema in self.schemas:
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                    done.append(f"dropped schema {schema}")
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError) as exc:
            done.append(f"could not drop schemas {', '.join(self.schemas)}: {exc}")
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            mine = [name for name in self.topics if name in existing]
            if mine:
                await admin.delete_topics(mine)
                done.append(f"deleted {len(mine)} topics bench.{self.suffix}.*" if len(mine) > 3
                            else "; ".join(f"deleted topic {name}" for name in mine))
            for group in self.consumer_groups:
                done.append(await _delete_group(admin, group))
        except Exception as exc:  # noqa: BLE001 - report and go on cleaning up
            done.append(f"could not delete topics {', '.join(self.topics)}: {exc}")
        finally:
            await admin.close()
        return done

    def remove_work_dir(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)

    # --- processes ------------------------------------------------------------------

    def clients(self) -> list[dict[str, object]]:
        """The client list's entries (secrets only as SHA-256)."""
        return [{"client_id": self.client_id, "party": "portal", "agency_id": None,
                 "roles": ["dossier:submit", "dossier:read"],
                 "secret_sha256": hashlib.sha256(self.client_secret.encode()).hexdigest()}]

    def environment(self) -> dict[str, str]:
        clients_file = self.work_dir / "clients.yaml"
        clients_file.write_text(yaml.safe_dump({"clients": self.clients()}), encoding="utf-8")
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
        """Start the processes; return when every HTTP one answers ``/readyz``."""
        env = self.environment()
        for name in self.process_names:
            self.processes[name] = Process(name, env, self.work_dir / f"{name}.log")
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for name, url in self.ready_urls.items():
                while True:
                    self.check_alive()
                    try:
                        if (await client.get(f"{url}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} not ready after {timeout:.0f}s:\n"
                                           f"{self.processes[name].log_tail()}")
                    await asyncio.sleep(0.2)

    def check_alive(self) -> None:
        for process in self.processes.values():
            if not process.alive():
                raise RuntimeError(f"{process.name} (pid {process.pid}) exited; its log "
                                   f"{process.log_path}:\n{process.log_tail()}")

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    async def token(self, client: httpx.AsyncClient, client_id: str | None = None,
                    client_secret: str | None = None) -> str:
        """A bearer token from intake's token endpoint (the portal client's unless told)."""
        response = await client.post(f"{self.base_url}/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": client_id or self.client_id,
            "client_secret": client_secret or self.client_secret})
        response.raise_for_status()
        return response.json()["access_token"]


async def _delete_group(admin: AIOKafkaAdminClient, group: str) -> str:
    """Delete an (empty) consumer group; aiokafka's admin client has no call for it."""
    try:
        coordinator = await admin.find_coordinator(group)
        response = await admin._send_request_to_node(coordinator, DeleteGroupsRequest([group]))  # noqa: SLF001
        errors = [code for _, code in response.results if code]
    except Exception as exc:  # noqa: BLE001 - report and go on cleaning up
        return f"could not delete consumer group {group}: {exc}"
    # 69 GROUP_ID_NOT_FOUND: the consumer never joined
    if errors and errors != [69]:
        return f"could not delete consumer group {group}: error code {errors[0]}"
    return f"deleted consumer group {group}"


@dataclass
class BenchSystem(BenchIntake):
    """Intake and routing together (no intake-consumer, no routing-timer), on the system clock."""

    routing_port: int = field(default_factory=free_port)
    receiving_agency_id: str = field(default_factory=lambda: f"B{secrets.randbelow(10**6):06d}.0001.H40")
    agency_secrets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        from routing.geography import Geography

        geography = Geography.load()
        self.agency_ids = sorted({a.id for a in geography.agencies})
        self.stream_agency_ids = sorted(geography.stream_integrated_agency_ids())
        self.desk_client_id = f"bench-desk-{self.suffix}"
        self.desk_secret = secrets.token_urlsafe(32)
        self.agency_secrets = {agency: secrets.token_urlsafe(24) for agency in self.agency_ids}

    @property
    def routing_schema(self) -> str:
        return f"routing_bench_{self.suffix}"

    @property
    def status_topic(self) -> str:
        return f"bench.{self.suffix}.dossier-status"

    @property
    def routing_topic(self) -> str:
        return f"bench.{self.suffix}.routing.dossier-events"

    @property
    def replies_topic(self) -> str:
        return f"bench.{self.suffix}.routing.agency-replies"

    @property
    def dead_letter_topic(self) -> str:
        return f"bench.{self.suffix}.dead-letters"

    @property
    def agency_inbox_prefix(self) -> str:
        return f"bench.{self.suffix}.agency."

    def agency_inbox_topic(self, agency_id: str) -> str:
        return f"{self.agency_inbox_prefix}{agency_id}.inbox"

    @property
    def consumer_group(self) -> str:
        return f"routing-bench-{self.suffix}"

    @property
    def topic_partitions(self) -> dict[str, int]:
        # The agency inbox topics are created here (one partition, as routing-relay would create
        # them) so that they exist before the tail starts and are deleted with the rest.
        return {self.events_topic: PARTITIONS, self.status_topic: PARTITIONS, self.routing_topic: PARTITIONS,
                self.replies_topic: PARTITIONS, self.dead_letter_topic: 1, self.baseline_topic: PARTITIONS,
                **{self.agency_inbox_topic(a): 1 for a in self.stream_agency_ids}}

    @property
    def schemas(self) -> list[str]:
        return [self.schema, self.routing_schema]

    @property
    def consumer_groups(self) -> list[str]:
        return [self.consumer_group]

    @property
    def process_names(self) -> tuple[str, ...]:
        return SYSTEM_PROCESS_NAMES

    @property
    def routing_url(self) -> str:
        return f"http://127.0.0.1:{self.routing_port}"

    @property
    def ready_urls(self) -> dict[str, str]:
        return {"intake": self.base_url, "routing": self.routing_url}

    def agency_client_id(self, agency_id: str) -> str:
        return f"bench-agency-{agency_id.lower()}-{self.suffix}"

    def clients(self) -> list[dict[str, object]]:
        desk = {"client_id": self.desk_client_id, "party": "desk", "agency_id": self.receiving_agency_id,
                "roles": ["dossier:submit", "dossier:read", "dossier:accept"],
                "secret_sha256": hashlib.sha256(self.desk_secret.encode()).hexdigest()}
        agencies = [{"client_id": self.agency_client_id(agency), "party": "agency", "agency_id": agency,
                     "roles": ["dossier:read", "inbox:act"],
                     "secret_sha256": hashlib.sha256(secret.encode()).hexdigest()}
                    for agency, secret in self.agency_secrets.items()]
        return [desk, *agencies]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["INTAKE_STATUS_TOPIC"] = self.status_topic
        env["INTAKE_DEAD_LETTER_TOPIC"] = self.dead_letter_topic
        routing = {
            "ENVIRONMENT": "test",
            "AUTH_SIGNING_KEY": env["INTAKE_AUTH_SIGNING_KEY"],
            "AUTH_CLIENTS_FILE": env["INTAKE_AUTH_CLIENTS_FILE"],
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "DATABASE_URL": self.database_url,
            "DATABASE_SCHEMA": self.routing_schema,
            "INTAKE_TOPIC": self.events_topic,
            "EVENTS_TOPIC": self.routing_topic,
            "STATUS_TOPIC": self.status_topic,
            "AGENCY_REPLIES_TOPIC": self.replies_topic,
            "AGENCY_INBOX_PREFIX": self.agency_inbox_prefix,
            "DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "CONSUMER_GROUP": self.consumer_group,
            "HTTP_PORT": str(self.routing_port),
            "LOG_LEVEL": "WARNING",
        }  # no CLOCK_FILE: the system clock
        env.update({f"ROUTING_{key}": value for key, value in routing.items()})
        return env

    async def desk_token(self, client: httpx.AsyncClient) -> str:
        return await self.token(client, self.desk_client_id, self.desk_secret)

    async def agency_token(self, client: httpx.AsyncClient, agency_id: str) -> str:
        return await self.token(client, self.agency_client_id(agency_id), self.agency_secrets[agency_id])
