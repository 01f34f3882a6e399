"""Worked examples of the working-day calendar, one rule each (see docs/CALENDAR.md)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from routing.calendar import (
    VIETNAM,
    NaiveDatetimeError,
    Session,
    Timeliness,
    WorkingCalendar,
    WorkingLimit,
)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.default()


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VIETNAM)


THREE_DAYS = WorkingLimit.working_days(3)


# --- working days -------------------------------------------------------------------------


def test_the_whole_tet_week_of_2026_is_off(calendar):
    # Tết Bính Ngọ: 17 February 2026; civil servants are off Monday 16 to Friday 20 February.
    assert [calendar.is_working_day(date(2026, 2, d)) for d in range(13, 24)] == [
        True, False, False, False, False, False, False, False, False, False, True,
    ]


def test_a_limit_running_into_tet_2026_resumes_after_the_tet_week(calendar):
    # Friday 09:00–17:30 gives 6.5 h; Monday 23 and Tuesday 24 give 16 h; 1.5 h more on Wednesday.
    assert calendar.add_working_days(at(2026, 2, 13, 9), 3) == at(2026, 2, 25, 9)


def test_saturday_26_april_2025_is_a_make_up_working_day_and_counts(calendar):
    assert calendar.is_working_day(date(2025, 4, 26))
    assert not calendar.is_working_day(date(2025, 5, 2))
    assert calendar.add_working_days(at(2025, 4, 25, 9), 1) == at(2025, 4, 26, 9)


def test_a_limit_across_30_april_and_1_may_2025_skips_wednesday_to_sunday(calendar):
    # Tuesday 29 April 10:00–17:30 gives 5.5 h; 30 April–4 May are off; 2.5 h on Tuesday 6 May.
    assert calendar.add_working_days(at(2025, 4, 29, 10), 2) == at(2025, 5, 6, 10)


def test_in_2024_monday_29_april_is_off_and_saturday_4_may_is_worked(calendar):
    assert not calendar.is_working_day(date(2024, 4, 29))
    assert calendar.is_working_day(date(2024, 5, 4))
    # Friday 26 April 10:00–17:30 gives 5.5 h; Monday 29 April to Wednesday 1 May are off.
    assert calendar.add_working_days(at(2024, 4, 26, 10), 1) == at(2024, 5, 2, 10)


def test_a_limit_across_2_september_2025_skips_monday_and_tuesday(calendar):
    # Friday 29 August 14:00–17:30 gives 3.5 h; 1 and 2 September are off; 4.5 h on Wednesday.
    assert calendar.add_working_days(at(2025, 8, 29, 14), 1) == at(2025, 9, 3, 14)


def test_new_year_2026_from_the_yearly_decision_is_four_days_with_saturday_10_january_worked(calendar):
    assert not calendar.is_working_day(date(2026, 1, 2))
    assert calendar.is_working_day(date(2026, 1, 10))


def test_is_working_day_refuses_a_datetime(calendar):
    with pytest.raises(TypeError):
        calendar.is_working_day(at(2025, 6, 2, 9))


# --- start of processing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "starts"),
    [
        (at(2025, 6, 10, 9, 15), at(2025, 6, 10, 9, 15)),  # inside the morning session
        (at(2025, 6, 10, 6, 45), at(2025, 6, 10, 7, 30)),  # before the morning session
        (at(2025, 6, 10, 12, 0), at(2025, 6, 10, 13, 30)),  # lunch break
        (at(2025, 6, 10, 15, 0), at(2025, 6, 11, 7, 30)),  # at the cut-off
        (at(2025, 6, 14, 10, 0), at(2025, 6, 16, 7, 30)),  # Saturday
    ],
)
def test_the_clock_starts_at_receipt_or_at_the_next_session_start(calendar, received, starts):
    assert calendar.start_of_processing(received) == starts


def test_without_a_cut_off_a_dossier_received_at_16_00_starts_at_once(calendar):
    assert calendar.start_of_processing(at(2025, 6, 10, 16), cutoff=None) == at(2025, 6, 10, 16)
    assert calendar.start_of_processing(at(2025, 6, 10, 17, 30), cutoff=None) == at(2025, 6, 11, 7, 30)


def test_instants_in_other_timezones_are_read_as_the_same_instant_in_vietnam(calendar):
    received_utc = datetime(2025, 6, 10, 2, 15, tzinfo=UTC)  # 09:15 in Hà Nội
    assert calendar.start_of_processing(received_utc) == at(2025, 6, 10, 9, 15)
    assert calendar.start_of_processing(received_utc).tzinfo == VIETNAM


def test_a_naive_datetime_is_refused_with_a_clear_error(calendar):
    with pytest.raises(NaiveDatetimeError, match="no timezone"):
        calendar.start_of_processing(datetime(2025, 6, 10, 9))


# --- appointments -----------------------------------------------------------------------------


def test_a_same_day_procedure_received_at_15_01_is_due_at_the_end_of_the_next_working_day(calendar):
    assert calendar.appointment_date(at(2025, 6, 10, 15, 1), WorkingLimit.same_day()) == at(2025, 6, 11, 17, 30)


def test_a_same_day_procedure_received_at_14_59_is_due_at_the_end_of_that_day(calendar):
    assert calendar.appointment_date(at(2025, 6, 10, 14, 59), WorkingLimit.same_day()) == at(2025, 6, 10, 17, 30)


def test_a_same_day_procedure_received_on_friday_afternoon_is_due_on_monday(calendar):
    assert calendar.appointment_date(at(2025, 6, 13, 16), WorkingLimit.same_day()) == at(2025, 6, 16, 17, 30)


def test_three_working_days_received_friday_16_00_start_monday_and_end_wednesday_17_30(calendar):
    assert calendar.appointment_date(at(2025, 6, 6, 16), THREE_DAYS) == at(2025, 6, 11, 17, 30)


def test_three_working_days_started_friday_15_30_are_due_at_15_30_on_the_third_working_day(calendar):
    assert calendar.add_working_days(at(2025, 6, 6, 15, 30), 3) == at(2025, 6, 11, 15, 30)


def test_three_working_days_started_monday_09_00_are_due_thursday_09_00(calendar):
    assert calendar.add_working_days(at(2025, 6, 2, 9), 3) == at(2025, 6, 5, 9)


def test_working_days_started_at_the_morning_session_end_at_17_30_not_the_next_morning(calendar):
    assert calendar.add_working_days(at(2025, 6, 2, 7, 30), 3) == at(2025, 6, 4, 17, 30)


def test_four_working_hours_started_at_10_00_skip_the_lunch_break(calendar):
    assert calendar.add_working_hours(at(2025, 6, 2, 10), 4) == at(2025, 6, 2, 16)  # 1.5 h + 2.5 h
    assert calendar.add_working_hours(at(2025, 6, 2, 10), timedelta(hours=1, minutes=30)) == at(2025, 6, 2, 11, 30)


def test_a_province_with_shorter_sessions_has_shorter_working_days():
    morning, afternoon = Session(start=time(7), end=time(11)), Session(start=time(13, 30), end=time(17))
    province = WorkingCalendar(sessions=[morning, afternoon])
    assert province.working_day_length == timedelta(hours=7, minutes=30)
    assert province.add_working_days(at(2025, 6, 2, 7), 1) == at(2025, 6, 2, 17)


# --- working time -----------------------------------------------------------------------------


def test_only_session_time_counts_between_two_instants(calendar):
    # Friday 16:00–17:30 and Monday 07:30–09:00.
    assert calendar.working_time_between(at(2025, 6, 6, 16), at(2025, 6, 9, 9)) == timedelta(hours=3)


def test_working_time_backwards_is_negative(calendar):
    assert calendar.working_time_between(at(2025, 6, 9, 9), at(2025, 6, 6, 16)) == -timedelta(hours=3)


# --- pauses -------------------------------------------------------------------------------------


def test_a_supplement_pause_extends_the_due_time_by_exactly_the_paused_working_time(calendar):
    start, limit = at(2025, 6, 2, 9), WorkingLimit.working_days(5)
    pause = (at(2025, 6, 3, 14), at(2025, 6, 5, 10))  # Tuesday 3.5 h + Wednesday 8 h + Thursday 2.5 h
    plain = calendar.due(start, limit)
    paused = calendar.due_with_pauses(start, limit, [pause])
    assert plain == at(2025, 6, 9, 9)
    assert paused == at(2025, 6, 10, 17)
    assert calendar.working_time_between(plain, paused) == calendar.working_time_between(*pause) == timedelta(hours=14)


def test_while_a_payment_is_still_awaited_the_due_time_is_not_known(calendar):
    assert calendar.due_with_pauses(at(2025, 6, 2, 9), THREE_DAYS, [(at(2025, 6, 3, 10), None)]) is None


def test_a_pause_that_begins_after_the_due_time_changes_nothing(calendar):
    late_pause = (at(2025, 6, 6, 9), None)
    assert calendar.due_with_pauses(at(2025, 6, 2, 9), THREE_DAYS, [late_pause]) == at(2025, 6, 5, 9)


def test_overlapping_pauses_count_their_working_time_once(calendar):
    pauses = [(at(2025, 6, 3, 8), at(2025, 6, 3, 10)), (at(2025, 6, 3, 9), at(2025, 6, 3, 11))]
    # Together 08:00–11:00 on Tuesday: 3 working hours.
    assert calendar.due_with_pauses(at(2025, 6, 2, 9), THREE_DAYS, pauses) == at(2025, 6, 5, 14)


def test_a_pause_that_ends_before_it_begins_is_refused(calendar):
    with pytest.raises(ValueError, match="ends before it begins"):
        calendar.due_with_pauses(at(2025, 6, 2, 9), THREE_DAYS, [(at(2025, 6, 3, 10), at(2025, 6, 3, 9))])


# --- limits and timeliness -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit"), [(-1, "working_days"), (1, "same_day"), (1, "calendar_days"), (float("nan"), "working_hours")]
)
def test_a_working_limit_refuses_nonsense(value, unit):
    with pytest.raises(ValueError):
        WorkingLimit(value, unit)


def test_one_and_a_half_working_days_are_twelve_working_hours(calendar):
    start = at(2025, 6, 2, 7, 30)
    assert calendar.due(start, WorkingLimit.working_days(1.5)) == calendar.due(start, WorkingLimit.working_hours(12))


@pytest.mark.parametrize(
    ("done", "timeliness"),
    [
        (at(2025, 6, 4, 17, 0), Timeliness.EARLY),  # the working day before the due day
        (at(2025, 6, 5, 8, 0), Timeliness.ON_TIME),  # on the due day, before the due instant
        (at(2025, 6, 5, 9, 0), Timeliness.ON_TIME),  # exactly at the due instant
        (at(2025, 6, 5, 9, 1), Timeliness.LATE),
    ],
)
def test_a_hand_off_is_early_on_time_or_late_by_the_due_day(calendar, done, timeliness):
    assert calendar.classify(due=at(2025, 6, 5, 9), done=done) == timeliness


def test_timeliness_reads_as_the_plain_words(calendar):
    assert calendar.classify(at(2025, 6, 5, 9), at(2025, 6, 6, 9)) == "late"
