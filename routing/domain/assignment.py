"""What assigning a route fixes for a dossier: the checked step records, the same-day cut-off and
the total time limit its appointment is counted with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, time, timedelta
from typing import Any

from routing import routes
from routing.calendar import WorkingCalendar, WorkingLimit
from routing.domain.errors import InvalidCommandError
from routing.domain.model import critical_path_limit, limit_dict, step_record, working_limit


def assigned_steps(
    route: routes.Route, planned_steps: Sequence[routes.PlannedStep], procedure_code: str, received_on: date,
    options: Iterable[str],
) -> list[dict[str, Any]]:
    """Every step of ``route`` as ``RouteAssigned`` records it, with its planned agency; steps of
    options not chosen are marked skipped.

    Refuses (``InvalidCommandError``) a route of another procedure, one not in force on the day of
    receipt, options it does not have, planned steps it does not have, or a chosen step no
    agency is planned for.
    """
    if route.procedure_code != procedure_code:
        raise InvalidCommandError(f"route {route.procedure_code} is not for procedure {procedure_code}")
    if not route.in_force(received_on):
        raise InvalidCommandError(f"route version {route.version} was not in force on the day of receipt")
    try:
        active = route.active_steps(options)
    except routes.UnknownStepError as error:
        raise InvalidCommandError(str(error)) from None
    agencies = {planned.step.key: planned.agency for planned in planned_steps}
    if unknown := sorted(set(agencies) - {step.key for step in route.steps}):
        raise InvalidCommandError(f"planned steps {unknown} are not in route version {route.version}")
    if missing := [step.key for step in active if step.key not in agencies]:
        raise InvalidCommandError(f"no agency planned for steps {missing}")
    active_keys = {step.key for step in active}
    return [
        step_record(
            step,
            agencies[step.key].id if step.key in agencies else None,
            agencies[step.key].integration if step.key in agencies else None,
            skipped=step.key not in active_keys,
        )
        for step in route.steps
    ]


def cutoff(route: routes.Route, initial: Iterable[routes.Step]) -> time | None:
    """The same-day cut-off that decides when the clock starts: the total limit's, else the
    earliest among the initial steps', else none."""
    if route.total_time_limit is not None and route.total_time_limit.cutoff is not None:
        return route.total_time_limit.cutoff
    return min((s.time_limit.cutoff for s in initial if s.time_limit.cutoff is not None), default=None)


def total_limit(route: routes.Route, options: Iterable[str], calendar: WorkingCalendar) -> WorkingLimit | None:
    """The limit the appointment is counted with: the route's total limit, else the critical path
    of the chosen steps (None when no step is chosen)."""
    if route.total_time_limit is not None:
        return working_limit(limit_dict(route.total_time_limit))
    return critical_path_limit(route, options, working_day_hours=calendar.working_day_length / timedelta(hours=1))
