"""The routed dossier: one dossier's journey along its procedure's route, an event-sourced aggregate.

Pure of I/O and of clocks: every command takes the instant it happens as ``at``, and the route,
the planned agencies and the working calendar as arguments; events keep only JSON-friendly values.
Every event carries ``dossier_code`` (the Kafka key when the relay publishes it on its own), and
every event that changes the national status carries the new ``national_status``.

Events: ``Received``, ``RouteAssigned``, ``StepOpened``, ``StepClaimed``, ``StepCompleted``,
``ResultReady``, ``SupplementRequested``, ``SupplementProvided``, ``PaymentRequested``,
``PaymentReceived``, ``StepRefused``, ``StepSentBack``, ``Withdrawn``, ``Stopped``,
``StepDueSoon``, ``StepOverdue``, ``ApologyIssued``, ``ResultHandedOver``, ``RoutingImpossible``
(no route or agency could be found: recorded with the reason, the status unchanged),
``ClosedAtIntake`` (intake refused it: status 3, intake's own) and ``WithdrawalDeclined``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from routing import routes
from routing.calendar import VIETNAM, WorkingCalendar, WorkingLimit
from routing.domain.errors import (
    ApologyAlreadyIssuedError,
    DossierClosedError,
    InvalidCommandError,
    StepStateError,
    UnknownStepError,
    WrongAgencyError,
)
from routing.domain.model import (
    ACCEPTED,
    CLAIMED,
    CLOSED,
    CLOSED_STATUSES,
    COMPLETED,
    DONE,
    MAX_AMOUNT_VND,
    NEW,
    OPEN,
    PAYMENT_REQUESTED,
    PENDING,
    PROCESSING,
    REFUSED,
    REFUSED_AT_INTAKE,
    RESULT_READY,
    RESULT_RETURNED,
    SENT_BACK,
    SKIPPED,
    STOPPED,
    SUPPLEMENT_REQUESTED,
    WITHDRAWN,
    StepState,
    critical_path_limit,
    effective_predecessors,
    limit_dict,
    step_record,
    working_limit,
)

ROUTING_NAMESPACE = uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/routed-dossiers")

_DOCUMENT_KEYS = frozenset({"name", "media_type", "size_bytes", "sha256"})


class RoutedDossier(Aggregate):
    """One dossier (hồ sơ) moving between agencies along its route (liên thông).

    Lifecycle: received (status 1 or 2) → ``start`` (4) → steps open, are claimed and completed,
    parallel branches together → ``ResultReady`` (9) → ``hand_over`` (10). Supplement and payment
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

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:  # type: ignore[override]
        return uuid5(ROUTING_NAMESPACE, code)

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> RoutedDossier:
        """Validate the receipt and repeat the code as ``dossier_code`` on the ``Received`` event."""
        _require_aware(kwargs.get("received_at"), "received_at")
        if kwargs.get("national_status") not in (NEW, ACCEPTED):
            status = kwargs.get("national_status")
            raise InvalidCommandError(f"a dossier reaches routing with status 1 or 2, got {status!r}")
        options = kwargs.get("options") or []
        if isinstance(options, str) or not all(isinstance(o, str) for o in options):
            raise InvalidCommandError(f"options must be a list of option names, got {options!r}")
        kwargs["options"] = list(dict.fromkeys(options))
        return super()._create(event_class, id=id, dossier_code=kwargs.get("code"), **kwargs)

    def __init__(
        self, *, code: str, procedure_code: str, locality_code: str, receiving_agency_id: str, channel: str,
        result_delivery_method: str, options: list[str], received_at: datetime, national_status: int,
    ) -> None:
        self.code = code
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
        self.pauses: list[dict[str, Any]] = []
        self.steps: dict[str, StepState] = {}
        self.handoffs: list[dict[str, Any]] = []
        self.apology: dict[str, Any] | None = None
        self.closed_reason: str | None = None
        self.closed_at: datetime | None = None
        self.result_ready_at: datetime | None = None
        self.handed_over_at: datetime | None = None
        self.handed_over_by: str | None = None
        self.unroutable_reason: str | None = None
        self.unroutable_at: datetime | None = None

    # --- queries ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Withdrawn, stopped, refused or returned: no action is possible any more."""
        return self.national_status in CLOSED_STATUSES

    @property
    def current_appointment_at(self) -> datetime | None:
        """The appointment the citizen holds now: the apology's new date, else ``appointment_at``."""
        return self.new_appointment_at or self.appointment_at

    @property
    def withdrawable(self) -> bool:
        """The applicant may still withdraw: not closed and no result ready (status 9)."""
        return not self.closed and self.national_status != RESULT_READY

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
        """Form 06 (phiếu kiểm soát quá trình giải quyết): one row per ended opening of a step.

        Row: ``step_key, name, agency_id, opening, opened_at, due_at, completed_at`` (when the
        agency handed it on: completed, sent back or refused; None when closed by a withdrawal or
        stop), ``timeliness`` (early | on_time | late | None) and ``outcome`` (completed |
        sent_back | refused | closed).
        """
        return [dict(row) for row in self.handoffs]

    def is_overdue(self, at: datetime) -> bool:
        """An open step is past its due instant, or the dossier is processing past its appointment."""
        _require_aware(at, "at")
        if any(step.due_at is not None and at > step.due_at for step in self.open_steps()):
            return True
        appointment = self.current_appointment_at
        return self.national_status == PROCESSING and appointment is not None and at > appointment

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
        self._require_not_closed()
        _require_aware(at, "at")
        if self.route_version is not None:
            raise StepStateError(f"hồ sơ {self.code} already follows route version {self.route_version}")
        if route.procedure_code != self.procedure_code:
            raise InvalidCommandError(f"route {route.procedure_code} is not for procedure {self.procedure_code}")
        if not route.in_force(self.received_at.astimezone(VIETNAM).date()):
            raise InvalidCommandError(f"route version {route.version} was not in force on the day of receipt")
        try:
            active = route.active_steps(self.options)
        except routes.UnknownStepError as error:
            raise InvalidCommandError(str(error)) from None
        agencies = {planned.step.key: planned.agency for planned in planned_steps}
        if unknown := sorted(set(agencies) - {step.key for step in route.steps}):
            raise InvalidCommandError(f"planned steps {unknown} are not in route version {route.version}")
        if missing := [step.key for step in active if step.key not in agencies]:
            raise InvalidCommandError(f"no agency planned for steps {missing}")
        active_keys = {step.key for step in active}
        records = [
            step_record(
                step,
                agencies[step.key].id if step.key in agencies else None,
                agencies[step.key].integration if step.key in agencies else None,
                skipped=step.key not in active_keys,
            )
            for step in route.steps
        ]
        initial = route.initial_steps(self.options)
        cutoff = _cutoff(route, initial)
        total = self._total_limit(route, calendar)
        started = calendar.start_of_processing(self.received_at, cutoff=cutoff)
        appointment = None if total is None else calendar.appointment_date(self.received_at, total, cutoff=cutoff)
        self._route_assigned(
            dossier_code=self.code, procedure_code=self.procedure_code, route_version=route.version, steps=records,
            cutoff=None if cutoff is None else cutoff.strftime("%H:%M"),
            total_limit=None if total is None else limit_dict(total),
            processing_started_at=started, appointment_at=appointment, assigned_at=at, national_status=PROCESSING,
        )
        self._open([step.key for step in initial], started, calendar)
        self._finish_if_complete(route, at)

    def record_unroutable(self, reason: str, at: datetime) -> None:
        """Routing cannot place the dossier (no route in force on the day of receipt, an unknown
        locality, no agency for a role): keep the reason on the dossier, status unchanged, so
        the receiving desk and operators see it. Recorded once per reason."""
        self._require_not_closed()
        _require_aware(at, "at")
        _require_text(reason, "reason")
        if self.route_version is not None:
            raise StepStateError(f"hồ sơ {self.code} already follows route version {self.route_version}")
        if reason == self.unroutable_reason:
            return
        self._routing_impossible(dossier_code=self.code, reason=reason, detected_at=at)

    @event("RoutingImpossible")
    def _routing_impossible(self, dossier_code: str, reason: str, detected_at: datetime) -> None:
        self.unroutable_reason, self.unroutable_at = reason, detected_at

    def _total_limit(self, route: routes.Route, calendar: WorkingCalendar) -> WorkingLimit | None:
        if route.total_time_limit is not None:
            return working_limit(limit_dict(route.total_time_limit))
        return critical_path_limit(
            route, self.options, working_day_hours=calendar.working_day_length / timedelta(hours=1)
        )

    @event("RouteAssigned")
    def _route_assigned(
        self, dossier_code: str, procedure_code: str, route_version: str, steps: list[dict[str, Any]], cutoff: str | None,
        total_limit: dict[str, Any] | None, processing_started_at: datetime, appointment_at: datetime | None,
        assigned_at: datetime, national_status: int,
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
                agency_id=step.agency_id, integration=step.integration, opened_at=at,
                due_at=calendar.due(at, step.working_limit), opening=step.openings + 1,
            )

    @event("StepOpened")
    def _step_opened(
        self, dossier_code: str, procedure_code: str, step_key: str, step_name: str, agency_id: str,
        integration: str | None, opened_at: datetime, due_at: datetime, opening: int,
    ) -> None:
        """The step is handed to its agency; name, procedure and integration travel with it so the
        event can be published on its own (to the agency's inbox topic when stream-integrated)."""
        self.steps[step_key].open(opened_at, due_at, opening)

    # --- an agency's work on a step ---------------------------------------------------------------

    def claim(self, step_key: str, agency_id: str, at: datetime, *, by: str | None = None) -> None:
        """The assigned agency takes the open step (open → claimed); ``by`` names the officer."""
        step = self._step_for(step_key, agency_id, at)
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
        step = self._active_step(step_key, agency_id, at)
        self._require_processing("complete a step")
        self._require_route(route)
        documents = _documents(documents)
        self._step_completed(
            dossier_code=self.code, step_key=step_key, agency_id=agency_id, opening=step.openings,
            completed_at=at, due_at=step.due_at, timeliness=calendar.classify(step.due_at, at).value,
            documents=documents,
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
            self._result_ready(dossier_code=self.code, ready_at=at, national_status=RESULT_READY)

    @event("ResultReady")
    def _result_ready(self, dossier_code: str, ready_at: datetime, national_status: int) -> None:
        self.result_ready_at = ready_at
        self.national_status = national_status

    def send_back(self, step_key: str, agency_id: str, reason: str, at: datetime, calendar: WorkingCalendar) -> None:
        """Return the dossier to the steps this one waits for: it goes back to pending, and those
        predecessors that are done open again from ``at`` with a new due."""
        step = self._active_step(step_key, agency_id, at)
        self._require_processing("send a step back")
        _require_text(reason, "reason")
        predecessors = effective_predecessors(self.steps, step_key)
        if not predecessors:
            raise StepStateError(f"step {step_key!r} is a first step: there is nothing to send it back to")
        self._step_sent_back(
            dossier_code=self.code, step_key=step_key, agency_id=agency_id, opening=step.openings,
            to_steps=predecessors, reason=reason, sent_back_at=at, due_at=step.due_at,
            timeliness=calendar.classify(step.due_at, at).value,
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
        self._active_step(step_key, agency_id, at)
        self._require_processing("request a supplement")
        _require_text(reason, "reason")
        self._supplement_requested(dossier_code=self.code, step_key=step_key, agency_id=agency_id, reason=reason,
                                   requested_at=at, national_status=SUPPLEMENT_REQUESTED)

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
        self._require_paused(SUPPLEMENT_REQUESTED, at)
        dues, appointment = self._dues_after_pause(at, calendar)
        self._supplement_provided(dossier_code=self.code, provided_at=at, documents=_documents(documents), dues=dues,
                                  appointment_at=appointment, national_status=PROCESSING)

    @event("SupplementProvided")
    def _supplement_provided(
        self, dossier_code: str, provided_at: datetime, documents: list[dict[str, Any]], dues: dict[str, datetime],
        appointment_at: datetime | None, national_status: int,
    ) -> None:
        self._resume(provided_at, dues, appointment_at, national_status)

    def request_payment(self, step_key: str, agency_id: str, amount_vnd: int, at: datetime) -> None:
        """Ask the citizen to pay taxes or fees at a step that may do so: status 6, the clock stops."""
        step = self._active_step(step_key, agency_id, at)
        self._require_processing("request a payment")
        if not step.may_request_payment:
            raise StepStateError(f"step {step_key!r} may not request a payment")
        if isinstance(amount_vnd, bool) or not isinstance(amount_vnd, int) or not 0 < amount_vnd <= MAX_AMOUNT_VND:
            raise InvalidCommandError(
                f"amount_vnd must be a whole number of đồng from 1 to {MAX_AMOUNT_VND}, got {amount_vnd!r}")
        self._payment_requested(dossier_code=self.code, step_key=step_key, agency_id=agency_id, amount_vnd=amount_vnd,
                                requested_at=at, national_status=PAYMENT_REQUESTED)

    @event("PaymentRequested")
    def _payment_requested(
        self, dossier_code: str, step_key: str, agency_id: str, amount_vnd: int, requested_at: datetime,
        national_status: int,
    ) -> None:
        self._pause("payment", step_key, agency_id, requested_at, national_status)

    def record_payment(self, at: datetime, calendar: WorkingCalendar) -> None:
        """The citizen paid: status 4, dues and appointment move as for a supplement."""
        self._require_paused(PAYMENT_REQUESTED, at)
        dues, appointment = self._dues_after_pause(at, calendar)
        self._payment_received(dossier_code=self.code, paid_at=at, dues=dues, appointment_at=appointment,
                               national_status=PROCESSING)

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

    def _dues_after_pause(self, at: datetime, calendar: WorkingCalendar) -> tuple[dict[str, datetime], datetime | None]:
        pauses = [(p["started_at"], p["ended_at"] or at) for p in self.pauses]
        dues = {
            step.key: calendar.due_with_pauses(step.opened_at, step.working_limit, pauses) for step in self.open_steps()
        }
        appointment = self.appointment_at
        if self.total_limit is not None:
            appointment = calendar.due_with_pauses(self.processing_started_at, working_limit(self.total_limit), pauses)
        return dues, appointment  # type: ignore[return-value]  # every pause is closed: no None

    # --- ending the processing ------------------------------------------------------------------

    def refuse(
        self, step_key: str, agency_id: str, reason: str, at: datetime, calendar: WorkingCalendar | None = None
    ) -> None:
        """The agency refuses to resolve the dossier (form 03): processing stops (status 8) and
        every open step closes. With ``calendar`` the refusal is classified against its due."""
        step = self._active_step(step_key, agency_id, at)
        _require_text(reason, "reason")
        timeliness = None
        if calendar is not None and step.due_at is not None:
            timeliness = calendar.classify(step.due_at, at).value
        self._step_refused(
            dossier_code=self.code, step_key=step_key, agency_id=agency_id, opening=step.openings, reason=reason,
            refused_at=at, due_at=step.due_at, timeliness=timeliness,
            closed_steps=[s.key for s in self.open_steps() if s.key != step_key], national_status=STOPPED,
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
        self._require_closable(at)
        _require_text(reason, "reason")
        self._withdrawn(dossier_code=self.code, reason=reason, withdrawn_at=at,
                        closed_steps=[s.key for s in self.open_steps()], national_status=WITHDRAWN)

    @event("Withdrawn")
    def _withdrawn(
        self, dossier_code: str, reason: str, withdrawn_at: datetime, closed_steps: list[str], national_status: int
    ) -> None:
        self._close(closed_steps, reason, withdrawn_at, national_status)

    def decide_withdrawal(self, reason: str, at: datetime) -> None:
        """The applicant's withdrawal request (from intake): withdrawn (status 7) while the dossier
        is still withdrawable, else ``WithdrawalDeclined`` naming the status it keeps."""
        _require_aware(at, "at")
        _require_text(reason, "reason")
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
        self._require_closable(at)
        _require_text(reason, "reason")
        self._closed_at_intake(dossier_code=self.code, reason=reason, refused_at=at,
                               closed_steps=[s.key for s in self.open_steps()], national_status=REFUSED_AT_INTAKE)

    @event("ClosedAtIntake")
    def _closed_at_intake(
        self, dossier_code: str, reason: str, refused_at: datetime, closed_steps: list[str], national_status: int
    ) -> None:
        self._close(closed_steps, reason, refused_at, national_status)

    def stop(self, reason: str, at: datetime, *, by: str | None = None) -> None:
        """Stop processing (form 05, status 8); every open step closes. ``by`` names who decided."""
        self._require_closable(at)
        _require_text(reason, "reason")
        self._stopped(dossier_code=self.code, reason=reason, stopped_by=by, stopped_at=at,
                      closed_steps=[s.key for s in self.open_steps()], national_status=STOPPED)

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
        _require_aware(at, "at")
        for step in self.open_steps():
            if step.due_at is None or step.overdue_raised:
                continue
            if at > step.due_at:
                self._step_overdue(dossier_code=self.code, step_key=step.key, agency_id=step.agency_id,
                                   opening=step.openings, due_at=step.due_at, detected_at=at)
            elif not step.due_soon_raised and calendar.working_time_between(at, step.due_at) <= due_soon_within:
                self._step_due_soon(dossier_code=self.code, step_key=step.key, agency_id=step.agency_id,
                                    opening=step.openings, due_at=step.due_at, detected_at=at)

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
        self._require_not_closed()
        _require_aware(at, "at")
        _require_aware(new_appointment_at, "new_appointment_at")
        if self.apology is not None:
            raise ApologyAlreadyIssuedError(
                f"hồ sơ {self.code} already has an apology from {self.apology['agency_id']}"
            )
        if not self._is_late(agency_id, at):
            raise StepStateError(f"agency {agency_id} has no overdue step in hồ sơ {self.code}")
        _require_text(reason, "reason")
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

    def _is_late(self, agency_id: str, at: datetime) -> bool:
        for step in self.open_steps():
            if step.agency_id == agency_id and (step.overdue_raised or (step.due_at is not None and at > step.due_at)):
                return True
        return any(row["agency_id"] == agency_id and row["timeliness"] == "late" for row in self.handoffs)

    # --- result ---------------------------------------------------------------------------------

    def hand_over(self, by: str, at: datetime) -> None:
        """Return the result at the desk (status 9 → 10)."""
        self._require_not_closed()
        _require_aware(at, "at")
        if self.national_status != RESULT_READY:
            raise StepStateError(
                f"hồ sơ {self.code} has no result ready to hand over (status {self.national_status})"
            )
        _require_text(by, "by")
        self._result_handed_over(dossier_code=self.code, handed_over_by=by, handed_over_at=at,
                                 national_status=RESULT_RETURNED)

    @event("ResultHandedOver")
    def _result_handed_over(
        self, dossier_code: str, handed_over_by: str, handed_over_at: datetime, national_status: int
    ) -> None:
        self.handed_over_by, self.handed_over_at = handed_over_by, handed_over_at
        self.national_status = national_status

    # --- guards and bookkeeping -----------------------------------------------------------------

    def _require_not_closed(self) -> None:
        if self.closed:
            raise DossierClosedError(
                f"hồ sơ {self.code} is closed (status {self.national_status}): {self.closed_reason}"
            )

    def _require_processing(self, action: str) -> None:
        if self.national_status != PROCESSING:
            raise StepStateError(f"cannot {action} while hồ sơ {self.code} has status {self.national_status}")

    def _require_paused(self, status: int, at: datetime) -> None:
        self._require_not_closed()
        _require_aware(at, "at")
        if self.national_status != status:
            raise StepStateError(f"hồ sơ {self.code} is not waiting for that (status {self.national_status})")
        if at < self.pauses[-1]["started_at"]:
            raise InvalidCommandError(f"{at.isoformat()} is before the pause began")

    def _require_closable(self, at: datetime) -> None:
        self._require_not_closed()
        _require_aware(at, "at")
        if self.national_status == RESULT_READY:
            raise StepStateError(f"hồ sơ {self.code} is resolved; its result awaits handover")

    def _require_route(self, route: routes.Route) -> None:
        if (route.procedure_code, route.version) != (self.procedure_code, self.route_version):
            raise InvalidCommandError(
                f"route {route.procedure_code} {route.version} is not the dossier's "
                f"{self.procedure_code} {self.route_version}"
            )

    def _step_for(self, step_key: str, agency_id: str, at: datetime) -> StepState:
        """The step an agency acts on, after the checks every step action shares."""
        self._require_not_closed()
        _require_aware(at, "at")
        if self.route_version is None:
            raise StepStateError(f"hồ sơ {self.code} has no route yet")
        step = self.step(step_key)
        if step.state == SKIPPED:
            raise StepStateError(f"step {step_key!r} is skipped: its option was not chosen")
        if step.agency_id != agency_id:
            raise WrongAgencyError(f"step {step_key!r} of hồ sơ {self.code} is assigned to {step.agency_id}")
        if step.is_active and step.opened_at is not None and at < step.opened_at:
            raise InvalidCommandError(
                f"{at.isoformat()} is before step {step_key!r} opened ({step.opened_at.isoformat()})")
        return step

    def _active_step(self, step_key: str, agency_id: str, at: datetime) -> StepState:
        step = self._step_for(step_key, agency_id, at)
        if not step.is_active:
            raise StepStateError(f"step {step_key!r} is {step.state}, not open or claimed")
        return step

    def _record_handoff(self, step: StepState, outcome: str, ended_at: datetime | None, timeliness: str | None) -> None:
        self.handoffs.append({
            "step_key": step.key, "name": step.name, "agency_id": step.agency_id, "opening": step.openings,
            "opened_at": step.opened_at, "due_at": step.due_at, "completed_at": ended_at,
            "timeliness": timeliness, "outcome": outcome,
        })


def _cutoff(route: routes.Route, initial: list[routes.Step]) -> time | None:
    """The same-day cut-off that decides when the clock starts: the total limit's, else the
    earliest among the initial steps', else none."""
    if route.total_time_limit is not None and route.total_time_limit.cutoff is not None:
        return route.total_time_limit.cutoff
    return min((s.time_limit.cutoff for s in initial if s.time_limit.cutoff is not None), default=None)


def _require_aware(moment: Any, name: str) -> None:
    if not isinstance(moment, datetime):
        raise InvalidCommandError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidCommandError(f"{name} {moment.isoformat()} has no timezone")


def _require_text(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommandError(f"{name} must be non-blank text")


def _documents(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Plain copies of result documents, each with name, media_type, size_bytes and sha256."""
    copies = []
    for document in documents:
        if not isinstance(document, Mapping) or not set(document) >= _DOCUMENT_KEYS:
            raise InvalidCommandError(f"a document needs {sorted(_DOCUMENT_KEYS)}, got {document!r}")
        copies.append(dict(document))
    return copies
