"""Events the routing service publishes on ``lienthong.routing.dossier-events`` (luân chuyển hồ sơ),
the step hand-offs it sends to stream-integrated agencies, and the replies it accepts from them.

A step is one agency's part of a dossier's inter-agency route (bước liên thông). Every event
names its dossier by ``dossier_code``, the envelope ``subject`` and the Kafka key.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared_events.contracts.base import Contract, Upcaster, ValueObject
from shared_events.contracts.documents import StepContent
from shared_events.contracts.values import NationalStatus, SubmittedDocument
from shared_events.scalars import AgencyId, DossierCode, LongText, ProcedureCode, ShortText, UtcDatetime
from shared_events.topics import AGENCY_REPLY_TOPICS, ROUTING_DOSSIER_EVENTS

StepKey = ShortText
Timeliness = Literal["early", "on_time", "late"]


class PlannedStep(ValueObject):
    """One step of the route as planned at acceptance: which agency, after which steps, how long."""

    step_key: StepKey
    name: ShortText
    role: ShortText
    agency_id: AgencyId
    integration: Literal["rest", "kafka"]
    after: tuple[StepKey, ...] = ()
    limit_value: float = Field(ge=0)
    limit_unit: Literal["working_days", "working_hours", "same_day"]


class DossierRouted(Contract):
    """The route in force on the day of receipt was assigned; the appointment date (ngày hẹn trả) is set."""

    TYPE: ClassVar[str] = "vn.lienthong.routing.dossier.routed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    procedure_code: ProcedureCode
    route_version: ShortText
    steps: tuple[PlannedStep, ...] = Field(min_length=1)
    processing_started_at: UtcDatetime
    appointment_at: UtcDatetime


class StepOpened(Contract):
    """A step was handed to its agency (chuyển hồ sơ), with the time it is due.

    Also sent to the agency's inbox topic when the agency is stream-integrated.
    ``due_at`` is absent while the clock is paused.
    """

    TYPE: ClassVar[str] = "vn.lienthong.routing.step.opened"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    procedure_code: ProcedureCode
    step_key: StepKey
    step_name: ShortText
    agency_id: AgencyId
    opened_at: UtcDatetime
    due_at: UtcDatetime | None = None
    opening: int = Field(ge=1, description="1 the first time, 2+ when the step was sent back to")
    content: StepContent | None = Field(
        default=None, description="Only on a stream-integrated agency's inbox topic: what the step declares it "
        "needs of the dossier, each document with a signed single-use link (never on the routing topic).")


class StepClaimed(Contract):
    """The agency took the step in hand (nhận xử lý)."""

    TYPE: ClassVar[str] = "vn.lienthong.routing.step.claimed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    step_key: StepKey
    agency_id: AgencyId
    claimed_at: UtcDatetime


class StepCompleted(Contract):
    """The agency finished its step, with its result documents; early, on time or late (form 06)."""

    TYPE: ClassVar[str] = "vn.lienthong.routing.step.completed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    step_key: StepKey
    agency_id: AgencyId
    completed_at: UtcDatetime
    due_at: UtcDatetime | None = None
    timeliness: Timeliness | None = None
    documents: tuple[SubmittedDocument, ...] = ()


class StepReturned(Contract):
    """The agency refused the dossier, or sent it back to the previous step, with a reason."""

    TYPE: ClassVar[str] = "vn.lienthong.routing.step.returned"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    step_key: StepKey
    agency_id: AgencyId
    outcome: Literal["refused", "sent_back"]
    reason: LongText
    to_steps: tuple[StepKey, ...] = ()
    returned_at: UtcDatetime


class ClockPaused(Contract):
    """The clock stopped: a supplement (status 5, form 02) or a payment (status 6) is awaited."""

    TYPE: ClassVar[str] = "vn.lienthong.routing.clock.paused"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    kind: Literal["supplement", "payment"]
    step_key: StepKey
    agency_id: AgencyId
    reason: LongText | None = None
    amount_vnd: int | None = Field(default=None, ge=0)
    paused_at: UtcDatetime


class ClockResumed(Contract):
    """The citizen supplemented or paid; the clock runs again and due times moved by the pause."""

    TYPE: ClassVar[str] = "vn.lienthong.routing.clock.resumed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    kind: Literal["supplement", "payment"]
    resumed_at: UtcDatetime
    due_at: dict[StepKey, datetime] = Field(default_factory=dict)
    appointment_at: UtcDatetime | None = None


class StepDeadlineReached(Contract):
    """A step is due soon, or overdue — then the delay is attributed to ``agency_id``."""

    TYPE: ClassVar[str] = "vn.lienthong.routing.step.deadline"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    step_key: StepKey
    agency_id: AgencyId
    kind: Literal["due_soon", "overdue"]
    due_at: UtcDatetime
    detected_at: UtcDatetime


class ApologyIssued(Contract):
    """The late agency apologised and set a new appointment date (form 04); both dates are kept."""

    TYPE: ClassVar[str] = "vn.lienthong.routing.apology.issued"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    agency_id: AgencyId
    reason: LongText
    original_appointment_at: UtcDatetime
    new_appointment_at: UtcDatetime
    issued_at: UtcDatetime


class RoutingFinished(Contract):
    """The route ended: result ready (9), handed over (10), withdrawn (7) or stopped (8)."""

    TYPE: ClassVar[str] = "vn.lienthong.routing.finished"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ROUTING_DOSSIER_EVENTS

    dossier_code: DossierCode
    national_status: NationalStatus
    reason: LongText | None = None
    finished_at: UtcDatetime
    results: tuple[SubmittedDocument, ...] = Field(
        default=(), description="With status 9 and 10: every step's result documents (by hash), for the desk "
        "and the applicant.")


class AgencyActed(Contract):
    """A stream-integrated agency system acts on a step routed to it (the REST inbox's actions)."""

    TYPE: ClassVar[str] = "vn.lienthong.agency.acted"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = AGENCY_REPLY_TOPICS

    dossier_code: DossierCode
    step_key: StepKey
    agency_id: AgencyId
    action: Literal["claim", "complete", "request_supplement", "request_payment", "refuse", "send_back"]
    reason: LongText | None = None
    amount_vnd: int | None = Field(default=None, ge=0)
    documents: tuple[SubmittedDocument, ...] = ()
    acted_at: UtcDatetime


CONTRACTS: tuple[type[Contract], ...] = (
    DossierRouted, StepOpened, StepClaimed, StepCompleted, StepReturned, ClockPaused, ClockResumed,
    StepDeadlineReached, ApologyIssued, RoutingFinished, AgencyActed,
)
UPCASTERS: tuple[Upcaster, ...] = ()
