"""The agencies' REST inbox (``/v1/inbox``): the steps routed to the calling agency, and what it
does with one — claim, complete, ask for a supplement or a payment, refuse, send back — and the
late agency's apology."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from routing.api.deps import (
    COMMAND_RESPONSES,
    AgencyActor,
    Limit,
    Offset,
    Routing,
    RoutingService,
    actor,
    agency_of,
    trace,
)
from routing.api.schemas import Apology, Completion, InboxItem, PaymentRequest, Reason, RoutedDossierView, to_view
from routing.application import StepAction
from routing.readmodel import InboxQueries
from services.auth import Principal
from shared_events.scalars import UtcDatetime

router = APIRouter(prefix="/v1/inbox", tags=["agency inbox"])


@router.get("", response_model=list[InboxItem])
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
    rows = await queries.for_agency(agency_of(principal), states=state, due_before=due_before,
                                    overdue_only=overdue, limit=limit, offset=offset)
    return [InboxItem(**{**r, "due_soon": r["due_soon_raised"], "overdue": r["overdue_raised"]}) for r in rows]


async def _act(request: Request, routing: Routing, code: str, step_key: str,
               principal: Principal, action: str, **details: Any) -> RoutedDossierView:
    """The calling agency takes ``action`` on one of its steps, now (by the service's clock)."""
    command = StepAction(code=code, step_key=step_key, agency_id=agency_of(principal), action=action,
                         at=request.app.state.clock.now(), uploaders=(principal.client_id,), **details)
    return to_view(await routing.run(routing.app.act_on_step, actor(principal), command, trace()))


@router.post("/{code}/steps/{step_key}/claim", response_model=RoutedDossierView, responses=COMMAND_RESPONSES)
async def claim_step(code: str, step_key: str, request: Request, principal: AgencyActor,
                     routing: RoutingService) -> RoutedDossierView:
    """Take the step in hand (nhận xử lý)."""
    return await _act(request, routing, code, step_key, principal, "claim")


@router.post("/{code}/steps/{step_key}/complete", response_model=RoutedDossierView, responses=COMMAND_RESPONSES)
async def complete_step(code: str, step_key: str, body: Completion, request: Request, principal: AgencyActor,
                        routing: RoutingService) -> RoutedDossierView:
    """Finish the step with its result documents, each uploaded first by the calling client
    (``PUT /v1/documents/{sha256}``) and referred to by hash (422 ``documents-not-uploaded``
    otherwise); the next steps open, and those that declare this step's results receive them."""
    return await _act(request, routing, code, step_key, principal, "complete",
                      documents=[d.model_dump(mode="json") for d in body.documents])


@router.post("/{code}/steps/{step_key}/supplement-request", response_model=RoutedDossierView,
             responses=COMMAND_RESPONSES)
async def request_supplement(code: str, step_key: str, body: Reason, request: Request, principal: AgencyActor,
                             routing: RoutingService) -> RoutedDossierView:
    """Ask the applicant for more documents (form 02; status 5): the clock stops."""
    return await _act(request, routing, code, step_key, principal, "request_supplement", reason=body.reason)


@router.post("/{code}/steps/{step_key}/payment-request", response_model=RoutedDossierView,
             responses=COMMAND_RESPONSES)
async def request_payment(code: str, step_key: str, body: PaymentRequest, request: Request,
                          principal: AgencyActor, routing: RoutingService) -> RoutedDossierView:
    """Ask the applicant to pay, saying what for (status 6): the clock stops until the payment is recorded."""
    return await _act(request, routing, code, step_key, principal, "request_payment",
                      amount_vnd=body.amount_vnd, reason=body.reason)


@router.post("/{code}/steps/{step_key}/refusal", response_model=RoutedDossierView, responses=COMMAND_RESPONSES)
async def refuse_step(code: str, step_key: str, body: Reason, request: Request, principal: AgencyActor,
                      routing: RoutingService) -> RoutedDossierView:
    """Refuse the dossier with a reason: processing stops (status 8)."""
    return await _act(request, routing, code, step_key, principal, "refuse", reason=body.reason)


@router.post("/{code}/steps/{step_key}/send-back", response_model=RoutedDossierView, responses=COMMAND_RESPONSES)
async def send_back_step(code: str, step_key: str, body: Reason, request: Request, principal: AgencyActor,
                         routing: RoutingService) -> RoutedDossierView:
    """Send the dossier back to the previous step with a reason; that step re-opens."""
    return await _act(request, routing, code, step_key, principal, "send_back", reason=body.reason)


@router.post("/{code}/apology", response_model=RoutedDossierView, responses=COMMAND_RESPONSES)
async def issue_apology(code: str, body: Apology, request: Request, principal: AgencyActor,
                        routing: RoutingService) -> RoutedDossierView:
    """The late agency apologises with a new appointment date (form 04) — once per dossier."""
    agency_of(principal)
    return to_view(await routing.run(routing.app.apologise, actor(principal), code, body.reason,
                             body.new_appointment_at, request.app.state.clock.now(), trace()))
