"""Each of the six packaged procedures driven from receipt to a ready result, with due times
worked out by hand.

Working time: sessions 07:30–11:30 and 13:30–17:30 (8 h a working day), Saturday and Sunday off,
no public holiday in July 2025. "N working days from T" is N × 8 h of session time after T, so from
Mon 09:00, 1 working day is due Tue 09:00 and 3 are due Thu 09:00. Locality 16690: Phường Trường
Thi (three levels) until 2025-06-30, Phường Trường Vinh (two levels) from 2025-07-01.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from routing.domain import RoutedDossier
from tests.support.builders import (
    CIVIL_STATUS,
    POLICE,
    SOCIAL_INSURANCE,
    calendar,
    complete,
    new_events,
    opened,
    replayed,
    started,
    state_of,
    vn,
)


def timeliness(dossier: RoutedDossier) -> list[tuple[str, str, str | None]]:
    """Form 06 rows as (step, agency, early | on_time | late)."""
    return [(row["step_key"], row["agency_id"], row["timeliness"]) for row in dossier.control_sheet()]


def assert_result_ready(dossier: RoutedDossier, at: datetime) -> None:
    [ready] = [e for e in dossier.pending_events if type(e).__name__ == "ResultReady"]
    assert (ready.dossier_code, ready.ready_at, ready.national_status) == (dossier.code, at, 9)
    assert dossier.national_status == 9 and dossier.open_steps() == []
    assert state_of(replayed(dossier)) == state_of(dossier)


def test_birth_registration_then_residence_and_health_insurance_in_parallel() -> None:
    # 1.001193 (version 2025.07). Received Mon 07-07 09:00, no cut-off: the clock starts at 09:00;
    # the total of 3 working days gives the appointment Thu 07-10 09:00.
    dossier, route = started("1.001193", vn(7, 7, 9))
    assert dossier.route_version == "2025.07"
    assert dossier.appointment_at == vn(7, 10, 9)
    # birth_registration: 1 working day from Mon 09:00 → Tue 07-08 09:00.
    assert dossier.step("birth_registration").due_at == vn(7, 8, 9)
    new_events(dossier)

    dossier.claim("birth_registration", CIVIL_STATUS, vn(7, 7, 9, 15))
    complete(dossier, route, "birth_registration", vn(7, 7, 16))  # Mon, before Tue's due day: early
    # Both branches open Mon 16:00 with 2 working days: Mon 1.5 h + Tue 8 h + Wed 6.5 h → Wed 07-09 16:00.
    assert opened(new_events(dossier)) == {
        "residence_registration": vn(7, 9, 16), "health_insurance_card": vn(7, 9, 16)}

    complete(dossier, route, "residence_registration", vn(7, 9, 10))  # on the due day, before 16:00
    assert dossier.national_status == 4
    complete(dossier, route, "health_insurance_card", vn(7, 10, 8))  # Thu 08:00, after Wed 16:00

    assert timeliness(dossier) == [
        ("birth_registration", CIVIL_STATUS, "early"),
        ("residence_registration", POLICE, "on_time"),
        ("health_insurance_card", SOCIAL_INSURANCE, "late"),
    ]
    assert_result_ready(dossier, vn(7, 10, 8))
    dossier.hand_over("mot-cua-truong-vinh", vn(7, 10, 9))
    assert dossier.national_status == 10


def test_a_birth_dossier_received_on_30_june_keeps_the_three_level_route() -> None:
    # Received Mon 06-30 09:00: version 2025.01, health insurance at the district BHXH of Vinh (412).
    dossier, route = started("1.001193", vn(6, 30, 9))
    assert dossier.route_version == "2025.01"
    assert dossier.step("health_insurance_card").agency_id == "412.04.00.H40"
    # 1 working day from Mon 09:00 → Tue 07-01 09:00; 3 → Thu 07-03 09:00.
    assert (dossier.step("birth_registration").due_at, dossier.appointment_at) == (vn(7, 1, 9), vn(7, 3, 9))

    complete(dossier, route, "birth_registration", vn(7, 1, 8))
    complete(dossier, route, "residence_registration", vn(7, 2, 9))
    complete(dossier, route, "health_insurance_card", vn(7, 2, 10))

    assert dossier.control_sheet()[2]["agency_id"] == "412.04.00.H40"
    assert_result_ready(dossier, vn(7, 2, 10))


def test_death_registration_with_the_follow_ons_the_citizen_chose() -> None:
    # 1.001233 with residence deletion, funeral allowance and survivor benefit (not the welfare
    # funeral support). Received Mon 07-07 09:00; total 5 working days → Mon 07-14 09:00.
    options = ["residence_deletion", "funeral_allowance", "survivor_benefit"]
    dossier, route = started("1.001233", vn(7, 7, 9), options=options)
    assert dossier.appointment_at == vn(7, 14, 9)
    assert dossier.step("welfare_funeral_support").state == "skipped"
    new_events(dossier)

    complete(dossier, route, "death_registration", vn(7, 7, 14))  # due Tue 09:00: early
    # residence_deletion opens Mon 14:00, 1 working day: Mon 3.5 h + Tue 4 h + 0.5 h → Tue 07-08 14:00.
    assert opened(new_events(dossier)) == {"residence_deletion": vn(7, 8, 14)}

    complete(dossier, route, "residence_deletion", vn(7, 8, 11))  # on the due day: on time
    # Funeral allowance and survivor benefit open together Tue 11:00, 3 working days:
    # Tue 4.5 h + Wed 8 h + Thu 8 h + Fri 3.5 h → Fri 07-11 11:00. The skipped step does not open.
    assert opened(new_events(dossier)) == {"funeral_allowance": vn(7, 11, 11), "survivor_benefit": vn(7, 11, 11)}

    complete(dossier, route, "funeral_allowance", vn(7, 11, 10))
    complete(dossier, route, "survivor_benefit", vn(7, 11, 10, 30))

    assert [t for _, _, t in timeliness(dossier)] == ["early", "on_time", "on_time", "on_time"]
    assert_result_ready(dossier, vn(7, 11, 10, 30))


def test_death_registration_with_only_the_funeral_allowance_skips_the_residence_deletion() -> None:
    # The funeral allowance waits on the skipped residence deletion's own dependency.
    dossier, route = started("1.001233", vn(7, 7, 9), options=["funeral_allowance"])
    new_events(dossier)

    complete(dossier, route, "death_registration", vn(7, 7, 14))

    # Opened Mon 14:00, 3 working days: Mon 3.5 h + Tue 8 h + Wed 8 h + Thu 4 h + 0.5 h → Thu 07-10 14:00.
    assert opened(new_events(dossier)) == {"funeral_allowance": vn(7, 10, 14)}
    complete(dossier, route, "funeral_allowance", vn(7, 10, 9))
    assert_result_ready(dossier, vn(7, 10, 9))


def test_land_use_right_transfer_pauses_while_the_citizen_pays() -> None:
    # 1.004227 (2025.07, regional land branch and Thuế cơ sở). Received Mon 07-07 09:00;
    # total 10 working days → Mon 07-21 09:00; receive_and_check 3 → Thu 07-10 09:00.
    dossier, route = started("1.004227", vn(7, 7, 9))
    assert dossier.appointment_at == vn(7, 21, 9)
    assert dossier.step("receive_and_check").due_at == vn(7, 10, 9)
    land, tax = dossier.step("receive_and_check").agency_id, dossier.step("tax_payment").agency_id

    complete(dossier, route, "receive_and_check", vn(7, 9, 9))
    # tax_assessment from Wed 09:00, 3 working days → Mon 07-14 09:00.
    assert dossier.step("tax_assessment").due_at == vn(7, 14, 9)
    complete(dossier, route, "tax_assessment", vn(7, 10, 15))
    # tax_payment from Thu 15:00, 1 working day → Fri 07-11 15:00.
    assert dossier.step("tax_payment").due_at == vn(7, 11, 15)
    new_events(dossier)

    dossier.request_payment("tax_payment", tax, 35_000_000, vn(7, 10, 16))
    [requested] = new_events(dossier)
    assert (requested.amount_vnd, requested.national_status, requested.agency_id) == (35_000_000, 6, tax)
    assert dossier.step("tax_payment").due_at is None

    dossier.record_payment(vn(7, 14, 10), calendar())
    # Paused Thu 16:00 → Mon 10:00: Thu 1.5 h + Fri 8 h + Mon 2.5 h = 12 h. One hour was used
    # before the pause; 7 h remain from Mon 10:00: Mon 5.5 h + Tue 1.5 h → Tue 07-15 09:00.
    # The appointment Mon 07-21 09:00 + 12 h: Mon 6.5 h + Tue 4 h + 1.5 h → Tue 07-22 15:00.
    [received] = new_events(dossier)
    assert (received.national_status, received.dues, received.appointment_at) == (
        4, {"tax_payment": vn(7, 15, 9)}, vn(7, 22, 15))
    assert dossier.pauses == [{"kind": "payment", "step_key": "tax_payment", "agency_id": tax,
                               "started_at": vn(7, 10, 16), "ended_at": vn(7, 14, 10)}]

    complete(dossier, route, "tax_payment", vn(7, 14, 11))
    # update_certificate from Mon 11:00, 3 working days → Thu 07-17 11:00.
    assert dossier.step("update_certificate").due_at == vn(7, 17, 11)
    complete(dossier, route, "update_certificate", vn(7, 16, 11))

    assert timeliness(dossier) == [
        ("receive_and_check", land, "early"), ("tax_assessment", tax, "early"),
        ("tax_payment", tax, "early"), ("update_certificate", land, "early"),
    ]
    assert_result_ready(dossier, vn(7, 16, 11))


def test_business_registration_attributes_the_late_tax_code_to_the_tax_authority() -> None:
    # 2.001610. Received Fri 07-11 16:00; no cut-off, so the clock starts at once.
    # Total 3 working days: Fri 1.5 h + Mon 8 h + Tue 8 h + Wed 6.5 h → Wed 07-16 16:00.
    dossier, route = started("2.001610", vn(7, 11, 16))
    assert dossier.processing_started_at == vn(7, 11, 16)
    assert dossier.appointment_at == vn(7, 16, 16)
    # review_application, 1 working day: Fri 1.5 h + Mon 6.5 h → Mon 07-14 16:00.
    assert dossier.step("review_application").due_at == vn(7, 14, 16)

    complete(dossier, route, "review_application", vn(7, 14, 10))  # due day: on time
    # tax_code from Mon 10:00 → Tue 07-15 10:00; completed at 10:30: late.
    assert dossier.step("tax_code").due_at == vn(7, 15, 10)
    dossier.check_deadlines(vn(7, 15, 10, 15), calendar().working_day_length / 8, calendar())
    [overdue] = [e for e in new_events(dossier) if isinstance(e, RoutedDossier.StepOverdue)]
    assert (overdue.step_key, overdue.agency_id) == ("tax_code", "000.81.00.H40")
    complete(dossier, route, "tax_code", vn(7, 15, 10, 30))
    # issue_certificate from Tue 10:30 → Wed 07-16 10:30.
    assert dossier.step("issue_certificate").due_at == vn(7, 16, 10, 30)
    complete(dossier, route, "issue_certificate", vn(7, 16, 9))

    assert timeliness(dossier) == [
        ("review_application", "000.08.21.H40", "on_time"),
        ("tax_code", "000.81.00.H40", "late"),
        ("issue_certificate", "000.08.21.H40", "on_time"),
    ]
    assert_result_ready(dossier, vn(7, 16, 9))


def test_judicial_record_certificate_at_the_provincial_police() -> None:
    # 2.000488 (2025.03: every step at the provincial police). Received Mon 07-07 09:00;
    # total 10 working days → Mon 07-21 09:00.
    dossier, route = started("2.000488", vn(7, 7, 9))
    assert (dossier.route_version, dossier.appointment_at) == ("2025.03", vn(7, 21, 9))
    assert {s.agency_id for s in dossier.steps.values()} == {"000.60.06.H40"}

    complete(dossier, route, "receive_application", vn(7, 7, 15))  # due Tue 09:00: early
    # records_verification from Mon 15:00, 5 working days → Mon 07-14 15:00.
    assert dossier.step("records_verification").due_at == vn(7, 14, 15)
    complete(dossier, route, "records_verification", vn(7, 11, 10))
    # issue_certificate from Fri 10:00, 4 working days → Thu 07-17 10:00; done exactly then: on time.
    assert dossier.step("issue_certificate").due_at == vn(7, 17, 10)
    complete(dossier, route, "issue_certificate", vn(7, 17, 10))

    assert [t for _, _, t in timeliness(dossier)] == ["early", "early", "on_time"]
    assert_result_ready(dossier, vn(7, 17, 10))


@pytest.mark.parametrize(
    ("received_at", "starts_at", "due_at"),
    [
        # Before the 15:00 cut-off: counted from receipt, due at the end of that day (17:30).
        (vn(7, 7, 10), vn(7, 7, 10), vn(7, 7, 17, 30)),
        (vn(7, 7, 14, 59), vn(7, 7, 14, 59), vn(7, 7, 17, 30)),
        # At or after 15:00: counted from the next working day's first session, due at its end.
        (vn(7, 7, 15), vn(7, 8, 7, 30), vn(7, 8, 17, 30)),
        (vn(7, 7, 15, 1), vn(7, 8, 7, 30), vn(7, 8, 17, 30)),
        # Friday 15:01 → Monday.
        (vn(7, 11, 15, 1), vn(7, 14, 7, 30), vn(7, 14, 17, 30)),
    ],
)
def test_a_certified_copy_is_issued_the_same_day_unless_received_after_the_cutoff(
    received_at: datetime, starts_at: datetime, due_at: datetime
) -> None:
    # 2.000635: one step at the commune, same day, cut-off 15:00.
    dossier, route = started("2.000635", received_at)
    assert (dossier.cutoff, dossier.processing_started_at) == ("15:00", starts_at)
    assert dossier.appointment_at == dossier.step("issue_copy").due_at == due_at
    new_events(dossier)

    done_at = due_at.replace(hour=17, minute=0)
    complete(dossier, route, "issue_copy", done_at)

    assert dossier.control_sheet()[0]["timeliness"] == "on_time"
    assert_result_ready(dossier, done_at)
