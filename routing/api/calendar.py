"""The working calendar over HTTP: anyone authenticated reads it, operators change it.

``GET /v1/routing/calendar`` is a year's days off and make-up working days in force now or at any
past instant (``as_of``: replayed from the seed and the changes made by then), with the changes.
``POST /v1/routing/calendar/changes`` records one change by a decision (role ``calendar:write``)
and answers once every open step's due time and appointment has moved under it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from routing.api.deps import RoutingService, trace
from routing.calendar import VIETNAM
from routing.calendar.changes import (
    DECISION_NUMBER_PATTERN,
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
)
from routing.calendar_keeping import reschedule_open_dossiers
from routing.readmodel import InboxQueries
from services.auth import Principal, current_principal, require_role
from services.failures import is_infrastructure_error
from services.problems import CHASSIS_ERRORS, ErrorTable, ProblemType
from shared_events.contracts.calendar import DECISION_NUMBER_MAX_LENGTH
from shared_events.scalars import UtcDatetime

CALENDAR_ERRORS = CHASSIS_ERRORS | ErrorTable({
    CalendarChangeError: ProblemType(422, "invalid-calendar-change", "Thay đổi lịch làm việc không hợp lệ"),
    WeekendDayOffError: ProblemType(422, "weekend-day-off", "Ngày cuối tuần vốn là ngày nghỉ"),
    WeekdayMakeUpError: ProblemType(422, "weekday-make-up-day", "Chỉ ngày cuối tuần mới là ngày làm bù"),
    HolidayMakeUpError: ProblemType(422, "holiday-make-up-day", "Không làm bù vào ngày lễ"),
    YearNotCoveredError: ProblemType(422, "year-not-covered", "Năm ngoài phạm vi lịch làm việc"),
    PastDayError: ProblemType(422, "day-in-the-past", "Ngày đã qua"),
    DecisionFormatError: ProblemType(422, "decision-number-format", "Số hiệu văn bản không đúng dạng"),
    DuplicateChangeError: ProblemType(409, "calendar-day-unchanged", "Ngày đã như yêu cầu"),
    NothingToRemoveError: ProblemType(404, "calendar-entry-not-found", "Không có ngày nghỉ hay ngày làm bù để bỏ"),
})
"""What each refused calendar change becomes over HTTP (one row per rule of
:func:`routing.calendar.changes.check_change`)."""


Operator = Annotated[Principal, Depends(require_role("calendar:write"))]
Anyone = Annotated[Principal, Depends(current_principal)]


class CalendarChangeRequest(BaseModel):
    """One change by a government decision."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["add_day_off", "add_working_day", "remove"] = Field(
        description="add_day_off: a weekday off; add_working_day: a weekend day worked (làm bù); "
                    "remove: the day goes back to what its weekday makes it")
    date: date
    decision: str = Field(pattern=DECISION_NUMBER_PATTERN, max_length=DECISION_NUMBER_MAX_LENGTH,
                          description="Số hiệu văn bản", examples=["1234/QĐ-TTg"])
    reason: str = Field(min_length=3, max_length=2000, examples=["Nghỉ bù dịp Quốc khánh"])


class CalendarChangeView(BaseModel):
    revision: int
    kind: str
    date: date
    decision: str
    reason: str
    by: str
    at: datetime


class CalendarChangeAnswer(BaseModel):
    """The change recorded, and how many dossiers' open steps or appointment moved.

    ``rescheduling_complete`` is false when the database failed while moving them: the change
    stands, and the routing timer finishes moving them."""

    change: CalendarChangeView
    dossiers_rescheduled: int
    rescheduling_complete: bool


class CalendarDay(BaseModel):
    date: date
    kind: Literal["day_off", "make_up_working_day"]
    source: str


class CalendarYearView(BaseModel):
    """A year's weekday days off and make-up working days in force at ``as_of`` (now when null)."""

    year: int
    revision: int
    as_of: datetime | None
    days: list[CalendarDay]
    changes: list[CalendarChangeView]


def _view(change: CalendarChange) -> CalendarChangeView:
    return CalendarChangeView(revision=change.revision, kind=change.kind.value, date=change.day,
                              decision=change.decision, reason=change.reason, by=change.by, at=change.at)


router = APIRouter(prefix="/v1/routing/calendar", tags=["working calendar"])


@router.get("", response_model=CalendarYearView)
async def get_calendar(
    request: Request, principal: Anyone, routing: RoutingService,
    year: Annotated[int | None, Query(ge=1995, le=2100, description="năm (mặc định: năm nay)")] = None,
    as_of: Annotated[UtcDatetime | None, Query(description="lịch có hiệu lực tại thời điểm này")] = None,
) -> CalendarYearView:
    """A year's days off and make-up working days, now or as in force at a past instant, with the
    operators' changes made by then."""
    view = await routing.store.call(routing.app.calendar_as_of, as_of)
    year = year or (as_of or request.app.state.clock.now()).astimezone(VIETNAM).year
    days = [CalendarDay(date=d, kind="day_off", source=s) for d, s in view.calendar.days_off(year).items()]
    days += [CalendarDay(date=d, kind="make_up_working_day", source=s)
             for d, s in view.calendar.make_up_days(year).items()]
    return CalendarYearView(year=year, revision=view.calendar.revision, as_of=as_of,
                            days=sorted(days, key=lambda d: d.date), changes=[_view(c) for c in view.changes])


@router.post("/changes", status_code=201, response_model=CalendarChangeAnswer,
             responses=CALENDAR_ERRORS.responses())
async def change_calendar(body: CalendarChangeRequest, request: Request, principal: Operator,
                          routing: RoutingService) -> CalendarChangeAnswer:
    """Add a day off, add a make-up working day, or remove one, citing the decision; every open
    step's due time and each dossier's appointment move at once (old and new kept on the dossier)."""
    clock = request.app.state.clock
    with CALENDAR_ERRORS.translating():
        change = await routing.store.call(routing.app.change_calendar, ChangeKind(body.kind), body.date, body.decision,
                                  body.reason, by=principal.client_id, at=clock.now(),
                                  trace=trace())
    queries: InboxQueries = request.app.state.inbox
    try:
        moved, complete = await reschedule_open_dossiers(routing.store, queries, clock), True
    except Exception as exc:
        if not is_infrastructure_error(exc):
            raise
        moved, complete = 0, False
    return CalendarChangeAnswer(change=_view(change), dossiers_rescheduled=moved, rescheduling_complete=complete)
