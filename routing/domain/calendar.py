"""The working-calendar log: every operator change to the calendar, an event-sourced aggregate.

One log per deployment (a fixed id), shared by every routing process through the event store:
a change saved by one instance is in force for all of them from their next use case on. The
packaged YAML is the seed; the calendar in force at an instant is the seed with the changes made
up to that instant (:func:`routing.calendar.changes.calendar_in_force`), so any past calendar can
be replayed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from routing.calendar import CalendarData, WorkingCalendar
from routing.calendar.changes import CalendarChange, ChangeKind, calendar_in_force, changes_until, check_change
from shared_events.contracts.calendar import CALENDAR_KEY

CALENDAR_ID = uuid5(NAMESPACE_URL, f"https://lienthong.gov.vn/{CALENDAR_KEY}")


class CalendarLog(Aggregate):
    """The operators' changes to the working calendar, in the order they were made."""

    class Opened(Aggregate.Created):
        pass

    if TYPE_CHECKING:  # defined by the library from the @event method below; named here for type checkers
        Changed: ClassVar[type[Any]]

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return CALENDAR_ID

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    @property
    def changes(self) -> list[CalendarChange]:
        return [CalendarChange.from_record(r) for r in self.records]

    @property
    def revision(self) -> int:
        """How many changes the log holds (0: the seed alone)."""
        return len(self.records)

    def in_force(self, seed: CalendarData, at: datetime | None = None) -> WorkingCalendar:
        """The calendar in force at ``at`` (now when None): the seed with every change made by then."""
        changes = changes_until(self.changes, at)
        return calendar_in_force(seed, changes, revision=len(changes))

    def change(self, kind: ChangeKind, day: date, decision: str, reason: str, *, by: str, at: datetime,
               seed: CalendarData, today: date) -> CalendarChange:
        """Record one change after :func:`~routing.calendar.changes.check_change` allows it."""
        check_change(self.in_force(seed), seed, kind, day, decision, reason, today)
        self._changed(revision=self.revision + 1, kind=kind.value, day=day.isoformat(), decision=decision,
                      reason=reason.strip(), changed_by=by, changed_at=at)
        return self.changes[-1]

    @event("Changed")
    def _changed(self, revision: int, kind: str, day: str, decision: str, reason: str, changed_by: str,
                 changed_at: datetime) -> None:
        self.records.append({"revision": revision, "kind": kind, "day": day, "decision": decision,
                             "reason": reason, "by": changed_by, "at": changed_at})
