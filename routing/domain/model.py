"""Value objects of the routed dossier: step states, the critical path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from routing.calendar import WorkingLimit
from routing.routes import Route, Step, TimeLimit

MAX_AMOUNT_VND = 10**15
"""The largest payment an agency may ask for, in đồng (a bound, not a law: far above any fee or tax)."""

# Step states.
PENDING, OPEN, CLAIMED, DONE = "pending", "open", "claimed", "done"
CLOSED, SKIPPED = "closed", "skipped"
ACTIVE_STATES = frozenset({OPEN, CLAIMED})

# Outcomes of one opening of a step, as form 06 lists them.
COMPLETED, SENT_BACK, REFUSED = "completed", "sent_back", "refused"


def limit_dict(limit: TimeLimit | WorkingLimit) -> dict[str, Any]:
    """``{value, unit}`` of a limit, as events carry it."""
    return {"value": limit.value, "unit": limit.unit}


def working_limit(limit: dict[str, Any]) -> WorkingLimit:
    return WorkingLimit(limit["value"], limit["unit"])


def step_record(step: Step, agency_id: str | None, integration: str | None, skipped: bool) -> dict[str, Any]:
    """The step as ``RouteAssigned`` carries it: JSON-friendly, with its resolved agency."""
    return {
        "key": step.key,
        "name": step.name,
        "role": step.role,
        "agency_id": agency_id,
        "integration": integration,
        "after": list(step.after),
        "limit": limit_dict(step.time_limit),
        "option": step.option,
        "may_request_payment": step.may_request_payment,
        "skipped": skipped,
        "needs": step.needs.as_dict(),
    }


@dataclass
class StepState:
    """Where one step of the dossier's route stands; ``openings`` counts its (re)openings.

    ``due_at`` is None while the dossier is paused (status 5 or 6): the due instant is not known
    until the clock runs again.
    """

    key: str
    name: str
    role: str
    agency_id: str | None
    integration: str | None
    after: list[str]
    limit: dict[str, Any]
    option: str | None = None
    may_request_payment: bool = False
    state: str = PENDING
    opened_at: datetime | None = None
    due_at: datetime | None = None
    claimed_by: str | None = None
    completed_at: datetime | None = None
    timeliness: str | None = None
    result_documents: list[dict[str, Any]] = field(default_factory=list)
    due_soon_raised: bool = False
    overdue_raised: bool = False
    openings: int = 0
    due_changes: list[dict[str, Any]] = field(default_factory=list)
    """How a working-calendar change moved this opening's due: ``{previous_due_at, due_at,
    calendar_revision, decision, changed_at}``, oldest first."""
    needs: dict[str, list[str]] = field(default_factory=dict)
    """What the step's agency may read of the dossier (``routes.Needs``): ``applicant`` fields,
    submitted ``documents`` (catalogue keys), earlier steps' ``results``. A dossier routed before
    steps declared their needs has none: its agencies see nothing."""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> StepState:
        return cls(
            key=record["key"],
            name=record["name"],
            role=record["role"],
            agency_id=record["agency_id"],
            integration=record["integration"],
            after=list(record["after"]),
            limit=dict(record["limit"]),
            option=record["option"],
            may_request_payment=record["may_request_payment"],
            state=SKIPPED if record["skipped"] else PENDING,
            needs={k: list(v) for k, v in record.get("needs", {}).items()},
        )

    @property
    def working_limit(self) -> WorkingLimit:
        return working_limit(self.limit)

    @property
    def was_handled(self) -> bool:
        """Opened at least once: its agency holds it, or held it (and reads what it handled)."""
        return self.openings > 0

    @property
    def is_active(self) -> bool:
        """Open or claimed: an agency is working on it."""
        return self.state in ACTIVE_STATES

    def open(self, opened_at: datetime, due_at: datetime, opening: int) -> None:
        self.state = OPEN
        self.opened_at, self.due_at, self.openings = opened_at, due_at, opening
        self.claimed_by = self.completed_at = self.timeliness = None
        self.result_documents = []
        self.due_changes = []
        self.due_soon_raised = self.overdue_raised = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def critical_path_limit(
    route: Route, options: Iterable[str] = (), *, working_day_hours: float = 8.0
) -> WorkingLimit | None:
    """The longest chain of step limits through the route's DAG among the chosen steps.

    Skipped steps count zero and ``same_day`` limits count zero. The result is in working days
    when every counted limit is in working days, in working hours when units are mixed (a working
    day being ``working_day_hours``), ``same_day`` when every chosen step is same-day, and None
    when no step is chosen.
    """
    active = {step.key for step in route.active_steps(options)}
    if not active:
        return None
    units = {step.time_limit.unit for step in route.steps if step.key in active} - {"same_day"}
    if not units:
        return WorkingLimit.same_day()
    in_days = units == {"working_days"}

    def weight(step: Step) -> float:
        limit = step.time_limit
        if step.key not in active or limit.unit == "same_day":
            return 0
        if in_days or limit.unit == "working_hours":
            return limit.value
        return limit.value * working_day_hours

    steps = {step.key: step for step in route.steps}
    finish: dict[str, float] = {}

    def finish_of(key: str) -> float:
        if key not in finish:
            step = steps[key]
            finish[key] = weight(step) + max((finish_of(d) for d in step.after), default=0)
        return finish[key]

    longest = _tidy(max(finish_of(key) for key in active))
    return WorkingLimit.working_days(longest) if in_days else WorkingLimit.working_hours(longest)


def effective_predecessors(steps: dict[str, StepState], key: str) -> list[str]:
    """The chosen steps ``key`` waits for, looking through skipped steps to their own dependencies."""
    found: list[str] = []

    def walk(dependency: str) -> None:
        if steps[dependency].state == SKIPPED:
            for deeper in steps[dependency].after:
                walk(deeper)
        elif dependency not in found:
            found.append(dependency)

    for dependency in steps[key].after:
        walk(dependency)
    return found


def _tidy(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
