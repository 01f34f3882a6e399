"""Running intake for tests: its own schema, topics, credentials and port per deployment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from services.sandbox import Sandbox, client_entry
from tests.random_refs import random_agency_id, random_citizen_id, random_name, random_sha256

PARTIES = {
    "portal": ("portal", None, ["dossier:submit", "dossier:read"]),
    "postal": ("postal", None, ["dossier:submit", "dossier:read"]),
    "desk": ("desk", "AGENCY", ["dossier:submit", "dossier:read", "dossier:accept"]),
    "other-desk": ("desk", "OTHER", ["dossier:submit", "dossier:read", "dossier:accept"]),
    "auditor": ("auditor", None, ["dossier:read", "audit:read"]),
    "agency": ("agency", "OTHER", ["dossier:read", "inbox:act"]),
}


@dataclass
class IntakeDeployment(Sandbox):
    """One isolated intake (see :class:`services.sandbox.Sandbox`) and a client per test party."""

    label: str = "test"
    agency_id: str = field(default_factory=random_agency_id)
    other_agency_id: str = field(default_factory=random_agency_id)
    secrets: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.secrets = {party: secrets.token_urlsafe(24) for party in PARTIES}

    def client_id(self, party: str) -> str:
        return f"{party}-{self.suffix}"

    def clients(self) -> list[dict[str, object]]:
        entries = []
        for party, (kind, agency, roles) in PARTIES.items():
            agency_id = {"AGENCY": self.agency_id, "OTHER": self.other_agency_id}.get(agency or "")
            entries.append(client_entry(self.client_id(party), kind, agency_id, roles, self.secrets[party]))
        return entries

    def token(self, party: str) -> str:
        return self.client_token(self.client_id(party), self.secrets[party])

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
