"""The calendar's operator-maintained data: office sessions and each year's government decision.

Layout of a calendar data directory (the packaged one is ``routing/data/calendar/``)::

    sessions.yaml          # the working sessions of a day (giờ làm việc)
    decisions/2025.yaml    # one file per year: extra days off, make-up working days, cancellations

A year file::

    year: 2025
    days_off:                  # weekdays off that the `holidays` package does not know
      - {date: 2025-05-02, source: "...", verified: false}
    make_up_working_days:      # weekend days worked (làm bù)
      - {date: 2025-04-26, source: "...", verified: false}
    cancelled_days_off: []     # weekdays `holidays` lists as off that the decision keeps as working

Every entry needs a non-empty ``source``; ``verified`` (default false) is true only once the entry
has been checked against the text of the decision itself. Loading refuses (``CalendarDataError``)
dates outside the declared year, off days or cancellations on a weekend, make-up days on a weekday,
a date in two lists, duplicates, unknown keys, and times not written as quoted ``"HH:MM"``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from importlib import resources
from importlib.abc import Traversable
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class CalendarDataError(ValueError):
    """Calendar data that cannot be used; the message names the file and the problem."""


def _parse_day(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise ValueError(f"expected a date written as YYYY-MM-DD, got {value!r}")


def _parse_hh_mm(value: Any) -> time:
    if isinstance(value, time):
        return value
    # An unquoted 07:30 reaches us as the YAML 1.1 base-60 integer 450: refuse it.
    if not isinstance(value, str) or not (match := _HH_MM.match(value)):
        raise ValueError(f'expected a quoted time "HH:MM", got {value!r}')
    return time(int(match[1]), int(match[2]))


Day = Annotated[date, BeforeValidator(_parse_day)]
ClockTime = Annotated[time, BeforeValidator(_parse_hh_mm)]


def _since_midnight(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


class Session(BaseModel):
    """One working session of a day (buổi làm việc), from ``start`` (inclusive) to ``end``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _starts_before_it_ends(self) -> Session:
        if self.start >= self.end:
            raise ValueError(f"a session must start before it ends: {self.start}–{self.end}")
        return self

    @property
    def opens(self) -> timedelta:
        """The session's start as time since midnight."""
        return _since_midnight(self.start)

    @property
    def closes(self) -> timedelta:
        """The session's end as time since midnight."""
        return _since_midnight(self.end)

    @property
    def length(self) -> timedelta:
        return self.closes - self.opens


DEFAULT_SESSIONS = (Session(start=time(7, 30), end=time(11, 30)), Session(start=time(13, 30), end=time(17, 30)))


class Sessions(BaseModel):
    """The day's sessions: at least one, in order, not overlapping."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sessions: tuple[Session, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_order_without_overlap(self) -> Sessions:
        for earlier, later in zip(self.sessions, self.sessions[1:], strict=False):
            if later.start < earlier.end:
                raise ValueError(f"sessions must be in order and not overlap: {earlier.end} > {later.start}")
        return self


class DecisionEntry(BaseModel):
    """One date of a year's decision, with where it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    day: Day = Field(alias="date")
    source: str = Field(min_length=1)
    verified: bool = False


class YearDecision(BaseModel):
    """A year's government decision on days off and make-up working days (lịch nghỉ lễ, Tết)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int = Field(ge=1995, le=2100)
    days_off: tuple[DecisionEntry, ...] = ()
    make_up_working_days: tuple[DecisionEntry, ...] = ()
    cancelled_days_off: tuple[DecisionEntry, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> YearDecision:
        lists = {
            "days_off": self.days_off,
            "make_up_working_days": self.make_up_working_days,
            "cancelled_days_off": self.cancelled_days_off,
        }
        seen: dict[date, str] = {}
        for name, entries in lists.items():
            for entry in entries:
                day = entry.day
                if day.year != self.year:
                    raise ValueError(f"{name}: {day} is not in the declared year {self.year}")
                weekend = day.weekday() >= 5
                if name == "make_up_working_days" and not weekend:
                    raise ValueError(f"{name}: {day} is a {day:%A}; a make-up working day must be a weekend day")
                if name != "make_up_working_days" and weekend:
                    raise ValueError(f"{name}: {day} is a {day:%A}, already a weekly rest day")
                if day in seen:
                    raise ValueError(f"{day} is listed twice (in {seen[day]} and {name})")
                seen[day] = name
        return self

    def days(self, field: str) -> frozenset[date]:
        """The dates of one of the three lists, by field name."""
        return frozenset(entry.day for entry in getattr(self, field))


class CalendarData(BaseModel):
    """Everything a :class:`~routing.calendar.WorkingCalendar` is built from."""

    model_config = ConfigDict(frozen=True)

    sessions: tuple[Session, ...] = DEFAULT_SESSIONS
    decisions: tuple[YearDecision, ...] = ()


def packaged_data_directory() -> Traversable:
    """The calendar data shipped with the code (``routing/data/calendar/``)."""
    return resources.files("routing") / "data" / "calendar"


def _read_yaml(file: Traversable) -> Any:
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CalendarDataError(f"{file.name}: not valid YAML: {exc}") from exc


def load_calendar_data(directory: Traversable | None = None) -> CalendarData:
    """Read and validate ``sessions.yaml`` and ``decisions/*.yaml`` from ``directory``.

    ``directory`` defaults to the packaged data. A missing ``sessions.yaml`` means the default
    sessions 07:30–11:30 and 13:30–17:30. Each year file must be named ``<year>.yaml`` after the
    year it declares. Raises :class:`CalendarDataError` on any invalid file.
    """
    directory = directory if directory is not None else packaged_data_directory()
    sessions: tuple[Session, ...] = DEFAULT_SESSIONS
    sessions_file = directory / "sessions.yaml"
    if sessions_file.is_file():
        try:
            sessions = Sessions.model_validate(_read_yaml(sessions_file)).sessions
        except ValidationError as exc:
            raise CalendarDataError(f"{sessions_file.name}: {exc}") from exc

    decisions: list[YearDecision] = []
    decisions_dir = directory / "decisions"
    files = [f for f in decisions_dir.iterdir() if not f.name.startswith(".")] if decisions_dir.is_dir() else []
    for file in sorted(files, key=lambda f: f.name):
        if not file.name.endswith(".yaml"):
            raise CalendarDataError(f"decisions/{file.name}: expected only <year>.yaml files")
        try:
            decision = YearDecision.model_validate(_read_yaml(file))
        except ValidationError as exc:
            raise CalendarDataError(f"decisions/{file.name}: {exc}") from exc
        if file.name.rsplit(".", 1)[0] != str(decision.year):
            raise CalendarDataError(
                f"decisions/{file.name}: declares year {decision.year}; name it {decision.year}.yaml"
            )
        decisions.append(decision)
    return CalendarData(sessions=sessions, decisions=tuple(decisions))
