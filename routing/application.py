"""The routing application: use cases over the event-sourced routed-dossier log.

Synchronous (the ``eventsourcing`` library is); entry points call it through
:class:`services.eventstore.EventStore`.  Every save also upserts the dossier's inbox rows
(:mod:`routing.readmodel`) in the same transaction.  Times come from the events being
reacted to or from the injected clock, never from the machine inside a use case.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from collections.abc import Sequence
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Recording, Tracking

from routing.calendar import WorkingCalendar
from routing.domain import RoutedDossier
from routing.geography import Geography
from routing.routes import RouteBook, plan
from services.clock import VIETNAM
from services.eventstore import TrackingApplication


class RoutedDossierNotFoundError(Exception):
    """Routing has no dossier with this code."""


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
            "appointment_at": dossier.current_appointment_at,
        })
    return rows


class RoutingApplication(TrackingApplication):
    """Routes accepted dossiers from agency to agency and keeps every hand-off."""

    name = "RoutingDossiers"

    def __init__(self, env: dict[str, str] | None = None, *, routes: RouteBook | None = None,
                 geography: Geography | None = None, calendar: WorkingCalendar | None = None) -> None:
        env = dict(env or {})
        if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
            env.setdefault("PROCESS_RECORDER_TOPIC", "routing.readmodel:RoutingRecorder")
        super().__init__(env=env)
        self.geography = geography or Geography.load()
        self.routes = routes or RouteBook.load(geography=self.geography)
        self.calendar = calendar or WorkingCalendar.default()

    # -- persistence ---------------------------------------------------------------
    def save_dossier(self, dossier: RoutedDossier, tracking: Tracking | None = None) -> list[Recording]:
        return self.save_tracked(tracking, dossier, inbox_rows=inbox_rows(dossier))

    def save_reaction(self, tracking: Tracking, objs: Sequence[Any]) -> None:
        rows = [row for dossier in objs for row in inbox_rows(dossier)]
        self.save_tracked(tracking, *objs, inbox_rows=rows)

    def dossier(self, code: str) -> RoutedDossier:
        try:
            return self.repository.get(RoutedDossier.create_id(code=code))
        except AggregateNotFoundError:
            raise RoutedDossierNotFoundError(code) from None

    def find(self, code: str) -> RoutedDossier | None:
        try:
            return self.dossier(code)
        except RoutedDossierNotFoundError:
            return None

    def history(self, code: str) -> list[Any]:
        return list(self.events.get(RoutedDossier.create_id(code=code)))

    # -- reactions to intake ---------------------------------------------------------
    def receive(self, *, code: str, procedure_code: str, locality_code: str, receiving_agency_id: str,
                channel: str, result_delivery_method: str, options: list[str], received_at: datetime,
                national_status: int) -> RoutedDossier | None:
        """Record a submitted dossier; start routing at once when the desk accepted it (status 2).

        Returns None when the dossier was received before (a repeated event).
        """
        if self.find(code) is not None:
            return None
        dossier = RoutedDossier(
            code=code, procedure_code=procedure_code, locality_code=locality_code,
            receiving_agency_id=receiving_agency_id, channel=channel, result_delivery_method=result_delivery_method,
            options=list(options), received_at=received_at, national_status=national_status)
        if national_status == 2:
            self._start(dossier, received_at)
        return dossier

    def accept(self, code: str, at: datetime) -> RoutedDossier | None:
        """Intake accepted the dossier: assign the route and open the first steps."""
        dossier = self.dossier(code)
        if dossier.route_version is not None:
            return None
        self._start(dossier, at)
        return dossier

    def _start(self, dossier: RoutedDossier, at: datetime) -> None:
        received_day = dossier.received_at.astimezone(VIETNAM).date()
        route = self.routes.route(dossier.procedure_code, received_day)
        planned = plan(route, self.geography, dossier.locality_code, received_day, dossier.options)
        dossier.start(route, planned, self.calendar, at)

    # -- agency actions ----------------------------------------------------------------
    def act(self, code: str, step_key: str, agency_id: str, action: str, at: datetime, *,
            reason: str | None = None, documents: list[dict[str, Any]] | None = None,
            amount_vnd: int | None = None) -> RoutedDossier:
        """One agency action on one step, as the REST inbox and the reply topic both take it."""
        dossier = self.dossier(code)
        route = self.routes.version(dossier.procedure_code, dossier.route_version) if dossier.route_version else None
        if action == "claim":
            dossier.claim(step_key, agency_id, at)
        elif action == "complete":
            dossier.complete(step_key, agency_id, at, list(documents or []), self.calendar, route)
        elif action == "request_supplement":
            dossier.request_supplement(step_key, agency_id, reason or "", at)
        elif action == "request_payment":
            dossier.request_payment(step_key, agency_id, amount_vnd or 0, at)
        elif action == "refuse":
            dossier.refuse(step_key, agency_id, reason or "", at)
        elif action == "send_back":
            dossier.send_back(step_key, agency_id, reason or "", at, self.calendar)
        else:
            raise ValueError(f"unknown action {action!r}")
        return dossier

    def apologise(self, code: str, agency_id: str, reason: str, new_appointment_at: datetime,
                  at: datetime) -> RoutedDossier:
        dossier = self.dossier(code)
        dossier.issue_apology(agency_id, reason, new_appointment_at, at)
        return dossier

    # -- the applicant's side ------------------------------------------------------------
    def supplement(self, code: str, at: datetime, documents: list[dict[str, Any]]) -> RoutedDossier:
        dossier = self.dossier(code)
        dossier.provide_supplement(at, documents, self.calendar)
        return dossier

    def pay(self, code: str, at: datetime) -> RoutedDossier:
        dossier = self.dossier(code)
        dossier.record_payment(at, self.calendar)
        return dossier

    def withdraw(self, code: str, reason: str, at: datetime) -> RoutedDossier | None:
        dossier = self.find(code)
        if dossier is None or dossier.closed:
            return None
        dossier.withdraw(reason, at)
        return dossier

    def refused_at_intake(self, code: str, reason: str, at: datetime) -> RoutedDossier | None:
        dossier = self.find(code)
        if dossier is None or dossier.closed:
            return None
        dossier.stop(reason, at)
        return dossier

    def stop(self, code: str, reason: str, at: datetime) -> RoutedDossier:
        dossier = self.dossier(code)
        dossier.stop(reason, at)
        return dossier

    def hand_over(self, code: str, by: str, at: datetime) -> RoutedDossier:
        dossier = self.dossier(code)
        dossier.hand_over(by, at)
        return dossier

    # -- time --------------------------------------------------------------------------
    def check_deadlines(self, code: str, at: datetime, due_soon_within: timedelta) -> RoutedDossier | None:
        """Raise due-soon / overdue events for the dossier; None when nothing changed."""
        dossier = self.dossier(code)
        before = dossier.version
        dossier.check_deadlines(at, due_soon_within, self.calendar)
        return dossier if dossier.version != before else None
