"""Running intake for tests: its own schema, topics, credentials and port per deployment."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from services.sandbox import Sandbox, client_entry
from shared_events import DossierStatusChanged, DossierWithdrawalDeclined, encode, to_cloud_event
from tests.random_refs import random_citizen_id, random_name
from tests.support.uploads import a_document, uploaded

RECEIVING_DESK = "000.00.01.H40"
"""The province's public-administration service centre: a one-stop desk of the packaged geography."""
OTHER_RECEIVING_DESK = "400.12.16690.H40"
"""A commune's one-stop desk (from 1 July 2025)."""
COMMUNE = "16690"
"""A commune in force before and after 1 July 2025 (Trường Thi, then Trường Vinh)."""

PARTIES = {
    "portal": ("portal", None, ["dossier:submit", "dossier:read"]),
    "postal": ("postal", None, ["dossier:submit", "dossier:read"]),
    "desk": ("desk", "AGENCY", ["dossier:submit", "dossier:read", "dossier:accept"]),
    "other-desk": ("desk", "OTHER", ["dossier:submit", "dossier:read", "dossier:accept"]),
    "auditor": ("auditor", None, ["dossier:read", "audit:read"]),
    "agency": ("agency", "OTHER", ["dossier:read", "inbox:act"]),
    "operator": ("operator", None, ["calendar:write"]),
}


@dataclass
class IntakeDeployment(Sandbox):
    """One isolated intake (see :class:`services.sandbox.Sandbox`) and a client per test party."""

    label: str = "test"
    # Receiving desks must exist in the reference data intake checks; each deployment's own
    # schema keeps its day counters apart from every other deployment's.
    agency_id: str = RECEIVING_DESK
    other_agency_id: str = OTHER_RECEIVING_DESK
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

    def partner_client_ids(self) -> list[str]:
        return [self.client_id("postal")]

    def token(self, party: str) -> str:
        return self.client_token(self.client_id(party), self.secrets[party])

    def headers(self, party: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(party)}", **extra}


def bearer(token: str, **extra: str) -> dict[str, str]:
    """Headers carrying ``token`` (plus any ``extra`` headers)."""
    return {"Authorization": f"Bearer {token}", **extra}


def certified_copy_submission(agency_id: str, *, channel: str = "online", **overrides: Any) -> dict[str, Any]:
    """A complete, valid submission of procedure 2.000635 (bản sao trích lục hộ tịch); its document
    a real file to upload first (:func:`tests.support.uploads.uploaded`)."""
    body: dict[str, Any] = {
        "procedure_code": "2.000635",
        "applicant": {"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id(),
                      "phone": "0912345678"},
        "documents": [a_document("to_khai_cap_ban_sao_trich_luc")],
        "channel": channel,
        "result_delivery": {"method": "desk"},
        "locality_code": COMMUNE,
        "receiving_agency_id": agency_id,
    }
    body.update(overrides)
    return body


async def uploaded_submission(http: httpx.AsyncClient, token: str, agency_id: str, *, channel: str = "online",
                              base_url: str = "", **overrides: Any) -> dict[str, Any]:
    """:func:`certified_copy_submission`, its document uploaded by the client of ``token``."""
    return await uploaded(http, token, certified_copy_submission(agency_id, channel=channel, **overrides),
                          base_url=base_url)


async def submit_many(http: httpx.AsyncClient, token: str, agency_id: str, count: int,
                      concurrency: int = 100) -> list[httpx.Response]:
    """``count`` submissions to ``agency_id`` posted at once, at most ``concurrency`` in flight; all
    refer to one document, uploaded once before."""
    gate = asyncio.Semaphore(concurrency)
    documents = (await uploaded(http, token, certified_copy_submission(agency_id)))["documents"]

    async def one() -> httpx.Response:
        async with gate:
            return await http.post("/v1/dossiers", json=certified_copy_submission(agency_id, documents=documents),
                                   headers=bearer(token))

    return await asyncio.gather(*[one() for _ in range(count)])


def routing_message(contract: Any, code: str, event_id: str | None = None) -> bytes:
    """``contract`` as routing would publish it on the status topic (structured CloudEvent)."""
    now = datetime.now(UTC)
    return encode(to_cloud_event(contract, id=event_id or str(uuid.uuid4()), source="/lienthong/routing",
                                 subject=code, time=now, correlation_id=str(uuid.uuid4())))


def status_changed(code: str, status: int, event_id: str | None = None) -> bytes:
    """Routing's report that dossier ``code`` moved to national status ``status``."""
    contract = DossierStatusChanged(dossier_code=code, national_status=status, reason="đang xử lý",
                                    changed_by_agency_id="400.10.16690.H40", changed_at=datetime.now(UTC))
    return routing_message(contract, code, event_id)


def withdrawal_declined(code: str, status: int, event_id: str | None = None) -> bytes:
    """Routing's answer that the withdrawal of ``code`` came too late (it keeps ``status``)."""
    contract = DossierWithdrawalDeclined(dossier_code=code, national_status=status, reason="Hồ sơ đã giải quyết xong",
                                         declined_at=datetime.now(UTC))
    return routing_message(contract, code, event_id)
