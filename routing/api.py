"""HTTP entry points of routing: the agencies' REST inbox and the dossier's route.

Entry points only translate: requests → application use cases, domain errors → problems
(wrong agency 403, step or dossier in the wrong state 409, unknown 404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from routing.application import RoutedDossierNotFoundError, RoutingApplication
from routing.domain import DossierClosedError, RoutedDossier, RoutingError, StepStateError, WrongAgencyError
from routing.readmodel import InboxQueries
from services.auth import Principal, require_role
from services.eventstore import EventStore
from services.problems import Problem
from shared_events import SubmittedDocument

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
    amount_vnd: int = Field(gt=0)
    reason: str | None = Field(default=None, max_length=2000)


class Apology(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000)
    new_appointment_at: datetime


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


def _problem(exc: Exception, code: str) -> Problem:
    if isinstance(exc, RoutedDossierNotFoundError):
        return Problem(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"Không có hồ sơ mã {code} trong luân chuyển")
    if isinstance(exc, WrongAgencyError):
        return Problem(403, "not-your-step", "Không có quyền", str(exc))
    if isinstance(exc, (StepStateError, DossierClosedError, RoutingError)):
        return Problem(409, "step-state-conflict", "Trạng thái bước xử lý không cho phép", str(exc))
    raise exc


async def _run(request: Request, store: EventStore[RoutingApplication], code: str, use_case: str,
               *args: Any, **kwargs: Any) -> RoutedDossier:
    """Run a use case that changes the dossier, then save it; errors become problems."""
    app = store.app

    def change_and_save() -> RoutedDossier:
        dossier = getattr(app, use_case)(code, *args, **kwargs)
        app.save_dossier(dossier)
        return dossier

    try:
        return await store.call(change_and_save)
    except (RoutedDossierNotFoundError, RoutingError) as exc:
        raise _problem(exc, code) from None


async def _load(store: EventStore[RoutingApplication], code: str) -> RoutedDossier:
    try:
        return await store.call(store.app.dossier, code)
    except RoutedDossierNotFoundError as exc:
        raise _problem(exc, code) from None


def _agency_of(principal: Principal) -> str:
    if not principal.agency_id:
        raise Problem(403, "no-agency", "Không có quyền", "Bên gọi không gắn với cơ quan nào")
    return principal.agency_id


inbox = APIRouter(prefix="/v1/inbox", tags=["agency inbox"])


@inbox.get("", response_model=list[InboxItem])
async def list_inbox(
    request: Request, principal: AgencyActor,
    state: Annotated[list[Literal["open", "claimed", "done", "pending", "sent_back", "closed"]] | None,
                     Query(description="lọc theo trạng thái bước")] = None,
    due_before: Annotated[datetime | None, Query(description="sắp đến hạn: hạn trước thời điểm này")] = None,
    overdue: Annotated[bool, Query(description="chỉ các bước quá hạn")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[InboxItem]:
    """The steps routed to the calling agency (filter by state, due soon, overdue)."""
    queries: InboxQueries = request.app.state.inbox
    rows = await queries.for_agency(_agency_of(principal), states=state, due_before=due_before,
                                    overdue_only=overdue, limit=limit, offset=offset)
    return [InboxItem(**{**r, "due_soon": r["due_soon_raised"], "overdue": r["overdue_raised"]}) for r in rows]


async def _act(request: Request, store: EventStore[RoutingApplication], code: str, step_key: str,
               principal: Principal, action: str, **details: Any) -> RoutedDossierView:
    """The calling agency takes ``action`` on one of its steps, now (by the service's clock)."""
    return to_view(await _run(request, store, code, "act", step_key, _agency_of(principal), action,
                              request.app.state.clock.now(), **details))


_ERRORS = {403: {"description": "The step is routed to another agency"}, 404: {"description": "Unknown dossier"},
           409: {"description": "The step is not open, or the dossier is closed"}}


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
    return to_view(await _run(request, store, code, "apologise", _agency_of(principal), body.reason,
                              body.new_appointment_at, request.app.state.clock.now()))


dossiers = APIRouter(prefix="/v1/routing/dossiers", tags=["routed dossiers"])


def _may_read(principal: Principal, dossier: RoutedDossier) -> bool:
    if principal.party == "auditor":
        return True
    if principal.agency_id is None:
        return False
    return principal.agency_id == dossier.receiving_agency_id or any(
        s.agency_id == principal.agency_id for s in dossier.steps.values())


async def _readable(store: EventStore[RoutingApplication], code: str, principal: Principal) -> RoutedDossier:
    dossier = await _load(store, code)
    if not _may_read(principal, dossier):
        raise Problem(403, "forbidden", "Không có quyền", f"Bên gọi không được xem hồ sơ {code}")
    return dossier


@dossiers.get("/{code}", response_model=RoutedDossierView,
              responses={403: {"description": "Not entitled"}, 404: {"description": "Unknown dossier"}})
async def get_routed_dossier(code: str, principal: Reader, store: Store) -> RoutedDossierView:
    """The dossier's route, steps, due times and appointment date(s)."""
    return to_view(await _readable(store, code, principal))


@dossiers.get("/{code}/control-sheet", response_model=list[ControlSheetRow],
              responses={403: {"description": "Not entitled"}, 404: {"description": "Unknown dossier"}})
async def get_control_sheet(code: str, principal: Reader, store: Store) -> list[ControlSheetRow]:
    """Form 06: every hand-off, its due time, actual time, and early / on time / late."""
    dossier = await _readable(store, code, principal)
    return [ControlSheetRow(**row) for row in dossier.control_sheet()]


async def _desk_run(request: Request, store: EventStore[RoutingApplication], code: str, principal: Principal,
                    use_case: str, *args: Any) -> RoutedDossierView:
    dossier = await _load(store, code)
    if principal.party != "desk" or principal.agency_id != dossier.receiving_agency_id:
        raise Problem(403, "forbidden", "Không có quyền", "Chỉ bộ phận một cửa của cơ quan tiếp nhận được thực hiện")
    return to_view(await _run(request, store, code, use_case, *args))


@dossiers.post("/{code}/supplement", response_model=RoutedDossierView, responses=_ERRORS)
async def provide_supplement(code: str, body: Supplement, request: Request, principal: Desk,
                             store: Store) -> RoutedDossierView:
    """The applicant's supplement, received at the desk: the clock runs again."""
    return await _desk_run(request, store, code, principal, "supplement", request.app.state.clock.now(),
                           [d.model_dump(mode="json") for d in body.documents])


@dossiers.post("/{code}/payment", response_model=RoutedDossierView, responses=_ERRORS)
async def record_payment(code: str, request: Request, principal: Desk, store: Store) -> RoutedDossierView:
    """The applicant paid the fees or taxes asked for: the clock runs again."""
    return await _desk_run(request, store, code, principal, "pay", request.app.state.clock.now())


@dossiers.post("/{code}/handover", response_model=RoutedDossierView, responses=_ERRORS)
async def hand_over_result(code: str, request: Request, principal: Desk, store: Store) -> RoutedDossierView:
    """The desk handed the result to the applicant (status 10)."""
    return await _desk_run(request, store, code, principal, "hand_over", principal.client_id,
                           request.app.state.clock.now())


@dossiers.post("/{code}/stop", response_model=RoutedDossierView, responses=_ERRORS)
async def stop_processing(code: str, body: Reason, request: Request, principal: Desk,
                          store: Store) -> RoutedDossierView:
    """Stop processing with a reason (dừng xử lý, form 05; status 8): every open step closes."""
    return await _desk_run(request, store, code, principal, "stop", body.reason, request.app.state.clock.now())
