"""HTTP entry points of routing: the agencies' REST inbox, the dossier's route, the desk's
commands and the list of dossiers routing could not route.

Entry points only translate: requests → application use cases (:mod:`routing.application`),
errors → problems (:data:`PROBLEMS`). Who may act is checked before any state: an unknown
dossier and a dossier the caller has no part in both answer 404, so existence is not revealed;
an agency acting on another agency's step of a dossier it works on gets 403; a step or
dossier in the wrong state, or a write that kept losing a race, 409; an argument that can never
be valid, 422. Every integer and instant a request carries is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from routing.application import (
    Actor,
    RoutedDossierNotFoundError,
    RoutingApplication,
    StepAction,
    Trace,
)
from routing.domain import (
    MAX_AMOUNT_VND,
    ApologyAlreadyIssuedError,
    DossierClosedError,
    InvalidCommandError,
    RoutedDossier,
    RoutingError,
    StepStateError,
    UnknownStepError,
    WrongAgencyError,
)
from routing.readmodel import InboxQueries
from services.auth import Principal, require_role
from services.eventstore import ConcurrentChangeError, EventStore
from services.observability import correlation_id_var
from services.problems import Problem
from shared_events import SubmittedDocument
from shared_events.scalars import UtcDatetime

MAX_OFFSET = 100_000
"""The deepest page a list may be read from (``offset``); narrow the filter instead."""

def _store(request: Request) -> EventStore[RoutingApplication]:
    return request.app.state.store


Store = Annotated[EventStore[RoutingApplication], Depends(_store)]
AgencyActor = Annotated[Principal, Depends(require_role("inbox:act"))]
Reader = Annotated[Principal, Depends(require_role("dossier:read"))]
Desk = Annotated[Principal, Depends(require_role("dossier:accept"))]


class InboxItem(BaseModel):
    """One step routed to the calling agency."""

    dossier_code: str
    step_key: str
    step_name: str
    procedure_code: str
    state: str
    opening: int
    opened_at: datetime | None
    due_at: datetime | None
    completed_at: datetime | None
    timeliness: str | None
    due_soon: bool
    overdue: bool
    national_status: int
    appointment_at: datetime | None


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[SubmittedDocument] = Field(default=[], max_length=50, description="Kết quả giải quyết")


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000)


class PaymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_vnd: int = Field(gt=0, le=MAX_AMOUNT_VND)
    reason: str | None = Field(default=None, max_length=2000)


class Apology(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000)
    new_appointment_at: UtcDatetime


class Supplement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[SubmittedDocument] = Field(min_length=1, max_length=50)


class StepView(BaseModel):
    key: str
    name: str
    role: str
    agency_id: str | None
    integration: str | None
    state: str
    opening: int
    opened_at: datetime | None
    due_at: datetime | None
    completed_at: datetime | None
    timeliness: str | None
    overdue: bool


class RoutedDossierView(BaseModel):
    """The dossier's route: status, appointment date(s), and every step."""

    code: str
    procedure_code: str
    route_version: str | None
    national_status: int
    received_at: datetime
    processing_started_at: datetime | None
    appointment_at: datetime | None
    original_appointment_at: datetime | None
    new_appointment_at: datetime | None
    steps: list[StepView]


class ControlSheetRow(BaseModel):
    """One hand-off of form 06 (phiếu kiểm soát quá trình giải quyết hồ sơ)."""

    step_key: str
    name: str
    agency_id: str
    opening: int
    outcome: str | None = None
    opened_at: datetime | None
    due_at: datetime | None
    completed_at: datetime | None
    timeliness: str | None


def to_view(dossier: RoutedDossier) -> RoutedDossierView:
    return RoutedDossierView(
        code=dossier.code, procedure_code=dossier.procedure_code, route_version=dossier.route_version,
        national_status=dossier.national_status, received_at=dossier.received_at,
        processing_started_at=dossier.processing_started_at, appointment_at=dossier.appointment_at,
        original_appointment_at=dossier.original_appointment_at, new_appointment_at=dossier.new_appointment_at,
        steps=[StepView(key=s.key, name=s.name, role=s.role, agency_id=s.agency_id, integration=s.integration,
                        state=s.state, opening=s.openings, opened_at=s.opened_at, due_at=s.due_at,
                        completed_at=s.completed_at, timeliness=s.timeliness, overdue=s.overdue_raised)
               for s in dossier.steps.values()])


PROBLEMS: dict[type[Exception], tuple[int, str, str]] = {
    RoutedDossierNotFoundError: (404, "dossier-not-found", "Không tìm thấy hồ sơ"),
    UnknownStepError: (404, "step-not-found", "Không tìm thấy bước xử lý"),
    WrongAgencyError: (403, "not-your-step", "Bước xử lý thuộc cơ quan khác"),
    InvalidCommandError: (422, "invalid-command", "Yêu cầu không hợp lệ"),
    ApologyAlreadyIssuedError: (409, "apology-already-issued", "Hồ sơ đã có văn bản xin lỗi"),
    DossierClosedError: (409, "dossier-closed", "Hồ sơ đã kết thúc xử lý"),
    StepStateError: (409, "step-state-conflict", "Trạng thái bước xử lý không cho phép"),
    RoutingError: (409, "step-state-conflict", "Trạng thái bước xử lý không cho phép"),
    ConcurrentChangeError: (409, "concurrent-change", "Hồ sơ đang được thay đổi đồng thời, vui lòng thử lại"),
}
"""The problem each application or domain error becomes (the most specific class listed wins)."""


def _problem(exc: Exception, code: str) -> Problem:
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            status, slug, title = PROBLEMS[cls]
            if cls is RoutedDossierNotFoundError:  # the same words whether unknown or not the caller's
                return Problem(status, slug, title, f"Không có hồ sơ mã {code} trong luân chuyển")
            return Problem(status, slug, title, str(exc))
    raise exc


async def _run(store: EventStore[RoutingApplication], code: str, use_case: Callable[..., RoutedDossier],
               *args: Any) -> RoutedDossier:
    """Call an application use case on the store's threads; its errors become problems."""
    try:
        return await store.call(use_case, *args)
    except tuple(PROBLEMS) as exc:
        raise _problem(exc, code) from None


def _actor(principal: Principal) -> Actor:
    return Actor(party=principal.party, agency_id=principal.agency_id, client_id=principal.client_id)


def _trace() -> Trace:
    """An HTTP-caused change continues the request's correlation."""
    return Trace(correlation_id=correlation_id_var.get())


def _agency_of(principal: Principal) -> str:
    if not principal.agency_id:
        raise Problem(403, "no-agency", "Không có quyền", "Bên gọi không gắn với cơ quan nào")
    return principal.agency_id


Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"bỏ qua bao nhiêu dòng (tối đa {MAX_OFFSET})")]
Limit = Annotated[int, Query(ge=1, le=500)]


inbox = APIRouter(prefix="/v1/inbox", tags=["agency inbox"])


@inbox.get("", response_model=list[InboxItem])
async def list_inbox(
    request: Request, principal: AgencyActor,
    state: Annotated[list[Literal["open", "claimed", "done", "pending", "sent_back", "closed"]] | None,
                     Query(description="lọc theo trạng thái bước")] = None,
    due_before: Annotated[UtcDatetime | None, Query(description="sắp đến hạn: hạn trước thời điểm này")] = None,
    overdue: Annotated[bool, Query(description="chỉ các bước quá hạn")] = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[InboxItem]:
    """The steps routed to the calling agency (filter by state, due soon, overdue)."""
    queries: InboxQueries = request.app.state.inbox
    rows = await queries.for_agency(_agency_of(principal), states=state, due_before=due_before,
                                    overdue_only=overdue, limit=limit, offset=offset)
    return [InboxItem(**{**r, "due_soon": r["due_soon_raised"], "overdue": r["overdue_raised"]}) for r in rows]


async def _act(request: Request, store: EventStore[RoutingApplication], code: str, step_key: str,
               principal: Principal, action: str, **details: Any) -> RoutedDossierView:
    """The calling agency takes ``action`` on one of its steps, now (by the service's clock)."""
    command = StepAction(code=code, step_key=step_key, agency_id=_agency_of(principal), action=action,
                         at=request.app.state.clock.now(), **details)
    return to_view(await _run(store, code, store.app.act_on_step, _actor(principal), command, _trace()))


_ERRORS = {403: {"description": "The step is routed to another agency"},
           404: {"description": "Unknown dossier, or one the caller has no part in"},
           409: {"description": "The step is not open, the dossier is closed, or a concurrent change won"},
           422: {"description": "An argument that can never be valid here"}}


@inbox.post("/{code}/steps/{step_key}/claim", response_model=RoutedDossierView, responses=_ERRORS)
async def claim_step(code: str, step_key: str, request: Request, principal: AgencyActor,
                     store: Store) -> RoutedDossierView:
    """Take the step in hand (nhận xử lý)."""
    return await _act(request, store, code, step_key, principal, "claim")


@inbox.post("/{code}/steps/{step_key}/complete", response_model=RoutedDossierView, responses=_ERRORS)
async def complete_step(code: str, step_key: str, body: Completion, request: Request, principal: AgencyActor,
                        store: Store) -> RoutedDossierView:
    """Finish the step with the result documents' metadata and checksums; the next steps open."""
    return await _act(request, store, code, step_key, principal, "complete",
                      documents=[d.model_dump(mode="json") for d in body.documents])


@inbox.post("/{code}/steps/{step_key}/supplement-request", response_model=RoutedDossierView, responses=_ERRORS)
async def request_supplement(code: str, step_key: str, body: Reason, request: Request, principal: AgencyActor,
                             store: Store) -> RoutedDossierView:
    """Ask the applicant for more documents (form 02; status 5): the clock stops."""
    return await _act(request, store, code, step_key, principal, "request_supplement", reason=body.reason)


@inbox.post("/{code}/steps/{step_key}/payment-request", response_model=RoutedDossierView, responses=_ERRORS)
async def request_payment(code: str, step_key: str, body: PaymentRequest, request: Request,
                          principal: AgencyActor, store: Store) -> RoutedDossierView:
    """Ask the applicant to pay (status 6): the clock stops until the payment is recorded."""
    return await _act(request, store, code, step_key, principal, "request_payment",
                      amount_vnd=body.amount_vnd, reason=body.reason)


@inbox.post("/{code}/steps/{step_key}/refusal", response_model=RoutedDossierView, responses=_ERRORS)
async def refuse_step(code: str, step_key: str, body: Reason, request: Request, principal: AgencyActor,
                      store: Store) -> RoutedDossierView:
    """Refuse the dossier with a reason: processing stops (status 8)."""
    return await _act(request, store, code, step_key, principal, "refuse", reason=body.reason)


@inbox.post("/{code}/steps/{step_key}/send-back", response_model=RoutedDossierView, responses=_ERRORS)
async def send_back_step(code: str, step_key: str, body: Reason, request: Request, principal: AgencyActor,
                         store: Store) -> RoutedDossierView:
    """Send the dossier back to the previous step with a reason; that step re-opens."""
    return await _act(request, store, code, step_key, principal, "send_back", reason=body.reason)


@inbox.post("/{code}/apology", response_model=RoutedDossierView, responses=_ERRORS)
async def issue_apology(code: str, body: Apology, request: Request, principal: AgencyActor,
                        store: Store) -> RoutedDossierView:
    """The late agency apologises with a new appointment date (form 04) — once per dossier."""
    _agency_of(principal)
    return to_view(await _run(store, code, store.app.apologise, _actor(principal), code, body.reason,
                              body.new_appointment_at, request.app.state.clock.now(), _trace()))


dossiers = APIRouter(prefix="/v1/routing/dossiers", tags=["routed dossiers"])


async def _readable(store: EventStore[RoutingApplication], code: str, principal: Principal) -> RoutedDossier:
    return await _run(store, code, store.app.readable, _actor(principal), code)


@dossiers.get("/{code}", response_model=RoutedDossierView,
              responses={404: {"description": "Unknown dossier, or one the caller may not see"}})
async def get_routed_dossier(code: str, principal: Reader, store: Store) -> RoutedDossierView:
    """The dossier's route, steps, due times and appointment date(s)."""
    return to_view(await _readable(store, code, principal))


@dossiers.get("/{code}/control-sheet", response_model=list[ControlSheetRow],
              responses={404: {"description": "Unknown dossier, or one the caller may not see"}})
async def get_control_sheet(code: str, principal: Reader, store: Store) -> list[ControlSheetRow]:
    """Form 06: every hand-off, its due time, actual time, and early / on time / late."""
    dossier = await _readable(store, code, principal)
    return [ControlSheetRow(**row) for row in dossier.control_sheet()]


@dossiers.post("/{code}/supplement", response_model=RoutedDossierView, responses=_ERRORS)
async def provide_supplement(code: str, body: Supplement, request: Request, principal: Desk,
                             store: Store) -> RoutedDossierView:
    """The applicant's supplement, received at the desk: the clock runs again."""
    return to_view(await _run(store, code, store.app.supplement, _actor(principal), code,
                              request.app.state.clock.now(), [d.model_dump(mode="json") for d in body.documents],
                              _trace()))


@dossiers.post("/{code}/payment", response_model=RoutedDossierView, responses=_ERRORS)
async def record_payment(code: str, request: Request, principal: Desk, store: Store) -> RoutedDossierView:
    """The applicant paid the fees or taxes asked for: the clock runs again."""
    return to_view(await _run(store, code, store.app.pay, _actor(principal), code, request.app.state.clock.now(),
                              _trace()))


@dossiers.post("/{code}/handover", response_model=RoutedDossierView, responses=_ERRORS)
async def hand_over_result(code: str, request: Request, principal: Desk, store: Store) -> RoutedDossierView:
    """The desk handed the result to the applicant (status 10)."""
    return to_view(await _run(store, code, store.app.hand_over, _actor(principal), code,
                              request.app.state.clock.now(), _trace()))


@dossiers.post("/{code}/stop", response_model=RoutedDossierView, responses=_ERRORS)
async def stop_processing(code: str, body: Reason, request: Request, principal: Desk,
                          store: Store) -> RoutedDossierView:
    """Stop processing with a reason (dừng xử lý, form 05; status 8): every open step closes."""
    return to_view(await _run(store, code, store.app.stop, _actor(principal), code, body.reason,
                              request.app.state.clock.now(), _trace()))


class UnroutableDossier(BaseModel):
    """A dossier routing could not route (no route in force on the day of receipt, an unknown
    locality, no agency for a role), with the reason; it keeps its status until someone acts."""

    dossier_code: str
    receiving_agency_id: str
    procedure_code: str
    locality_code: str
    received_at: datetime
    reason: str
    detected_at: datetime
    national_status: int


unroutable = APIRouter(prefix="/v1/routing/unroutable", tags=["routed dossiers"])


@unroutable.get("", response_model=list[UnroutableDossier],
                responses={403: {"description": "Only desks (their agency's) and auditors (all) see the list"}})
async def list_unroutable(request: Request, principal: Reader, limit: Limit = 100,
                          offset: Offset = 0) -> list[UnroutableDossier]:
    """Dossiers routing could not route, still open, with the reason: a desk sees those its agency
    received, an auditor all."""
    if principal.party == "auditor":
        receiving = None
    elif principal.party == "desk" and principal.agency_id:
        receiving = principal.agency_id
    else:
        raise Problem(403, "forbidden", "Không có quyền",
                      "Chỉ bộ phận một cửa và kiểm toán viên được xem hồ sơ không luân chuyển được")
    queries: InboxQueries = request.app.state.inbox
    rows = await queries.unroutable(receiving_agency_id=receiving, limit=limit, offset=offset)
    return [UnroutableDossier(**row) for row in rows]
