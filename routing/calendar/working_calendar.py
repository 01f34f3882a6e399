"""Working-day arithmetic for statutory time limits (thời hạn giải quyết), Vietnam time.

Every method takes timezone-aware datetimes (any zone) and returns aware datetimes in
Asia/Ho_Chi_Minh; a naive datetime raises :class:`NaiveDatetimeError`. Working time is the time
inside the day's sessions on working days; everything else (nights, lunch breaks, weekends,
holidays) does not count. The counting rules and their legal basis are in ``docs/CALENDAR.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal, get_args

import holidays
from pydantic import ValidationError

from routing.calendar.data import (
    DEFAULT_SESSIONS,
    CalendarData,
    CalendarDataError,
    Session,
    Sessions,
    YearDecision,
    load_calendar_data,
)
from shared_events.scalars import VIETNAM

SAME_DAY_CUTOFF = time(15, 0)
_ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)

LimitUnit = Literal["working_days", "working_hours", "same_day"]
Pause = tuple[datetime, datetime | None]


class NaiveDatetimeError(ValueError):
    """A datetime without a timezone was given where an instant is needed."""


class Timeliness(StrEnum):
    """How a step finished against its due time (form 06: trước hạn / đúng hạn / quá hạn)."""

    EARLY = "early"
    ON_TIME = "on_time"
    LATE = "late"


@dataclass(frozen=True)
class WorkingLimit:
    """A statutory time limit: ``value`` working days or working hours, or ``same_day`` (value 0).

    A working day is the day's total session time (8 h by default), so 1.5 working days is 12 h.
    """

    value: int | float
    unit: LimitUnit

    def __post_init__(self) -> None:
        if self.unit not in get_args(LimitUnit):
            raise ValueError(f"unknown limit unit {self.unit!r}; expected one of {get_args(LimitUnit)}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise ValueError(f"a limit's value must be a number, got {self.value!r}")
        if not math.isfinite(self.value) or self.value < 0:
            raise ValueError(f"a limit's value must be finite and not negative, got {self.value!r}")
        if self.unit == "same_day" and self.value != 0:
            raise ValueError("a same_day limit carries the value 0")

    @classmethod
    def working_days(cls, value: int | float) -> WorkingLimit:
        return cls(value, "working_days")

    @classmethod
    def working_hours(cls, value: int | float) -> WorkingLimit:
        return cls(value, "working_hours")

    @classmethod
    def same_day(cls) -> WorkingLimit:
        return cls(0, "same_day")


def _aware(moment: datetime, name: str = "datetime") -> datetime:
    """``moment`` in Vietnam time; refuses naive datetimes."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError(f"{name} {moment.isoformat()} has no timezone; give an aware datetime")
    return moment.astimezone(VIETNAM)


def _clock(moment: datetime) -> timedelta:
    """Time since local midnight."""
    return moment - moment.replace(hour=0, minute=0, second=0, microsecond=0)


def library_holidays(year: int) -> dict[date, str]:
    """Vietnam's public holidays of ``year`` from the ``holidays`` package, named in Vietnamese.

    The language is fixed because the package otherwise follows the process locale.
    """
    return dict(holidays.country_holidays("VN", years=year, language="vi"))


def _as_duration(hours: float | timedelta) -> timedelta:
    amount = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
    if amount < _ZERO:
        raise ValueError(f"working time to add must not be negative, got {amount}")
    return amount


class WorkingCalendar:
    """Working days and working hours of Vietnamese state agencies.

    A day is a working day when it is Monday–Friday, or a make-up working day of a year's decision,
    and it is neither a public holiday known to the ``holidays`` package (country "VN", observed days
    included) nor an extra day off of a year's decision; a decision's ``cancelled_days_off`` turns
    listed library holidays back into working days. A date in both the library and a decision's
    ``days_off`` counts once.
    """

    def __init__(self, sessions: Sequence[Session] | None = None, decisions: Iterable[YearDecision] = (), *,
                 revision: int = 0) -> None:
        """Build from sessions (default 07:30–11:30, 13:30–17:30) and per-year decisions.

        ``revision`` numbers the operators' changes the calendar includes (0: the seed alone; see
        :mod:`routing.calendar.changes`).

        Raises :class:`CalendarDataError` for sessions out of order or overlapping, two decisions
        for the same year, or a make-up working day that is a holiday in the ``holidays`` package.
        """
        try:
            self._sessions = Sessions(sessions=DEFAULT_SESSIONS if sessions is None else tuple(sessions)).sessions
        except ValidationError as exc:
            raise CalendarDataError(f"sessions: {exc}") from exc
        self.revision = revision
        self._day_length = sum((s.length for s in self._sessions), _ZERO)
        self._decisions: dict[int, YearDecision] = {}
        for decision in decisions:
            if decision.year in self._decisions:
                raise CalendarDataError(f"two decisions declare the year {decision.year}")
            self._decisions[decision.year] = decision
        self._years: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
        for year, decision in self._decisions.items():
            clash = decision.days("make_up_working_days") & self._days_off(year)
            if clash:
                raise CalendarDataError(f"{year}: make-up working day(s) {sorted(clash)} are public holidays")

    @classmethod
    def from_data(cls, data: CalendarData) -> WorkingCalendar:
        return cls(data.sessions, data.decisions)

    @classmethod
    def default(cls) -> WorkingCalendar:
        """The calendar from the packaged data in ``routing/data/calendar/``."""
        return cls.from_data(load_calendar_data())

    @property
    def sessions(self) -> tuple[Session, ...]:
        return self._sessions

    @property
    def data(self) -> CalendarData:
        """What the calendar is built from (sessions and year decisions): the seed of operators' changes."""
        return CalendarData(sessions=self._sessions, decisions=tuple(self._decisions.values()))

    def make_up_days(self, year: int) -> dict[date, str]:
        """Weekend days worked in ``year`` (làm bù) with their source, in date order."""
        decision = self._decisions.get(year)
        if decision is None:
            return {}
        return {e.day: e.source for e in sorted(decision.make_up_working_days, key=lambda e: e.day)}

    @property
    def working_day_length(self) -> timedelta:
        """Total session time of one working day (8 h by default)."""
        return self._day_length

    # --- days -----------------------------------------------------------------------------

    def days_off(self, year: int) -> dict[date, str]:
        """Weekday holidays and days off of ``year`` with their name or source, in date order."""
        named = {
            day: name
            for day, name in library_holidays(year).items()
            if day.weekday() < 5
        }
        decision = self._decisions.get(year)
        if decision:
            named |= {e.day: e.source for e in decision.days_off if e.day not in named}
            for entry in decision.cancelled_days_off:
                named.pop(entry.day, None)
        return dict(sorted(named.items()))

    def _days_off(self, year: int) -> frozenset[date]:
        return self._year(year)[0]

    def _year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        if year not in self._years:
            library = frozenset(library_holidays(year))
            decision = self._decisions.get(year)
            if decision is None:
                self._years[year] = (library, frozenset())
            else:
                off = (library | decision.days("days_off")) - decision.days("cancelled_days_off")
                self._years[year] = (off, decision.days("make_up_working_days"))
        return self._years[year]

    def is_working_day(self, day: date) -> bool:
        """True on Monday–Friday and make-up days, unless the day is a holiday or a day off."""
        if isinstance(day, datetime):
            raise TypeError("is_working_day takes a date; use .date() of a Vietnam-time datetime")
        off, make_up = self._year(day.year)
        return day not in off and (day.weekday() < 5 or day in make_up)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day += _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    # --- instants ---------------------------------------------------------------------------

    def _at(self, day: date, since_midnight: timedelta) -> datetime:
        return datetime.combine(day, time(0), VIETNAM) + since_midnight

    def _worked_by(self, moment: datetime) -> timedelta:
        """Working time elapsed on ``moment``'s day by ``moment`` (zero on a non-working day)."""
        if not self.is_working_day(moment.date()):
            return _ZERO
        clock = _clock(moment)
        return sum((min(max(clock - s.opens, _ZERO), s.length) for s in self._sessions), _ZERO)

    def _instant_after_working(self, day: date, worked: timedelta) -> datetime:
        """Earliest instant of working ``day`` by which ``worked`` (> 0, ≤ a day) has elapsed."""
        for session in self._sessions:
            if worked <= session.length:
                return self._at(day, session.opens + worked)
            worked -= session.length
        raise AssertionError("worked exceeds the working day")

    def _end_of_day(self, day: date) -> datetime:
        return self._at(day, self._sessions[-1].closes)

    def start_of_processing(self, received_at: datetime, *, cutoff: time | None = SAME_DAY_CUTOFF) -> datetime:
        """When the clock starts for a dossier received at ``received_at``.

        On a working day before ``cutoff`` (no cut-off if None): ``received_at`` itself if it is
        inside a session, else the next session start that day. At or after the cut-off, after the
        last session, or on a non-working day: the first session start of the next working day.
        """
        moment = _aware(received_at, "received_at")
        day = moment.date()
        if self.is_working_day(day) and (cutoff is None or moment.time() < cutoff):
            clock = _clock(moment)
            for session in self._sessions:
                if clock < session.closes:
                    return moment if clock >= session.opens else self._at(day, session.opens)
        return self._at(self.next_working_day(day), self._sessions[0].opens)

    def add_working_hours(self, start: datetime, hours: float | timedelta) -> datetime:
        """The earliest instant by which ``hours`` of working time have elapsed since ``start``.

        Zero returns ``start`` (in Vietnam time). A positive amount ends inside a session or exactly
        at a session's end (so a day's last hour ends at 17:30, not at 07:30 the next working day).
        Raises ValueError for a negative amount.
        """
        moment = _aware(start, "start")
        remaining = _as_duration(hours)
        if remaining == _ZERO:
            return moment
        day = moment.date()
        if self.is_working_day(day):
            worked = self._worked_by(moment)
            if remaining <= self._day_length - worked:
                return self._instant_after_working(day, worked + remaining)
            remaining -= self._day_length - worked
        day = self.next_working_day(day)
        while remaining > self._day_length:
            remaining -= self._day_length
            day = self.next_working_day(day)
        return self._instant_after_working(day, remaining)

    def add_working_days(self, start: datetime, days: int | float) -> datetime:
        """``days`` working days after ``start``: ``days`` × the working-day length of working time.

        Started Monday 09:00, 3 working days are due Thursday 09:00; started at a session start
        (07:30), they end at 17:30 of the third working day.
        """
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        return self.add_working_hours(start, self._day_length * days)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b``; negative (the same amount) when ``b`` is before ``a``."""
        first, second = _aware(a, "a"), _aware(b, "b")
        if second < first:
            return -self.working_time_between(second, first)
        if first.date() == second.date():
            return self._worked_by(second) - self._worked_by(first)
        total = self._day_length - self._worked_by(first) if self.is_working_day(first.date()) else _ZERO
        day = first.date() + _ONE_DAY
        while day < second.date():
            if self.is_working_day(day):
                total += self._day_length
            day += _ONE_DAY
        return total + self._worked_by(second)

    # --- limits -----------------------------------------------------------------------------

    def due(self, start: datetime, limit: WorkingLimit) -> datetime:
        """The due instant of ``limit`` with the clock started at ``start`` and never paused.

        ``same_day``: the end of the last session of ``start``'s day if ``start`` is before it on
        a working day, else the end of the next working day.
        """
        moment = _aware(start, "start")
        if limit.unit == "working_days":
            return self.add_working_days(moment, limit.value)
        if limit.unit == "working_hours":
            return self.add_working_hours(moment, limit.value)
        day = moment.date()
        if not (self.is_working_day(day) and moment < self._end_of_day(day)):
            day = self.next_working_day(day)
        return self._end_of_day(day)

    def appointment_date(
        self, received_at: datetime, limit: WorkingLimit, *, cutoff: time | None = SAME_DAY_CUTOFF
    ) -> datetime:
        """The appointment (ngày hẹn trả) written on the receipt: ``due(start_of_processing(...))``.

        A same-day procedure received before the cut-off on a working day is due at the end of that
        day (17:30), otherwise at the end of the next working day.
        """
        return self.due(self.start_of_processing(received_at, cutoff=cutoff), limit)

    def due_with_pauses(self, start: datetime, limit: WorkingLimit, pauses: Iterable[Pause]) -> datetime | None:
        """The due instant when the clock stops during ``pauses`` (status 5 supplement, 6 payment).

        Each pause is ``(paused_at, resumed_at)``; ``resumed_at`` None means still paused. Working
        time inside a pause that begins before the (so far) due instant does not count, so the due
        instant moves later by exactly that working time. Pauses may overlap; the parts before
        ``start`` are ignored, and a pause beginning at or after the due instant changes nothing.
        Returns None while a pause that counts is still open: the due instant is not known yet.
        Raises ValueError for a pause that ends before it begins.
        """
        clock_start = _aware(start, "start")
        intervals: list[tuple[datetime, datetime | None]] = []
        for paused_at, resumed_at in pauses:
            begin = _aware(paused_at, "paused_at")
            end = None if resumed_at is None else _aware(resumed_at, "resumed_at")
            if end is not None and end < begin:
                raise ValueError(f"a pause ends before it begins: {begin.isoformat()} → {end.isoformat()}")
            intervals.append((max(begin, clock_start), end))

        merged: list[tuple[datetime, datetime | None]] = []
        for begin, end in sorted(intervals, key=lambda interval: interval[0]):
            if end is not None and end <= begin:
                continue
            if merged and (merged[-1][1] is None or begin <= merged[-1][1]):
                last_end = merged[-1][1]
                merged[-1] = (merged[-1][0], None if last_end is None or end is None else max(last_end, end))
            else:
                merged.append((begin, end))

        due = self.due(clock_start, limit)
        for begin, end in merged:
            if begin >= due:
                break
            if end is None:
                return None
            due = self.add_working_hours(due, self.working_time_between(begin, end))
        return due

    def classify(self, due: datetime, done: datetime) -> Timeliness:
        """Early, on time or late, as form 06 (phiếu kiểm soát quá trình) records each hand-off.

        Late: ``done`` after ``due``. Early: ``done`` on a calendar day (Vietnam time) before the
        due instant's day. On time: on the due day, at or before the due instant.
        """
        due_at, done_at = _aware(due, "due"), _aware(done, "done")
        if done_at > due_at:
            return Timeliness.LATE
        if done_at.date() < due_at.date():
            return Timeliness.EARLY
        return Timeliness.ON_TIME
