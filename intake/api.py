"""HTTP entry points of intake: translate requests ↔ use cases, domain errors ↔ problems.

The use cases are :class:`intake.application.DossierIntake`'s; this module only parses,
normalises and bounds what the caller sent, and turns every error into problem+json:
403 ``forbidden`` (not entitled — including a desk submitting in another agency's name),
404 ``dossier-not-found``, 409 ``dossier-state-conflict`` (the dossier's status does not allow
it, also after re-applying the command past a concurrent change) and ``concurrent-change``,
413 ``dossier-too-large``, 422 ``validation-failed`` (a document not uploaded by the caller
among them) / ``idempotency-key-reused`` / ``invalid-header``.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from intake.application import (
    DossierIntake,
    DossierNotFoundError,
    DossierView,
    IdempotencyKeyReusedError,
    NotEntitledError,
    SubmissionRejectedError,
    SubmitDossier,
)
from intake.domain import Dossier, DossierStateError
from services.access import readable
from services.auth import Principal, require_role
from services.documents.api import DOCUMENT_ERRORS
from services.documents.uploads import DossierTooLargeError
from services.eventstore import ConcurrentChangeError
from services.observability import correlation_id_var, dossier_code_var
from services.problems import CHASSIS_ERRORS, ErrorTable, InvalidParam, Problem, ProblemType
from shared_events import Applicant, NationalStatus, ResultDelivery, SubmittedDocument
from shared_events.contracts.values import PickupRequest
from shared_events.scalars import AGENCY_ID_PATTERN, LOCALITY_CODE_PATTERN

IDEMPOTENCY_KEY_MAX_LENGTH = 255
"""Code points of an ``Idempotency-Key`` after NFC normalisation."""
_IDEMPOTENCY_KEY_MAX_BYTES = 4 * 3 * IDEMPOTENCY_KEY_MAX_LENGTH  # room for the NFD form of a maximal key
DOSSIER_CODE_MAX_LENGTH = 64


class DossierCreate(BaseModel):
    """A dossier as submitted at the desk, online or by post."""

    model_config = ConfigDict(extra="forbid")

    procedure_code: str = Field(pattern=r"^[0-9]\.[0-9]{6}$", examples=["2.000635"])
    applicant: Applicant
    documents: list[SubmittedDocument] = Field(min_length=1, max_length=100)
    channel: str = Field(pattern=r"^(desk|online|post)$")
    result_delivery: ResultDelivery
    locality_code: str = Field(pattern=LOCALITY_CODE_PATTERN, description="Mã đơn vị hành chính nơi cư trú (cấp xã)",
                               examples=["16690"])
    receiving_agency_id: str = Field(pattern=AGENCY_ID_PATTERN, examples=["000.00.01.H40"],
                                     description="Bộ phận tiếp nhận; một quầy chỉ nộp cho chính cơ quan mình")
    options: list[str] = Field(default=[], max_length=10,
                               description="Thủ tục liên thông tùy chọn người nộp tham gia, vd. funeral_allowance")
    pickup: PickupRequest | None = Field(
        default=None, description="Thu gom hồ sơ tại nhà qua dịch vụ bưu chính công ích: chỉ khi nộp qua Cổng "
                                  "dịch vụ công, cho thủ tục tiếp nhận hồ sơ qua bưu chính")


class HistoryEntry(BaseModel):
    event: str
    at: datetime
    national_status: int | None = None
    by: str | None = None
    reason: str | None = None


WithdrawalAnswer = Literal["requested", "withdrawn", "declined"]


class PickupPublic(BaseModel):
    """The pickup at home the applicant asked for; ``arrived_at`` (with the carrier and its tracking
    number) once the carrier handed the papers to the desk."""

    address: str
    unit_code: str
    phone: str | None = None
    arrived_at: datetime | None = None
    partner_id: str | None = None
    tracking_number: str | None = None


class DossierPublic(BaseModel):
    """A dossier's current state, national status and history.

    ``withdrawal`` is absent until the applicant asks to withdraw; then ``requested`` until
    routing decides, and ``withdrawn`` (status 7) or ``declined``."""

    code: str
    procedure_code: str
    procedure_version: str
    national_status: int
    national_status_label: str
    channel: str
    receiving_agency_id: str
    locality_code: str
    received_at: datetime
    applicant: dict[str, Any]
    documents: list[dict[str, Any]]
    result_delivery: dict[str, Any]
    options: list[str] = []
    pickup: PickupPublic | None = None
    withdrawal: WithdrawalAnswer | None = None
    history: list[HistoryEntry] = []


class Refusal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000, description="Lý do từ chối (mẫu 03)")


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000, description="Lý do rút hồ sơ")


def _intake(request: Request) -> DossierIntake:
    return request.app.state.intake


def idempotency_key(
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=_IDEMPOTENCY_KEY_MAX_BYTES)] = None,
) -> str | None:
    """The ``Idempotency-Key`` header as UTF-8 text in NFC (so the NFC and NFD forms of one key are
    one key), at most :data:`IDEMPOTENCY_KEY_MAX_LENGTH` code points, without control characters."""
    if idempotency_key is None:
        return None
    try:
        text = idempotency_key.encode("latin-1").decode("utf-8")  # HTTP hands header bytes over as latin-1
    except UnicodeError:
        raise _bad_key("Khóa Idempotency-Key phải là chuỗi UTF-8") from None
    key = unicodedata.normalize("NFC", text)
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise _bad_key(f"Khóa Idempotency-Key dài tối đa {IDEMPOTENCY_KEY_MAX_LENGTH} ký tự")
    if not key.strip() or any(unicodedata.category(c) in ("Cc", "Cf") for c in key):
        raise _bad_key("Khóa Idempotency-Key không được rỗng hoặc chứa ký tự điều khiển")
    return key


def _bad_key(reason: str) -> Problem:
    return Problem(422, "invalid-header", "Tiêu đề yêu cầu không hợp lệ", reason,
                   errors=[InvalidParam(name="Idempotency-Key", code="idempotency_key_invalid", reason=reason)])


Intake = Annotated[DossierIntake, Depends(_intake)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
Code = Annotated[str, Path(min_length=1, max_length=DOSSIER_CODE_MAX_LENGTH, description="Mã hồ sơ")]
Submitter = Annotated[Principal, Depends(require_role("dossier:submit"))]
Acceptor = Annotated[Principal, Depends(require_role("dossier:accept"))]


def _result_delivery(body: DossierCreate) -> dict[str, Any]:
    """The delivery as stored: ``unit_code`` only when given (dossiers stored before it existed have none)."""
    delivery = body.result_delivery.model_dump(mode="json")
    if delivery.get("unit_code") is None:
        delivery.pop("unit_code", None)
    return delivery


def fingerprint(body: DossierCreate) -> str:
    """The request's content as a SHA-256 digest. Fields added later (``pickup``,
    ``result_delivery.unit_code``) count only when given, so a retry of a request made before they
    existed keeps its fingerprint."""
    content = body.model_dump(mode="json", exclude={"pickup"} if body.pickup is None else None)
    content["result_delivery"] = _result_delivery(body)
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def to_command(body: DossierCreate, key: str | None) -> SubmitDossier:
    return SubmitDossier(
        procedure_code=body.procedure_code, applicant=body.applicant.model_dump(mode="json"),
        documents=[d.model_dump(mode="json") for d in body.documents], channel=body.channel,
        result_delivery=_result_delivery(body), locality_code=body.locality_code,
        receiving_agency_id=body.receiving_agency_id, options=list(body.options),
        fingerprint=fingerprint(body), idempotency_key=key,
        pickup=None if body.pickup is None else body.pickup.model_dump(mode="json"))


_HISTORY: dict[type, Callable[[Any], dict[str, Any]]] = {
    Dossier.Submitted: lambda e: {"national_status": e.national_status, "by": e.submitted_by},
    Dossier.Accepted: lambda e: {"national_status": NationalStatus.ACCEPTED, "by": e.accepted_by},
    Dossier.RefusedAtIntake: lambda e: {"national_status": NationalStatus.REFUSED_AT_INTAKE, "by": e.refused_by,
                                        "reason": e.reason},
    Dossier.WithdrawalRequested: lambda e: {"by": e.requested_by, "reason": e.reason},
    Dossier.Withdrawn: lambda e: {"national_status": NationalStatus.WITHDRAWN, "by": e.withdrawn_by,
                                  "reason": e.reason},
    Dossier.StatusChanged: lambda e: {"national_status": e.national_status, "by": e.agency_id, "reason": e.reason},
    Dossier.WithdrawalDeclined: lambda e: {"reason": e.reason},
    Dossier.ArrivedByPost: lambda e: {"by": f"postal:{e.partner_id}"},
}


def _history_entry(e: Any) -> HistoryEntry:
    details = _HISTORY.get(type(e), lambda _: {})(e)
    return HistoryEntry(event=type(e).__name__, at=e.timestamp, **details)


def _pickup(d: Dossier) -> PickupPublic | None:
    if d.pickup is None:
        return None
    arrival = d.arrival or {}
    return PickupPublic(**d.pickup, arrived_at=arrival.get("handed_at"), partner_id=arrival.get("partner_id"),
                        tracking_number=arrival.get("tracking_number"))


def to_public(view: DossierView) -> DossierPublic:
    d = view.dossier
    return DossierPublic(
        code=d.code, procedure_code=d.procedure_code, procedure_version=d.procedure_version,
        national_status=d.national_status, national_status_label=NationalStatus(d.national_status).label,
        channel=d.channel, receiving_agency_id=d.receiving_agency_id, locality_code=d.locality_code,
        received_at=d.received_at, applicant=d.applicant, documents=d.documents, result_delivery=d.result_delivery,
        options=d.options, pickup=_pickup(d), withdrawal=d.withdrawal,
        history=[_history_entry(e) for e in view.history],
    )


def _invalid_fields(exc: Exception) -> list[InvalidParam]:
    assert isinstance(exc, SubmissionRejectedError)
    return [InvalidParam(name=p.field, code=p.code, reason=p.message_vi) for p in exc.problems]


INTAKE_ERRORS = CHASSIS_ERRORS | ErrorTable({
    SubmissionRejectedError: ProblemType(
        422, "validation-failed", "Hồ sơ không hợp lệ",
        detail=lambda exc: f"{len(_invalid_fields(exc))} lỗi trong hồ sơ", errors=_invalid_fields),
    NotEntitledError: ProblemType(
        403, "forbidden", "Không có quyền",
        detail=lambda exc: "Bên gọi không được thực hiện thao tác này với hồ sơ hoặc thay mặt cơ quan khác"),
    DossierNotFoundError: ProblemType(
        404, "dossier-not-found", "Không tìm thấy hồ sơ", detail=lambda exc: f"Không có hồ sơ mã {exc}"),
    IdempotencyKeyReusedError: ProblemType(
        422, "idempotency-key-reused", "Khóa Idempotency-Key đã dùng cho yêu cầu khác",
        detail=lambda exc: "Khóa này đã được dùng cho một hồ sơ có nội dung khác"),
    DossierStateError: ProblemType(409, "dossier-state-conflict", "Trạng thái hồ sơ không cho phép"),
    DossierTooLargeError: DOCUMENT_ERRORS[DossierTooLargeError],
})
"""What each error of intake's use cases becomes over HTTP (the chassis' ``concurrent-change`` included)."""


def _located(view: DossierView, response: Response) -> DossierPublic:
    dossier_code_var.set(view.dossier.code)
    response.headers["Location"] = f"/v1/dossiers/{view.dossier.code}"
    if view.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return to_public(view)


router = APIRouter(prefix="/v1/dossiers", tags=["dossiers"])


@router.post(
    "", status_code=201, response_model=DossierPublic,
    responses=INTAKE_ERRORS.responses(NotEntitledError, SubmissionRejectedError, IdempotencyKeyReusedError,
                                      DossierTooLargeError),
)
async def submit_dossier(body: DossierCreate, response: Response, principal: Submitter, intake: Intake,
                         key: IdempotencyKey) -> DossierPublic:
    """Receive a dossier (tiếp nhận hồ sơ): 201 with its code and national status 1 or 2.

    Every document is uploaded first (``PUT /v1/documents/{sha256}``) by the same client; a
    reference to a document it did not upload, or whose size or media type differs from what was
    stored, is a 422 naming ``documents[i]``; documents adding up to more than the per-dossier
    limit, a 413 ``dossier-too-large``.

    Refused with 422 naming the field: anything the procedure's catalogue entry does not allow,
    a ``pickup`` from anyone but the citizen's portal or for a procedure that takes no dossier by
    post (``pickup_not_offered``), a ``locality_code``, ``pickup.unit_code`` or
    ``result_delivery.unit_code`` that is not a commune-level unit in force on the day of receipt, a
    ``receiving_agency_id`` that is not a one-stop desk in force that day, a procedure with no
    route in force that day. A desk submits only for its own agency (403 otherwise).

    With an ``Idempotency-Key`` header (UTF-8, compared after NFC normalisation) a retried
    request returns the first result (header ``Idempotent-Replayed: true``) instead of creating
    a second dossier; reusing a key for a different request is a 422.
    """
    with INTAKE_ERRORS.translating():
        view = await intake.submit(to_command(body, key), principal, correlation_id_var.get())
    return _located(view, response)


async def _read(request: Request, principal: Principal, code: str) -> DossierView:
    return await _intake(request).read(code, principal)


ReadableDossier = Annotated[DossierView, Depends(readable(
    _read, reader=require_role("dossier:read"), hidden=(DossierNotFoundError,),
    not_found=lambda code: INTAKE_ERRORS.problem(DossierNotFoundError(code)),
    code=Path(min_length=1, max_length=DOSSIER_CODE_MAX_LENGTH, description="Mã hồ sơ"),
))]
"""The dossier of the path's code and its history, for a caller entitled to read it (404 otherwise)."""


@router.get("/{code}", response_model=DossierPublic,
            responses=INTAKE_ERRORS.responses(DossierNotFoundError))
async def get_dossier(view: ReadableDossier) -> DossierPublic:
    """A dossier's current state, national status code, withdrawal state and history."""
    return to_public(view)


@router.post("/{code}/acceptance", response_model=DossierPublic,
             responses=INTAKE_ERRORS.responses(NotEntitledError, DossierNotFoundError, DossierStateError,
                                               ConcurrentChangeError))
async def accept_dossier(code: Code, principal: Acceptor, intake: Intake) -> DossierPublic:
    """Accept an online or postal dossier after checking it (status 1 → 2)."""
    with INTAKE_ERRORS.translating():
        return to_public(await intake.accept(code, principal, correlation_id_var.get()))


@router.post("/{code}/refusal", response_model=DossierPublic,
             responses=INTAKE_ERRORS.responses(NotEntitledError, DossierNotFoundError, DossierStateError,
                                               ConcurrentChangeError))
async def refuse_dossier(code: Code, body: Refusal, principal: Acceptor, intake: Intake) -> DossierPublic:
    """Refuse a dossier at intake with a reason (status 1 → 3, form 03)."""
    with INTAKE_ERRORS.translating():
        return to_public(await intake.refuse(code, principal, body.reason, correlation_id_var.get()))


@router.post("/{code}/withdrawal", status_code=202, response_model=DossierPublic,
             responses=INTAKE_ERRORS.responses(NotEntitledError, DossierNotFoundError, DossierStateError,
                                               ConcurrentChangeError))
async def withdraw_dossier(code: Code, body: Withdrawal, principal: Submitter, intake: Intake) -> DossierPublic:
    """The applicant asks to withdraw the dossier (rút hồ sơ): through its submitter or the desk.

    202 with ``withdrawal: requested``: routing decides, and the dossier later shows
    ``withdrawn`` (status 7) or ``declined``. A request while one is pending gets the same answer.
    Refused with 409 when intake knows the dossier is refused at intake (3), withdrawn (7),
    stopped (8), done (9) or returned (10).
    """
    with INTAKE_ERRORS.translating():
        return to_public(await intake.request_withdrawal(code, principal, body.reason, correlation_id_var.get()))
