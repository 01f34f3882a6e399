"""Due instants of a routed dossier: when each open step and the appointment fall due once the
clock has stopped (supplement and payment requests), when a dossier is overdue, and which
deadline alerts the timer raises.

:func:`dues_after_pauses` is the one formula for "every open step's due and the appointment,
counted with the dossier's pauses on a calendar": a resumed clock uses it, and so does a changed
working calendar (:func:`moved_dues`, what recounting moved).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from routing.calendar import WorkingCalendar
from routing.domain.model import StepState, working_limit
from shared_events.contracts.values import NationalStatus

if TYPE_CHECKING:
    from routing.domain.dossier import RoutedDossier


class Dues(NamedTuple):
    """Due instants by open step key, and the appointment (None when a pause that counts is open)."""

    steps: dict[str, datetime | None]
    appointment_at: datetime | None


def dues_after_pauses(dossier: RoutedDossier, calendar: WorkingCalendar, at: datetime | None) -> Dues:
    """Every open step's due and the dossier's appointment, counted on ``calendar`` with the
    dossier's pauses.

    A step is due ``calendar.due_with_pauses(step.opened_at, step's limit, pauses)``; the
    appointment ``calendar.due_with_pauses(processing_started_at, total_limit, pauses)``, or stays
    ``appointment_at`` when the dossier has no total limit. A pause still open counts as ending at
    ``at``; with ``at`` None it stays open, and what it stops has no due yet (None).
    """
    pauses = [(p["started_at"], p["ended_at"] or at) for p in dossier.pauses]
    steps = {
        step.key: calendar.due_with_pauses(_opened_at(step), step.working_limit, pauses)
        for step in dossier.open_steps()
    }
    appointment = dossier.appointment_at
    if dossier.total_limit is not None and dossier.processing_started_at is not None:
        appointment = calendar.due_with_pauses(
            dossier.processing_started_at, working_limit(dossier.total_limit), pauses)
    return Dues(steps, appointment)


class Moved(NamedTuple):
    """What counting the dues again moved: each open step's ``{step_key, agency_id, integration,
    opening, previous_due_at, due_at}``, and the new appointment (None when it stays)."""

    steps: list[dict[str, Any]]
    appointment_at: datetime | None


def moved_dues(dossier: RoutedDossier, calendar: WorkingCalendar, at: datetime) -> Moved:
    """The dues of the open steps and the appointment that differ when counted on ``calendar``
    (:func:`dues_after_pauses`); a step with no due (paused) is left as it is."""
    dues = dues_after_pauses(dossier, calendar, at)
    steps = [
        {"step_key": step.key, "agency_id": step.agency_id, "integration": step.integration,
         "opening": step.openings, "previous_due_at": step.due_at, "due_at": due}
        for step in dossier.open_steps()
        if (due := dues.steps.get(step.key)) is not None and step.due_at is not None and due != step.due_at
    ]
    appointment = dues.appointment_at
    moved = dossier.appointment_at is not None and appointment not in (None, dossier.appointment_at)
    return Moved(steps, appointment if moved else None)


def resumed(dues: Dues) -> dict[str, datetime]:
    """The step dues of a clock that runs again (every pause ended): none is None."""
    return {key: due for key, due in dues.steps.items() if due is not None}


def is_overdue(dossier: RoutedDossier, at: datetime) -> bool:
    """An open step is past its due instant, or the dossier is processing past its appointment."""
    if any(step.due_at is not None and at > step.due_at for step in dossier.open_steps()):
        return True
    appointment = dossier.current_appointment_at
    return dossier.national_status == NationalStatus.PROCESSING and appointment is not None and at > appointment


class Alert(NamedTuple):
    """A deadline alert the timer raises for one opening of a step."""

    overdue: bool
    step: StepState
    due_at: datetime


def deadline_alerts(
    open_steps: Iterable[StepState], at: datetime, due_soon_within: timedelta, calendar: WorkingCalendar
) -> list[Alert]:
    """Overdue for an open step past its due, else due soon when at most ``due_soon_within``
    working time is left; each once per opening. A paused step (no due) raises nothing."""
    alerts = []
    for step in open_steps:
        if step.due_at is None or step.overdue_raised:
            continue
        if at > step.due_at:
            alerts.append(Alert(True, step, step.due_at))
        elif not step.due_soon_raised and calendar.working_time_between(at, step.due_at) <= due_soon_within:
            alerts.append(Alert(False, step, step.due_at))
    return alerts


def _opened_at(step: StepState) -> datetime:
    if step.opened_at is None:  # an open step was opened at some instant
        raise ValueError(f"open step {step.key!r} has no opening instant")
    return step.opened_at
