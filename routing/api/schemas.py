"""The bodies routing's HTTP API reads and answers with, and the dossier's view."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from routing.domain import MAX_AMOUNT_VND, RoutedDossier
from shared_events import SubmittedDocument
from shared_events.scalars import UtcDatetime

# --- requests --------------------------------------------------------------------------------------


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


# --- answers ---------------------------------------------------------------------------------------


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


class DueChange(BaseModel):
    """How a working-calendar change moved a due instant: old and new values, and the decision."""

    previous_due_at: datetime
    due_at: datetime
    calendar_revision: int
    decision: str
    changed_at: datetime


class AppointmentChange(BaseModel):
    """How a working-calendar change moved the appointment date (ngày hẹn trả)."""

    previous_appointment_at: datetime | None
    appointment_at: datetime
    calendar_revision: int
    decision: str
    changed_at: datetime


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
    due_changes: list[DueChange] = []


class HandoverView(BaseModel):
    """How the result reached the applicant (status 10): at the desk, or delivered by post
    (``by`` is then ``postal:<partner id>``, with the carrier's tracking number)."""

    via: Literal["desk", "post"]
    by: str
    at: datetime
    tracking_number: str | None = None


class ResultBackAtDeskView(BaseModel):
    """The carrier could not deliver the result and brought it back to the receiving desk, after
    ``attempts`` attempts; the desk hands it over (``POST …/handover``)."""

    at: datetime
    attempts: int
    partner_id: str
    tracking_number: str


class RoutedDossierView(BaseModel):
    """The dossier's route: status, appointment date(s), every step, and how its result was handed
    over or came back to the desk."""

    code: str
    procedure_code: str
    route_version: str | None
    national_status: int
    received_at: datetime
    processing_started_at: datetime | None
    appointment_at: datetime | None
    original_appointment_at: datetime | None
    new_appointment_at: datetime | None
    appointment_changes: list[AppointmentChange] = []
    steps: list[StepView]
    handover: HandoverView | None = None
    result_back_at_desk_at: datetime | None = None
    result_back_at_desk: ResultBackAtDeskView | None = None


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
    due_changes: list[DueChange] = []


class HistoryEntry(BaseModel):
    """One event of the dossier's routing log, as stored: its type, version, when it was recorded
    (the machine's time) and its fields (the instants it names are the service clock's)."""

    event: str
    version: int
    recorded_at: datetime
    data: dict[str, Any]


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


def _handover(dossier: RoutedDossier) -> HandoverView | None:
    if dossier.handed_over_at is None or dossier.handed_over_by is None:
        return None
    return HandoverView(via="post" if dossier.handed_over_via == "post" else "desk", by=dossier.handed_over_by,
                        at=dossier.handed_over_at, tracking_number=dossier.handed_over_tracking_number)


def _back_at_desk(dossier: RoutedDossier) -> ResultBackAtDeskView | None:
    back = dossier.result_back_at_desk
    if back is None:
        return None
    return ResultBackAtDeskView(at=back["returned_at"], attempts=back["attempts"], partner_id=back["partner_id"],
                                tracking_number=back["tracking_number"])


def to_view(dossier: RoutedDossier) -> RoutedDossierView:
    back = _back_at_desk(dossier)
    return RoutedDossierView(
        code=dossier.code, procedure_code=dossier.procedure_code, route_version=dossier.route_version,
        national_status=dossier.national_status, received_at=dossier.received_at,
        processing_started_at=dossier.processing_started_at, appointment_at=dossier.appointment_at,
        original_appointment_at=dossier.original_appointment_at, new_appointment_at=dossier.new_appointment_at,
        appointment_changes=[AppointmentChange(**c) for c in dossier.appointment_changes],
        steps=[StepView(key=s.key, name=s.name, role=s.role, agency_id=s.agency_id, integration=s.integration,
                        state=s.state, opening=s.openings, opened_at=s.opened_at, due_at=s.due_at,
                        completed_at=s.completed_at, timeliness=s.timeliness, overdue=s.overdue_raised,
                        due_changes=[DueChange(**c) for c in s.due_changes])
               for s in dossier.steps.values()],
        handover=_handover(dossier), result_back_at_desk_at=None if back is None else back.at,
        result_back_at_desk=back)


_ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


def to_history(events: list[Any]) -> list[HistoryEntry]:
    return [HistoryEntry(event=type(e).__name__, version=e.originator_version, recorded_at=e.timestamp,
                         data={k: v for k, v in vars(e).items() if k not in _ENVELOPE}) for e in events]


# --- content (need to know) ------------------------------------------------------------------------


class ContentDocumentView(BaseModel):
    """One document the caller may download: submitted (``from_step`` absent) or an earlier step's result."""

    name: str
    media_type: str
    size_bytes: int
    sha256: str
    from_step: str | None = None
    href: str = Field(description="Where to download it with the caller's own token")


class StepContentView(BaseModel):
    """What the calling agency's step declares it needs of the dossier (Nghị định 13/2023/NĐ-CP), and
    nothing more: the applicant's fields, the submitted documents, earlier steps' results."""

    dossier_code: str
    step_key: str
    applicant: dict[str, str]
    documents: list[ContentDocumentView]


class ResultsView(BaseModel):
    """The results to hand over (status 9) or handed over (10)."""

    dossier_code: str
    documents: list[ContentDocumentView]


def content_documents(entries: list[dict[str, Any]], href: str) -> list[ContentDocumentView]:
    """``entries`` (``{"document", "from_step"}``) with their download paths ``<href>/<sha256>``."""
    return [ContentDocumentView(**e["document"], from_step=e["from_step"], href=f"{href}/{e['document']['sha256']}")
            for e in entries]
