"""The six scenarios, from submission at intake to "result ready", across real processes.

Agencies act through the REST inbox or through Kafka, as the sample province's data says.
The clock is a file both services read; the test moves it, nothing waits for real time.
All dossiers are received at the desk of locality 16690 (Nghệ An); times are Vietnam time.
Due times are worked out by hand: N working days after an instant inside a session is the
same time of day N working days later (July 2025 has no public holiday).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import bearer, deploy_system
from tests.random_refs import random_citizen_id, random_name
from tests.support.agencies import AgencySimulator, routed_view, step_done
from tests.support.endpoints import Endpoints
from tests.support.kafka import eventually

pytestmark = pytest.mark.e2e
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


def desk_submission(system: Any, procedure: str, options: list[str] = ()) -> dict[str, Any]:
    return {
        "procedure_code": procedure,
        "applicant": {"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id()},
        "documents": [{"name": key, "media_type": "application/pdf", "size_bytes": 90_000,
                       "sha256": uuid.uuid4().hex * 2} for key in DOCUMENTS[procedure]],
        "channel": "desk", "result_delivery": {"method": "desk"}, "locality_code": "16690",
        "receiving_agency_id": system.agency_id, "options": list(options),
    }


@dataclass(frozen=True)
class Hop:
    """One step: who handles it, when it opens and is due, and when the test completes it."""

    key: str
    agency_id: str
    integration: str
    opened_at: datetime
    due_at: datetime
    done_at: datetime


@pytest.fixture(scope="module")
async def system(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    async with deploy_system(endpoints, tmp_path_factory.mktemp("routing"), at(7, 9)) as deployed:
        yield deployed


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def tokens(system: Any) -> dict[str, str]:
    return system.tokens()


async def submit(system: Any, http: httpx.AsyncClient, tokens: dict[str, str], procedure: str,
                 received_at: datetime, options: list[str] = ()) -> str:
    system.set_time(received_at)
    response = await http.post(f"{system.base_url}/v1/dossiers", json=desk_submission(system, procedure, options),
                               headers=bearer(tokens["desk"]))
    assert response.status_code == 201, response.text
    assert response.json()["national_status"] == 2
    return response.json()["code"]


async def drive(system: Any, http: httpx.AsyncClient, tokens: dict[str, str], code: str, hops: list[Hop]) -> dict:
    """Complete every hop in order, checking each step's agency, opening and due time first."""
    agencies = AgencySimulator(system, http)
    for hop in hops:
        view = await routed_view(system, http, tokens["auditor"], code,
                                 until=lambda v, k=hop.key: _step(v, k)["state"] == "open")
        step = _step(view, hop.key)
        assert (step["agency_id"], step["integration"]) == (hop.agency_id, hop.integration), hop.key
        assert _instant(step["opened_at"]) == hop.opened_at, hop.key
        assert _instant(step["due_at"]) == hop.due_at, hop.key
        system.set_time(hop.done_at)
        await agencies.claim_and_complete(code, step, hop.done_at)
        await routed_view(system, http, tokens["auditor"], code, until=step_done(hop.key))
    return await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 9)


def _step(view: dict, key: str) -> dict:
    return next(s for s in view["steps"] if s["key"] == key)


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


async def intake_status(system: Any, http: httpx.AsyncClient, tokens: dict[str, str], code: str, status: int) -> None:
    async def check() -> bool:
        body = (await http.get(f"{system.base_url}/v1/dossiers/{code}", headers=bearer(tokens["auditor"]))).json()
        return body["national_status"] == status
    await eventually(check, timeout=60)


async def test_birth_registration_then_residence_and_health_insurance_in_parallel(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.001193", at(7, 9))
    final = await drive(system, http, tokens, code, [
        Hop("birth_registration", "400.10.16690.H40", "rest", at(7, 9), at(8, 9), at(7, 14)),
        Hop("residence_registration", "400.11.16690.H40", "kafka", at(7, 14), at(9, 14), at(8, 10)),
        Hop("health_insurance_card", "400.22.90001.H40", "kafka", at(7, 14), at(9, 14), at(8, 11)),
    ])
    assert final["route_version"] == "2025.07"
    assert _instant(final["appointment_at"]) == at(10, 9)
    await intake_status(system, http, tokens, code, 9)


async def test_death_registration_with_the_chosen_follow_ons_only(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.001233", at(7, 9), options=["residence_deletion", "funeral_allowance"])
    final = await drive(system, http, tokens, code, [
        Hop("death_registration", "400.10.16690.H40", "rest", at(7, 9), at(8, 9), at(7, 10)),
        Hop("residence_deletion", "400.11.16690.H40", "kafka", at(7, 10), at(8, 10), at(7, 15)),
        Hop("funeral_allowance", "400.22.90001.H40", "kafka", at(7, 15), at(10, 15), at(8, 9)),
    ])
    states = {s["key"]: s["state"] for s in final["steps"]}
    assert states["survivor_benefit"] == states["welfare_funeral_support"] == "skipped"


async def test_land_transfer_pauses_the_clock_while_the_citizen_pays(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.004227", at(7, 9))
    agencies = AgencySimulator(system, http)
    tax = "400.21.90001.H40"
    for hop in [Hop("receive_and_check", "400.20.90001.H40", "rest", at(7, 9), at(10, 9), at(7, 15)),
                Hop("tax_assessment", tax, "kafka", at(7, 15), at(10, 15), at(8, 10))]:
        await _one_hop(system, http, tokens, agencies, code, hop)
    view = await routed_view(system, http, tokens["auditor"], code,
                             until=lambda v: _step(v, "tax_payment")["state"] == "open")
    assert _instant(_step(view, "tax_payment")["due_at"]) == at(9, 10)
    await agencies.kafka(code, "tax_payment", tax, "request_payment", at(8, 11), amount_vnd=25_000_000)
    paused = await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 6)
    assert _step(paused, "tax_payment")["due_at"] is None
    await intake_status(system, http, tokens, code, 6)
    system.set_time(at(10, 11))
    paid = await http.post(f"{system.routing_url}/v1/routing/dossiers/{code}/payment", headers=bearer(tokens["desk"]))
    assert paid.status_code == 200, paid.text
    resumed = paid.json()
    # Tue 11:00 → Thu 11:00 paused: 16 working hours, so Wed 10:00 becomes Fri 10:00.
    assert resumed["national_status"] == 4
    assert _instant(_step(resumed, "tax_payment")["due_at"]) == at(11, 10)
    assert _instant(resumed["appointment_at"]) == at(23, 9)
    await agencies.kafka(code, "tax_payment", tax, "complete", at(10, 14), documents=[])
    await _one_hop(system, http, tokens, agencies, code,
                   Hop("update_certificate", "400.20.90001.H40", "rest", at(10, 14), at(15, 14), at(11, 9)))
    await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 9)


async def _one_hop(system, http, tokens, agencies: AgencySimulator, code: str, hop: Hop) -> None:
    view = await routed_view(system, http, tokens["auditor"], code,
                             until=lambda v: _step(v, hop.key)["state"] == "open")
    step = _step(view, hop.key)
    assert (step["agency_id"], _instant(step["opened_at"]), _instant(step["due_at"])) == (
        hop.agency_id, hop.opened_at, hop.due_at), hop.key
    system.set_time(hop.done_at)
    await agencies.claim_and_complete(code, step, hop.done_at)
    await routed_view(system, http, tokens["auditor"], code, until=step_done(hop.key))


async def test_business_registration_with_its_tax_code(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.001610", at(7, 9))
    final = await drive(system, http, tokens, code, [
        Hop("review_application", "000.08.21.H40", "rest", at(7, 9), at(8, 9), at(7, 11)),
        Hop("tax_code", "000.81.00.H40", "kafka", at(7, 11), at(8, 11), at(7, 16)),
        Hop("issue_certificate", "000.08.21.H40", "rest", at(7, 16), at(8, 16), at(8, 9)),
    ])
    assert _instant(final["appointment_at"]) == at(10, 9)


async def test_judicial_record_certificate_through_the_provincial_police_system(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.000488", at(7, 9))
    police = "000.60.06.H40"
    final = await drive(system, http, tokens, code, [
        Hop("receive_application", police, "kafka", at(7, 9), at(8, 9), at(7, 10)),
        Hop("records_verification", police, "kafka", at(7, 10), at(14, 10), at(9, 10)),
        Hop("issue_certificate", police, "kafka", at(9, 10), at(15, 10), at(10, 10)),
    ])
    assert _instant(final["appointment_at"]) == at(21, 9)
    sheet = (await http.get(f"{system.routing_url}/v1/routing/dossiers/{code}/control-sheet",
                            headers=bearer(tokens["auditor"]))).json()
    assert [row["step_key"] for row in sheet] == ["receive_application", "records_verification", "issue_certificate"]
    assert {row["timeliness"] for row in sheet} == {"early"}


async def test_a_certified_copy_is_issued_the_same_day(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.000635", at(7, 9))
    final = await drive(system, http, tokens, code, [
        Hop("issue_copy", "400.10.16690.H40", "rest", at(7, 9), at(7, 17, 30), at(7, 10)),
    ])
    assert _instant(final["appointment_at"]) == at(7, 17, 30)


async def test_a_certified_copy_asked_for_at_15_01_is_due_the_next_working_day(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.000635", at(7, 15, 1))
    view = await routed_view(system, http, tokens["auditor"], code)
    assert _instant(view["appointment_at"]) == at(8, 17, 30)
    assert _instant(_step(view, "issue_copy")["due_at"]) == at(8, 17, 30)


async def test_a_dossier_received_on_30_june_2025_follows_the_three_level_route(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.004227", at(30, 9, month=6))
    view = await routed_view(system, http, tokens["auditor"], code)
    assert view["route_version"] == "2025.01"
    assert _step(view, "receive_and_check")["agency_id"] == "412.02.00.H40"  # district land registration branch
    assert _step(view, "tax_assessment")["agency_id"] == "412.03.00.H40"  # district tax branch


async def test_a_dossier_received_on_1_july_2025_follows_the_two_level_route(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.004227", at(1, 9))
    view = await routed_view(system, http, tokens["auditor"], code)
    assert view["route_version"] == "2025.07"
    assert _step(view, "receive_and_check")["agency_id"] == "400.20.90001.H40"  # regional land registration
    assert _step(view, "tax_assessment")["agency_id"] == "400.21.90001.H40"  # regional tax office
