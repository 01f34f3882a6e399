"""HTTP entry points of intake: translate requests ↔ use cases, domain errors ↔ problems."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from intake.application import DossierNotFoundError, IdempotencyKeyReusedError, IntakeApplication
from intake.catalogue import Catalogue, check_submission
from intake.codes import DossierCodes
from intake.domain import ACCEPTED, NEW, Dossier, DossierStateError, SubmissionKey
from services.auth import Principal, require_role
from services.clock import VIETNAM, Clock
from services.eventstore import EventStore
from services.observability import correlation_id_var, dossier_code_var
from services.problems import InvalidParam, Problem
from shared_events import Applicant, NationalStatus, ResultDelivery, SubmittedDocument

AGENCY_ID_PATTERN = r"^[A-Z0-9.]{1,35}$"
CHANNEL_OF_PARTY = {"desk": "desk", "portal": "online", "postal": "post"}


class DossierCreate(BaseModel):
    """A dossier as submitted at the desk, online or by post."""

    model_config = ConfigDict(extra="forbid")

    procedure_code: str = Field(pattern=r"^[0-9]\.[0-9]{6}$", examples=["2.000635"])
    applicant: Applicant
    documents: list[SubmittedDocument] = Field(min_length=1, max_length=100)
    channel: str = Field(pattern=r"^(desk|online|post)$")
    result_delivery: ResultDelivery
    locality_code: str = Field(pattern=r"^[0-9]{2,5}$", description="Mã đơn vị hành chính nơi cư trú")
    receiving_agency_id: str = Field(pattern=AGENCY_ID_PATTERN, examples=["000.00.01.H40"])
    options: list[str] = Field(default=[], max_length=10,
                               description="Thủ tục liên thông tùy chọn người nộp tham gia, vd. funeral_allowance")


class HistoryEntry(BaseModel):
    event: str
    at: datetime
    national_status: int | None = None
    by: str | None = None
    reason: str | None = None


class DossierPublic(BaseModel):
    """A dossier's current state, national status and history."""

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
    history: list[HistoryEntry] = []


class Refusal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000, description="Lý do từ chối (mẫu 03)")


def _store(request: Request) -> EventStore[IntakeApplication]:
    return request.app.state.store


def _app(request: Request) -> IntakeApplication:
    return request.app.state.store.app


Store = Annotated[EventStore[IntakeApplication], Depends(_store)]
App = Annotated[IntakeApplication, Depends(_app)]
Submitter = Annotated[Principal, Depends(require_role("dossier:submit"))]
Reader = Annotated[Principal, Depends(require_role("dossier:read"))]
Acceptor = Annotated[Principal, Depends(require_role("dossier:accept"))]


def fingerprint(body: DossierCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _not_found(code: str) -> Problem:
    return Problem(404, "dossier-not-found", "Không tìm thấy hồ sơ", f"Không có hồ sơ mã {code}")


def _label(status: int) -> str:
    return NationalStatus(status).label


def to_public(dossier: Dossier, history: list[Any] | None = None) -> DossierPublic:
    return DossierPublic(
        code=dossier.code, procedure_code=dossier.procedure_code, procedure_version=dossier.procedure_version,
        national_status=dossier.national_status, national_status_label=_label(dossier.national_status),
        channel=dossier.channel, receiving_agency_id=dossier.receiving_agency_id,
        locality_code=dossier.locality_code, received_at=dossier.received_at, applicant=dossier.applicant,
        documents=dossier.documents, result_delivery=dossier.result_delivery,
        options=getattr(dossier, "options", []),
        history=[_history_entry(e) for e in history or []],
    )


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=2000, description="Lý do rút hồ sơ")


def _history_entry(e: Any) -> HistoryEntry:
    name = type(e).__name__
    if isinstance(e, Dossier.Submitted):
        return HistoryEntry(event=name, at=e.timestamp, national_status=e.national_status, by=e.submitted_by)
    if isinstance(e, Dossier.Accepted):
        return HistoryEntry(event=name, at=e.timestamp, national_status=ACCEPTED, by=e.accepted_by)
    if isinstance(e, Dossier.RefusedAtIntake):
        return HistoryEntry(event=name, at=e.timestamp, national_status=3, by=e.refused_by, reason=e.reason)
    if isinstance(e, Dossier.Withdrawn):
        return HistoryEntry(event=name, at=e.timestamp, national_status=7, by=e.withdrawn_by, reason=e.reason)
    if isinstance(e, Dossier.StatusChanged):
        return HistoryEntry(event=name, at=e.timestamp, national_status=e.national_status, by=e.agency_id,
                            reason=e.reason)
    return HistoryEntry(event=name, at=e.timestamp)


def may_read(principal: Principal, dossier: Dossier) -> bool:
    """Auditors read every dossier; desks and agencies those their agency received;
    portal and postal partners those they submitted."""
    if principal.party == "auditor":
        return True
    if principal.party in ("desk", "agency"):
        return principal.agency_id == dossier.receiving_agency_id
    return principal.client_id == dossier.submitted_by


def check_against_catalogue(catalogue: Catalogue, body: DossierCreate, principal: Principal,
                            received_at: datetime) -> tuple[str, list[InvalidParam]]:
    """The procedure version in force at receipt, and every problem with the submission."""
    problems: list[InvalidParam] = []
    expected_channel = CHANNEL_OF_PARTY.get(principal.party)
    if expected_channel is not None and body.channel != expected_channel:
        problems.append(InvalidParam(name="channel", code="channel_not_for_party",
                                     reason=f"Bên gọi loại '{principal.party}' chỉ nộp hồ sơ qua kênh '{expected_channel}'"))
    procedure = catalogue.find(body.procedure_code, received_at.astimezone(VIETNAM).date())
    if procedure is None:
        problems.append(InvalidParam(name="procedure_code", code="procedure_unknown",
                                     reason=f"Thủ tục {body.procedure_code} không có hoặc chưa/không còn hiệu lực"))
        return "", problems
    for p in check_submission(
        procedure, channel=body.channel, result_delivery_method=body.result_delivery.method,
        documents=[(d.name, d.media_type, d.size_bytes) for d in body.documents], options=body.options,
    ):
        problems.append(InvalidParam(name=p.field, code=p.code, reason=p.message_vi))
    return procedure.version, problems


router = APIRouter(prefix="/v1/dossiers", tags=["dossiers"])


@router.post(
    "", status_code=201, response_model=DossierPublic,
    responses={401: {"description": "Not authenticated"}, 403: {"description": "Not a submitter"},
               422: {"description": "Invalid submission (every problem listed)"}},
)
async def submit_dossier(
    body: DossierCreate,
    request: Request,
    response: Response,
    principal: Submitter,
    store: Store,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> DossierPublic:
    """Receive a dossier (tiếp nhận hồ sơ): 201 with its code and national status 1 or 2.

    With an ``Idempotency-Key`` header a retried request returns the first result
    (header ``Idempotent-Replayed: true``) instead of creating a second dossier; reusing
    a key for a different request is a 422.
    """
    app = store.app
    clock: Clock = request.app.state.clock
    fp = fingerprint(body)
    if idempotency_key is not None:
        existing = await store.call(app.submission_key, principal.client_id, idempotency_key)
        if existing is not None:
            return await _replayed(store, existing, fp, response)
    received_at = clock.now()
    procedure_version, problems = check_against_catalogue(request.app.state.catalogue, body, principal, received_at)
    if problems:
        raise Problem(422, "validation-failed", "Hồ sơ không hợp lệ", f"{len(problems)} lỗi trong hồ sơ",
                      errors=problems)
    codes: DossierCodes = request.app.state.codes
    code = await codes.next_code(body.receiving_agency_id, received_at)
    dossier_code_var.set(code)
    dossier = Dossier(
        code=code, procedure_code=body.procedure_code, procedure_version=procedure_version,
        applicant=body.applicant.model_dump(mode="json"),
        documents=[d.model_dump(mode="json") for d in body.documents],
        channel=body.channel, result_delivery=body.result_delivery.model_dump(mode="json"),
        locality_code=body.locality_code, receiving_agency_id=body.receiving_agency_id,
        submitted_by=principal.client_id, received_at=received_at,
        national_status=ACCEPTED if body.channel == "desk" else NEW,
        correlation_id=correlation_id_var.get(), options=body.options,
    )
    key = None
    if idempotency_key is not None:
        key = SubmissionKey(client_id=principal.client_id, key=idempotency_key, fingerprint=fp, dossier_code=code)
    try:
        stored = await store.call(app.submit, dossier, key)
    except IdempotencyKeyReusedError:
        raise _key_reused(idempotency_key or "") from None
    if stored is not dossier:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/dossiers/{stored.code}"
    return to_public(stored, await store.call(app.history, stored.code))


async def _replayed(store: EventStore[IntakeApplication], key: SubmissionKey, fp: str,
                    response: Response) -> DossierPublic:
    try:
        dossier = await store.call(store.app.replay, key, fp)
    except IdempotencyKeyReusedError:
        raise _key_reused(key.key) from None
    response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/dossiers/{dossier.code}"
    return to_public(dossier, await store.call(store.app.history, dossier.code))


def _key_reused(key: str) -> Problem:
    return Problem(422, "idempotency-key-reused", "Khóa Idempotency-Key đã dùng cho yêu cầu khác",
                   f"Khóa '{key}' đã được dùng cho một hồ sơ có nội dung khác")


async def _load_readable(code: str, principal: Principal, store: EventStore[IntakeApplication]) -> Dossier:
    try:
        dossier = await store.call(store.app.dossier, code)
    except DossierNotFoundError:
        raise _not_found(code) from None
    if not may_read(principal, dossier):
        raise Problem(403, "forbidden", "Không có quyền", f"Bên gọi không được xem hồ sơ {code}")
    return dossier


@router.get("/{code}", response_model=DossierPublic,
            responses={403: {"description": "Not entitled"}, 404: {"description": "Unknown code"}})
async def get_dossier(code: str, principal: Reader, store: Store) -> DossierPublic:
    """A dossier's current state, national status code and the history of its events."""
    dossier = await _load_readable(code, principal, store)
    return to_public(dossier, await store.call(store.app.history, code))


def _is_receiving_desk(principal: Principal, dossier: Dossier) -> bool:
    return principal.party == "desk" and principal.agency_id == dossier.receiving_agency_id


async def _act(code: str, principal: Principal, store: Store, request: Request, action: str, **kwargs: Any) -> DossierPublic:
    dossier = await _load_readable(code, principal, store)
    allowed = _is_receiving_desk(principal, dossier) or (
        action == "withdraw" and principal.client_id == dossier.submitted_by)
    if not allowed:
        raise Problem(403, "forbidden", "Không có quyền", "Chỉ bộ phận một cửa của cơ quan tiếp nhận được thực hiện")
    method = getattr(store.app, action)
    try:
        dossier = await store.call(method, code, by=principal.client_id, at=request.app.state.clock.now(),
                                   correlation_id=correlation_id_var.get(), **kwargs)
    except DossierStateError as exc:
        raise Problem(409, "dossier-state-conflict", "Trạng thái hồ sơ không cho phép", str(exc)) from None
    return to_public(dossier, await store.call(store.app.history, code))


@router.post("/{code}/acceptance", response_model=DossierPublic,
             responses={403: {"description": "Not this desk"}, 404: {}, 409: {"description": "Not in status 1"}})
async def accept_dossier(code: str, principal: Acceptor, store: Store, request: Request) -> DossierPublic:
    """Accept an online or postal dossier after checking it (status 1 → 2)."""
    return await _act(code, principal, store, request, "accept")


@router.post("/{code}/refusal", response_model=DossierPublic,
             responses={403: {"description": "Not this desk"}, 404: {}, 409: {"description": "Not in status 1"}})
async def refuse_dossier(code: str, body: Refusal, principal: Acceptor, store: Store, request: Request) -> DossierPublic:
    """Refuse a dossier at intake with a reason (status 1 → 3, form 03)."""
    return await _act(code, principal, store, request, "refuse", reason=body.reason)


@router.post("/{code}/withdrawal", response_model=DossierPublic,
             responses={403: {"description": "Neither the submitter nor the receiving desk"}, 404: {},
                        409: {"description": "Already closed or done"}})
async def withdraw_dossier(code: str, body: Withdrawal, principal: Submitter, store: Store,
                           request: Request) -> DossierPublic:
    """The applicant withdraws the dossier (status 7): through the party that submitted it or the desk."""
    return await _act(code, principal, store, request, "withdraw", reason=body.reason)
