"""The routing application: use cases over the event-sourced routed-dossier log.

Synchronous (the ``eventsourcing`` library is); entry points call it through
:class:`services.eventstore.EventStore`.  Every save also upserts the dossier's read-model
rows (:mod:`routing.readmodel`) in the same transaction.  Times come from the events being
reacted to or from the injected clock, never from the machine inside a use case.

Two kinds of use case:

* **reactions** (``receive``, ``accept``, ``close_at_intake``, ``decide_withdrawal``,
  ``apply_step_action``, and postal's ``hand_over_by_post``, ``record_result_back_at_desk``) load
  and act; the consumer saves what they return together with the consumed position;
* **commands** from HTTP (``act_on_step``, ``apologise``, ``supplement``, ``pay``,
  ``hand_over``, ``stop``) load, check who may act (before any state), act and save, and are
  re-applied on a lost version race (:func:`services.eventstore.retry_on_conflict`).

Every event stored carries, alongside its own fields, the ``correlation_id`` of the request or
message that caused it and that message's id as ``causation_id`` (:class:`Trace`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Recording, Tracking
from pydantic import ValidationError

from routing.calendar import WorkingCalendar
from routing.calendar_keeping import CalendarKeeping
from routing.documents import DocumentReferenceCheck
from routing.domain import InvalidCommandError, RoutedDossier
from routing.domain.content import declared_document, handed_results, held_step, step_content
from routing.geography import Geography, GeographyError
from routing.outbound import status_change, to_contract
from routing.routes import RouteBook, RouteError, plan
from routing.tracing import Trace, stamp
from services.clock import VIETNAM
from services.documents.readlog import Reader, ReadLog, ReadOf, reads, record_read
from services.eventstore import TrackingApplication, retry_on_conflict
from shared_events.contracts.values import NationalStatus


class RoutedDossierNotFoundError(Exception):
    """Routing has no dossier with this code — or none the caller may know of (404 either way)."""


@dataclass(frozen=True)
class Actor:
    """Who calls a command: the party kind, its agency (if any), its client id."""

    party: str
    agency_id: str | None
    client_id: str

    @property
    def sees_everything(self) -> bool:
        return self.party == "auditor"

    @property
    def reader(self) -> Reader:
        return Reader(client_id=self.client_id, party=self.party, agency_id=self.agency_id)


def is_receiving_desk(actor: Actor, dossier: RoutedDossier) -> bool:
    return actor.party == "desk" and actor.agency_id == dossier.receiving_agency_id


@dataclass(frozen=True)
class StepAction:
    """One agency action on one step, as the REST inbox and the reply topics both take it."""

    code: str
    step_key: str
    agency_id: str
    action: str
    at: datetime
    reason: str | None = None
    documents: Sequence[dict[str, Any]] = field(default_factory=tuple)
    amount_vnd: int | None = None
    uploaders: Sequence[str] = ()
    """The clients whose uploads ``documents`` may refer to: the calling client over REST, the
    agency's clients for a reply on its topic."""


def _claim(app: RoutingApplication, d: RoutedDossier, c: StepAction) -> None:
    d.claim(c.step_key, c.agency_id, c.at)


def _complete(app: RoutingApplication, d: RoutedDossier, c: StepAction) -> None:
    d.complete(c.step_key, c.agency_id, c.at, list(c.documents), app.calendar, app.route_of(d))
    app.accept_documents(c.documents, uploaders=c.uploaders, code=d.code, at=c.at)


def _request_supplement(app: RoutingApplication, d: RoutedDossier, c: StepAction) -> None:
    d.request_supplement(c.step_key, c.agency_id, c.reason or "", c.at)


def _request_payment(app: RoutingApplication, d: RoutedDossier, c: StepAction) -> None:
    d.request_payment(c.step_key, c.agency_id, c.amount_vnd or 0, c.at, reason=c.reason)


def _refuse(app: RoutingApplication, d: RoutedDossier, c: StepAction) -> None:
    d.refuse(c.step_key, c.agency_id, c.reason or "", c.at, app.calendar)


def _send_back(app: RoutingApplication, d: RoutedDossier, c: StepAction) -> None:
    d.send_back(c.step_key, c.agency_id, c.reason or "", c.at, app.calendar)


STEP_ACTIONS: dict[str, Callable[[RoutingApplication, RoutedDossier, StepAction], None]] = {
    "claim": _claim,
    "complete": _complete,
    "request_supplement": _request_supplement,
    "request_payment": _request_payment,
    "refuse": _refuse,
    "send_back": _send_back,
}
"""What each step action does to the dossier (the names ``AgencyActed.action`` allows)."""


UNROUTABLE_ERRORS = (RouteError, GeographyError, InvalidCommandError)
"""Why a dossier cannot be routed: no route in force that day, an unknown locality or agency,
no agency for a role, options the route does not have."""


def inbox_rows(dossier: RoutedDossier) -> list[dict[str, Any]]:
    """The read-model rows of every step of ``dossier`` (one per step)."""
    rows = []
    for step in dossier.steps.values():
        if step.agency_id is None:  # skipped: the option was not chosen
            continue
        rows.append({
            "dossier_code": dossier.code, "step_key": step.key, "step_name": step.name,
            "agency_id": step.agency_id, "integration": step.integration or "rest",
            "procedure_code": dossier.procedure_code, "state": step.state, "opening": step.openings,
            "opened_at": step.opened_at, "due_at": step.due_at, "completed_at": step.completed_at,
            "timeliness": step.timeliness, "due_soon_raised": step.due_soon_raised,
            "overdue_raised": step.overdue_raised, "national_status": dossier.national_status,
            "appointment_at": dossier.current_appointment_at, "dossier_version": dossier.version,
            "calendar_revision": getattr(dossier, "calendar_revision", 0),
        })
    return rows


def unroutable_rows(dossier: RoutedDossier) -> list[dict[str, Any]]:
    """The dossier's row in the list of dossiers routing could not route (none when it never failed)."""
    if dossier.unroutable_reason is None:
        return []
    return [{
        "dossier_code": dossier.code, "receiving_agency_id": dossier.receiving_agency_id,
        "procedure_code": dossier.procedure_code, "locality_code": dossier.locality_code,
        "received_at": dossier.received_at, "reason": dossier.unroutable_reason,
        "detected_at": dossier.unroutable_at, "national_status": dossier.national_status,
        "routed": dossier.route_version is not None,
    }]


def ensure_publishable(dossier: RoutedDossier) -> None:
    """Refuse a change whose events could not be published as their contracts (so the relay can
    never meet a stored event it cannot encode)."""
    for pending in dossier.pending_events:
        try:
            to_contract(pending)
            status_change(pending)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidCommandError(f"{type(pending).__name__} cannot be published ({problems})") from None


@dataclass(frozen=True)
class Rescheduled:
    """What rescheduling one dossier did: whether its dues moved, at which version, under which revision."""

    code: str
    moved: bool
    version: int
    calendar_revision: int


class RoutingApplication(CalendarKeeping, TrackingApplication):
    """Routes accepted dossiers from agency to agency and keeps every hand-off.

    ``calendar`` (the seed) is the packaged working calendar unless given; the calendar in force
    is the seed with the operators' changes (:class:`routing.calendar_keeping.CalendarKeeping`)."""

    name = "RoutingDossiers"

    def __init__(self, env: dict[str, str] | None = None, *, routes: RouteBook | None = None,
                 geography: Geography | None = None, calendar: WorkingCalendar | None = None,
                 conflict_attempts: int = 5) -> None:
        env = dict(env or {})
        if "POSTGRES_DBNAME" in env:  # any PostgreSQL persistence module: the recorder keeps the read model
            env.setdefault("PROCESS_RECORDER_TOPIC", "routing.readmodel:RoutingRecorder")
        super().__init__(env=env)
        self.geography = geography or Geography.load()
        self.routes = routes or RouteBook.load(geography=self.geography)
        self._keep_calendar(calendar or WorkingCalendar.default())
        self.conflict_attempts = conflict_attempts
        self.document_references: DocumentReferenceCheck | None = None
        """Set by the processes that accept document references (the API, the consumer); without it
        (unit tests of the rules) references are taken as given."""

    def accept_documents(self, documents: Sequence[dict[str, Any]], *, uploaders: Sequence[str], code: str,
                         at: datetime) -> None:
        """The documents a result or a supplement refers to were uploaded by one of ``uploaders``;
        the dossier now refers to them (:class:`routing.documents.DocumentReferenceCheck`)."""
        if self.document_references is not None:
            self.document_references.accept(documents, uploaders=uploaders, dossier_code=code, at=at)

    # -- persistence ---------------------------------------------------------------
    def save_dossier(self, dossier: RoutedDossier, tracking: Tracking | None = None) -> list[Recording]:
        return self.save_tracked(tracking, dossier, inbox_rows=inbox_rows(dossier),
                                 unroutable_rows=unroutable_rows(dossier))

    def save_reaction(self, tracking: Tracking, objs: Sequence[Any]) -> None:
        self.save_tracked(tracking, *objs, inbox_rows=[row for d in objs for row in inbox_rows(d)],
                          unroutable_rows=[row for d in objs for row in unroutable_rows(d)])

    def dossier(self, code: str) -> RoutedDossier:
        """The dossier, stamped with the newest calendar revision this process knows of (its inbox rows
        keep it: dues computed from here on are computed under that revision or a later one, so a
        stamp is never ahead of the dues — at worst behind, and the next sweep recomputes for nothing)."""
        try:
            dossier: RoutedDossier = self.repository.get(RoutedDossier.create_id(code=code))
        except AggregateNotFoundError:
            raise RoutedDossierNotFoundError(code) from None
        dossier.calendar_revision = self.known_calendar_revision  # type: ignore[attr-defined]
        return dossier

    def find(self, code: str) -> RoutedDossier | None:
        try:
            return self.dossier(code)
        except RoutedDossierNotFoundError:
            return None

    def history(self, code: str) -> list[Any]:
        return list(self.events.get(RoutedDossier.create_id(code=code)))

    def route_of(self, dossier: RoutedDossier) -> Any:
        """The route version the dossier follows (None before it is routed)."""
        if dossier.route_version is None:
            return None
        return self.routes.version(dossier.procedure_code, dossier.route_version)

    # -- reactions to intake ---------------------------------------------------------
    def receive(self, *, code: str, procedure_code: str, locality_code: str, receiving_agency_id: str,
                channel: str, result_delivery_method: str, options: list[str], received_at: datetime,
                national_status: int, applicant: dict[str, Any] | None = None,
                documents: Sequence[dict[str, Any]] = (), submitted_by: str | None = None,
                trace: Trace = Trace()) -> RoutedDossier | None:
        """Record a submitted dossier with its content (the applicant, the documents by hash, who
        submitted it); start routing at once when the desk accepted it (status 2).

        Returns None when the dossier was received before (a repeated event).
        """
        if self.find(code) is not None:
            return None
        dossier = RoutedDossier(
            code=code, procedure_code=procedure_code, locality_code=locality_code,
            receiving_agency_id=receiving_agency_id, channel=channel, result_delivery_method=result_delivery_method,
            options=list(options), received_at=received_at, national_status=national_status,
            applicant=applicant, documents=[dict(d) for d in documents], submitted_by=submitted_by)
        dossier.calendar_revision = self.known_calendar_revision  # type: ignore[attr-defined]
        if national_status == NationalStatus.ACCEPTED:
            self._start(dossier, received_at)
        return self._checked(dossier, trace)

    def accept(self, code: str, at: datetime, trace: Trace = Trace()) -> RoutedDossier | None:
        """Intake accepted the dossier: assign the route and open the first steps."""
        dossier = self.dossier(code)
        if dossier.route_version is not None or dossier.closed:
            return None
        self._start(dossier, at)
        return self._checked(dossier, trace)

    def _start(self, dossier: RoutedDossier, at: datetime) -> None:
        """Route the dossier; when no route or agency can be found, record why on the dossier."""
        received_day = dossier.received_at.astimezone(VIETNAM).date()
        try:
            route = self.routes.route(dossier.procedure_code, received_day)
            planned = plan(route, self.geography, dossier.locality_code, received_day, dossier.options)
            dossier.start(route, planned, self.calendar, at)
        except UNROUTABLE_ERRORS as exc:
            dossier.record_unroutable(f"{type(exc).__name__}: {exc}", at)

    def close_at_intake(self, code: str, reason: str, at: datetime, trace: Trace = Trace()) -> RoutedDossier | None:
        """Intake refused the dossier (status 3): close routing's record, publish no status."""
        dossier = self.dossier(code)
        if dossier.closed:
            return None
        dossier.close_at_intake(reason, at)
        return self._checked(dossier, trace)

    def decide_withdrawal(self, code: str, reason: str, at: datetime, trace: Trace = Trace()) -> RoutedDossier:
        """The applicant's withdrawal request: withdrawn (7) or declined with the status kept."""
        dossier = self.dossier(code)
        dossier.decide_withdrawal(reason, at)
        return self._checked(dossier, trace)

    # -- reactions to postal --------------------------------------------------------------
    def hand_over_by_post(self, code: str, *, partner_id: str, tracking_number: str, at: datetime,
                          trace: Trace = Trace()) -> RoutedDossier | None:
        """The carrier delivered the result (status 9 → 10 by post, by ``postal:<partner_id>``);
        None when the result was handed over already (a repeat)."""
        dossier = self.dossier(code)
        if dossier.national_status == NationalStatus.RESULT_RETURNED:
            return None
        dossier.hand_over(f"postal:{partner_id}", at, via="post", tracking_number=tracking_number)
        return self._checked(dossier, trace)

    def record_result_back_at_desk(self, code: str, *, agency_id: str, partner_id: str, tracking_number: str,
                                   attempts: int, at: datetime, trace: Trace = Trace()) -> RoutedDossier | None:
        """The carrier brought the undelivered result back to the receiving desk (status stays 9; the
        desk hands it over); None when this was recorded already."""
        dossier = self.dossier(code)
        before = dossier.version
        dossier.record_result_back_at_desk(agency_id, partner_id, tracking_number, attempts, at)
        return None if dossier.version == before else self._checked(dossier, trace)

    def apply_step_action(self, command: StepAction, trace: Trace = Trace()) -> RoutedDossier:
        """One agency action on one of its steps (not saved: the caller saves)."""
        dossier = self.dossier(command.code)
        STEP_ACTIONS[command.action](self, dossier, command)
        return self._checked(dossier, trace)

    # -- commands (HTTP): authorise, load, act, save; re-applied after a lost race ---------
    def act_on_step(self, actor: Actor, command: StepAction, trace: Trace) -> RoutedDossier:
        def decide(dossier: RoutedDossier) -> None:
            self._require_involved(dossier, actor)
            STEP_ACTIONS[command.action](self, dossier, command)
        return self._change(command.code, decide, trace)

    def apologise(self, actor: Actor, code: str, reason: str, new_appointment_at: datetime, at: datetime,
                  trace: Trace) -> RoutedDossier:
        def decide(dossier: RoutedDossier) -> None:
            self._require_involved(dossier, actor)
            dossier.issue_apology(actor.agency_id or "", reason, new_appointment_at, at)
        return self._change(code, decide, trace)

    def supplement(self, actor: Actor, code: str, at: datetime, documents: list[dict[str, Any]],
                   trace: Trace) -> RoutedDossier:
        """The applicant's supplement (status 5 → 4), through the receiving desk or the partner that
        submitted the dossier, with the documents that party uploaded."""
        def decide(dossier: RoutedDossier) -> None:
            if not (is_receiving_desk(actor, dossier) or actor.client_id == dossier.submitted_by):
                raise RoutedDossierNotFoundError(code)
            dossier.provide_supplement(at, documents, self.calendar)
            self.accept_documents(documents, uploaders=[actor.client_id], code=code, at=at)
        return self._change(code, decide, trace)

    def pay(self, actor: Actor, code: str, at: datetime, trace: Trace) -> RoutedDossier:
        return self._desk_change(actor, code, lambda d: d.record_payment(at, self.calendar), trace)

    def hand_over(self, actor: Actor, code: str, at: datetime, trace: Trace) -> RoutedDossier:
        return self._desk_change(actor, code, lambda d: d.hand_over(actor.client_id, at), trace)

    def stop(self, actor: Actor, code: str, reason: str, at: datetime, trace: Trace) -> RoutedDossier:
        return self._desk_change(actor, code, lambda d: d.stop(reason, at, by=actor.client_id), trace)

    # -- content (need to know): authorise, then record the read ---------------------------
    def step_view(self, actor: Actor, code: str, step_key: str) -> dict[str, Any]:
        """What ``actor``'s agency may read of the dossier for its step (:func:`step_content`): 404 for
        an agency with no step on it, 403 for a step it does not hold and never held."""
        dossier = self.dossier(code)
        self._require_involved(dossier, actor)
        held_step(dossier, step_key, actor.agency_id or "")
        return step_content(dossier, step_key)

    def step_document(self, actor: Actor, code: str, step_key: str, sha256: str) -> dict[str, Any]:
        """The entry of one document of the step's view; 403 when the view does not hold it."""
        return declared_document(self.step_view(actor, code, step_key), sha256)

    def results(self, actor: Actor, code: str) -> list[dict[str, Any]]:
        """The results handed over (status 9, 10), for the receiving desk, the partner that submitted
        the dossier, and auditors; 404 for anyone else, 409 before the results are ready."""
        dossier = self.dossier(code)
        if not (actor.sees_everything or is_receiving_desk(actor, dossier) or actor.client_id == dossier.submitted_by):
            raise RoutedDossierNotFoundError(code)
        return handed_results(dossier)

    def result_document(self, actor: Actor, code: str, sha256: str) -> dict[str, Any]:
        return declared_document({"documents": self.results(actor, code)}, sha256)

    def record_read(self, code: str, reader: Reader, what: ReadOf, at: datetime) -> ReadLog:
        """Store one read of the dossier's content (who, when, what) in its read log."""
        return record_read(self, code, reader, what, at, attempts=self.conflict_attempts)

    def reads(self, code: str) -> list[Any]:
        """Every read of the dossier's content, oldest first."""
        return reads(self, code)

    def readable(self, actor: Actor, code: str) -> RoutedDossier:
        """The dossier, when ``actor`` may see it: auditors, the receiving agency, an agency on its route."""
        dossier = self.dossier(code)
        if not (actor.sees_everything or actor.agency_id == dossier.receiving_agency_id
                or dossier.involves(actor.agency_id)):
            raise RoutedDossierNotFoundError(code)
        return dossier

    # -- time --------------------------------------------------------------------------
    def check_deadlines(self, code: str, at: datetime, due_soon_within: timedelta) -> RoutedDossier | None:
        """Raise due-soon / overdue events for the dossier and save them; None when nothing changed."""
        def attempt() -> RoutedDossier | None:
            dossier = self.dossier(code)
            before = dossier.version
            dossier.check_deadlines(at, due_soon_within, self.calendar)
            if dossier.version == before:
                return None
            self.save_dossier(self._checked(dossier, Trace()))
            return dossier
        return retry_on_conflict(attempt, attempts=self.conflict_attempts)

    def reschedule(self, code: str, at: datetime) -> Rescheduled:
        """Count the dossier's open dues and appointment again on the calendar in force and save what
        moved (``DueTimesRecomputed``, named after the latest change)."""
        def attempt() -> Rescheduled:
            dossier = self.dossier(code)
            calendar, latest = self.calendar_in_force()
            dossier.calendar_revision = calendar.revision  # type: ignore[attr-defined]
            before = dossier.version
            if latest is not None:
                dossier.reschedule(calendar, decision=latest.decision, reason=latest.reason, at=at)
            if dossier.version == before:
                return Rescheduled(code, False, dossier.version, calendar.revision)
            self.save_dossier(self._checked(dossier, Trace()))
            return Rescheduled(code, True, dossier.version, calendar.revision)
        return retry_on_conflict(attempt, attempts=self.conflict_attempts)

    # -- helpers -------------------------------------------------------------------------
    def _change(self, code: str, decide: Callable[[RoutedDossier], None], trace: Trace) -> RoutedDossier:
        def attempt() -> RoutedDossier:
            dossier = self.dossier(code)
            decide(dossier)
            self.save_dossier(self._checked(dossier, trace))
            return dossier
        return retry_on_conflict(attempt, attempts=self.conflict_attempts)

    def _desk_change(self, actor: Actor, code: str, act: Callable[[RoutedDossier], None],
                     trace: Trace) -> RoutedDossier:
        def decide(dossier: RoutedDossier) -> None:
            if not is_receiving_desk(actor, dossier):
                raise RoutedDossierNotFoundError(code)
            act(dossier)
        return self._change(code, decide, trace)

    @staticmethod
    def _require_involved(dossier: RoutedDossier, actor: Actor) -> None:
        """An agency with no step on the dossier learns nothing of it, whatever its state."""
        if not dossier.involves(actor.agency_id):
            raise RoutedDossierNotFoundError(dossier.code)

    @staticmethod
    def _checked(dossier: RoutedDossier, trace: Trace) -> RoutedDossier:
        ensure_publishable(dossier)
        stamp(dossier, trace)
        return dossier
