"""The six scenarios, from submission at intake to "result ready", across real processes.

Agencies act through the REST inbox or through Kafka, as the sample province's data says.
The clock is a file both services read; the test moves it, nothing waits for real time.
All dossiers are received at the desk of locality 16690 (Nghệ An); times are Vietnam time.
Due times are worked out by hand: N working days after an instant inside a session is the
same time of day N working days later (July 2025 has no public holiday).
"""

from __future__ import annotations

import pytest

from tests.support.agencies import AgencySimulator, routed_view
from tests.support.intake import bearer
from tests.support.routing import Hop, at, drive, instant, intake_status, one_hop, step_of, submit

pytestmark = pytest.mark.e2e
async def test_birth_registration_then_residence_and_health_insurance_in_parallel(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.001193", at(7, 9))
    final = await drive(system, http, tokens, code, [
        Hop("birth_registration", "400.10.16690.H40", "rest", at(7, 9), at(8, 9), at(7, 14)),
        Hop("residence_registration", "400.11.16690.H40", "kafka", at(7, 14), at(9, 14), at(8, 10)),
        Hop("health_insurance_card", "400.22.90001.H40", "kafka", at(7, 14), at(9, 14), at(8, 11)),
    ])
    assert final["route_version"] == "2025.07"
    assert instant(final["appointment_at"]) == at(10, 9)
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
        await one_hop(system, http, tokens, agencies, code, hop)
    view = await routed_view(system, http, tokens["auditor"], code,
                             until=lambda v: step_of(v, "tax_payment")["state"] == "open")
    assert instant(step_of(view, "tax_payment")["due_at"]) == at(9, 10)
    system.set_time(at(8, 11))
    await agencies.kafka(code, "tax_payment", tax, "request_payment", at(8, 11), amount_vnd=25_000_000)
    paused = await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 6)
    assert step_of(paused, "tax_payment")["due_at"] is None
    await intake_status(system, http, tokens, code, 6)
    system.set_time(at(10, 11))
    paid = await http.post(f"{system.routing_url}/v1/routing/dossiers/{code}/payment", headers=bearer(tokens["desk"]))
    assert paid.status_code == 200, paid.text
    resumed = paid.json()
    # Tue 11:00 → Thu 11:00 paused: 16 working hours, so Wed 10:00 becomes Fri 10:00.
    assert resumed["national_status"] == 4
    assert instant(step_of(resumed, "tax_payment")["due_at"]) == at(11, 10)
    assert instant(resumed["appointment_at"]) == at(23, 9)
    system.set_time(at(10, 14))
    await agencies.kafka(code, "tax_payment", tax, "complete", at(10, 14), documents=[])
    await one_hop(system, http, tokens, agencies, code,
                   Hop("update_certificate", "400.20.90001.H40", "rest", at(10, 14), at(15, 14), at(11, 9)))
    await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 9)


async def test_business_registration_with_its_tax_code(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.001610", at(7, 9))
    final = await drive(system, http, tokens, code, [
        Hop("review_application", "000.08.21.H40", "rest", at(7, 9), at(8, 9), at(7, 11)),
        Hop("tax_code", "000.81.00.H40", "kafka", at(7, 11), at(8, 11), at(7, 16)),
        Hop("issue_certificate", "000.08.21.H40", "rest", at(7, 16), at(8, 16), at(8, 9)),
    ])
    assert instant(final["appointment_at"]) == at(10, 9)


async def test_judicial_record_certificate_through_the_provincial_police_system(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.000488", at(7, 9))
    police = "000.60.06.H40"
    final = await drive(system, http, tokens, code, [
        Hop("receive_application", police, "kafka", at(7, 9), at(8, 9), at(7, 10)),
        Hop("records_verification", police, "kafka", at(7, 10), at(14, 10), at(9, 10)),
        Hop("issue_certificate", police, "kafka", at(9, 10), at(15, 10), at(10, 10)),
    ])
    assert instant(final["appointment_at"]) == at(21, 9)
    sheet = (await http.get(f"{system.routing_url}/v1/routing/dossiers/{code}/control-sheet",
                            headers=bearer(tokens["auditor"]))).json()
    assert [row["step_key"] for row in sheet] == ["receive_application", "records_verification", "issue_certificate"]
    assert {row["timeliness"] for row in sheet} == {"early"}


async def test_a_certified_copy_is_issued_the_same_day(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.000635", at(7, 9))
    final = await drive(system, http, tokens, code, [
        Hop("issue_copy", "400.10.16690.H40", "rest", at(7, 9), at(7, 17, 30), at(7, 10)),
    ])
    assert instant(final["appointment_at"]) == at(7, 17, 30)


async def test_a_certified_copy_asked_for_at_15_01_is_due_the_next_working_day(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.000635", at(7, 15, 1))
    view = await routed_view(system, http, tokens["auditor"], code)
    assert instant(view["appointment_at"]) == at(8, 17, 30)
    assert instant(step_of(view, "issue_copy")["due_at"]) == at(8, 17, 30)


async def test_a_dossier_received_on_30_june_2025_follows_the_three_level_route(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.004227", at(30, 9, month=6))
    view = await routed_view(system, http, tokens["auditor"], code)
    assert view["route_version"] == "2025.01"
    assert step_of(view, "receive_and_check")["agency_id"] == "412.02.00.H40"  # district land registration branch
    assert step_of(view, "tax_assessment")["agency_id"] == "412.03.00.H40"  # district tax branch


async def test_a_dossier_received_on_1_july_2025_follows_the_two_level_route(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.004227", at(1, 9))
    view = await routed_view(system, http, tokens["auditor"], code)
    assert view["route_version"] == "2025.07"
    assert step_of(view, "receive_and_check")["agency_id"] == "400.20.90001.H40"  # regional land registration
    assert step_of(view, "tax_assessment")["agency_id"] == "400.21.90001.H40"  # regional tax office
