"""One rescheduling round over the inbox rows: it ends, whatever the rows say."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from routing.application import RoutingApplication
from routing.calendar.changes import ChangeKind
from routing.calendar_keeping import MAX_ATTEMPTS_PER_ROUND, reschedule_open_dossiers
from services.clock import FixedClock
from tests.support.builders import vn

NOW = vn(3, 1, 10, year=2027)


class InMemoryStore:
    def __init__(self, app: RoutingApplication) -> None:
        self.app = app

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)


class RowsThatNeverCatchUp:
    """Inbox rows that keep naming the same dossiers as stale (a mark that never applies)."""

    def __init__(self, codes: list[str]) -> None:
        self.codes, self.marks = codes, 0

    async def stale_for_calendar(self, revision: int, limit: int = 1000) -> list[str]:
        return self.codes[:limit]

    async def mark_calendar_revision(self, code: str, version: int, revision: int) -> None:
        self.marks += 1


def an_app_with_a_change() -> tuple[RoutingApplication, str]:
    app = RoutingApplication()
    code = "000.00.01.H40-270301-0001"
    dossier = app.receive(code=code, procedure_code="1.001193", locality_code="16690",
                          receiving_agency_id="000.00.01.H40", channel="desk", result_delivery_method="desk",
                          options=[], received_at=vn(3, 1, 9, year=2027), national_status=2)
    assert dossier is not None
    app.save_dossier(dossier)
    app.change_calendar(ChangeKind.ADD_DAY_OFF, date(2027, 3, 2), "1234/QĐ-TTg", "Nghỉ", by="operator", at=NOW)
    return app, code


async def test_a_round_ends_even_when_the_rows_keep_naming_a_dossier_as_stale() -> None:
    app, code = an_app_with_a_change()
    rows = RowsThatNeverCatchUp([code])

    moved = await reschedule_open_dossiers(InMemoryStore(app), rows, FixedClock(NOW))  # type: ignore[arg-type]

    assert moved == 1  # moved once; then nothing moves, and the round gives up on it
    assert rows.marks == MAX_ATTEMPTS_PER_ROUND - 1


async def test_a_round_before_any_change_reads_nothing() -> None:
    app = RoutingApplication()
    rows = RowsThatNeverCatchUp(["000.00.01.H40-270301-0002"])

    assert await reschedule_open_dossiers(InMemoryStore(app), rows, FixedClock(datetime.now(UTC))) == 0  # type: ignore[arg-type]
    assert rows.marks == 0
