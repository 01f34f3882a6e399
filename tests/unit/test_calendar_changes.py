"""Operators' changes to the working calendar: what a change may be, and the calendar it makes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from routing.calendar import load_calendar_data
from routing.calendar.changes import (
    CalendarChange,
    CalendarChangeError,
    ChangeKind,
    DecisionFormatError,
    DuplicateChangeError,
    HolidayMakeUpError,
    NothingToRemoveError,
    PastDayError,
    WeekdayMakeUpError,
    WeekendDayOffError,
    YearNotCoveredError,
    calendar_in_force,
    changes_until,
    check_change,
)

SEED = load_calendar_data()
TODAY = date(2026, 12, 1)
DECISION = "1234/QĐ-TTg"


def change(revision: int, kind: ChangeKind, day: date, at: datetime | None = None) -> CalendarChange:
    return CalendarChange(revision, kind, day, DECISION, "Theo quyết định", "operator", at or datetime.now(UTC))


def check(kind: ChangeKind, day: date, *changes: CalendarChange, decision: str = DECISION) -> None:
    check_change(calendar_in_force(SEED, changes), SEED, kind, day, decision, "Theo quyết định", TODAY)


def test_a_weekday_declared_a_day_off_is_no_longer_a_working_day_and_the_seed_is_untouched() -> None:
    before = calendar_in_force(SEED, ())
    after = calendar_in_force(SEED, [change(1, ChangeKind.ADD_DAY_OFF, date(2026, 12, 7))], revision=1)

    assert before.is_working_day(date(2026, 12, 7))
    assert not after.is_working_day(date(2026, 12, 7))
    assert after.revision == 1
    assert after.days_off(2026)[date(2026, 12, 7)] == f"{DECISION}: Theo quyết định"
    assert calendar_in_force(SEED, ()).is_working_day(date(2026, 12, 7))


def test_a_weekend_day_declared_a_make_up_working_day_becomes_a_working_day() -> None:
    after = calendar_in_force(SEED, [change(1, ChangeKind.ADD_WORKING_DAY, date(2026, 12, 12))])

    assert after.is_working_day(date(2026, 12, 12))
    assert date(2026, 12, 12) in after.make_up_days(2026)


def test_removing_a_day_off_or_a_make_up_day_gives_the_day_back_its_ordinary_nature() -> None:
    added = [change(1, ChangeKind.ADD_DAY_OFF, date(2026, 12, 7)), change(2, ChangeKind.ADD_WORKING_DAY,
                                                                         date(2026, 12, 12))]
    removed = [*added, change(3, ChangeKind.REMOVE, date(2026, 12, 7)),
               change(4, ChangeKind.REMOVE, date(2026, 12, 12))]

    calendar = calendar_in_force(SEED, removed)

    assert calendar.is_working_day(date(2026, 12, 7))
    assert not calendar.is_working_day(date(2026, 12, 12))


def test_removing_a_public_holiday_on_a_weekday_keeps_it_as_a_working_day_until_it_is_added_again() -> None:
    new_year = date(2027, 1, 1)  # a Friday, a public holiday
    removed = [change(1, ChangeKind.REMOVE, new_year)]

    assert calendar_in_force(SEED, removed).is_working_day(new_year)
    assert not calendar_in_force(SEED, [*removed, change(2, ChangeKind.ADD_DAY_OFF, new_year)]).is_working_day(new_year)


@pytest.mark.parametrize(("kind", "day", "error"), [
    (ChangeKind.ADD_DAY_OFF, date(2026, 12, 5), WeekendDayOffError),  # a Saturday
    (ChangeKind.ADD_WORKING_DAY, date(2026, 12, 8), WeekdayMakeUpError),  # a Tuesday
    (ChangeKind.ADD_WORKING_DAY, date(2027, 5, 1), HolidayMakeUpError),  # 1 May 2027, a Saturday
    (ChangeKind.ADD_DAY_OFF, date(2027, 1, 1), DuplicateChangeError),  # New Year: already off
    (ChangeKind.REMOVE, date(2026, 12, 8), NothingToRemoveError),  # an ordinary Tuesday
    (ChangeKind.REMOVE, date(2026, 12, 12), NothingToRemoveError),  # an ordinary Saturday
    (ChangeKind.ADD_DAY_OFF, date(2029, 1, 8), YearNotCoveredError),
    (ChangeKind.ADD_DAY_OFF, date(2023, 1, 9), YearNotCoveredError),
    (ChangeKind.ADD_DAY_OFF, date(2026, 11, 30), PastDayError),
])
def test_a_change_that_breaks_a_rule_is_refused_with_the_rule_it_breaks(kind, day, error) -> None:
    with pytest.raises(error):
        check(kind, day)


def test_adding_the_same_day_twice_is_a_duplicate() -> None:
    first = change(1, ChangeKind.ADD_WORKING_DAY, date(2026, 12, 12))

    with pytest.raises(DuplicateChangeError):
        check(ChangeKind.ADD_WORKING_DAY, date(2026, 12, 12), first)


@pytest.mark.parametrize("decision", ["", "1234", "QĐ-TTg", "1234/qđ-ttg", "1234 / QĐ-TTg", "12/2026/QĐ TTg"])
def test_a_decision_not_numbered_as_vietnamese_documents_are_is_refused(decision: str) -> None:
    with pytest.raises(DecisionFormatError):
        check(ChangeKind.ADD_DAY_OFF, date(2026, 12, 7), decision=decision)


@pytest.mark.parametrize("decision", ["1234/QĐ-TTg", "45/2016/QĐ-TTg", "6150/TB-LĐTBXH", "12729/VPCP-KGVX"])
def test_decisions_numbered_as_vietnamese_documents_are_are_accepted(decision: str) -> None:
    check(ChangeKind.ADD_DAY_OFF, date(2026, 12, 7), decision=decision)


def test_a_blank_reason_is_refused() -> None:
    with pytest.raises(CalendarChangeError):
        check_change(calendar_in_force(SEED, ()), SEED, ChangeKind.ADD_DAY_OFF, date(2026, 12, 7), DECISION, "  ",
                     TODAY)


def test_the_calendar_at_an_instant_is_replayed_from_the_changes_made_by_then() -> None:
    early, late = datetime(2026, 12, 1, 2, tzinfo=UTC), datetime(2026, 12, 1, 5, tzinfo=UTC)
    changes = [change(1, ChangeKind.ADD_DAY_OFF, date(2026, 12, 7), early),
               change(2, ChangeKind.ADD_DAY_OFF, date(2026, 12, 8), late)]

    between = calendar_in_force(SEED, changes_until(changes, datetime(2026, 12, 1, 3, tzinfo=UTC)))

    assert not between.is_working_day(date(2026, 12, 7))
    assert between.is_working_day(date(2026, 12, 8))
    assert changes_until(changes, None) == changes
