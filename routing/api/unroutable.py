"""The dossiers routing could not route (``/v1/routing/unroutable``), with the reason."""

from __future__ import annotations

from fastapi import APIRouter, Request

from routing.api.deps import Limit, Offset, Reader
from routing.api.schemas import UnroutableDossier
from routing.readmodel import InboxQueries
from services.problems import Problem

router = APIRouter(prefix="/v1/routing/unroutable", tags=["routed dossiers"])


@router.get("", response_model=list[UnroutableDossier],
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
