"""A routed dossier (``/v1/routing/dossiers``): its route and form 06 for those who may see it, and
the receiving desk's commands — supplement received, payment recorded, result handed over, stop — and its
history (every event of its routing log)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from routing.api.deps import (
    COMMAND_RESPONSES,
    READ_RESPONSES,
    Desk,
    ReadableDossier,
    RoutingService,
    Submitter,
    actor,
    trace,
)
from routing.api.schemas import (
    ControlSheetRow,
    HistoryEntry,
    Reason,
    RoutedDossierView,
    Supplement,
    to_history,
    to_view,
)

router = APIRouter(prefix="/v1/routing/dossiers", tags=["routed dossiers"])


@router.get("/{code}", response_model=RoutedDossierView, responses=READ_RESPONSES)
async def get_routed_dossier(dossier: ReadableDossier) -> RoutedDossierView:
    """The dossier's route, steps, due times and appointment date(s)."""
    return to_view(dossier)


@router.get("/{code}/control-sheet", response_model=list[ControlSheetRow], responses=READ_RESPONSES)
async def get_control_sheet(dossier: ReadableDossier) -> list[ControlSheetRow]:
    """Form 06: every hand-off, its due time, actual time, and early / on time / late."""
    return [ControlSheetRow(**row) for row in dossier.control_sheet()]


@router.get("/{code}/history", response_model=list[HistoryEntry], responses=READ_RESPONSES)
async def get_history(dossier: ReadableDossier, routing: RoutingService) -> list[HistoryEntry]:
    """Every event of the dossier's routing log, oldest first: hand-offs, pauses, due times moved by
    a calendar change (old and new values), deadlines, the end."""
    return to_history(await routing.store.call(routing.app.history, dossier.code))


@router.post("/{code}/supplement", response_model=RoutedDossierView, responses=COMMAND_RESPONSES)
async def provide_supplement(code: str, body: Supplement, request: Request, principal: Submitter,
                             routing: RoutingService) -> RoutedDossierView:
    """The applicant's supplement (status 5 → 4), through the receiving desk or the partner that submitted
    the dossier (portal, postal): the documents uploaded first by the caller and referred to by hash
    (422 ``documents-not-uploaded`` otherwise); the clock runs again."""
    return to_view(await routing.run(routing.app.supplement, actor(principal), code, request.app.state.clock.now(),
                             [d.model_dump(mode="json") for d in body.documents], trace()))


@router.post("/{code}/payment", response_model=RoutedDossierView, responses=COMMAND_RESPONSES)
async def record_payment(code: str, request: Request, principal: Desk, routing: RoutingService) -> RoutedDossierView:
    """The applicant paid the fees or taxes asked for: the clock runs again."""
    return to_view(await routing.run(routing.app.pay, actor(principal), code, request.app.state.clock.now(), trace()))


@router.post("/{code}/handover", response_model=RoutedDossierView, responses=COMMAND_RESPONSES)
async def hand_over_result(code: str, request: Request, principal: Desk, routing: RoutingService) -> RoutedDossierView:
    """The desk handed the result to the applicant (status 10)."""
    return to_view(await routing.run(routing.app.hand_over, actor(principal), code, request.app.state.clock.now(),
                             trace()))


@router.post("/{code}/stop", response_model=RoutedDossierView, responses=COMMAND_RESPONSES)
async def stop_processing(code: str, body: Reason, request: Request, principal: Desk,
                          routing: RoutingService) -> RoutedDossierView:
    """Stop processing with a reason (dừng xử lý, form 05; status 8): every open step closes."""
    return to_view(await routing.run(routing.app.stop, actor(principal), code, body.reason,
                             request.app.state.clock.now(), trace()))
