"""Working-day calendar for statutory time limits: working days, sessions, due times, pauses.

Build one per process with :meth:`WorkingCalendar.default` (the packaged data) or from a data
directory with ``WorkingCalendar.from_data(load_calendar_data(path))``; see ``docs/CALENDAR.md``.
"""

from routing.calendar.data import (
    CalendarData,
    CalendarDataError,
    DecisionEntry,
    Session,
    YearDecision,
    load_calendar_data,
)
from routing.calendar.working_calendar import (
    SAME_DAY_CUTOFF,
    VIETNAM,
    NaiveDatetimeError,
    Timeliness,
    WorkingCalendar,
    WorkingLimit,
)

__all__ = [
    "SAME_DAY_CUTOFF",
    "VIETNAM",
    "CalendarData",
    "CalendarDataError",
    "DecisionEntry",
    "NaiveDatetimeError",
    "Session",
    "Timeliness",
    "WorkingCalendar",
    "WorkingLimit",
    "YearDecision",
    "load_calendar_data",
]
