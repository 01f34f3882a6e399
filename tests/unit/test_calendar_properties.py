"""Properties of the working-day calendar that hold for any instant, amount and pause."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from routing.calendar import VIETNAM, WorkingCalendar, WorkingLimit


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.default()


instants = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2026, 12, 31),
    timezones=st.sampled_from([VIETNAM, UTC]),
)
minutes_of_work = st.integers(min_value=0, max_value=40 * 8 * 60).map(lambda m: timedelta(minutes=m))
working_days = st.integers(min_value=1, max_value=30)
limits = st.one_of(
    working_days.map(WorkingLimit.working_days),
    st.integers(min_value=1, max_value=80).map(WorkingLimit.working_hours),
    st.just(WorkingLimit.same_day()),
)


def is_in_a_session_or_at_its_end(calendar: WorkingCalendar, moment: datetime) -> bool:
    local = moment.astimezone(VIETNAM)
    clock = local.time()
    return calendar.is_working_day(local.date()) and any(s.start < clock <= s.end for s in calendar.sessions)


@given(start=instants, days=working_days)
def test_a_due_time_in_working_days_lies_inside_a_session_or_at_its_end(calendar, start, days):
    assert is_in_a_session_or_at_its_end(calendar, calendar.add_working_days(start, days))


@given(received=instants)
def test_the_clock_always_starts_inside_a_session_and_never_before_receipt(calendar, received):
    started = calendar.start_of_processing(received)
    session_starts = {s.start for s in calendar.sessions}
    assert started >= received
    assert is_in_a_session_or_at_its_end(calendar, started) or started.timetz().replace(tzinfo=None) in session_starts


@given(received=instants, amount=minutes_of_work)
def test_adding_working_time_to_a_session_aligned_start_adds_exactly_that_working_time(calendar, received, amount):
    start = calendar.start_of_processing(received, cutoff=None)
    assert calendar.working_time_between(start, calendar.add_working_hours(start, amount)) == amount


@given(start=instants, amount=minutes_of_work)
def test_adding_working_time_to_any_start_adds_exactly_that_working_time(calendar, start, amount):
    assert calendar.working_time_between(start, calendar.add_working_hours(start, amount)) == amount


@given(a=instants, b=instants)
def test_working_time_between_is_antisymmetric(calendar, a, b):
    assert calendar.working_time_between(a, b) == -calendar.working_time_between(b, a)


@given(start=instants, fewer=working_days, more=working_days)
def test_more_working_days_are_due_strictly_later(calendar, start, fewer, more):
    assume(fewer < more)
    assert calendar.add_working_days(start, fewer) < calendar.add_working_days(start, more)


pause_offsets = st.lists(
    st.tuples(
        st.integers(min_value=-3 * 24 * 60, max_value=60 * 24 * 60),  # pause begins, minutes after start
        st.integers(min_value=0, max_value=20 * 24 * 60),  # pause length in minutes
    ),
    max_size=4,
)


@given(start=instants, limit=limits, offsets=pause_offsets)
@settings(max_examples=200)
def test_pauses_never_make_the_due_time_earlier(calendar, start, limit, offsets):
    pauses = [(start + timedelta(minutes=b), start + timedelta(minutes=b + length)) for b, length in offsets]
    assert calendar.due_with_pauses(start, limit, pauses) >= calendar.due(start, limit)


@given(start=instants, limit=limits, gap_at=instants, fraction=st.floats(min_value=0, max_value=1))
def test_a_pause_entirely_outside_working_time_changes_nothing(calendar, start, limit, gap_at, fraction):
    next_work = calendar.start_of_processing(gap_at, cutoff=None)
    assume(next_work > gap_at)  # gap_at is outside every session
    pause = (gap_at, gap_at + (next_work - gap_at) * fraction)
    assert calendar.due_with_pauses(start, limit, [pause]) == calendar.due(start, limit)


ten_days_of_minutes = st.integers(min_value=0, max_value=10 * 24 * 60)


@given(start=instants, limit=limits, offset=ten_days_of_minutes, length=ten_days_of_minutes)
def test_a_pause_inside_the_limit_moves_the_due_time_by_exactly_its_working_time(
    calendar, start, limit, offset, length
):
    due = calendar.due(start, limit)
    pause = (start + timedelta(minutes=offset), start + timedelta(minutes=offset + length))
    assume(pause[0] < due)
    paused_due = calendar.due_with_pauses(start, limit, [pause])
    assert calendar.working_time_between(due, paused_due) == calendar.working_time_between(*pause)
