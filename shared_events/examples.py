"""Valid example instances of every contract, with random ids, for tests and documentation.

``example(DossierSubmitted)`` returns a fresh valid event; keyword arguments override
fields. Every registered contract has an entry in :data:`EXAMPLES` (a test checks it).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import uuid4

from shared_events.contracts import (
    Applicant,
    Contract,
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierStatusChanged,
    DossierSubmitted,
    DossierWithdrawalDeclined,
    DossierWithdrawalRequested,
    DossierWithdrawn,
    NationalStatus,
    ResultDelivery,
    SubmittedDocument,
)
from shared_events.contracts.calendar import DueTimesChanged, StepDueChange, WorkingCalendarChanged
from shared_events.contracts.documents import ContentDocument, DocumentLink, DossierContentRead, StepContent
from shared_events.contracts.postal import (
    PickupHandedToAgency,
    PostalDeliveryFailed,
    PostalFeeCollected,
    ResultDeliveredByPost,
    ResultReturnedToDesk,
    ShipmentOrdered,
    ShipmentOrderRefused,
    ShipmentStatusChanged,
)
from shared_events.contracts.routing import (
    AgencyActed,
    ApologyIssued,
    ClockPaused,
    ClockResumed,
    DossierRouted,
    PlannedStep,
    RoutingFinished,
    StepClaimed,
    StepCompleted,
    StepDeadlineReached,
    StepOpened,
    StepReturned,
)
from shared_events.scalars import VIETNAM

C = TypeVar("C", bound=Contract)


def random_agency_id() -> str:
    """An agency electronic id shaped like ``000.00.01.H40``."""
    return f"000.{random.randint(0, 99):02d}.{random.randint(0, 99):02d}.H{random.randint(1, 99):02d}"


def random_dossier_code(agency_id: str | None = None, day: datetime | None = None) -> str:
    """A dossier code ``<agency id>-<yyMMdd>-<NNNN>`` for ``day`` (today in Vietnam by default)."""
    day = day or datetime.now(VIETNAM)
    return f"{agency_id or random_agency_id()}-{day:%y%m%d}-{random.randint(1, 9999):04d}"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _submitted(**overrides: Any) -> DossierSubmitted:
    agency_id = overrides.pop("receiving_agency_id", random_agency_id())
    content = uuid4().bytes
    fields: dict[str, Any] = dict(
        dossier_code=random_dossier_code(agency_id),
        dossier_id=uuid4(),
        procedure_code="2.000635",
        procedure_version="2025.1",
        applicant=Applicant(
            kind="citizen",
            full_name="Nguyễn Thị Hồng",
            identity_number=f"{random.randint(0, 10**12 - 1):012d}",
            phone="0912345678",
            address="Số 1 Tràng Tiền, phường Hoàn Kiếm, Hà Nội",
        ),
        documents=(
            SubmittedDocument(
                name="Tờ khai cấp bản sao trích lục hộ tịch",
                media_type="application/pdf",
                size_bytes=len(content) * 1000,
                sha256=hashlib.sha256(content).hexdigest(),
            ),
        ),
        channel="online",
        result_delivery=ResultDelivery(method="post", address="Số 1 Tràng Tiền, phường Hoàn Kiếm, Hà Nội"),
        locality_code="00070",
        receiving_agency_id=agency_id,
        submitted_by=f"citizen:{uuid4()}",
        received_at=_now(),
        national_status=NationalStatus.NEW,
    )
    fields.update(overrides)
    return DossierSubmitted(**fields)


def _accepted(**overrides: Any) -> DossierAccepted:
    fields = dict(dossier_code=random_dossier_code(), accepted_by=f"officer:{uuid4()}", accepted_at=_now())
    return DossierAccepted(**{**fields, **overrides})


def _refused(**overrides: Any) -> DossierRefusedAtIntake:
    fields = dict(
        dossier_code=random_dossier_code(),
        refused_by=f"officer:{uuid4()}",
        reason="Thiếu bản sao giấy khai sinh",
        refused_at=_now(),
    )
    return DossierRefusedAtIntake(**{**fields, **overrides})


def _withdrawn(**overrides: Any) -> DossierWithdrawn:
    fields = dict(dossier_code=random_dossier_code(), reason="Công dân không còn nhu cầu", withdrawn_at=_now())
    return DossierWithdrawn(**{**fields, **overrides})


def _withdrawal_requested(**overrides: Any) -> DossierWithdrawalRequested:
    fields = dict(dossier_code=random_dossier_code(), requested_by=f"portal:{uuid4()}",
                  reason="Công dân không còn nhu cầu", requested_at=_now())
    return DossierWithdrawalRequested(**{**fields, **overrides})


def _withdrawal_declined(**overrides: Any) -> DossierWithdrawalDeclined:
    fields = dict(dossier_code=random_dossier_code(), national_status=NationalStatus.DONE_AWAITING_HANDOVER,
                  reason="Hồ sơ đã giải quyết xong", declined_at=_now())
    return DossierWithdrawalDeclined(**{**fields, **overrides})


def _status_changed(**overrides: Any) -> DossierStatusChanged:
    fields = dict(
        dossier_code=random_dossier_code(),
        national_status=NationalStatus.PROCESSING,
        changed_by_agency_id=random_agency_id(),
        changed_at=_now(),
    )
    return DossierStatusChanged(**{**fields, **overrides})


def _document() -> SubmittedDocument:
    content = uuid4().bytes
    return SubmittedDocument(name="ket_qua", media_type="application/pdf", size_bytes=50_000,
                             sha256=hashlib.sha256(content).hexdigest())


def _routing(model: type[C], fields: Callable[[str, str, datetime], dict[str, Any]]) -> Callable[..., C]:
    def build(**overrides: Any) -> C:
        agency, now = random_agency_id(), _now()
        base = {"dossier_code": random_dossier_code(), **fields(agency, "birth_registration", now)}
        return model(**{**base, **overrides})
    return build


ROUTING_EXAMPLES: dict[type[Contract], Callable[..., Contract]] = {
    DossierRouted: _routing(DossierRouted, lambda a, k, t: dict(
        procedure_code="1.001193", route_version="2025.07", processing_started_at=t,
        appointment_at=t + timedelta(days=3),
        steps=(PlannedStep(step_key=k, name="Đăng ký khai sinh", role="commune_civil_status", agency_id=a,
                           integration="rest", limit_value=1, limit_unit="working_days"),))),
    StepOpened: _routing(StepOpened, lambda a, k, t: dict(
        procedure_code="1.001193", step_key=k, step_name="Đăng ký khai sinh", agency_id=a, opened_at=t,
        due_at=t + timedelta(days=1), opening=1, content=StepContent(
            applicant={"full_name": "Nguyễn Văn An", "address": "Số 1 đường Lê Lợi, Vinh"},
            documents=(ContentDocument(document=_document(), from_step="intake_check", link=DocumentLink(
                url="https://lienthong.example.vn/v1/document-links/abc.def", expires_at=t + timedelta(minutes=15))),
            )))),
    StepClaimed: _routing(StepClaimed, lambda a, k, t: dict(step_key=k, agency_id=a, claimed_at=t)),
    StepCompleted: _routing(StepCompleted, lambda a, k, t: dict(
        step_key=k, agency_id=a, completed_at=t, due_at=t, timeliness="on_time", documents=(_document(),))),
    StepReturned: _routing(StepReturned, lambda a, k, t: dict(
        step_key=k, agency_id=a, outcome="sent_back", reason="Thiếu chữ ký", to_steps=("intake_check",),
        returned_at=t)),
    ClockPaused: _routing(ClockPaused, lambda a, k, t: dict(
        kind="supplement", step_key=k, agency_id=a, reason="Bổ sung giấy chứng sinh", paused_at=t)),
    ClockResumed: _routing(ClockResumed, lambda a, k, t: dict(
        kind="supplement", resumed_at=t, due_at={k: t + timedelta(days=1)}, appointment_at=t + timedelta(days=2))),
    StepDeadlineReached: _routing(StepDeadlineReached, lambda a, k, t: dict(
        step_key=k, agency_id=a, kind="overdue", due_at=t, detected_at=t)),
    ApologyIssued: _routing(ApologyIssued, lambda a, k, t: dict(
        agency_id=a, reason="Quá hạn do xác minh", original_appointment_at=t,
        new_appointment_at=t + timedelta(days=2), issued_at=t)),
    RoutingFinished: _routing(RoutingFinished, lambda a, k, t: dict(
        national_status=NationalStatus.DONE_AWAITING_HANDOVER, finished_at=t, results=(_document(),))),
    DossierContentRead: _routing(DossierContentRead, lambda a, k, t: dict(
        reader_client_id="police-system", reader_party="agency", reader_agency_id=a, step_key=k,
        purpose="document", via="link", documents=(_document().sha256,), read_at=t)),
    AgencyActed: _routing(AgencyActed, lambda a, k, t: dict(
        step_key=k, agency_id=a, action="complete", documents=(_document(),), acted_at=t)),
}


def _calendar_changed(**overrides: Any) -> WorkingCalendarChanged:
    now = _now()
    base = dict(revision=1, kind="add_day_off", day=(now + timedelta(days=7)).date(), decision="1234/QĐ-TTg",
                reason="Nghỉ bù dịp Quốc khánh", changed_by="operator", changed_at=now)
    return WorkingCalendarChanged(**{**base, **overrides})


CALENDAR_EXAMPLES: dict[type[Contract], Callable[..., Contract]] = {
    WorkingCalendarChanged: _calendar_changed,
    DueTimesChanged: _routing(DueTimesChanged, lambda a, k, t: dict(
        calendar_revision=1, decision="1234/QĐ-TTg", reason="Nghỉ bù dịp Quốc khánh", changed_at=t,
        steps=(StepDueChange(step_key=k, agency_id=a, opening=1, previous_due_at=t,
                             due_at=t + timedelta(days=1)),),
        previous_appointment_at=t + timedelta(days=2), appointment_at=t + timedelta(days=3))),
}


POSTAL_EXAMPLES: dict[type[Contract], Callable[..., Contract]] = {
    ShipmentOrdered: _routing(ShipmentOrdered, lambda a, k, t: dict(
        leg="return", partner_id="vnpost", order_id="ORD-0001", tracking_number="EB000000001VN",
        cod_amount_vnd=33_000, ordered_at=t)),
    ShipmentOrderRefused: _routing(ShipmentOrderRefused, lambda a, k, t: dict(
        leg="pickup", partner_id="vnpost", reason="Địa chỉ ngoài vùng phục vụ", refused_at=t)),
    ShipmentStatusChanged: _routing(ShipmentStatusChanged, lambda a, k, t: dict(
        leg="return", partner_id="vnpost", tracking_number="EB000000001VN", status="in_transit", attempt=1,
        status_at=t, recorded_at=t)),
    PickupHandedToAgency: _routing(PickupHandedToAgency, lambda a, k, t: dict(
        agency_id=a, partner_id="vnpost", tracking_number="EB000000002VN", handed_at=t)),
    ResultDeliveredByPost: _routing(ResultDeliveredByPost, lambda a, k, t: dict(
        partner_id="vnpost", tracking_number="EB000000001VN", attempts=1, delivered_at=t)),
    PostalDeliveryFailed: _routing(PostalDeliveryFailed, lambda a, k, t: dict(
        partner_id="vnpost", tracking_number="EB000000001VN", attempt=1, max_attempts=3,
        reason="Không có người nhận", next_step="redeliver", failed_at=t)),
    ResultReturnedToDesk: _routing(ResultReturnedToDesk, lambda a, k, t: dict(
        agency_id=a, partner_id="vnpost", tracking_number="EB000000001VN", attempts=3, returned_at=t)),
    PostalFeeCollected: _routing(PostalFeeCollected, lambda a, k, t: dict(
        leg="return", agency_id=a, partner_id="vnpost", fee_vnd=8_000, postage_vnd=25_000, collected_at=t)),
}


EXAMPLES: dict[type[Contract], Callable[..., Contract]] = {
    **ROUTING_EXAMPLES,
    **CALENDAR_EXAMPLES,
    **POSTAL_EXAMPLES,
    DossierSubmitted: _submitted,
    DossierAccepted: _accepted,
    DossierRefusedAtIntake: _refused,
    DossierWithdrawn: _withdrawn,
    DossierWithdrawalRequested: _withdrawal_requested,
    DossierStatusChanged: _status_changed,
    DossierWithdrawalDeclined: _withdrawal_declined,
}


def example(model: type[C], **overrides: Any) -> C:
    """A valid instance of ``model`` with random ids; ``overrides`` replace fields."""
    return EXAMPLES[model](**overrides)  # type: ignore[return-value]
