"""Intake and routing together, as real processes, with a clock the test moves.

Both services share the deployment's topics (intake's events feed routing; routing's status
changes feed intake), one client list (every agency of the sample province has a client),
and one clock file.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import yaml

from routing.geography import Geography
from services.clock import FileClock
from tests.support.intake import PARTIES, IntakeDeployment
from tests.support.processes import free_port

INTAKE_PROCESSES = ("intake", "intake-relay", "intake-consumer")
ROUTING_PROCESSES = ("routing", "routing-relay", "routing-consumer", "routing-timer")


@dataclass
class SystemDeployment(IntakeDeployment):
    routing_port: int = field(default_factory=free_port)
    agency_ids: list[str] = field(default_factory=list)

    @property
    def routing_url(self) -> str:
        return f"http://127.0.0.1:{self.routing_port}"

    @property
    def routing_topic(self) -> str:
        return f"test.{self.suffix}.routing.dossier-events"

    @property
    def replies_topic(self) -> str:
        return f"test.{self.suffix}.routing.agency-replies"

    def agency_inbox_topic(self, agency_id: str) -> str:
        return f"test.{self.suffix}.agency.{agency_id}.inbox"

    @property
    def clock(self) -> FileClock:
        return FileClock(self.log_dir / f"clock-{self.suffix}.txt")

    def write_clients_file(self) -> Path:
        path = super().write_clients_file()
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.agency_ids = sorted({a.id for a in Geography.load().agencies})
        for agency_id in self.agency_ids:
            secret = secrets.token_urlsafe(24)
            self.secrets[f"agency:{agency_id}"] = secret
            document["clients"].append({
                "client_id": self.agency_client_id(agency_id), "party": "agency", "agency_id": agency_id,
                "roles": ["dossier:read", "inbox:act"], "secret_sha256": hashlib.sha256(secret.encode()).hexdigest()})
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path

    def agency_client_id(self, agency_id: str) -> str:
        return f"agency-{agency_id.lower()}-{self.suffix}"

    def env(self) -> dict[str, str]:
        env = super().env()
        clock_path = str(self.clock.path)
        env["INTAKE_CLOCK_FILE"] = clock_path
        routing = {
            "ENVIRONMENT": "test",
            "AUTH_SIGNING_KEY": env["INTAKE_AUTH_SIGNING_KEY"],
            "AUTH_CLIENTS_FILE": env["INTAKE_AUTH_CLIENTS_FILE"],
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "DATABASE_URL": self.database_url,
            "DATABASE_SCHEMA": f"routing_{self.suffix}",
            "INTAKE_TOPIC": self.events_topic,
            "EVENTS_TOPIC": self.routing_topic,
            "STATUS_TOPIC": self.status_topic,
            "AGENCY_REPLIES_TOPIC": self.replies_topic,
            "AGENCY_INBOX_PREFIX": f"test.{self.suffix}.agency.",
            "DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "CONSUMER_GROUP": f"routing-{self.suffix}",
            "HTTP_PORT": str(self.routing_port),
            "CLOCK_FILE": clock_path,
            "TIMER_INTERVAL_SECONDS": "0.2",
            "LOG_LEVEL": "WARNING",
        }
        env.update({f"ROUTING_{k}": v for k, v in routing.items()})
        return env

    def set_time(self, moment: datetime) -> None:
        self.clock.set(moment)

    def agency_token(self, agency_id: str) -> str:
        response = httpx.post(f"{self.base_url}/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": self.agency_client_id(agency_id),
            "client_secret": self.secrets[f"agency:{agency_id}"]})
        response.raise_for_status()
        return response.json()["access_token"]

    def tokens(self) -> dict[str, str]:
        return {party: self.token(party) for party in PARTIES}
