"""Keeping the working calendar: the use cases of the operators' calendar log, and moving the due
times of open steps when it changes.

:class:`CalendarKeeping` is part of :class:`routing.application.RoutingApplication`. Its
``calendar`` is the calendar in force *now*, read through the event store (one indexed query for
new changes per use case), so a change saved by any routing process is in force in every other
from its next use case on — it travels as an event, not as a file.

After a change, :func:`reschedule_open_dossiers` recomputes every dossier with an open step whose
dues were computed under an older revision: the dossier records ``DueTimesRecomputed`` with the old
and new values (its history, form 06, the inbox rows in the same transaction). Every inbox row
carries the calendar revision its dossier was saved under, so a dossier changed concurrently with
the old calendar, or left behind by a crash, is found by the next sweep (the timer runs one each
round): nothing is missed, and a dossier already up to date changes nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError

from routing.calendar import VIETNAM, CalendarData, WorkingCalendar
from routing.calendar.changes import CalendarChange, ChangeKind, calendar_in_force, changes_until
from routing.domain.calendar import CALENDAR_ID, CalendarLog
from routing.tracing import Trace, stamp
from services.eventstore import retry_on_conflict
from services.failures import is_infrastructure_error

if TYPE_CHECKING:
    from routing.readmodel import InboxQueries
    from services.clock import Clock
    from services.eventstore import EventStore

log = logging.getLogger(__name__)

RESCHEDULE_BATCH = 200
"""Dossiers read from the inbox rows per query of :func:`reschedule_open_dossiers`."""
MAX_ATTEMPTS_PER_ROUND = 3
"""How often one round recomputes a dossier that keeps being saved under the old calendar meanwhile."""


@dataclass(frozen=True)
class CalendarView:
    """The calendar in force at an instant and the changes that made it."""

    calendar: WorkingCalendar
    changes: list[CalendarChange]
    as_of: datetime | None


class CalendarKeeping:
    """The calendar use cases of the routing application (a part of it; not used alone)."""

    calendar_seed: CalendarData
    conflict_attempts: int

    def _keep_calendar(self, seed: WorkingCalendar) -> None:
        self.calendar_seed = seed.data
        self._calendar_lock = threading.Lock()
        self._calendar_cache: tuple[int, WorkingCalendar, CalendarChange | None] = (
            0, calendar_in_force(self.calendar_seed, ()), None)

    # -- reading --------------------------------------------------------------------------
    def calendar_in_force(self) -> tuple[WorkingCalendar, CalendarChange | None]:
        """The calendar in force now — the seed and every change saved so far, by any process — and
        the latest change (None before the first). One indexed query for changes not yet seen."""
        with self._calendar_lock:
            version = self._calendar_cache[0]
            if list(self.events.get(CALENDAR_ID, gt=version, limit=1)):  # type: ignore[attr-defined]
                book = self.calendar_log()
                assert book is not None
                self._calendar_cache = (book.version, book.in_force(self.calendar_seed), book.changes[-1])
            return self._calendar_cache[1], self._calendar_cache[2]

    @property
    def calendar(self) -> WorkingCalendar:
        """The calendar in force now (see :meth:`calendar_in_force`)."""
        return self.calendar_in_force()[0]

    @property
    def known_calendar_revision(self) -> int:
        """The newest calendar revision this process has read, without reading again."""
        with self._calendar_lock:
            return self._calendar_cache[1].revision

    def calendar_log(self) -> CalendarLog | None:
        """The operators' calendar log (None before the first change)."""
        try:
            return self.repository.get(CALENDAR_ID)  # type: ignore[attr-defined]
        except AggregateNotFoundError:
            return None

    def calendar_as_of(self, at: datetime | None) -> CalendarView:
        """The calendar in force at ``at`` (now when None), replayed from the seed and the changes
        made up to then."""
        book = self.calendar_log()
        changes = changes_until(book.changes, at) if book else []
        return CalendarView(calendar_in_force(self.calendar_seed, changes, revision=len(changes)), changes, at)

    # -- changing -------------------------------------------------------------------------
    def change_calendar(self, kind: ChangeKind, day: date, decision: str, reason: str, *, by: str, at: datetime,
                        trace: Trace = Trace()) -> CalendarChange:
        """Record one operator change (refused with a :class:`~routing.calendar.changes.CalendarChangeError`
        that names the rule); re-applied after a lost race with another change."""
        today = at.astimezone(VIETNAM).date()

        def attempt() -> CalendarChange:
            book = self.calendar_log() or CalendarLog()
            change = book.change(kind, day, decision, reason, by=by, at=at, seed=self.calendar_seed, today=today)
            stamp(book, trace)
            self.save(book)  # type: ignore[attr-defined]
            return change

        return retry_on_conflict(attempt, attempts=self.conflict_attempts)

async def reschedule_open_dossiers(store: EventStore[Any], queries: InboxQueries, clock: Clock) -> int:
    """Recompute every dossier whose open steps were computed under an older calendar revision;
    how many dossiers' due times or appointment moved.

    Each dossier is its own transaction (load → recompute → save, rows with the revision). An
    infrastructure failure ends the round (the caller retries it); any other failure of one
    dossier is logged and the round goes on without it."""
    app = store.app
    assert app is not None
    revision = (await store.call(lambda: app.calendar)).revision
    if revision == 0:
        return 0
    moved, failed, seen = 0, set[str](), dict[str, int]()
    while True:
        codes = [c for c in await queries.stale_for_calendar(revision, limit=RESCHEDULE_BATCH + len(failed))
                 if c not in failed]
        if not codes:
            return moved
        for code in codes:
            seen[code] = seen.get(code, 0) + 1
            if seen[code] > MAX_ATTEMPTS_PER_ROUND:  # changed again each time: the next round takes it
                failed.add(code)
                continue
            try:
                outcome = await store.call(app.reschedule, code, clock.now())
                if outcome.moved:
                    moved += 1
                else:
                    await queries.mark_calendar_revision(code, outcome.version, outcome.calendar_revision)
            except Exception as exc:
                if is_infrastructure_error(exc):
                    raise
                failed.add(code)
                log.exception("rescheduling after a calendar change failed", extra={"dossier_code": code})
