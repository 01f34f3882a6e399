"""The calendar API's error table: every rule of a change has its own problem."""

from __future__ import annotations

import pytest

from routing.api.calendar import CALENDAR_ERRORS
from routing.calendar import changes
from services.eventstore import ConcurrentChangeError

ROWS = [
    (changes.WeekendDayOffError, 422, "weekend-day-off"),
    (changes.WeekdayMakeUpError, 422, "weekday-make-up-day"),
    (changes.HolidayMakeUpError, 422, "holiday-make-up-day"),
    (changes.YearNotCoveredError, 422, "year-not-covered"),
    (changes.PastDayError, 422, "day-in-the-past"),
    (changes.DecisionFormatError, 422, "decision-number-format"),
    (changes.DuplicateChangeError, 409, "calendar-day-unchanged"),
    (changes.NothingToRemoveError, 404, "calendar-entry-not-found"),
    (changes.CalendarChangeError, 422, "invalid-calendar-change"),
    (ConcurrentChangeError, 409, "concurrent-change"),
]


@pytest.mark.parametrize(("error", "status", "slug"), ROWS)
def test_each_refused_calendar_change_becomes_its_own_problem(error, status, slug) -> None:
    problem = CALENDAR_ERRORS.problem(error("ngày 2027-05-08"))

    assert (problem.status, problem.slug) == (status, slug)


def test_every_rule_of_a_change_has_a_row() -> None:
    rules = {cls for cls in vars(changes).values()
             if isinstance(cls, type) and issubclass(cls, changes.CalendarChangeError)}

    assert rules <= set(CALENDAR_ERRORS)
    assert {row[0] for row in ROWS} == set(CALENDAR_ERRORS)
