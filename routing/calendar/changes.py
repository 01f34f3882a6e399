"""Operators' changes to the working calendar, applied over the packaged seed.

Governments add days off and make-up working days by decision during the year (Tết swaps, bridges
around 2 September, days of national mourning). An operator records each decision as a
:class:`CalendarChange`: a day off added on a weekday, a make-up working day added on a weekend
day, or a removal that gives a day back its ordinary nature. The packaged YAML
(``routing/data/calendar/``) stays the seed; the calendar in force at an instant is the seed with
every change made up to that instant applied in order (:func:`calendar_in_force`).

:func:`check_change` is the one definition of what a change may be; every refusal is a
:class:`CalendarChangeError` subclass naming the rule, which the HTTP API answers with a 4xx.
Pure: no I/O, no clock (``today`` is an argument).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from routing.calendar.data import CalendarData, CalendarDataError, DecisionEntry, YearDecision
from routing.calendar.working_calendar import WorkingCalendar, library_holidays

DECISION_NUMBER_PATTERN = r"^[0-9]{1,6}(/[0-9]{4})?/[A-ZĐ]{1,8}(-[A-Za-zĐđ0-9]{1,15}){1,3}$"
"""How a decision is numbered (số ký hiệu văn bản): ``1234/QĐ-TTg``, ``45/2016/QĐ-TTg``,
``6150/TB-LĐTBXH``, ``12729/VPCP-KGVX``: a number, optionally the year, then the document kind and
the issuer, in capitals, joined by hyphens (Decree 30/2020/NĐ-CP, Appendix I)."""
_DECISION_NUMBER = re.compile(DECISION_NUMBER_PATTERN)

YEARS_AHEAD = 1
"""A change may concern at most next year (decisions for a year are issued the year before)."""


class ChangeKind(StrEnum):
    """What an operator does to one day."""

    ADD_DAY_OFF = "add_day_off"
    """A weekday that was a working day becomes a day off."""
    ADD_WORKING_DAY = "add_working_day"
    """A weekend day becomes a make-up working day (làm bù)."""
    REMOVE = "remove"
    """A day off or a make-up working day goes back to what its weekday makes it."""


class CalendarChangeError(ValueError):
    """A calendar change that may not be made; nothing changes."""


class WeekendDayOffError(CalendarChangeError):
    """A Saturday or Sunday declared a day off: it is a weekly rest day already."""


class WeekdayMakeUpError(CalendarChangeError):
    """A Monday–Friday declared a make-up working day: only weekend days are made up."""


class HolidayMakeUpError(CalendarChangeError):
    """A public holiday of the Labour Code declared a make-up working day."""


class DuplicateChangeError(CalendarChangeError):
    """The day already is what the change would make it (a day off already off, a make-up day
    already worked)."""


class NothingToRemoveError(CalendarChangeError):
    """The day is neither a day off on a weekday nor a make-up working day: nothing to remove."""


class YearNotCoveredError(CalendarChangeError):
    """The day is outside the years the calendar covers."""


class PastDayError(CalendarChangeError):
    """The day is already over: steps closed on it must never change."""


class DecisionFormatError(CalendarChangeError):
    """The decision's number is not written as Vietnamese documents are numbered."""


@dataclass(frozen=True)
class CalendarChange:
    """One operator change, as the calendar log keeps it (``revision`` counts from 1)."""

    revision: int
    kind: ChangeKind
    day: date
    decision: str
    reason: str
    by: str
    at: datetime

    def to_record(self) -> dict[str, Any]:
        """JSON-friendly form (events and responses)."""
        return {"revision": self.revision, "kind": self.kind.value, "day": self.day.isoformat(),
                "decision": self.decision, "reason": self.reason, "by": self.by, "at": self.at}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> CalendarChange:
        return cls(revision=record["revision"], kind=ChangeKind(record["kind"]), day=date.fromisoformat(record["day"]),
                   decision=record["decision"], reason=record["reason"], by=record["by"], at=record["at"])


def covered_years(seed: CalendarData, today: date) -> range:
    """The years a change may concern: from the seed's first year to next year (or the seed's last)."""
    years = [decision.year for decision in seed.decisions] or [today.year]
    return range(min(min(years), today.year), max(max(years), today.year + YEARS_AHEAD) + 1)


def check_change(calendar: WorkingCalendar, seed: CalendarData, kind: ChangeKind, day: date, decision: str,
                 reason: str, today: date) -> None:
    """Refuse (a :class:`CalendarChangeError`) a change that may not be made to ``calendar``, the
    calendar in force, on ``today`` (Vietnam time)."""
    if not _DECISION_NUMBER.match(decision):
        raise DecisionFormatError(
            f"số hiệu văn bản {decision!r} không đúng dạng (vd. 1234/QĐ-TTg, 45/2016/QĐ-TTg, 6150/TB-LĐTBXH)")
    if not reason.strip():
        raise CalendarChangeError("cần nêu lý do thay đổi")
    if day.year not in (years := covered_years(seed, today)):
        raise YearNotCoveredError(f"ngày {day} ngoài các năm lịch làm việc bao quát ({years[0]}–{years[-1]})")
    if day < today:
        raise PastDayError(f"ngày {day} đã qua (hôm nay {today}); không sửa lịch của ngày đã qua")
    weekend = day.weekday() >= 5
    if kind is ChangeKind.ADD_DAY_OFF:
        if weekend:
            raise WeekendDayOffError(f"ngày {day} là {_weekday(day)}, vốn đã là ngày nghỉ hằng tuần")
        if not calendar.is_working_day(day):
            raise DuplicateChangeError(f"ngày {day} đã là ngày nghỉ")
    elif kind is ChangeKind.ADD_WORKING_DAY:
        if not weekend:
            raise WeekdayMakeUpError(f"ngày {day} là {_weekday(day)}; chỉ ngày cuối tuần mới là ngày làm bù")
        if day in library_holidays(day.year):
            raise HolidayMakeUpError(f"ngày {day} là ngày lễ ({library_holidays(day.year)[day]}); không làm bù")
        if calendar.is_working_day(day):
            raise DuplicateChangeError(f"ngày {day} đã là ngày làm bù")
    elif calendar.is_working_day(day) != weekend:
        raise NothingToRemoveError(f"ngày {day} không phải ngày nghỉ hay ngày làm bù đặc biệt; không có gì để bỏ")


def calendar_in_force(seed: CalendarData, changes: Iterable[CalendarChange], *, revision: int = 0) -> WorkingCalendar:
    """The seed with ``changes`` applied in order, as a :class:`WorkingCalendar` at ``revision``."""
    decisions = {decision.year: decision for decision in seed.decisions}
    for change in changes:
        decisions[change.day.year] = _applied(decisions.get(change.day.year) or YearDecision(year=change.day.year),
                                              change)
    return WorkingCalendar(seed.sessions, decisions.values(), revision=revision)


def _applied(decision: YearDecision, change: CalendarChange) -> YearDecision:
    lists: dict[str, list[DecisionEntry]] = {
        name: [e for e in getattr(decision, name) if e.day != change.day]
        for name in ("days_off", "make_up_working_days", "cancelled_days_off")}
    entry = DecisionEntry(day=change.day, source=f"{change.decision}: {change.reason}", verified=True)
    was_off_by_law = change.day in library_holidays(change.day.year)
    if change.kind is ChangeKind.ADD_DAY_OFF and not was_off_by_law:
        lists["days_off"].append(entry)
    elif change.kind is ChangeKind.ADD_WORKING_DAY:
        lists["make_up_working_days"].append(entry)
    elif change.kind is ChangeKind.REMOVE and was_off_by_law and change.day.weekday() < 5:
        lists["cancelled_days_off"].append(entry)  # a holiday the package lists, kept as a working day
    try:
        return YearDecision(year=decision.year, **{name: tuple(sorted(entries, key=lambda e: e.day))
                                                   for name, entries in lists.items()})
    except ValueError as exc:  # check_change refuses these first; stored history is always valid
        raise CalendarDataError(f"calendar change {change.revision} cannot apply: {exc}") from exc


def changes_until(changes: Sequence[CalendarChange], instant: datetime | None) -> list[CalendarChange]:
    """The changes made up to ``instant`` (all when None)."""
    return [c for c in changes if instant is None or c.at <= instant]


_WEEKDAYS = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")


def _weekday(day: date) -> str:
    return _WEEKDAYS[day.weekday()]
