"""The routed dossier: one dossier's journey along its procedure's route, an event-sourced aggregate.

Pure of I/O and of clocks: every command takes the instant it happens as ``at``, and the route,
the planned agencies and the working calendar as arguments; events keep only JSON-friendly values.
Every event carries ``dossier_code`` (the Kafka key when the relay publishes it on its own), and
every event that changes the national status carries the new ``national_status``.

Events: ``Received``, ``RouteAssigned``, ``StepOpened``, ``StepClaimed``, ``StepCompleted``,
``ResultReady``, ``SupplementRequested``, ``SupplementProvided``, ``PaymentRequested``,
``PaymentReceived``, ``StepRefused``, ``StepSentBack``, ``Withdrawn``, ``Stopped``,
``StepDueSoon``, ``StepOverdue``, ``ApologyIssued``, ``ResultHandedOver`` (at the desk or by post),
``ResultBackAtDesk`` (the carrier could not deliver it and brought it back), ``RoutingImpossible``
(no route or agency could be found: recorded with the reason, the status unchanged),
``ClosedAtIntake`` (intake refused it: status 3, intake's own) and ``WithdrawalDeclined``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, cast
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from routing import routes
from routing.calendar import VIETNAM, WorkingCalendar
from routing.domain import handoffs
from routing.domain.assignment import assigned_steps, cutoff, total_limit
from routing.domain.content import results_of, step_content
from routing.domain.dues import deadline_alerts, dues_after_pauses, is_overdue, moved_dues, resumed
from routing.domain.errors import (
    ApologyAlreadyIssuedError,
    InvalidCommandError,
    StepStateError,
    UnknownStepError,
    WrongAgencyError,
)
from routing.domain.guards import (
    active_step,
    checked_documents,
    require_aware,
    require_closable,
    require_not_closed,
    require_paused,
    require_processing,
    require_route,
    require_text,
    require_unrouted,
    running_due,
    step_for,
)
from routing.domain.model import (
    CLAIMED,
    CLOSED,
    COMPLETED,
    DONE,
    MAX_AMOUNT_VND,
    OPEN,
    PENDING,
    REFUSED,
    SENT_BACK,
    StepState,
    effective_predecessors,
    limit_dict,
)
from shared_events.contracts.values import TERMINAL_STATUSES, NationalStatus

ROUTING_NAMESPACE = uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/routed-dossiers")

HANDOVER_WAYS = frozenset({"desk", "post"})
"""How a result reaches the applicant: at the receiving desk, or delivered by the public postal service."""


class RoutedDossier(Aggregate):
    """One dossier (hồ sơ) moving between agencies along its route (liên thông).

    Lifecycle: received (status 1 or 2) → ``start`` (4) → steps open, are claimed and completed,
    parallel branches together → ``ResultReady`` (9) → ``hand_over`` (10: at the desk, or delivered
    by post; a result the carrier could not deliver is back at the desk first). Supplement and payment
    requests pause the clock (5, 6); a refusal or ``stop`` ends it (8), ``withdraw`` too (7).
    """

    class Received(Aggregate.Created):
        dossier_code: str
        code: str
        procedure_code: str
        locality_code: str
        receiving_agency_id: str
        channel: str
        result_delivery_method: str
        options: list[str]
        received_at: datetime
        national_status: int
        applicant: dict[str, Any] | None
        documents: list[dict[str, Any]]
        submitted_by: str | None

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Dossiers received before routing kept their content: no applicant, no documents."""
            state.update(applicant=None, documents=[], submitted_by=None)

    if TYPE_CHECKING:  # defined by the library from the @event methods below; named here for type checkers
        RouteAssigned: ClassVar[type[Any]]
        StepOpened: ClassVar[type[Any]]
        StepClaimed: ClassVar[type[Any]]
        StepCompleted: ClassVar[type[Any]]
        ResultReady: ClassVar[type[Any]]
        SupplementRequested: ClassVar[type[Any]]
        SupplementProvided: ClassVar[type[Any]]
        PaymentRequested: ClassVar[type[Any]]
        PaymentReceived: ClassVar[type[Any]]
        StepRefused: ClassVar[type[Any]]
        StepSentBack: ClassVar[type[Any]]
        Withdrawn: ClassVar[type[Any]]
        Stopped: ClassVar[type[Any]]
        StepDueSoon: ClassVar[type[Any]]
        StepOverdue: ClassVar[type[Any]]
        ApologyIssued: ClassVar[type[Any]]
        ResultHandedOver: ClassVar[type[Any]]
        ResultBackAtDesk: ClassVar[type[Any]]
        RoutingImpossible: ClassVar[type[Any]]
        ClosedAtIntake: ClassVar[type[Any]]
        WithdrawalDeclined: ClassVar[type[Any]]
        DueTimesRecomputed: ClassVar[type[Any]]

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return uuid5(ROUTING_NAMESPACE, code)

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> RoutedDossier:
        """Validate the receipt and repeat the code as ``dossier_code`` on the ``Received`` event."""
        require_aware(kwargs.get("received_at"), "received_at")
        if kwargs.get("national_status") not in (NationalStatus.NEW, NationalStatus.ACCEPTED):
            status = kwargs.get("national_status")
            raise InvalidCommandError(f"a dossier reaches routing with status 1 or 2, got {status!r}")
        options = kwargs.get("options") or []
        if isinstance(options, str) or not all(isinstance(o, str) for o in options):
            raise InvalidCommandError(f"options must be a list of option names, got {options!r}")
        kwargs["options"] = list(dict.fromkeys(options))
        kwargs["documents"] = [dict(d) for d in kwargs.get("documents") or []]
        return super()._create(event_class, id=id, dossier_code=kwargs.get("code"), **kwargs)

    def __init__(
        self, *, code: str, procedure_code: str, locality_code: str, receiving_agency_id: str, channel: str,
        result_delivery_method: str, options: list[str], received_at: datetime, national_status: int,
        applicant: dict[str, Any] | None, documents: list[dict[str, Any]], submitted_by: str | None,
    ) -> None:
        self.code = code
        self.applicant = None if applicant is None else dict(applicant)
        self.documents = [dict(d) for d in documents]
        """The documents submitted, then those supplemented (status 5), in order."""
        self.submitted_by = submitted_by
        self.procedure_code = procedure_code
        self.locality_code = locality_code
        self.receiving_agency_id = receiving_agency_id
        self.channel = channel
        self.result_delivery_method = result_delivery_method
        self.options = list(options)
        self.received_at = received_at
        self.national_status = national_status
        self.route_version: str | None = None
        self.cutoff: str | None = None
        self.total_limit: dict[str, Any] | None = None
        self.processing_started_at: datetime | None = None
        self.appointment_at: datetime | None = None
        self.original_appointment_at: datetime | None = None
        self.new_appointment_at: datetime | None = None
        self.appointment_changes: list[dict[str, Any]] = []
        self.pauses: list[dict[str, Any]] = []
        self.steps: dict[str, StepState] = {}
        self.handoffs: list[dict[str, Any]] = []
        self.apology: dict[str, Any] | None = None
        self.closed_reason: str | None = None
        self.closed_at: datetime | None = None
        self.result_ready_at: datetime | None = None
        self.handed_over_at: datetime | None = None
        self.handed_over_by: str | None = None
        self.handed_over_via: str | None = None
        self.handed_over_tracking_number: str | None = None
        self.result_back_at_desk: dict[str, Any] | None = None
        """``{agency_id, partner_id, tracking_number, attempts, returned_at}`` once the carrier brought the
        result it could not deliver back to the receiving desk."""
        self.unroutable_reason: str | None = None
        self.unroutable_at: datetime | None = None

    # --- queries ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Withdrawn, stopped, refused or returned: no action is possible any more."""
        return self.national_status in TERMINAL_STATUSES

    @property
    def current_appointment_at(self) -> datetime | None:
        """The appointment the citizen holds now: the apology's new date, else ``appointment_at``."""
        return self.new_appointment_at or self.appointment_at

    @property
    def withdrawable(self) -> bool:
        """The applicant may still withdraw: not closed and no result ready (status 9)."""
        return not self.closed and self.national_status != NationalStatus.DONE_AWAITING_HANDOVER

    def involves(self, agency_id: str | None) -> bool:
        """``agency_id`` has a step on this dossier's route (what entitles an agency to see it)."""
        return agency_id is not None and any(step.agency_id == agency_id for step in self.steps.values())

    def step(self, key: str) -> StepState:
        if key not in self.steps:
            raise UnknownStepError(f"hồ sơ {self.code} has no step {key!r}")
        return self.steps[key]

    def open_steps(self) -> list[StepState]:
        """Steps open or claimed now, in route order."""
        return [step for step in self.steps.values() if step.is_active]

    def control_sheet(self) -> list[dict[str, Any]]:
        """Form 06 (phiếu kiểm soát quá trình giải quyết): one row per ended opening of a step
        (the row: :func:`routing.domain.handoffs.handoff`)."""
        return handoffs.control_sheet(self.handoffs)

    def is_overdue(self, at: datetime) -> bool:
        """An open step is past its due instant, or the dossier is processing past its appointment."""
        require_aware(at, "at")
        return is_overdue(self, at)

    # --- start --------------------------------------------------------------------------------

    def start(
        self, route: routes.Route, planned_steps: Sequence[routes.PlannedStep], calendar: WorkingCalendar,
        at: datetime,
    ) -> None:
        """Assign the route and open its initial steps, once intake has accepted the dossier
        (on ``DossierAccepted``, or on ``DossierSubmitted`` already at status 2).

        The clock counts from receipt: processing starts at ``calendar.start_of_processing
        (received_at, cutoff=...)`` where the cut-off is the route's same-day cut-off (total limit,
        else the initial steps'), or None. The appointment (ngày hẹn trả) is ``appointment_date``
        with the route's total limit, or the critical path of the chosen steps when it has none.
        """
        require_not_closed(self)
        require_aware(at, "at")
        require_unrouted(self)
        records = assigned_steps(route, planned_steps, self.procedure_code,
                                 self.received_at.astimezone(VIETNAM).date(), self.options)
        initial = route.initial_steps(self.options)
        clock_cutoff = cutoff(route, initial)
        total = total_limit(route, self.options, calendar)
        started = calendar.start_of_processing(self.received_at, cutoff=clock_cutoff)
        appointment = (None if total is None
                       else calendar.appointment_date(self.received_at, total, cutoff=clock_cutoff))
        self._route_assigned(
            dossier_code=self.code, procedure_code=self.procedure_code, route_version=route.version, steps=records,
            cutoff=None if clock_cutoff is None else clock_cutoff.strftime("%H:%M"),
            total_limit=None if total is None else limit_dict(total),
            processing_started_at=started, appointment_at=appointment, assigned_at=at,
            national_status=NationalStatus.PROCESSING,
        )
        self._open([step.key for step in initial], started, calendar)
        self._finish_if_complete(route, at)

    def record_unroutable(self, reason: str, at: datetime) -> None:
        """Routing cannot place the dossier (no route in force on the day of receipt, an unknown
        locality, no agency for a role): keep the reason on the dossier, status unchanged, so
        the receiving desk and operators see it. Recorded once per reason."""
        require_not_closed(self)
        require_aware(at, "at")
        require_text(reason, "reason")
        require_unrouted(self)
        if reason == self.unroutable_reason:
            return
        self._routing_impossible(dossier_code=self.code, reason=reason, detected_at=at)

    @event("RoutingImpossible")
    def _routing_impossible(self, dossier_code: str, reason: str, detected_at: datetime) -> None:
        self.unroutable_reason, self.unroutable_at = reason, detected_at

    @event("RouteAssigned")
    def _route_assigned(
        self, dossier_code: str, procedure_code: str, route_version: str, steps: list[dict[str, Any]],
        cutoff: str | None, total_limit: dict[str, Any] | None, processing_started_at: datetime,
        appointment_at: datetime | None, assigned_at: datetime, national_status: int,
    ) -> None:
        self.route_version = route_version
        self.steps = {record["key"]: StepState.from_record(record) for record in steps}
        self.cutoff = cutoff
        self.total_limit = None if total_limit is None else dict(total_limit)
        self.processing_started_at = processing_started_at
        self.appointment_at = self.original_appointment_at = appointment_at
        self.national_status = national_status

    def _open(self, keys: Iterable[str], at: datetime, calendar: WorkingCalendar) -> None:
        for key in keys:
            step = self.steps[key]
            self._step_opened(
                dossier_code=self.code, procedure_code=self.procedure_code, step_key=key, step_name=step.name,
                agency_id=cast(str, step.agency_id),  # a chosen step has its agency (start refuses otherwise)
                integration=step.integration, opened_at=at,
                due_at=calendar.due(at, step.working_limit), opening=step.openings + 1,
                content=step_content(self, key) if step.integration == "kafka" else None,
            )

    @event("StepOpened")
    def _step_opened(
        self, dossier_code: str, procedure_code: str, step_key: str, step_name: str, agency_id: str,
        integration: str | None, opened_at: datetime, due_at: datetime, opening: int,
        content: dict[str, Any] | None = None,
    ) -> None:
        """The step is handed to its agency; name, procedure and integration travel with it so the
        event can be published on its own (to the agency's inbox topic when stream-integrated, with
        ``content``: what the step declares it needs of the dossier, as it stood then)."""
        self.steps[step_key].open(opened_at, due_at, opening)

    # --- an agency's work on a step ---------------------------------------------------------------

    def claim(self, step_key: str, agency_id: str, at: datetime, *, by: str | None = None) -> None:
        """The assigned agency takes the open step (open → claimed); ``by`` names the officer."""
        step = step_for(self, step_key, agency_id, at)
        if step.state != OPEN:
            raise StepStateError(f"step {step_key!r} is {step.state}, not open")
        self._step_claimed(dossier_code=self.code, step_key=step_key, agency_id=agency_id,
                           claimed_by=by or agency_id, claimed_at=at)

    @event("StepClaimed")
    def _step_claimed(
        self, dossier_code: str, step_key: str, agency_id: str, claimed_by: str, claimed_at: datetime
    ) -> None:
        self.steps[step_key].state = CLAIMED
        self.steps[step_key].claimed_by = claimed_by

    def complete(
        self, step_key: str, agency_id: str, at: datetime, documents: Sequence[Mapping[str, Any]],
        calendar: WorkingCalendar, route: routes.Route,
    ) -> None:
        """The agency hands its result on: the step is done (early, on time or late against its
        due), the steps now ready open from ``at``, and when every chosen step is done the result
        is ready (status 9)."""
        step = active_step(self, step_key, agency_id, at)
        require_processing(self, "complete a step")
        require_route(self, route)
        copies = checked_documents(documents)
        due = running_due(step)
        self._step_completed(
            dossier_code=self.code, step_key=step_key, agency_id=agency_id, opening=step.openings,
            completed_at=at, due_at=due, timeliness=calendar.classify(due, at).value, documents=copies,
        )
        done = {key for key, s in self.steps.items() if s.state == DONE}
        begun = {key for key, s in self.steps.items() if s.is_active}
        self._open([s.key for s in route.next_steps(done, self.options, started=begun)], at, calendar)
        self._finish_if_complete(route, at)

    @event("StepCompleted")
    def _step_completed(
        self, dossier_code: str, step_key: str, agency_id: str, opening: int, completed_at: datetime,
        due_at: datetime, timeliness: str, documents: list[dict[str, Any]],
    ) -> None:
        step = self.steps[step_key]
        step.state, step.completed_at, step.timeliness = DONE, completed_at, timeliness
        step.result_documents = [dict(d) for d in documents]
        self._record_handoff(step, COMPLETED, completed_at, timeliness)

    def _finish_if_complete(self, route: routes.Route, at: datetime) -> None:
        if route.is_complete({key for key, s in self.steps.items() if s.state == DONE}, self.options):
            self._result_ready(dossier_code=self.code, ready_at=at,
                               national_status=NationalStatus.DONE_AWAITING_HANDOVER, results=results_of(self))

    @event("ResultReady")
    def _result_ready(self, dossier_code: str, ready_at: datetime, national_status: int,
                      results: list[dict[str, Any]] | None = None) -> None:
        self.result_ready_at = ready_at
        self.national_status = national_status

    def send_back(self, step_key: str, agency_id: str, reason: str, at: datetime, calendar: WorkingCalendar) -> None:
        """Return the dossier to the steps this one waits for: it goes back to pending, and those
        predecessors that are done open again from ``at`` with a new due."""
        step = active_step(self, step_key, agency_id, at)
        require_processing(self, "send a step back")
        require_text(reason, "reason")
        predecessors = effective_predecessors(self.steps, step_key)
        if not predecessors:
            raise StepStateError(f"step {step_key!r} is a first step: there is nothing to send it back to")
        due = running_due(step)
        self._step_sent_back(
            dossier_code=self.code, step_key=step_key, agency_id=agency_id, opening=step.openings,
            to_steps=predecessors, reason=reason, sent_back_at=at, due_at=due,
            timeliness=calendar.classify(due, at).value,
        )
        self._open([key for key in predecessors if self.steps[key].state == DONE], at, calendar)

    @event("StepSentBack")
    def _step_sent_back(
        self, dossier_code: str, step_key: str, agency_id: str, opening: int, to_steps: list[str], reason: str,
        sent_back_at: datetime, due_at: datetime, timeliness: str,
    ) -> None:
        step = self.steps[step_key]
        self._record_handoff(step, SENT_BACK, sent_back_at, timeliness)
        step.state, step.due_at, step.claimed_by = PENDING, None, None

    # --- pauses: supplement (status 5) and payment (status 6) -----------------------------------

    def request_supplement(self, step_key: str, agency_id: str, reason: str, at: datetime) -> None:
        """Ask the citizen to supplement the dossier (form 02): status 5, the clock stops."""
        active_step(self, step_key, agency_id, at)
        require_processing(self, "request a supplement")
        require_text(reason, "reason")
        self._supplement_requested(dossier_code=self.code, step_key=step_key, agency_id=agency_id, reason=reason,
                                   requested_at=at, national_status=NationalStatus.SUPPLEMENT_REQUESTED)

    @event("SupplementRequested")
    def _supplement_requested(
        self, dossier_code: str, step_key: str, agency_id: str, reason: str, requested_at: datetime,
        national_status: int,
    ) -> None:
        self._pause("supplement", step_key, agency_id, requested_at, national_status)

    def provide_supplement(
        self, at: datetime, documents: Sequence[Mapping[str, Any]], calendar: WorkingCalendar
    ) -> None:
        """The citizen supplemented: status 4, the clock runs again and every open step's due (and
        the appointment) moves later by the paused working time."""
        require_paused(self, NationalStatus.SUPPLEMENT_REQUESTED, at)
        dues = dues_after_pauses(self, calendar, at)
        self._supplement_provided(dossier_code=self.code, provided_at=at, documents=checked_documents(documents),
                                  dues=resumed(dues), appointment_at=dues.appointment_at,
                                  national_status=NationalStatus.PROCESSING)

    @event("SupplementProvided")
    def _supplement_provided(
        self, dossier_code: str, provided_at: datetime, documents: list[dict[str, Any]], dues: dict[str, datetime],
        appointment_at: datetime | None, national_status: int,
    ) -> None:
        self.documents.extend(dict(d) for d in documents)
        self._resume(provided_at, dues, appointment_at, national_status)

    def request_payment(
        self, step_key: str, agency_id: str, amount_vnd: int, at: datetime, reason: str | None = None
    ) -> None:
        """Ask the citizen to pay taxes or fees at a step that may do so: status 6, the clock stops.
        ``reason`` (what the payment is for) is optional, but not blank when given."""
        step = active_step(self, step_key, agency_id, at)
        require_processing(self, "request a payment")
        if not step.may_request_payment:
            raise StepStateError(f"step {step_key!r} may not request a payment")
        if isinstance(amount_vnd, bool) or not isinstance(amount_vnd, int) or not 0 < amount_vnd <= MAX_AMOUNT_VND:
            raise InvalidCommandError(
                f"amount_vnd must be a whole number of đồng from 1 to {MAX_AMOUNT_VND}, got {amount_vnd!r}")
        if reason is not None:
            require_text(reason, "reason")
        self._payment_requested(dossier_code=self.code, step_key=step_key, agency_id=agency_id, amount_vnd=amount_vnd,
                                requested_at=at, national_status=NationalStatus.PAYMENT_REQUESTED, reason=reason)

    @event("PaymentRequested")
    def _payment_requested(
        self, dossier_code: str, step_key: str, agency_id: str, amount_vnd: int, requested_at: datetime,
        national_status: int, reason: str | None = None,
    ) -> None:
        """``reason`` defaults to None: a payment request stored without one loads unchanged."""
        self._pause("payment", step_key, agency_id, requested_at, national_status)

    def record_payment(self, at: datetime, calendar: WorkingCalendar) -> None:
        """The citizen paid: status 4, dues and appointment move as for a supplement."""
        require_paused(self, NationalStatus.PAYMENT_REQUESTED, at)
        dues = dues_after_pauses(self, calendar, at)
        self._payment_received(dossier_code=self.code, paid_at=at, dues=resumed(dues),
                               appointment_at=dues.appointment_at, national_status=NationalStatus.PROCESSING)

    @event("PaymentReceived")
    def _payment_received(
        self, dossier_code: str, paid_at: datetime, dues: dict[str, datetime], appointment_at: datetime | None,
        national_status: int,
    ) -> None:
        self._resume(paid_at, dues, appointment_at, national_status)

    def _pause(self, kind: str, step_key: str, agency_id: str, at: datetime, national_status: int) -> None:
        self.pauses.append(
            {"kind": kind, "step_key": step_key, "agency_id": agency_id, "started_at": at, "ended_at": None}
        )
        for step in self.open_steps():
            step.due_at = None
        self.national_status = national_status

    def _resume(self, at: datetime, dues: dict[str, datetime], appointment_at: datetime | None, status: int) -> None:
        self.pauses[-1]["ended_at"] = at
        for key, due in dues.items():
            self.steps[key].due_at = due
        self.appointment_at = appointment_at
        self.national_status = status

    # --- a changed working calendar -------------------------------------------------------------

    def reschedule(self, calendar: WorkingCalendar, *, decision: str, reason: str, at: datetime) -> None:
        """The working calendar changed (now at ``calendar.revision``, last by ``decision``): every
        open step's due and the appointment are counted again on it, with the dossier's pauses, and
        what moved is recorded with its old and new values (``DueTimesRecomputed``). Closed steps
        never change; a paused dossier (its dues are counted when the clock runs again), one not
        yet routed and a closed one record nothing. The apology's new appointment is the agency's
        own date and stays."""
        require_aware(at, "at")
        if self.closed or self.route_version is None or self.national_status != NationalStatus.PROCESSING:
            return
        moved = moved_dues(self, calendar, at)
        if moved.steps or moved.appointment_at is not None:
            self._due_times_recomputed(
                dossier_code=self.code, calendar_revision=calendar.revision, decision=decision, reason=reason,
                steps=moved.steps, previous_appointment_at=self.appointment_at if moved.appointment_at else None,
                appointment_at=moved.appointment_at, recomputed_at=at)

    @event("DueTimesRecomputed")
    def _due_times_recomputed(
        self, dossier_code: str, calendar_revision: int, decision: str, reason: str, steps: list[dict[str, Any]],
        previous_appointment_at: datetime | None, appointment_at: datetime | None, recomputed_at: datetime,
    ) -> None:
        for change in steps:
            step = self.steps[change["step_key"]]
            step.due_at = change["due_at"]
            step.due_changes.append({"previous_due_at": change["previous_due_at"], "due_at": change["due_at"],
                                     "calendar_revision": calendar_revision, "decision": decision,
                                     "changed_at": recomputed_at})
            if change["due_at"] > change["previous_due_at"] and change["due_at"] > recomputed_at:
                step.due_soon_raised = step.overdue_raised = False  # raised again against the new due
        if appointment_at is not None:
            self.appointment_changes.append({"previous_appointment_at": previous_appointment_at,
                                             "appointment_at": appointment_at, "calendar_revision": calendar_revision,
                                             "decision": decision, "changed_at": recomputed_at})
            self.appointment_at = appointment_at

    # --- ending the processing ------------------------------------------------------------------

    def refuse(
        self, step_key: str, agency_id: str, reason: str, at: datetime, calendar: WorkingCalendar | None = None
    ) -> None:
        """The agency refuses to resolve the dossier (form 03): processing stops (status 8) and
        every open step closes. With ``calendar`` the refusal is classified against its due."""
        step = active_step(self, step_key, agency_id, at)
        require_text(reason, "reason")
        timeliness = None
        if calendar is not None and step.due_at is not None:
            timeliness = calendar.classify(step.due_at, at).value
        self._step_refused(
            dossier_code=self.code, step_key=step_key, agency_id=agency_id, opening=step.openings, reason=reason,
            refused_at=at, due_at=step.due_at, timeliness=timeliness,
            closed_steps=[s.key for s in self.open_steps() if s.key != step_key],
            national_status=NationalStatus.STOPPED,
        )

    @event("StepRefused")
    def _step_refused(
        self, dossier_code: str, step_key: str, agency_id: str, opening: int, reason: str, refused_at: datetime,
        due_at: datetime | None, timeliness: str | None, closed_steps: list[str], national_status: int,
    ) -> None:
        step = self.steps[step_key]
        self._record_handoff(step, REFUSED, refused_at, timeliness)
        step.state = CLOSED
        self._close(closed_steps, reason, refused_at, national_status)

    def withdraw(self, reason: str, at: datetime) -> None:
        """The citizen withdraws the dossier (status 7); every open step closes."""
        require_closable(self, at)
        require_text(reason, "reason")
        self._withdrawn(dossier_code=self.code, reason=reason, withdrawn_at=at,
                        closed_steps=[s.key for s in self.open_steps()], national_status=NationalStatus.WITHDRAWN)

    @event("Withdrawn")
    def _withdrawn(
        self, dossier_code: str, reason: str, withdrawn_at: datetime, closed_steps: list[str], national_status: int
    ) -> None:
        self._close(closed_steps, reason, withdrawn_at, national_status)

    def decide_withdrawal(self, reason: str, at: datetime) -> None:
        """The applicant's withdrawal request (from intake): withdrawn (status 7) while the dossier
        is still withdrawable, else ``WithdrawalDeclined`` naming the status it keeps."""
        require_aware(at, "at")
        require_text(reason, "reason")
        if self.withdrawable:
            self.withdraw(reason, at)
        else:
            self._withdrawal_declined(dossier_code=self.code, reason=reason, declined_at=at,
                                      national_status=self.national_status)

    @event("WithdrawalDeclined")
    def _withdrawal_declined(self, dossier_code: str, reason: str, declined_at: datetime, national_status: int) -> None:
        pass

    def close_at_intake(self, reason: str, at: datetime) -> None:
        """Intake refused the dossier (status 3, intake's): routing's record closes, every open
        step with it; routing publishes no status for it."""
        require_closable(self, at)
        require_text(reason, "reason")
        self._closed_at_intake(dossier_code=self.code, reason=reason, refused_at=at,
                               closed_steps=[s.key for s in self.open_steps()],
                               national_status=NationalStatus.REFUSED_AT_INTAKE)

    @event("ClosedAtIntake")
    def _closed_at_intake(
        self, dossier_code: str, reason: str, refused_at: datetime, closed_steps: list[str], national_status: int
    ) -> None:
        self._close(closed_steps, reason, refused_at, national_status)

    def stop(self, reason: str, at: datetime, *, by: str | None = None) -> None:
        """Stop processing (form 05, status 8); every open step closes. ``by`` names who decided."""
        require_closable(self, at)
        require_text(reason, "reason")
        self._stopped(dossier_code=self.code, reason=reason, stopped_by=by, stopped_at=at,
                      closed_steps=[s.key for s in self.open_steps()], national_status=NationalStatus.STOPPED)

    @event("Stopped")
    def _stopped(
        self, dossier_code: str, reason: str, stopped_by: str | None, stopped_at: datetime, closed_steps: list[str],
        national_status: int,
    ) -> None:
        self._close(closed_steps, reason, stopped_at, national_status)

    def _close(self, keys: list[str], reason: str, at: datetime, national_status: int) -> None:
        for key in keys:
            step = self.steps[key]
            self._record_handoff(step, CLOSED, None, None)
            step.state = CLOSED
        if self.pauses and self.pauses[-1]["ended_at"] is None:
            self.pauses[-1]["ended_at"] = at
        self.closed_reason, self.closed_at = reason, at
        self.national_status = national_status

    # --- deadlines and apology ------------------------------------------------------------------

    def check_deadlines(self, at: datetime, due_soon_within: timedelta, calendar: WorkingCalendar) -> None:
        """The timer: ``StepOverdue`` for an open step past its due (attributing the delay to its
        agency), else ``StepDueSoon`` when at most ``due_soon_within`` working time is left. Each is
        raised once per opening; paused steps (no due) and closed dossiers raise nothing."""
        require_aware(at, "at")
        for alert in deadline_alerts(self.open_steps(), at, due_soon_within, calendar):
            raise_alert = self._step_overdue if alert.overdue else self._step_due_soon
            raise_alert(dossier_code=self.code, step_key=alert.step.key, agency_id=cast(str, alert.step.agency_id),
                        opening=alert.step.openings, due_at=alert.due_at, detected_at=at)

    @event("StepDueSoon")
    def _step_due_soon(
        self, dossier_code: str, step_key: str, agency_id: str, opening: int, due_at: datetime, detected_at: datetime
    ) -> None:
        self.steps[step_key].due_soon_raised = True

    @event("StepOverdue")
    def _step_overdue(
        self, dossier_code: str, step_key: str, agency_id: str, opening: int, due_at: datetime, detected_at: datetime
    ) -> None:
        self.steps[step_key].overdue_raised = True

    def issue_apology(self, agency_id: str, reason: str, new_appointment_at: datetime, at: datetime) -> None:
        """A late agency apologises and sets a new appointment (form 04), once per dossier.

        The agency is late when one of its open steps is past due (or was reported overdue) or it
        handed a step on late; the new appointment must be after the current one.
        """
        require_not_closed(self)
        require_aware(at, "at")
        require_aware(new_appointment_at, "new_appointment_at")
        if self.apology is not None:
            raise ApologyAlreadyIssuedError(
                f"hồ sơ {self.code} already has an apology from {self.apology['agency_id']}"
            )
        if not handoffs.is_late(agency_id, self.open_steps(), self.handoffs, at):
            raise StepStateError(f"agency {agency_id} has no overdue step in hồ sơ {self.code}")
        require_text(reason, "reason")
        if self.appointment_at is None or new_appointment_at <= self.appointment_at:
            raise InvalidCommandError(f"the new appointment must be after {self.appointment_at}")
        self._apology_issued(dossier_code=self.code, agency_id=agency_id, reason=reason,
                             original_appointment_at=self.appointment_at, new_appointment_at=new_appointment_at,
                             issued_at=at)

    @event("ApologyIssued")
    def _apology_issued(
        self, dossier_code: str, agency_id: str, reason: str, original_appointment_at: datetime,
        new_appointment_at: datetime, issued_at: datetime,
    ) -> None:
        self.apology = {"agency_id": agency_id, "reason": reason, "issued_at": issued_at,
                        "original_appointment_at": original_appointment_at, "new_appointment_at": new_appointment_at}
        self.new_appointment_at = new_appointment_at

    # --- result ---------------------------------------------------------------------------------

    def hand_over(self, by: str, at: datetime, *, via: str = "desk", tracking_number: str | None = None) -> None:
        """Return the result (status 9 → 10): at the desk, or ``via="post"`` delivered to the applicant
        by the carrier (trả kết quả qua dịch vụ bưu chính công ích) under ``tracking_number`` — only when
        the applicant asked for the result by post."""
        require_not_closed(self)
        require_aware(at, "at")
        if self.national_status != NationalStatus.DONE_AWAITING_HANDOVER:
            raise StepStateError(
                f"hồ sơ {self.code} has no result ready to hand over (status {self.national_status})"
            )
        require_text(by, "by")
        if via not in HANDOVER_WAYS:
            raise InvalidCommandError(f"a result is handed over at the desk or by post, not {via!r}")
        if via == "post":
            require_text(tracking_number, "tracking_number")
            if self.result_delivery_method != "post":
                raise StepStateError(f"the applicant of hồ sơ {self.code} asked for the result at the desk")
        self._result_handed_over(dossier_code=self.code, handed_over_by=by, handed_over_at=at,
                                 national_status=NationalStatus.RESULT_RETURNED, via=via,
                                 tracking_number=tracking_number)

    @event("ResultHandedOver")
    def _result_handed_over(
        self, dossier_code: str, handed_over_by: str, handed_over_at: datetime, national_status: int,
        via: str = "desk", tracking_number: str | None = None,
    ) -> None:
        """``via`` and ``tracking_number`` default to the desk: a hand-over stored before results went
        by post loads unchanged."""
        self.handed_over_by, self.handed_over_at = handed_over_by, handed_over_at
        self.handed_over_via, self.handed_over_tracking_number = via, tracking_number
        self.national_status = national_status

    def record_result_back_at_desk(self, agency_id: str, partner_id: str, tracking_number: str, attempts: int,
                                   at: datetime) -> None:
        """The carrier could not deliver the result and brought it back to the receiving desk after
        ``attempts`` attempts: the status stays 9 and the applicant collects it there (``hand_over``).
        The same parcel reported again records nothing."""
        if self.result_back_at_desk is not None and self.result_back_at_desk["tracking_number"] == tracking_number:
            return
        require_not_closed(self)
        require_aware(at, "at")
        if self.national_status != NationalStatus.DONE_AWAITING_HANDOVER:
            raise StepStateError(f"hồ sơ {self.code} has no result awaiting hand-over (status {self.national_status})")
        if agency_id != self.receiving_agency_id:
            raise WrongAgencyError(f"hồ sơ {self.code} is received by {self.receiving_agency_id}, not by {agency_id}")
        require_text(partner_id, "partner_id")
        require_text(tracking_number, "tracking_number")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise InvalidCommandError(f"attempts must be a whole number from 1, got {attempts!r}")
        self._result_back_at_desk(dossier_code=self.code, agency_id=agency_id, partner_id=partner_id,
                                  tracking_number=tracking_number, attempts=attempts, returned_at=at)

    @event("ResultBackAtDesk")
    def _result_back_at_desk(self, dossier_code: str, agency_id: str, partner_id: str, tracking_number: str,
                             attempts: int, returned_at: datetime) -> None:
        self.result_back_at_desk = {"agency_id": agency_id, "partner_id": partner_id,
                                    "tracking_number": tracking_number, "attempts": attempts,
                                    "returned_at": returned_at}

    # --- bookkeeping ----------------------------------------------------------------------------

    def _record_handoff(self, step: StepState, outcome: str, ended_at: datetime | None, timeliness: str | None) -> None:
        self.handoffs.append(handoffs.handoff(step, outcome, ended_at, timeliness))
