"""Running intake for tests: its own schema, topics, credentials and port per session."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.random_refs import random_agency_id, random_citizen_id, random_name, random_sha256, random_suffix
from tests.support.processes import ServiceProcess, free_port

PARTIES = {
    "portal": ("portal", None, ["dossier:submit", "dossier:read"]),
    "postal": ("postal", None, ["dossier:submit", "dossier:read"]),
    "desk": ("desk", "AGENCY", ["dossier:submit", "dossier:read", "dossier:accept"]),
    "other-desk": ("desk", "OTHER", ["dossier:submit", "dossier:read", "dossier:accept"]),
    "auditor": ("auditor", None, ["dossier:read", "audit:read"]),
    "agency": ("agency", "OTHER", ["dossier:read", "inbox:act"]),
}


@dataclass
class IntakeDeployment:
    """One isolated intake: names of everything it uses, and its processes."""

    kafka: str
    database_url: str
    log_dir: Path
    suffix: str = field(default_factory=random_suffix)
    agency_id: str = field(default_factory=random_agency_id)
    other_agency_id: str = field(default_factory=random_agency_id)
    port: int = field(default_factory=free_port)
    secrets: dict[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def events_topic(self) -> str:
        return f"test.{self.suffix}.intake.dossier-events"

    @property
    def status_topic(self) -> str:
        return f"test.{self.suffix}.dossier-status"

    @property
    def dead_letter_topic(self) -> str:
        return f"test.{self.suffix}.dead-letters"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_id(self, party: str) -> str:
        return f"{party}-{self.suffix}"

    def write_clients_file(self) -> Path:
        clients = []
        for party, (kind, agency, roles) in PARTIES.items():
            secret = secrets.token_urlsafe(24)
            self.secrets[party] = secret
            agency_id = {"AGENCY": self.agency_id, "OTHER": self.other_agency_id}.get(agency or "")
            clients.append({"client_id": self.client_id(party), "party": kind, "agency_id": agency_id,
                            "roles": roles, "secret_sha256": hashlib.sha256(secret.encode()).hexdigest()})
        path = self.log_dir / f"clients-{self.suffix}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"clients": clients}), encoding="utf-8")
        return path

    def env(self) -> dict[str, str]:
        clients_file = self.write_clients_file()
        return {
            "INTAKE_ENVIRONMENT": "test",
            "INTAKE_AUTH_SIGNING_KEY": secrets.token_urlsafe(48),
            "INTAKE_AUTH_CLIENTS_FILE": str(clients_file),
            "INTAKE_KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "INTAKE_DATABASE_URL": self.database_url,
            "INTAKE_DATABASE_SCHEMA": f"intake_{self.suffix}",
            "INTAKE_EVENTS_TOPIC": self.events_topic,
            "INTAKE_STATUS_TOPIC": self.status_topic,
            "INTAKE_DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "INTAKE_CONSUMER_GROUP": f"intake-status-{self.suffix}",
            "INTAKE_HTTP_PORT": str(self.port),
            "INTAKE_LOG_LEVEL": "WARNING",
        }

    def process(self, name: str, env: dict[str, str]) -> ServiceProcess:
        return ServiceProcess(name, env, self.log_dir / self.suffix)

    def token(self, party: str) -> str:
        response = httpx.post(f"{self.base_url}/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": self.client_id(party),
            "client_secret": self.secrets[party]})
        response.raise_for_status()
        return response.json()["access_token"]

    def headers(self, party: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(party)}", **extra}


def bearer(token: str, **extra: str) -> dict[str, str]:
    """Headers carrying ``token`` (plus any ``extra`` headers)."""
    return {"Authorization": f"Bearer {token}", **extra}


def certified_copy_submission(agency_id: str, *, channel: str = "online", **overrides: Any) -> dict[str, Any]:
    """A complete, valid submission of procedure 2.000635 (bản sao trích lục hộ tịch)."""
    body: dict[str, Any] = {
        "procedure_code": "2.000635",
        "applicant": {"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id(),
                      "phone": "0912345678"},
        "documents": [{"name": "to_khai_cap_ban_sao_trich_luc", "media_type": "application/pdf",
                       "size_bytes": 120_000, "sha256": random_sha256()}],
        "channel": channel,
        "result_delivery": {"method": "desk"},
        "locality_code": "40001",
        "receiving_agency_id": agency_id,
    }
    body.update(overrides)
    return body
