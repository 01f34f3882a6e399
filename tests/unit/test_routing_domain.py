"""The routed dossier: commands, guards, pauses, send-backs, deadlines, apology, replay.

Working time (packaged calendar): sessions 07:30–11:30 and 13:30–17:30, 8 h a working day, and no
public holiday in July 2025. Mon 2025-07-07 is the usual day of receipt; locality 16690 (Phường
Trường Vinh) has the two-level agencies from 2025-07-01.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid5

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing import routes
from routing.calendar import WorkingLimit
from routing.domain import (
    ROUTING_NAMESPACE,
    ApologyAlreadyIssuedError,
    DossierClosedError,
    InvalidCommandError,
    RoutedDossier,
    RoutingError,
    StepStateError,
    UnknownStepError,
    WrongAgencyError,
    critical_path_limit,
)
from routing.routes import Route, plan
from tests.support.builders import (
    CIVIL_STATUS,
    LOCALITY,
    POLICE,
    SOCIAL_INSURANCE,
    a_document,
    book,
    calendar,
    complete,
    geography,
    new_events,
    opened,
    replayed,
    started,
    state_of,
    vn,
)
from tests.support.builders import a_routed_code as a_code
from tests.support.builders import a_routed_dossier as a_dossier


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


# --- receipt and start --------------------------------------------------------------------------


def test_a_received_dossier_is_identified_by_its_code_and_records_it_on_the_event() -> None:
    dossier = a_dossier("2.000635", vn(7, 7, 9))

    [received] = new_events(dossier)

    assert dossier.id == RoutedDossier.create_id(dossier.code)
    assert dossier.id == uuid5(ROUTING_NAMESPACE, dossier.code)
    assert type(received).__name__ == "Received"
    assert received.dossier_code == received.code == dossier.code
    assert received.national_status == dossier.national_status == 2
    assert dossier.steps == {} and dossier.route_version is None


def test_a_dossier_cannot_be_received_with_a_naive_time_or_a_closed_status() -> None:
    with pytest.raises(InvalidCommandError):
        a_dossier("2.000635", datetime(2025, 7, 7, 9))
    with pytest.raises(InvalidCommandError):
        RoutedDossier(code=a_code(), procedure_code="2.000635", locality_code=LOCALITY, receiving_agency_id="A",
                      channel="desk", result_delivery_method="desk", options=[], received_at=vn(7, 7, 9),
                      national_status=7, applicant=None, documents=[], submitted_by=None)


def test_starting_assigns_the_route_opens_the_first_step_and_reports_status_4() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))

    events = new_events(dossier)

    assert names(events) == ["Received", "RouteAssigned", "StepOpened"]
    assigned = events[1]
    assert assigned.dossier_code == dossier.code
    assert assigned.national_status == dossier.national_status == 4
    assert assigned.route_version == "2025.07"
    assert [s["key"] for s in assigned.steps] == [
        "birth_registration", "residence_registration", "health_insurance_card"]
    assert assigned.steps[2] | {"name": None} == {
        "key": "health_insurance_card", "name": None, "role": "social_insurance", "agency_id": SOCIAL_INSURANCE,
        "integration": "kafka", "after": ["birth_registration"], "limit": {"value": 2, "unit": "working_days"},
        "option": None, "may_request_payment": False, "skipped": False,
        "needs": {"applicant": ["full_name", "identity_number", "phone", "address"],
                  "documents": ["to_khai_khai_sinh"], "results": ["birth_registration"]},
    }
    # Received Mon 09:00 with no cut-off: the clock starts at once; 3 working days → Thu 09:00.
    assert assigned.processing_started_at == vn(7, 7, 9)
    assert assigned.appointment_at == dossier.appointment_at == dossier.original_appointment_at == vn(7, 10, 9)
    # The birth registration opens at 09:00 with 1 working day → Tue 09:00.
    assert opened(events) == {"birth_registration": vn(7, 8, 9)}
    assert events[2].agency_id == CIVIL_STATUS and events[2].opening == 1
    assert [s.key for s in dossier.open_steps()] == ["birth_registration"]
    assert dossier.step("residence_registration").state == "pending"


def test_a_route_can_be_assigned_only_once() -> None:
    dossier, route = started("2.000635", vn(7, 7, 9))

    with pytest.raises(StepStateError):
        dossier.start(route, plan(route, geography(), LOCALITY, date(2025, 7, 7)), calendar(), vn(7, 7, 9))


def test_a_route_of_another_procedure_or_a_plan_missing_a_step_is_refused() -> None:
    dossier = a_dossier("1.001193", vn(7, 7, 9))
    other = book().route("2.000635", date(2025, 7, 7))
    birth = book().route("1.001193", date(2025, 7, 7))
    partial = plan(birth, geography(), LOCALITY, date(2025, 7, 7))[:1]

    with pytest.raises(InvalidCommandError):
        dossier.start(other, plan(other, geography(), LOCALITY, date(2025, 7, 7)), calendar(), vn(7, 7, 9))
    with pytest.raises(InvalidCommandError):
        dossier.start(birth, partial, calendar(), vn(7, 7, 9))


def test_without_a_total_limit_the_appointment_follows_the_critical_path() -> None:
    birth = book().route("1.001193", date(2025, 7, 7)).model_copy(update={"total_time_limit": None})

    dossier, _ = started("1.001193", vn(7, 7, 9), route=birth)

    # birth 1 + max(residence 2, health insurance 2) = 3 working days from Mon 09:00 → Thu 09:00.
    assert dossier.total_limit == {"value": 3, "unit": "working_days"}
    assert dossier.appointment_at == vn(7, 10, 9)


# --- critical path -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("procedure_code", "options", "expected"),
    [
        ("1.001193", [], WorkingLimit.working_days(3)),
        ("1.001233", ["residence_deletion", "funeral_allowance", "survivor_benefit"], WorkingLimit.working_days(5)),
        # Residence deletion skipped: death 1 + funeral allowance 3.
        ("1.001233", ["funeral_allowance"], WorkingLimit.working_days(4)),
        ("1.001233", [], WorkingLimit.working_days(1)),
        ("1.004227", [], WorkingLimit.working_days(10)),
        ("2.000488", [], WorkingLimit.working_days(10)),
        ("2.000635", [], WorkingLimit.same_day()),
    ],
)
def test_the_critical_path_is_the_longest_chain_of_chosen_step_limits(
    procedure_code: str, options: list[str], expected: WorkingLimit
) -> None:
    route = book().route(procedure_code, date(2025, 7, 7))

    assert critical_path_limit(route, options) == expected


def test_a_critical_path_mixing_days_and_hours_is_counted_in_working_hours() -> None:
    route = Route.model_validate({
        "procedure_code": "9.000001", "procedure_name": "Thử", "code_placeholder": True, "version": "t",
        "effective_from": date(2025, 1, 1), "source": "test",
        "steps": [
            {"key": "a", "name": "A", "role": "tax", "lookup": "province",
             "time_limit": {"value": 1, "unit": "working_days"}, "needs": {}},
            {"key": "b", "name": "B", "role": "tax", "lookup": "province",
             "time_limit": {"value": 4, "unit": "working_hours"}, "after": ["a"], "needs": {}},
            {"key": "c", "name": "C", "role": "tax", "lookup": "province",
             "time_limit": {"unit": "same_day", "cutoff": "15:00"}, "after": ["a"], "needs": {}},
        ],
    })

    assert critical_path_limit(route) == WorkingLimit.working_hours(12)
    assert critical_path_limit(route, working_day_hours=7.5) == WorkingLimit.working_hours(11.5)


# --- claiming, completing and the guards ----------------------------------------------------------


def test_the_assigned_agency_claims_an_open_step_once() -> None:
    dossier, _ = started("2.000635", vn(7, 7, 9))
    new_events(dossier)

    dossier.claim("issue_copy", CIVIL_STATUS, vn(7, 7, 9, 30), by="can-bo-ho-tich")

    [claimed] = new_events(dossier)
    assert (type(claimed).__name__, claimed.dossier_code, claimed.claimed_by) == (
        "StepClaimed", dossier.code, "can-bo-ho-tich")
    assert dossier.step("issue_copy").state == "claimed"
    with pytest.raises(StepStateError):
        dossier.claim("issue_copy", CIVIL_STATUS, vn(7, 7, 9, 31))


def test_another_agency_cannot_claim_or_complete_a_step() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))

    with pytest.raises(WrongAgencyError):
        dossier.claim("birth_registration", POLICE, vn(7, 7, 10))
    with pytest.raises(WrongAgencyError):
        dossier.complete("birth_registration", POLICE, vn(7, 7, 10), [], calendar(), route)
    assert issubclass(WrongAgencyError, RoutingError)


def test_acting_on_a_done_or_pending_step_is_a_step_state_error() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    complete(dossier, route, "birth_registration", vn(7, 7, 16))
    complete(dossier, route, "residence_registration", vn(7, 8, 9))

    with pytest.raises(StepStateError):
        complete(dossier, route, "residence_registration", vn(7, 8, 10))
    with pytest.raises(StepStateError):
        dossier.claim("birth_registration", CIVIL_STATUS, vn(7, 8, 10))


def test_a_step_the_route_does_not_have_is_unknown() -> None:
    dossier, _ = started("2.000635", vn(7, 7, 9))

    with pytest.raises(UnknownStepError) as raised:
        dossier.claim("no_such_step", CIVIL_STATUS, vn(7, 7, 10))
    assert isinstance(raised.value, routes.UnknownStepError)


def test_a_step_before_the_route_is_assigned_cannot_be_acted_on() -> None:
    dossier = a_dossier("2.000635", vn(7, 7, 9))

    with pytest.raises(StepStateError):
        dossier.claim("issue_copy", CIVIL_STATUS, vn(7, 7, 10))


def test_completing_with_another_route_version_is_refused() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    three_level = book().route("1.001193", date(2025, 6, 30))

    with pytest.raises(InvalidCommandError):
        dossier.complete("birth_registration", CIVIL_STATUS, vn(7, 7, 10), [], calendar(), three_level)


def test_parallel_branches_open_together_when_their_common_step_completes() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    new_events(dossier)

    complete(dossier, route, "birth_registration", vn(7, 7, 16))

    events = new_events(dossier)
    assert names(events) == ["StepCompleted", "StepOpened", "StepOpened"]
    assert events[0].timeliness == "early" and len(events[0].documents) == 1
    # Opened Mon 16:00 with 2 working days: Mon 1.5 h + Tue 8 h + Wed 6.5 h → Wed 16:00.
    assert opened(events) == {"residence_registration": vn(7, 9, 16), "health_insurance_card": vn(7, 9, 16)}
    assert {e.agency_id for e in events[1:]} == {POLICE, SOCIAL_INSURANCE}


def test_a_skipped_option_step_cannot_be_acted_on() -> None:
    dossier, _ = started("1.001233", vn(7, 7, 9), options=["funeral_allowance"])

    assert dossier.step("residence_deletion").state == "skipped"
    with pytest.raises(StepStateError):
        dossier.claim("residence_deletion", POLICE, vn(7, 7, 10))


# --- supplement and payment pauses -----------------------------------------------------------------


def test_a_supplement_pause_moves_the_due_by_exactly_the_paused_working_time() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    new_events(dossier)

    dossier.request_supplement("birth_registration", CIVIL_STATUS, "Thiếu giấy chứng sinh", vn(7, 7, 10))

    [requested] = new_events(dossier)
    assert (type(requested).__name__, requested.national_status) == ("SupplementRequested", 5)
    assert dossier.step("birth_registration").due_at is None
    assert dossier.pauses[0]["kind"] == "supplement" and dossier.pauses[0]["ended_at"] is None

    dossier.provide_supplement(vn(7, 9, 8, 30), [a_document()], calendar())

    [provided] = new_events(dossier)
    # Paused Mon 10:00 → Wed 08:30: Mon 5.5 h + Tue 8 h + Wed 1 h = 14.5 h of working time.
    # Due Tue 09:00 + 14.5 h → Wed 17:30 (1 h was used before the pause, 7 h remain from Wed 08:30).
    assert provided.national_status == dossier.national_status == 4
    assert provided.dues == {"birth_registration": vn(7, 9, 17, 30)}
    assert dossier.step("birth_registration").due_at == vn(7, 9, 17, 30)
    assert calendar().working_time_between(vn(7, 8, 9), vn(7, 9, 17, 30)) == timedelta(hours=14.5)
    # The appointment moves the same way: Thu 09:00 + 14.5 h → Fri 17:30.
    assert provided.appointment_at == dossier.appointment_at == vn(7, 11, 17, 30)
    assert dossier.original_appointment_at == vn(7, 10, 9)


@settings(max_examples=40, deadline=None)
@given(start_after=st.integers(min_value=0, max_value=7 * 60), pause=st.integers(min_value=1, max_value=30 * 60))
def test_any_pause_inside_the_limit_moves_the_due_by_its_working_time(start_after: int, pause: int) -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    original_due = dossier.step("birth_registration").due_at
    paused_at = calendar().add_working_hours(vn(7, 7, 9), timedelta(minutes=start_after))
    resumed_at = paused_at + timedelta(minutes=pause)

    dossier.request_supplement("birth_registration", CIVIL_STATUS, "Bổ sung", paused_at)
    dossier.provide_supplement(resumed_at, [], calendar())

    new_due = dossier.step("birth_registration").due_at
    assert calendar().working_time_between(original_due, new_due) == calendar().working_time_between(
        paused_at, resumed_at)


def test_nothing_moves_on_while_the_dossier_waits_for_a_supplement() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    dossier.request_supplement("birth_registration", CIVIL_STATUS, "Bổ sung", vn(7, 7, 10))

    with pytest.raises(StepStateError):
        complete(dossier, route, "birth_registration", vn(7, 7, 11))
    with pytest.raises(StepStateError):
        dossier.request_supplement("birth_registration", CIVIL_STATUS, "Lần nữa", vn(7, 7, 11))
    with pytest.raises(StepStateError):
        dossier.record_payment(vn(7, 7, 11), calendar())


def test_a_supplement_not_asked_for_cannot_be_provided() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))

    with pytest.raises(StepStateError):
        dossier.provide_supplement(vn(7, 7, 10), [], calendar())


def test_only_a_payment_step_may_ask_for_a_positive_payment() -> None:
    dossier, route = started("1.004227", vn(7, 7, 9))
    land = dossier.step("receive_and_check").agency_id

    with pytest.raises(StepStateError):
        dossier.request_payment("receive_and_check", land, 500_000, vn(7, 7, 10))

    complete(dossier, route, "receive_and_check", vn(7, 7, 10))
    complete(dossier, route, "tax_assessment", vn(7, 7, 11))
    tax = dossier.step("tax_payment").agency_id
    with pytest.raises(InvalidCommandError):
        dossier.request_payment("tax_payment", tax, 0, vn(7, 7, 14))


# --- sending back -------------------------------------------------------------------------------------


def test_sending_back_reopens_the_predecessor_and_leaves_the_parallel_branch_alone() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    complete(dossier, route, "birth_registration", vn(7, 7, 16))
    new_events(dossier)

    dossier.send_back("residence_registration", POLICE, "Sai số định danh", vn(7, 8, 9), calendar())

    events = new_events(dossier)
    assert names(events) == ["StepSentBack", "StepOpened"]
    assert events[0].to_steps == ["birth_registration"] and events[0].timeliness == "early"
    # Reopened Tue 09:00 with 1 working day → Wed 09:00, as its second opening.
    assert opened(events) == {"birth_registration": vn(7, 9, 9)}
    assert events[1].opening == dossier.step("birth_registration").openings == 2
    assert dossier.step("residence_registration").state == "pending"
    assert dossier.step("health_insurance_card").state == "open"

    complete(dossier, route, "birth_registration", vn(7, 8, 10))

    events = new_events(dossier)
    assert names(events) == ["StepCompleted", "StepOpened"]
    assert events[1].step_key == "residence_registration" and events[1].opening == 2
    assert [(r["step_key"], r["opening"], r["outcome"]) for r in dossier.control_sheet()] == [
        ("birth_registration", 1, "completed"),
        ("residence_registration", 1, "sent_back"),
        ("birth_registration", 2, "completed"),
    ]


def test_a_first_step_has_nothing_to_send_back_to() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))

    with pytest.raises(StepStateError):
        dossier.send_back("birth_registration", CIVIL_STATUS, "?", vn(7, 7, 10), calendar())


def test_sending_back_past_a_skipped_step_reaches_the_step_before_it() -> None:
    dossier, route = started("1.001233", vn(7, 7, 9), options=["funeral_allowance"])
    complete(dossier, route, "death_registration", vn(7, 7, 10))
    new_events(dossier)

    dossier.send_back("funeral_allowance", SOCIAL_INSURANCE, "Thiếu trích lục khai tử", vn(7, 7, 14), calendar())

    assert new_events(dossier)[0].to_steps == ["death_registration"]
    assert dossier.step("death_registration").state == "open"


# --- deadlines and apology -----------------------------------------------------------------------------


def test_due_soon_and_overdue_are_raised_once_each_and_name_the_late_agency() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    new_events(dossier)
    within = timedelta(hours=1)

    dossier.check_deadlines(vn(7, 7, 16), within, calendar())
    assert new_events(dossier) == []

    # Due Tue 09:00; at Tue 08:00 one working hour is left.
    dossier.check_deadlines(vn(7, 8, 8), within, calendar())
    dossier.check_deadlines(vn(7, 8, 8, 30), within, calendar())
    [soon] = new_events(dossier)
    assert (type(soon).__name__, soon.step_key, soon.agency_id, soon.due_at) == (
        "StepDueSoon", "birth_registration", CIVIL_STATUS, vn(7, 8, 9))

    assert not dossier.is_overdue(vn(7, 8, 9))
    dossier.check_deadlines(vn(7, 8, 9, 30), within, calendar())
    dossier.check_deadlines(vn(7, 8, 10), within, calendar())
    [overdue] = new_events(dossier)
    assert (type(overdue).__name__, overdue.dossier_code, overdue.agency_id, overdue.detected_at) == (
        "StepOverdue", dossier.code, CIVIL_STATUS, vn(7, 8, 9, 30))
    assert dossier.is_overdue(vn(7, 8, 9, 30))


def test_a_paused_step_raises_no_deadline() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    dossier.request_supplement("birth_registration", CIVIL_STATUS, "Bổ sung", vn(7, 7, 10))
    new_events(dossier)

    dossier.check_deadlines(vn(7, 20, 10), timedelta(hours=8), calendar())

    assert new_events(dossier) == []


def test_reopening_a_step_resets_its_deadline_flags() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    dossier.check_deadlines(vn(7, 8, 10), timedelta(hours=1), calendar())
    complete(dossier, route, "birth_registration", vn(7, 8, 11))
    dossier.send_back("residence_registration", POLICE, "Sai", vn(7, 8, 14), calendar())

    step = dossier.step("birth_registration")
    assert (step.openings, step.overdue_raised, step.due_soon_raised) == (2, False, False)


def overdue_birth_registration() -> RoutedDossier:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    dossier.check_deadlines(vn(7, 8, 10), timedelta(hours=1), calendar())
    new_events(dossier)
    return dossier


def test_a_late_agency_apologises_once_with_a_later_appointment() -> None:
    dossier = overdue_birth_registration()

    dossier.issue_apology(CIVIL_STATUS, "Chậm xác minh", vn(7, 14, 17, 30), vn(7, 8, 11))

    [apology] = new_events(dossier)
    assert type(apology).__name__ == "ApologyIssued"
    assert (apology.original_appointment_at, apology.new_appointment_at) == (vn(7, 10, 9), vn(7, 14, 17, 30))
    assert dossier.original_appointment_at == vn(7, 10, 9)
    assert dossier.new_appointment_at == dossier.current_appointment_at == vn(7, 14, 17, 30)
    assert dossier.apology["agency_id"] == CIVIL_STATUS
    with pytest.raises(ApologyAlreadyIssuedError):
        dossier.issue_apology(CIVIL_STATUS, "Lần hai", vn(7, 15, 17, 30), vn(7, 8, 11))


def test_an_agency_that_is_not_late_cannot_apologise() -> None:
    dossier = overdue_birth_registration()

    with pytest.raises(StepStateError):
        dossier.issue_apology(POLICE, "?", vn(7, 14, 17, 30), vn(7, 8, 11))


def test_the_new_appointment_must_be_after_the_current_one() -> None:
    dossier = overdue_birth_registration()

    with pytest.raises(InvalidCommandError):
        dossier.issue_apology(CIVIL_STATUS, "Chậm", vn(7, 10, 9), vn(7, 8, 11))


def test_an_agency_that_handed_on_late_may_still_apologise() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    complete(dossier, route, "birth_registration", vn(7, 8, 10))  # due Tue 09:00

    dossier.issue_apology(CIVIL_STATUS, "Chậm", vn(7, 11, 17, 30), vn(7, 8, 11))

    assert dossier.control_sheet()[0]["timeliness"] == "late"
    assert dossier.apology is not None


# --- withdrawal, stop, refusal, handover ------------------------------------------------------------------


def test_withdrawal_closes_every_open_step_and_then_everything_is_refused() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    complete(dossier, route, "birth_registration", vn(7, 7, 16))
    new_events(dossier)

    dossier.withdraw("Công dân xin rút hồ sơ", vn(7, 8, 9))

    [withdrawn] = new_events(dossier)
    assert (type(withdrawn).__name__, withdrawn.national_status) == ("Withdrawn", 7)
    assert withdrawn.closed_steps == ["residence_registration", "health_insurance_card"]
    assert dossier.open_steps() == [] and dossier.closed_reason == "Công dân xin rút hồ sơ"
    assert {dossier.step(k).state for k in withdrawn.closed_steps} == {"closed"}
    assert [r["outcome"] for r in dossier.control_sheet()] == ["completed", "closed", "closed"]
    with pytest.raises(DossierClosedError):
        dossier.claim("residence_registration", POLICE, vn(7, 8, 10))
    with pytest.raises(DossierClosedError):
        dossier.withdraw("Lần nữa", vn(7, 8, 10))
    with pytest.raises(DossierClosedError):
        dossier.stop("Dừng", vn(7, 8, 10))


def test_a_dossier_can_be_withdrawn_before_its_route_is_assigned() -> None:
    dossier = a_dossier("2.000635", vn(7, 7, 9))

    dossier.withdraw("Không cần nữa", vn(7, 7, 9, 5))

    assert dossier.national_status == 7
    with pytest.raises(DossierClosedError):
        dossier.start(book().route("2.000635", date(2025, 7, 7)), [], calendar(), vn(7, 7, 9, 10))


def test_stopping_during_a_pause_closes_the_pause_and_the_open_steps() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    dossier.request_supplement("birth_registration", CIVIL_STATUS, "Bổ sung", vn(7, 7, 10))
    new_events(dossier)

    dossier.stop("Quá hạn bổ sung", vn(7, 21, 9), by="chu-tich-ubnd")

    [stopped] = new_events(dossier)
    assert (type(stopped).__name__, stopped.national_status, stopped.stopped_by) == ("Stopped", 8, "chu-tich-ubnd")
    assert dossier.pauses[0]["ended_at"] == vn(7, 21, 9)
    assert dossier.step("birth_registration").state == "closed"


def test_a_refusal_stops_the_dossier_and_closes_the_parallel_branch() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    complete(dossier, route, "birth_registration", vn(7, 7, 16))
    new_events(dossier)

    dossier.refuse("residence_registration", POLICE, "Không đủ điều kiện", vn(7, 8, 9), calendar())

    [refused] = new_events(dossier)
    assert (type(refused).__name__, refused.national_status, refused.closed_steps) == (
        "StepRefused", 8, ["health_insurance_card"])
    assert dossier.national_status == 8 and dossier.closed_reason == "Không đủ điều kiện"
    assert [(r["step_key"], r["outcome"]) for r in dossier.control_sheet()[1:]] == [
        ("residence_registration", "refused"), ("health_insurance_card", "closed")]
    assert dossier.control_sheet()[1]["timeliness"] == "early"


def test_the_result_cannot_be_handed_over_before_it_is_ready() -> None:
    dossier, _ = started("2.000635", vn(7, 7, 9))

    with pytest.raises(StepStateError):
        dossier.hand_over("mot-cua", vn(7, 7, 10))


def test_a_ready_result_is_handed_over_once_and_cannot_be_withdrawn() -> None:
    dossier, route = started("2.000635", vn(7, 7, 9))
    complete(dossier, route, "issue_copy", vn(7, 7, 10))
    with pytest.raises(StepStateError):
        dossier.withdraw("Muộn rồi", vn(7, 7, 10, 30))
    new_events(dossier)

    dossier.hand_over("mot-cua", vn(7, 7, 11))

    [handed] = new_events(dossier)
    assert (type(handed).__name__, handed.national_status, handed.handed_over_by) == ("ResultHandedOver", 10, "mot-cua")
    with pytest.raises(DossierClosedError):
        dossier.hand_over("mot-cua", vn(7, 7, 12))


# --- events and replay -------------------------------------------------------------------------------


def test_every_event_carries_the_dossier_code_and_status_changes_carry_the_status() -> None:
    dossier, route = started("1.004227", vn(7, 7, 9))
    complete(dossier, route, "receive_and_check", vn(7, 7, 10))
    complete(dossier, route, "tax_assessment", vn(7, 7, 11))
    tax = dossier.step("tax_payment").agency_id
    dossier.request_payment("tax_payment", tax, 1_200_000, vn(7, 7, 14))
    dossier.record_payment(vn(7, 8, 9), calendar())
    complete(dossier, route, "tax_payment", vn(7, 8, 10))
    complete(dossier, route, "update_certificate", vn(7, 9, 10))
    dossier.hand_over("mot-cua", vn(7, 10, 8))

    events = new_events(dossier)

    assert all(e.dossier_code == dossier.code for e in events)
    assert [(type(e).__name__, e.national_status) for e in events if hasattr(e, "national_status")] == [
        ("Received", 2), ("RouteAssigned", 4), ("PaymentRequested", 6), ("PaymentReceived", 4),
        ("ResultReady", 9), ("ResultHandedOver", 10),
    ]


def test_replaying_the_stored_events_rebuilds_the_same_dossier() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    dossier.claim("birth_registration", CIVIL_STATUS, vn(7, 7, 9, 10))
    dossier.request_supplement("birth_registration", CIVIL_STATUS, "Bổ sung", vn(7, 7, 10))
    dossier.provide_supplement(vn(7, 8, 8), [a_document()], calendar())
    dossier.check_deadlines(vn(7, 9, 14), timedelta(hours=2), calendar())
    complete(dossier, route, "birth_registration", vn(7, 9, 15))
    dossier.send_back("health_insurance_card", SOCIAL_INSURANCE, "Sai họ tên", vn(7, 10, 9), calendar())
    dossier.issue_apology(CIVIL_STATUS, "Chậm", vn(7, 18, 17, 30), vn(7, 10, 10))
    complete(dossier, route, "birth_registration", vn(7, 10, 11))
    complete(dossier, route, "residence_registration", vn(7, 11, 9))
    complete(dossier, route, "health_insurance_card", vn(7, 11, 10))

    copy = replayed(dossier)

    assert copy.national_status == 9
    assert state_of(copy) == state_of(dossier)
    assert copy.control_sheet() == dossier.control_sheet()
