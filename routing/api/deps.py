"""What routing's routers share: the dependencies (store, callers, the readable dossier), the
error table, and how a use case is run, who acts and which correlation a change continues.

:data:`ERRORS` says which problem each application or domain error becomes (the most specific
class listed wins); :meth:`Routing.run` calls a use case on the store's threads inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request

from routing.application import Actor, RoutedDossierNotFoundError, RoutingApplication, Trace
from routing.documents import DocumentsNotUploadedError
from routing.domain import (
    ApologyAlreadyIssuedError,
    ContentNotDeclaredError,
    DossierClosedError,
    InvalidCommandError,
    ResultsNotReadyError,
    RoutedDossier,
    RoutingError,
    StepStateError,
    UnknownStepError,
    WrongAgencyError,
)
from services.access import readable
from services.auth import Principal, require_role
from services.documents.api import DOCUMENT_ERRORS
from services.documents.links import LinkRefusedError
from services.documents.store import CorruptDocumentError, DocumentNotFoundError
from services.eventstore import EventStore
from services.observability import correlation_id_var
from services.problems import CHASSIS_ERRORS, ErrorTable, InvalidParam, Problem, ProblemType

T = TypeVar("T")

MAX_OFFSET = 100_000
"""The deepest page a list may be read from (``offset``); narrow the filter instead."""

def _not_uploaded(exc: Exception) -> list[InvalidParam]:
    assert isinstance(exc, DocumentsNotUploadedError)
    return [InvalidParam(name=p.field, code=p.code, reason=p.message_vi) for p in exc.problems]


def _link_refusal(exc: Exception) -> list[InvalidParam]:
    assert isinstance(exc, LinkRefusedError)
    return [InvalidParam(name="token", code=exc.reason, reason=str(exc))]


ERRORS = CHASSIS_ERRORS | DOCUMENT_ERRORS | ErrorTable({
    RoutedDossierNotFoundError: ProblemType(  # the same words whether unknown or not the caller's
        404, "dossier-not-found", "Không tìm thấy hồ sơ", lambda exc: f"Không có hồ sơ mã {exc} trong luân chuyển"),
    UnknownStepError: ProblemType(404, "step-not-found", "Không tìm thấy bước xử lý"),
    WrongAgencyError: ProblemType(403, "not-your-step", "Bước xử lý thuộc cơ quan khác"),
    InvalidCommandError: ProblemType(422, "invalid-command", "Yêu cầu không hợp lệ"),
    ApologyAlreadyIssuedError: ProblemType(409, "apology-already-issued", "Hồ sơ đã có văn bản xin lỗi"),
    DossierClosedError: ProblemType(409, "dossier-closed", "Hồ sơ đã kết thúc xử lý"),
    StepStateError: ProblemType(409, "step-state-conflict", "Trạng thái bước xử lý không cho phép"),
    RoutingError: ProblemType(409, "step-state-conflict", "Trạng thái bước xử lý không cho phép"),
    ContentNotDeclaredError: ProblemType(403, "not-declared", "Bước xử lý không được xem nội dung này"),
    ResultsNotReadyError: ProblemType(409, "results-not-ready", "Hồ sơ chưa có kết quả"),
    DocumentsNotUploadedError: ProblemType(422, "documents-not-uploaded", "Tệp chưa được tải lên",
                                           detail=lambda exc: "Các tệp phải được bên gọi tải lên trước",
                                           errors=_not_uploaded),
    LinkRefusedError: ProblemType(403, "link-refused", "Liên kết tải tệp không dùng được", errors=_link_refusal),
    CorruptDocumentError: ProblemType(502, "document-corrupt", "Tệp trong kho bị hỏng",
                                      detail=lambda exc: "Nội dung tệp trong kho không còn khớp SHA-256; "
                                                         "sự cố đã được ghi nhận"),
})
"""The problem each application or domain error of routing becomes."""

COMMAND_RESPONSES = ERRORS.responses(*(cls for cls in ERRORS if cls is not RoutingError))
"""What a command may answer besides its view: every problem of the table (``RoutingError``'s row
is ``StepStateError``'s, said once)."""
READ_RESPONSES = ERRORS.responses(RoutedDossierNotFoundError)
CONTENT_ERRORS = (RoutedDossierNotFoundError, UnknownStepError, ContentNotDeclaredError)
"""What reading a step's content may answer: off the route (404), no such step, not the caller's (403)."""
DOWNLOAD_ERRORS = (DocumentNotFoundError, CorruptDocumentError)
LINK_ERRORS = (LinkRefusedError,)
RESULTS_ERRORS = (RoutedDossierNotFoundError, ResultsNotReadyError, ContentNotDeclaredError)
"""What a read of one dossier may answer: unknown, or one the caller may not see (the same 404)."""


@dataclass(frozen=True)
class Routing:
    """The opened routing application and the store whose threads run its use cases."""

    store: EventStore[RoutingApplication]
    app: RoutingApplication

    async def run(self, use_case: Callable[..., T], *args: Any) -> T:
        """Call ``use_case`` (one of :attr:`app`'s methods) on the store's threads; the errors
        :data:`ERRORS` lists become problems."""
        with ERRORS.translating():
            return await self.store.call(use_case, *args)


def _routing(request: Request) -> Routing:
    store: EventStore[RoutingApplication] = request.app.state.store
    if store.app is None:
        raise RuntimeError("the routing store is not open")  # opened in the lifespan, before any request
    return Routing(store, store.app)


RoutingService = Annotated[Routing, Depends(_routing)]
AgencyActor = Annotated[Principal, Depends(require_role("inbox:act"))]
Reader = Annotated[Principal, Depends(require_role("dossier:read"))]
Desk = Annotated[Principal, Depends(require_role("dossier:accept"))]
Submitter = Annotated[Principal, Depends(require_role("dossier:submit"))]

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"bỏ qua bao nhiêu dòng (tối đa {MAX_OFFSET})")]
Limit = Annotated[int, Query(ge=1, le=500)]


def actor(principal: Principal) -> Actor:
    """The caller as the application's use cases know it."""
    return Actor(party=principal.party, agency_id=principal.agency_id, client_id=principal.client_id)


def trace() -> Trace:
    """An HTTP-caused change continues the request's correlation."""
    return Trace(correlation_id=correlation_id_var.get())


def agency_of(principal: Principal) -> str:
    """The calling agency's id; 403 ``no-agency`` for a caller tied to none."""
    if not principal.agency_id:
        raise Problem(403, "no-agency", "Không có quyền", "Bên gọi không gắn với cơ quan nào")
    return principal.agency_id


async def _read(request: Request, principal: Principal, code: str) -> RoutedDossier:
    routing = _routing(request)
    return await routing.store.call(routing.app.readable, actor(principal), code)


def _not_found(code: str) -> Problem:
    return ERRORS.problem(RoutedDossierNotFoundError(code))


ReadableDossier = Annotated[RoutedDossier, Depends(readable(
    _read, reader=require_role("dossier:read"), hidden=(RoutedDossierNotFoundError,), not_found=_not_found))]
"""The dossier at ``{code}`` when the caller may see it: an auditor, the receiving agency, an agency
on its route; 404 otherwise, as for an unknown code."""
