"""Helpers for routing's end-to-end tests: desk submissions, hops, polling the views, and raw
events put on routing's input topics directly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from shared_events import DossierSubmitted, encode, to_cloud_event
from tests.random_refs import random_agency_id, random_citizen_id, random_name
from tests.support.agencies import AgencySimulator, routed_view, step_done
from tests.support.intake import bearer
from tests.support.kafka import eventually
from tests.support.uploads import a_document, uploaded

VN = timezone(timedelta(hours=7))


def at(day: int, hh: int, mm: int = 0, month: int = 7) -> datetime:
    return datetime(2025, month, day, hh, mm, tzinfo=VN)


DOCUMENTS = {
    "1.001193": ["to_khai_khai_sinh", "giay_chung_sinh"],
    "1.001233": ["to_khai_khai_tu", "giay_bao_tu", "de_nghi_tro_cap_mai_tang"],
    "1.004227": ["don_dang_ky_bien_dong", "hop_dong_chuyen_nhuong", "giay_chung_nhan", "to_khai_le_phi_truoc_ba",
                 "to_khai_thue_thu_nhap_ca_nhan"],
    "2.001610": ["giay_de_nghi_dang_ky_doanh_nghiep", "giay_to_phap_ly_ca_nhan"],
    "2.000488": ["to_khai_yeu_cau_cap_phieu_lltp", "giay_to_tuy_than"],
    "2.000635": ["to_khai_cap_ban_sao_trich_luc"],
}


def desk_submission(system: Any, procedure: str, options: list[str] = (),
                    documents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A desk submission of ``procedure`` with its required documents: new files to upload first
    (:func:`uploaded_desk_submission`), or ``documents`` (:func:`uploaded_desk_documents`)."""
    return {
        "procedure_code": procedure,
        "applicant": {"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id()},
        "documents": documents or [a_document(key) for key in DOCUMENTS[procedure]],
        "channel": "desk", "result_delivery": {"method": "desk"}, "locality_code": "16690",
        "receiving_agency_id": system.agency_id, "options": list(options),
    }


async def uploaded_desk_submission(system: Any, http: httpx.AsyncClient, token: str, procedure: str,
                                   options: list[str] = ()) -> dict[str, Any]:
    """:func:`desk_submission`, its files uploaded to intake by the desk of ``token``."""
    return await uploaded(http, token, desk_submission(system, procedure, options), base_url=system.base_url)


async def uploaded_desk_documents(system: Any, http: httpx.AsyncClient, token: str, procedure: str) -> list[dict]:
    """The documents of a desk submission of ``procedure``, uploaded once by the desk of ``token``, for
    many submissions to refer to (``desk_submission(..., documents=...)``)."""
    return (await uploaded_desk_submission(system, http, token, procedure))["documents"]


@dataclass(frozen=True)
class Hop:
    """One step: who handles it, when it opens and is due, and when the test completes it."""

    key: str
    agency_id: str
    integration: str
    opened_at: datetime
    due_at: datetime
    done_at: datetime


async def submit(system: Any, http: httpx.AsyncClient, tokens: dict[str, str], procedure: str,
                 received_at: datetime, options: list[str] = ()) -> str:
    system.set_time(received_at)
    body = await uploaded_desk_submission(system, http, tokens["desk"], procedure, options)
    response = await http.post(f"{system.base_url}/v1/dossiers", json=body, headers=bearer(tokens["desk"]))
    assert response.status_code == 201, response.text
    assert response.json()["national_status"] == 2
    return response.json()["code"]


async def drive(system: Any, http: httpx.AsyncClient, tokens: dict[str, str], code: str, hops: list[Hop]) -> dict:
    """Complete every hop in order, checking each step's agency, opening and due time first."""
    agencies = AgencySimulator(system, http)
    for hop in hops:
        view = await routed_view(system, http, tokens["auditor"], code,
                                 until=lambda v, k=hop.key: step_of(v, k)["state"] == "open")
        step = step_of(view, hop.key)
        assert (step["agency_id"], step["integration"]) == (hop.agency_id, hop.integration), hop.key
        assert instant(step["opened_at"]) == hop.opened_at, hop.key
        assert instant(step["due_at"]) == hop.due_at, hop.key
        system.set_time(hop.done_at)
        await agencies.claim_and_complete(code, step, hop.done_at)
        await routed_view(system, http, tokens["auditor"], code, until=step_done(hop.key))
    return await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 9)


def step_of(view: dict, key: str) -> dict:
    return next(s for s in view["steps"] if s["key"] == key)


def instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


async def intake_status(system: Any, http: httpx.AsyncClient, tokens: dict[str, str], code: str, status: int) -> None:
    async def check() -> bool:
        body = (await http.get(f"{system.base_url}/v1/dossiers/{code}", headers=bearer(tokens["auditor"]))).json()
        return body["national_status"] == status
    await eventually(check, timeout=60)




async def one_hop(system, http, tokens, agencies: AgencySimulator, code: str, hop: Hop) -> None:
    view = await routed_view(system, http, tokens["auditor"], code,
                             until=lambda v: step_of(v, hop.key)["state"] == "open")
    step = step_of(view, hop.key)
    assert (step["agency_id"], instant(step["opened_at"]), instant(step["due_at"])) == (
        hop.agency_id, hop.opened_at, hop.due_at), hop.key
    system.set_time(hop.done_at)
    await agencies.claim_and_complete(code, step, hop.done_at)
    await routed_view(system, http, tokens["auditor"], code, until=step_done(hop.key))


def raw_submission(system: Any, code: str, *, procedure: str = "2.000635", locality: str = "16690",
                   received_at: datetime | None = None, national_status: int = 2) -> DossierSubmitted:
    """A ``DossierSubmitted`` as intake would publish it, for events put on the intake topic directly
    (bypassing intake's own checks, as a buggy or hostile producer could)."""
    return DossierSubmitted(
        dossier_code=code, dossier_id=uuid.uuid4(), procedure_code=procedure, procedure_version="test",
        applicant={"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id()},
        documents=[{"name": key, "media_type": "application/pdf", "size_bytes": 90_000,
                    "sha256": uuid.uuid4().hex * 2} for key in DOCUMENTS[procedure]],
        channel="desk", result_delivery={"method": "desk"}, locality_code=locality,
        receiving_agency_id=code.rsplit("-", 2)[0], submitted_by="desk-test",
        received_at=received_at or at(7, 9), national_status=national_status)


def cloud_event_bytes(contract: Any, subject: str, *, source: str = "/lienthong/intake") -> tuple[bytes, str]:
    """``contract`` as an encoded CloudEvent, and its event id."""
    event_id = str(uuid.uuid4())
    envelope = to_cloud_event(contract, id=event_id, source=source, subject=subject,
                              time=datetime.now(UTC), correlation_id=str(uuid.uuid4()))
    return encode(envelope), event_id


async def produce_on_partition(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]],
                               partition: int | None = None) -> int:
    """Send ``(key, value)`` records in order to one partition of ``topic`` (default: the first
    record's by key); the partition used."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for key, value in records:
            sent = await (await producer.send(topic, value, key=key, partition=partition))
            partition = sent.partition
        assert partition is not None
        return partition
    finally:
        await producer.stop()


def fresh_codes(count: int, day: str = "250707") -> list[str]:
    """``count`` dossier codes no other test uses (a random receiving agency of their own)."""
    agency = random_agency_id()
    return [f"{agency}-{day}-{n:04d}" for n in range(1, count + 1)]


PAGE = 500
"""The longest page routing's lists give (``limit``)."""


async def every_row(http: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any) -> list[dict]:
    """Every row of one of routing's paged lists (``limit``/``offset``), page after page: a test looks
    for its own rows in the whole list, since other tests on the deployment add rows before them."""
    rows: list[dict] = []
    while True:
        response = await http.get(url, params={**params, "limit": PAGE, "offset": len(rows)}, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page
        if len(page) < PAGE:
            return rows


async def all_routed(system: Any, http: httpx.AsyncClient, token: str, codes: list[str],
                     until: Any = lambda view: view["route_version"] is not None, timeout: float = 120) -> None:
    """Wait until routing's view of every dossier in ``codes`` satisfies ``until``."""
    pending = set(codes)

    async def check() -> bool:
        for code in sorted(pending):
            response = await http.get(f"{system.routing_url}/v1/routing/dossiers/{code}", headers=bearer(token))
            if response.status_code == 200 and until(response.json()):
                pending.discard(code)
        return not pending
    await eventually(check, timeout=timeout, interval=0.5)
