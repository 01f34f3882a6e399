"""Postal's HTTP API: the carriers' status webhooks, a dossier's shipments with their history, a
partner's open shipments, the fees collected per agency and day.

Webhooks (``POST /v1/postal/webhooks/{partner_id}``) carry no bearer token: the Standard Webhooks
signature is the partner's credential (:mod:`services.webhooks`). In order: an unknown partner → 404;
a missing or stale timestamp, or a signature none of the partner's keys verifies (wrong key, altered
body, another partner's key) → 401; a body that is not a status webhook → 422; a shipment postal does
not have (dossier, leg, order or partner) → 404; a ``webhook-id`` seen before → 200 ``duplicate`` and
nothing changes; otherwise 200 ``accepted``, the report stored as an event with its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from pydantic import BaseModel, ValidationError

from postal.application import PostalApplication, PostalDossierNotFoundError, Report
from postal.carrier_api import StatusWebhook
from postal.domain import PostalDossier, UnknownShipmentError
from postal.partners import PARTNER_ID_PATTERN, Partner, Partners
from postal.readmodel import PostalQueries
from services.access import readable
from services.auth import Principal, require_role
from services.clock import VIETNAM, Clock
from services.eventstore import EventStore
from services.problems import CHASSIS_ERRORS, ErrorTable, InvalidParam, Problem, ProblemType, validation_message
from services.webhooks import WebhookRejected, verify_webhook
from shared_events.scalars import DOSSIER_CODE_PATTERN

router = APIRouter(prefix="/v1/postal", tags=["postal"])

MAX_REPORT_DAYS = 366
DEFAULT_REPORT_DAYS = 30

ERRORS = CHASSIS_ERRORS | ErrorTable({
    PostalDossierNotFoundError: ProblemType(
        404, "dossier-not-found", "Không tìm thấy hồ sơ", lambda exc: f"Không có hồ sơ mã {exc} gửi qua bưu chính"),
    UnknownShipmentError: ProblemType(404, "shipment-not-found", "Không tìm thấy bưu gửi"),
})


@dataclass(frozen=True)
class PostalService:
    store: EventStore[PostalApplication]
    app: PostalApplication
    queries: PostalQueries
    partners: Partners
    clock: Clock


def _service(request: Request) -> PostalService:
    state = request.app.state
    assert state.store.app is not None, "the postal store is opened in the lifespan"
    return PostalService(state.store, state.store.app, state.queries, state.partners, state.clock)


Service = Annotated[PostalService, Depends(_service)]
Reader = Annotated[Principal, Depends(require_role("dossier:read"))]


# --- webhooks ------------------------------------------------------------------------------------

class WebhookAnswer(BaseModel):
    outcome: Literal["accepted", "duplicate"]
    webhook_id: str


def _rejected(exc: WebhookRejected) -> Problem:
    return Problem(401, "webhook-rejected", "Webhook không được chấp nhận", str(exc),
                   errors=[InvalidParam(name="webhook-signature", code=exc.reason, reason=str(exc))])


@router.post("/webhooks/{partner_id}", response_model=WebhookAnswer, tags=["webhooks"],
             responses=ERRORS.responses(UnknownShipmentError) | {401: {"description": "Signature, timestamp or "
                                                                       "headers refused"}},
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": StatusWebhook.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
async def receive_status_webhook(
    request: Request, service: Service,
    partner_id: Annotated[str, Path(pattern=PARTNER_ID_PATTERN, description="The partner's id")],
) -> WebhookAnswer:
    """A carrier partner reports a shipment's status (Standard Webhooks: ``webhook-id``,
    ``webhook-timestamp``, ``webhook-signature`` with ``v1`` HMAC or ``v1a`` Ed25519)."""
    partner = service.partners.get(partner_id)
    if partner is None:
        raise Problem(404, "partner-not-found", "Không có đối tác bưu chính", f"Không có đối tác {partner_id}")
    body = await request.body()
    try:
        signed = verify_webhook(body, request.headers, partner.webhook_keys)
    except WebhookRejected as exc:
        raise _rejected(exc) from None
    try:
        webhook = StatusWebhook.model_validate_json(body)
    except ValidationError as exc:
        raise Problem(422, "invalid-webhook", "Nội dung webhook không hợp lệ", "Nội dung không đúng hợp đồng webhook",
                      errors=[InvalidParam(name=".".join(str(p) for p in e["loc"]) or "body", code=e["type"],
                                           reason=validation_message(dict(e))) for e in exc.errors()]) from None
    data = webhook.data
    report = Report(report_id=signed.id, order_id=data.order_id, tracking_number=data.tracking_number,
                    status=data.status, attempt=data.attempt, at=data.at, detail=data.detail,
                    cod_collected_vnd=data.cod_collected_vnd)
    with ERRORS.translating():
        new = await service.store.call(service.app.accept_webhook, partner.partner_id, data.reference, data.leg,
                                       report, service.clock.now())
    return WebhookAnswer(outcome="accepted" if new else "duplicate", webhook_id=signed.id)


def document_webhooks(app: FastAPI) -> None:
    """The webhook contract in the OpenAPI document (what a partner sends us)."""

    @app.webhooks.post("shipment-status")
    def shipment_status(body: StatusWebhook) -> None:
        """A shipment's status, sent by the carrier to ``POST /v1/postal/webhooks/{partner_id}`` with the
        Standard Webhooks headers; answered 200 (also for a ``webhook-id`` seen before), 401, 404 or 422."""


# --- reading -------------------------------------------------------------------------------------

class ReportView(BaseModel):
    report_id: str
    source: Literal["webhook", "reconciliation", "answer"]
    status: str
    attempt: int
    status_at: datetime
    recorded_at: datetime
    applied: bool
    detail: str | None = None


class ShipmentView(BaseModel):
    leg: Literal["pickup", "return"]
    partner_id: str
    state: Literal["ordering", "open", "closed", "refused", "cancelled"]
    order_id: str | None
    tracking_number: str | None
    status: str | None
    attempt: int
    status_at: datetime | None
    cod_amount_vnd: int
    fee_vnd: int
    postage_vnd: int
    fee_collected: bool
    pending_action: str | None
    refused_reason: str | None
    description: str
    history: list[ReportView]


def _views(dossier: PostalDossier, partner: Partner | None) -> list[ShipmentView]:
    views = []
    for leg in dossier.legs.values():
        if partner is not None and leg["partner_id"] != partner.partner_id:
            continue
        views.append(ShipmentView(
            leg=leg["leg"], partner_id=leg["partner_id"], state=leg["state"], order_id=leg["order_id"],
            tracking_number=leg["tracking_number"], status=leg["status"], attempt=leg["attempt"],
            status_at=leg["status_at"], cod_amount_vnd=leg["order"]["cod_amount_vnd"], fee_vnd=leg["fee_vnd"],
            postage_vnd=leg["postage_vnd"], fee_collected=leg["fee_collected"],
            pending_action=(leg["pending"] or {}).get("action"), refused_reason=leg["refused_reason"],
            description=leg["order"]["description"],
            history=[ReportView(**r) for r in sorted(leg["reports"],
                                                     key=lambda r: (r["status_at"], r["recorded_at"]))]))
    return views


@dataclass(frozen=True)
class Entitled:
    dossier: PostalDossier
    partner: Partner | None
    """Set when the caller is a postal partner: it sees only its own shipments."""


async def _entitled(request: Request, principal: Principal, code: str) -> Entitled:
    service = _service(request)
    dossier = await service.store.call(service.app.dossier, code)
    if principal.party == "auditor" or (principal.party == "desk"
                                        and principal.agency_id == dossier.receiving_agency_id):
        return Entitled(dossier, None)
    partner = service.partners.of_client(principal.client_id) if principal.party == "postal" else None
    if partner is not None and any(leg["partner_id"] == partner.partner_id for leg in dossier.legs.values()):
        return Entitled(dossier, partner)
    raise PostalDossierNotFoundError(code)


ReadableDossier = Annotated[Entitled, Depends(readable(
    _entitled, reader=require_role("dossier:read"), hidden=(PostalDossierNotFoundError,),
    not_found=lambda code: ERRORS.problem(PostalDossierNotFoundError(code)),
    code=Path(pattern=DOSSIER_CODE_PATTERN, description="Mã hồ sơ")))]


@router.get("/dossiers/{code}/shipments", response_model=list[ShipmentView],
            responses=ERRORS.responses(PostalDossierNotFoundError))
async def get_shipments(entitled: ReadableDossier) -> list[ShipmentView]:
    """A dossier's legs by post with every status the carrier reported (applied or not), for the receiving
    desk, auditors, and the partner carrying it (its own legs only); 404 for anyone else."""
    return _views(entitled.dossier, entitled.partner)


class FeeCollected(BaseModel):
    leg: Literal["pickup", "return"]
    agency_id: str
    partner_id: str
    fee_vnd: int
    postage_vnd: int
    collected_at: datetime


@router.get("/dossiers/{code}/fees", response_model=list[FeeCollected],
            responses=ERRORS.responses(PostalDossierNotFoundError))
async def get_fees_collected(entitled: ReadableDossier, service: Service) -> list[FeeCollected]:
    """What the carrier collected from the applicant for this dossier, leg by leg (the same readers as its
    shipments; a partner sees its own legs)."""
    rows = [dict(row) for row in await service.queries.fees_of(entitled.dossier.dossier_code)]
    return [FeeCollected(**row) for row in rows
            if entitled.partner is None or row["partner_id"] == entitled.partner.partner_id]


class OpenShipment(BaseModel):
    dossier_code: str
    leg: str
    order_id: str | None
    tracking_number: str | None
    status: str | None
    attempt: int
    status_at: datetime | None
    agency_id: str


@router.get("/shipments", response_model=list[OpenShipment])
async def list_open_shipments(
    principal: Reader, service: Service, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[str | None, Query(pattern=r"^[^/]+/(pickup|return)$",
                                       description="The last row of the previous page: <dossier code>/<leg>")] = None,
) -> list[OpenShipment]:
    """The calling partner's shipments still on their way, by dossier code (pages: ``after``)."""
    partner = service.partners.of_client(principal.client_id) if principal.party == "postal" else None
    if partner is None:
        raise Problem(403, "not-a-partner", "Không có quyền", "Chỉ đối tác bưu chính xem danh sách bưu gửi của mình")
    cursor = tuple(after.rsplit("/", 1)) if after else None
    rows = await service.queries.open_shipments(partner.partner_id, limit, cursor)  # type: ignore[arg-type]
    return [OpenShipment(**dict(row)) for row in rows]


class FeeDay(BaseModel):
    agency_id: str
    day: date
    legs: int
    fee_vnd: int
    postage_vnd: int


@router.get("/fees", response_model=list[FeeDay])
async def fees_by_agency_and_day(
    principal: Reader, service: Service,
    since: Annotated[date | None, Query(description=f"First day (Vietnam time); default: {DEFAULT_REPORT_DAYS} "
                                                    "days before the last")] = None,
    until: Annotated[date | None, Query(description="Last day; default: today")] = None,
    agency_id: Annotated[str | None, Query(pattern=r"^[A-Z0-9.]{1,35}$")] = None,
) -> list[FeeDay]:
    """Fees and postage the carrier collected on delivery, per receiving agency and day: a desk sees its
    own agency's, an auditor any agency's (all without ``agency_id``)."""
    if principal.party == "desk":
        if agency_id not in (None, principal.agency_id):
            raise Problem(403, "other-agency", "Không có quyền", "Bộ phận một cửa chỉ xem phí của cơ quan mình")
        agency_id = principal.agency_id
    elif principal.party != "auditor":
        raise Problem(403, "forbidden", "Không có quyền", "Chỉ bộ phận một cửa và kiểm toán xem báo cáo phí")
    today = service.clock.now().astimezone(VIETNAM).date()
    until = until or today
    since = since or date.fromordinal(max(1, until.toordinal() - DEFAULT_REPORT_DAYS))
    if since > until or (until - since).days > MAX_REPORT_DAYS:
        raise Problem(422, "invalid-period", "Khoảng thời gian không hợp lệ",
                      f"Từ ngày phải trước đến ngày, tối đa {MAX_REPORT_DAYS} ngày")
    rows = await service.queries.fees_by_agency_and_day(agency_id, since, until)
    return [FeeDay(**{k: (int(v) if k in ("fee_vnd", "postage_vnd") else v) for k, v in dict(row).items()})
            for row in rows]

