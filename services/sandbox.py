"""An isolated deployment of the services on a shared Kafka and PostgreSQL, run as processes.

The end-to-end tests and the bench deploy lienthong this way, many times over on one broker
and one database, without one deployment seeing another's data:

* every name carries the deployment's label and a random suffix: topics
  ``<label>.<suffix>.…``, schemas ``<service>_<label>_<suffix>`` (and the document store both
  services share, ``documents_<label>_<suffix>``, or a prefix of its own in the S3 bucket given
  as the store's own :class:`~services.documents.s3.S3Settings`), consumer groups ``<service>-<label>-<suffix>``;
* the credentials are a fresh client list (secrets random, stored only as SHA-256) signed
  with a random key, and download links are signed with a random secret;
* the carrier simulator (``postal-sim``) and postal share a fresh pair of credentials: a random OAuth2
  client secret, webhook secret and Ed25519 key, written to a partners file of the deployment's own;
* the HTTP ports are free ones on 127.0.0.1;
* each service runs as ``python -m services.cli run <name>`` in a session of its own, its
  output in ``<work_dir>/<name>.log``, stopped by PID.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from services.documents.s3 import S3Settings
from shared_events.topics import (
    AGENCY_TOPIC_PREFIX,
    DEAD_LETTERS,
    DOSSIER_STATUS,
    INTAKE_DOSSIER_EVENTS,
    NAMESPACE,
    POSTAL_EVENTS,
    ROUTING_DOSSIER_EVENTS,
    agency_inbox_topic,
    agency_reply_topic,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_entry(client_id: str, party: str, agency_id: str | None, roles: list[str],
                 secret: str) -> dict[str, object]:
    """One entry of a client list (see ``services/dev_clients.yaml``); the secret only as SHA-256."""
    return {"client_id": client_id, "party": party, "agency_id": agency_id, "roles": roles,
            "secret_sha256": hashlib.sha256(secret.encode()).hexdigest()}


class ServiceProcess:
    """``lienthong run <name>`` as a child process with its own environment and log file.

    It can be started again after it was stopped or killed: the log file is appended to.
    """

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "run", self.name], cwd=REPO_ROOT,
                env={**os.environ, **self.env}, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time this process has used so far (0 once it is gone)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            assert self.popen is not None
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to this PID, SIGKILL if it has not exited within ``timeout``."""
        if self.alive():
            assert self.popen is not None
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()


PARTNER_ID = "vnpost"
"""The carrier partner of every sandbox: its simulator process, ``postal-sim``."""
OTHER_PARTNER_ID = "other-carrier"


@dataclass(frozen=True)
class CarrierCredentials:
    """What postal and the carrier simulator of one deployment share: postal's client secret at the
    carrier, the webhook secret (``v1``) and the Ed25519 key pair (``v1a``)."""

    client_id: str
    client_secret: str
    webhook_secret: str
    signing_key: str
    public_key: str

    @classmethod
    def random(cls) -> CarrierCredentials:
        from services.webhooks import new_key_pair, new_secret

        signing_key, public_key = new_key_pair()
        return cls(client_id=f"lienthong-{secrets.token_hex(4)}", client_secret=secrets.token_urlsafe(32),
                   webhook_secret=new_secret(), signing_key=signing_key, public_key=public_key)


@dataclass
class Sandbox:
    """The names, credentials, environment and processes of one isolated deployment."""

    kafka: str
    database_url: str
    work_dir: Path
    label: str
    suffix: str = field(default_factory=lambda: secrets.token_hex(4))
    port: int = field(default_factory=free_port)
    routing_port: int = field(default_factory=free_port)
    signing_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    clock_file: Path | None = None
    """When set, both services read the time from this file instead of the system clock."""
    timer_interval_seconds: float | None = None
    documents_s3: S3Settings | None = None
    """When set, documents go to this bucket (under a prefix of the deployment's own inside its
    ``prefix``), not PostgreSQL."""
    documents_settings: dict[str, str] = field(default_factory=dict)
    """More ``DOCUMENTS_*`` settings for both services, e.g. ``{"MAX_DOCUMENT_BYTES": "100000"}``."""
    link_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    postal_port: int = field(default_factory=free_port)
    carrier_port: int = field(default_factory=free_port)
    carrier: CarrierCredentials = field(default_factory=lambda: CarrierCredentials.random())
    other_carrier: CarrierCredentials = field(default_factory=lambda: CarrierCredentials.random())
    """A second partner (:data:`OTHER_PARTNER_ID`) with keys of its own; it carries nothing (its API is the
    same simulator's address): there so that one partner's signature can be tried on the other's endpoint."""
    carrier_settings: dict[str, str] = field(default_factory=dict)
    """More ``POSTAL_SIM_*`` settings of the carrier simulator (without the prefix), e.g. ``{"STEP_SECONDS": "1"}``."""
    postal_settings: dict[str, str] = field(default_factory=dict)
    """More ``POSTAL_*`` settings of postal's processes (without the prefix)."""
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    # --- names ---------------------------------------------------------------------

    def topic(self, name: str) -> str:
        """This deployment's ``name``: ``lienthong.dossier-status`` is ``<label>.<suffix>.dossier-status``."""
        return f"{self.label}.{self.suffix}.{name.removeprefix(NAMESPACE)}"

    @property
    def events_topic(self) -> str:
        """Intake's dossier events."""
        return self.topic(INTAKE_DOSSIER_EVENTS)

    @property
    def status_topic(self) -> str:
        return self.topic(DOSSIER_STATUS)

    @property
    def dead_letter_topic(self) -> str:
        return self.topic(DEAD_LETTERS)

    @property
    def routing_topic(self) -> str:
        return self.topic(ROUTING_DOSSIER_EVENTS)

    @property
    def postal_topic(self) -> str:
        return self.topic(POSTAL_EVENTS)

    @property
    def agency_inbox_prefix(self) -> str:
        return self.topic(AGENCY_TOPIC_PREFIX)

    def agency_inbox_topic(self, agency_id: str) -> str:
        return agency_inbox_topic(agency_id, self.agency_inbox_prefix)

    def agency_reply_topic(self, agency_id: str) -> str:
        """Where the stream-integrated agency ``agency_id`` sends its replies (routing creates it)."""
        return agency_reply_topic(agency_id, self.agency_inbox_prefix)

    @property
    def intake_schema(self) -> str:
        return f"intake_{self.label}_{self.suffix}"

    @property
    def routing_schema(self) -> str:
        return f"routing_{self.label}_{self.suffix}"

    @property
    def postal_schema(self) -> str:
        return f"postal_{self.label}_{self.suffix}"

    @property
    def documents_schema(self) -> str:
        """The document store's schema (its blobs too, unless :attr:`documents_s3`), shared by both services."""
        return f"documents_{self.label}_{self.suffix}"

    @property
    def documents_prefix(self) -> str:
        """Where this deployment's blobs live in :attr:`documents_s3`'s bucket."""
        prefix = self.documents_s3.prefix if self.documents_s3 is not None else S3Settings.prefix
        return f"{prefix}{self.label}-{self.suffix}/"

    def documents_environment(self) -> dict[str, str]:
        """The ``DOCUMENTS_*`` settings (without a service's prefix) both services share."""
        env = {"DOCUMENTS_SCHEMA": self.documents_schema, "DOCUMENTS_LINK_SECRET": self.link_secret}
        if self.documents_s3 is not None:
            s3 = self.documents_s3
            env.update({"DOCUMENTS_BACKEND": "s3", "DOCUMENTS_S3_BUCKET": s3.bucket,
                        "DOCUMENTS_S3_REGION": s3.region, "DOCUMENTS_S3_PREFIX": self.documents_prefix,
                        "DOCUMENTS_S3_ADDRESSING": s3.addressing_style})
            for name, value in (("ENDPOINT_URL", s3.endpoint_url), ("ACCESS_KEY_ID", s3.access_key_id),
                                ("SECRET_ACCESS_KEY", s3.secret_access_key)):
                if value is not None:
                    env[f"DOCUMENTS_S3_{name}"] = value
        env.update({f"DOCUMENTS_{k.upper().removeprefix('DOCUMENTS_')}": v for k, v in self.documents_settings.items()})
        return env

    @property
    def intake_group(self) -> str:
        """Intake's status consumer's group."""
        return f"intake-{self.label}-{self.suffix}"

    @property
    def routing_group(self) -> str:
        return f"routing-{self.label}-{self.suffix}"

    @property
    def postal_group(self) -> str:
        return f"postal-{self.label}-{self.suffix}"

    @property
    def base_url(self) -> str:
        """Intake's."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def routing_url(self) -> str:
        return f"http://127.0.0.1:{self.routing_port}"

    @property
    def postal_url(self) -> str:
        return f"http://127.0.0.1:{self.postal_port}"

    @property
    def carrier_url(self) -> str:
        """The carrier simulator's."""
        return f"http://127.0.0.1:{self.carrier_port}"

    @property
    def webhook_url(self) -> str:
        """Where the carrier posts its status webhooks."""
        return f"{self.postal_url}/v1/postal/webhooks/{PARTNER_ID}"

    @property
    def clients_file(self) -> Path:
        return self.work_dir / f"clients-{self.suffix}.yaml"

    @property
    def partners_file(self) -> Path:
        return self.work_dir / f"partners-{self.suffix}.yaml"

    # --- configuration -------------------------------------------------------------

    def clients(self) -> list[dict[str, object]]:
        """The client list's entries; a subclass says who may call."""
        return []

    def partner_client_ids(self) -> list[str]:
        """The clients (of :meth:`clients`) that act for the carrier partner; a subclass says which."""
        return []

    def partners(self) -> dict[str, object]:
        """postal's partners file: the simulator, with this deployment's credentials."""
        def entry(partner_id: str, name: str, c: CarrierCredentials, client_ids: list[str]) -> dict[str, object]:
            return {"partner_id": partner_id, "name": name, "base_url": self.carrier_url, "client_id": c.client_id,
                    "client_secret": c.client_secret, "webhook_secrets": [c.webhook_secret],
                    "webhook_public_keys": [c.public_key], "api_client_ids": client_ids}
        return {"partners": [
            entry(PARTNER_ID, "Bưu chính công ích (mô phỏng)", self.carrier, self.partner_client_ids()),
            entry(OTHER_PARTNER_ID, "Đối tác khác (thử nghiệm)", self.other_carrier, [])]}

    def environment(self) -> dict[str, str]:
        """Writes the client list and the partners file; returns the ``INTAKE_*``, ``ROUTING_*``,
        ``POSTAL_*`` and ``POSTAL_SIM_*`` variables."""
        self.clients_file.parent.mkdir(parents=True, exist_ok=True)
        for path, content in ((self.clients_file, {"clients": self.clients()}), (self.partners_file, self.partners())):
            path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
            path.chmod(0o600)
        common = {
            "ENVIRONMENT": "test",
            "AUTH_SIGNING_KEY": self.signing_key,
            "AUTH_CLIENTS_FILE": str(self.clients_file),
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "DATABASE_URL": self.database_url,
            "STATUS_TOPIC": self.status_topic,
            "DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "LOG_LEVEL": "WARNING",
            **self.documents_environment(),
        }
        if self.clock_file is not None:
            common["CLOCK_FILE"] = str(self.clock_file)
        intake = {**common, "DATABASE_SCHEMA": self.intake_schema, "EVENTS_TOPIC": self.events_topic,
                  "CONSUMER_GROUP": self.intake_group, "HTTP_PORT": str(self.port), "POSTAL_TOPIC": self.postal_topic}
        routing = {**common, "DATABASE_SCHEMA": self.routing_schema, "INTAKE_TOPIC": self.events_topic,
                   "EVENTS_TOPIC": self.routing_topic, "AGENCY_INBOX_PREFIX": self.agency_inbox_prefix,
                   "CONSUMER_GROUP": self.routing_group, "HTTP_PORT": str(self.routing_port),
                   "PUBLIC_BASE_URL": self.routing_url, "POSTAL_TOPIC": self.postal_topic}
        if self.timer_interval_seconds is not None:
            routing["TIMER_INTERVAL_SECONDS"] = str(self.timer_interval_seconds)
        postal = {k: v for k, v in common.items() if not k.startswith("DOCUMENTS_")}
        postal.update({"DATABASE_SCHEMA": self.postal_schema, "EVENTS_TOPIC": self.postal_topic,
                       "INTAKE_TOPIC": self.events_topic, "ROUTING_TOPIC": self.routing_topic,
                       "CONSUMER_GROUP": self.postal_group, "HTTP_PORT": str(self.postal_port),
                       "PARTNERS_FILE": str(self.partners_file), "DEFAULT_PARTNER": PARTNER_ID,
                       # Tests wait seconds, not minutes: a failed carrier call comes back soon, the breaker
                       # closes soon, quiet shipments are asked about soon.
                       "ACTION_RETRY_MAX_SECONDS": "2", "CARRIER_BREAKER_RESET_SECONDS": "2",
                       "CARRIER_TIMEOUT_SECONDS": "2", "DISPATCH_INTERVAL_SECONDS": "0.2",
                       "RECONCILE_INTERVAL_SECONDS": "1", "QUIET_AFTER_SECONDS": "5", **self.postal_settings})
        c = self.carrier
        carrier = {"HTTP_PORT": str(self.carrier_port), "CLIENT_ID": c.client_id, "CLIENT_SECRET": c.client_secret,
                   "WEBHOOK_URL": self.webhook_url, "WEBHOOK_SECRET": c.webhook_secret, "SIGNING_KEY": c.signing_key,
                   "STEP_SECONDS": "1", "LOG_LEVEL": "WARNING",
                   "STATE_PATH": str(self.work_dir / self.suffix / "carrier.sqlite3"), **self.carrier_settings}
        if self.clock_file is not None:
            carrier["CLOCK_FILE"] = str(self.clock_file)
        return {**{f"INTAKE_{k}": v for k, v in intake.items()},
                **{f"ROUTING_{k}": v for k, v in routing.items()},
                **{f"POSTAL_{k}": v for k, v in postal.items()},
                **{f"POSTAL_SIM_{k}": v for k, v in carrier.items()}}

    # --- processes -----------------------------------------------------------------

    async def start(self, names: Iterable[str], timeout: float = 90.0) -> None:
        """Start the named processes; return once every HTTP one among them answers ``/readyz``."""
        env = self.environment()
        for name in names:
            self.processes[name] = ServiceProcess(name, env, self.work_dir / self.suffix / f"{name}.log").start()
        http = {name: url for name, url in (("intake", self.base_url), ("routing", self.routing_url),
                                            ("postal", self.postal_url), ("postal-sim", self.carrier_url))
                if name in self.processes}
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            for name, url in http.items():
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
                    await asyncio.sleep(0.1)

    def check_alive(self) -> None:
        """Raise, with its log, when a process has exited."""
        for process in self.processes.values():
            if not process.alive():
                raise RuntimeError(f"{process.name} (pid {process.pid}) exited; its log "
                                   f"{process.log_path}:\n{process.log_tail()}")

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def client_token(self, client_id: str, secret: str) -> str:
        """A bearer token from intake's token endpoint (a blocking call: for setting up)."""
        response = httpx.post(f"{self.base_url}/v1/auth/token", timeout=30, data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
        response.raise_for_status()
        return response.json()["access_token"]
