"""A changed working calendar moves the due times of open steps and the appointment, and only those."""

from __future__ import annotations

from datetime import UTC, date, datetime

from routing.calendar.changes import CalendarChange, ChangeKind, calendar_in_force
from tests.support.builders import calendar, complete, new_events, replayed, started, state_of, vn

SEED = calendar().data


def with_change(kind: ChangeKind, day: date):
    return calendar_in_force(SEED, [CalendarChange(1, kind, day, "1234/QĐ-TTg", "Theo quyết định", "operator",
                                                   datetime.now(UTC))], revision=1)


def test_a_day_off_inside_an_open_step_moves_its_due_and_the_appointment_a_working_day_later() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))  # Monday 09:00: birth registration due Tuesday 09:00
    step = dossier.step("birth_registration")
    before_due, before_appointment = step.due_at, dossier.appointment_at
    new_events(dossier)

    dossier.reschedule(with_change(ChangeKind.ADD_DAY_OFF, date(2025, 7, 8)), decision="1234/QĐ-TTg",
                       reason="Nghỉ đột xuất", at=vn(7, 7, 10))

    [event] = new_events(dossier)
    assert type(event).__name__ == "DueTimesRecomputed"
    assert step.due_at == vn(7, 9, 9) and before_due == vn(7, 8, 9)
    assert dossier.appointment_at == vn(7, 11, 9) and before_appointment == vn(7, 10, 9)
    assert step.due_changes == [{"previous_due_at": before_due, "due_at": vn(7, 9, 9), "calendar_revision": 1,
                                 "decision": "1234/QĐ-TTg", "changed_at": vn(7, 7, 10)}]
    assert dossier.appointment_changes[0]["previous_appointment_at"] == before_appointment
    assert state_of(replayed(dossier)) == state_of(dossier)


def test_a_make_up_saturday_inside_an_open_step_moves_its_due_earlier() -> None:
    dossier, _ = started("1.001193", vn(7, 11, 9))  # Friday 09:00: due Monday 09:00
    step = dossier.step("birth_registration")
    assert step.due_at == vn(7, 14, 9)

    dossier.reschedule(with_change(ChangeKind.ADD_WORKING_DAY, date(2025, 7, 12)), decision="1234/QĐ-TTg",
                       reason="Làm bù", at=vn(7, 11, 10))

    assert step.due_at == vn(7, 12, 9)
    assert dossier.appointment_at == vn(7, 15, 9)


def test_a_change_outside_every_open_window_records_nothing() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    new_events(dossier)

    dossier.reschedule(with_change(ChangeKind.ADD_DAY_OFF, date(2025, 7, 25)), decision="1234/QĐ-TTg",
                       reason="Nghỉ", at=vn(7, 7, 10))

    assert new_events(dossier) == []


def test_a_completed_step_keeps_its_due_and_its_form_06_row_while_the_open_ones_move() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    complete(dossier, route, "birth_registration", vn(7, 7, 15))
    done_row = dossier.control_sheet()[0]
    open_keys = [s.key for s in dossier.open_steps()]
    assert open_keys

    dossier.reschedule(with_change(ChangeKind.ADD_DAY_OFF, date(2025, 7, 8)), decision="1234/QĐ-TTg",
                       reason="Nghỉ", at=vn(7, 7, 16))

    assert dossier.control_sheet()[0] == done_row
    assert dossier.step("birth_registration").due_changes == []
    assert all(dossier.step(key).due_changes for key in open_keys)


def test_form_06_keeps_the_old_and_new_due_of_a_step_rescheduled_while_open() -> None:
    dossier, route = started("1.001193", vn(7, 7, 9))
    dossier.reschedule(with_change(ChangeKind.ADD_DAY_OFF, date(2025, 7, 8)), decision="1234/QĐ-TTg",
                       reason="Nghỉ", at=vn(7, 7, 10))

    complete(dossier, route, "birth_registration", vn(7, 8, 15))

    row = dossier.control_sheet()[0]
    assert row["due_at"] == vn(7, 9, 9)
    assert row["due_changes"][0]["previous_due_at"] == vn(7, 8, 9)
    assert row["timeliness"] == "early"


def test_a_paused_dossier_records_nothing_its_dues_are_counted_when_the_clock_runs_again() -> None:
    dossier, _ = started("1.001193", vn(7, 7, 9))
    step = dossier.step("birth_registration")
    dossier.request_supplement("birth_registration", step.agency_id, "Thiếu giấy chứng sinh", vn(7, 7, 10))
    new_events(dossier)

    dossier.reschedule(with_change(ChangeKind.ADD_DAY_OFF, date(2025, 7, 8)), decision="1234/QĐ-TTg",
                       reason="Nghỉ", at=vn(7, 7, 11))

    assert new_events(dossier) == []
