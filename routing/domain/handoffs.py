"""Form 06 (phiếu kiểm soát quá trình giải quyết hồ sơ): one record per ended opening of a step,
and what the records say about an agency's delay."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from routing.domain.model import StepState

LATE = "late"


def handoff(step: StepState, outcome: str, ended_at: datetime | None, timeliness: str | None) -> dict[str, Any]:
    """The record of the opening of ``step`` that just ended.

    ``step_key, name, agency_id, opening, opened_at, due_at``; ``completed_at`` when the agency
    handed it on (completed, sent back or refused; None when closed by a withdrawal or stop),
    ``timeliness`` (early | on_time | late | None) and ``outcome`` (completed | sent_back |
    refused | closed), and ``due_changes``: how working-calendar changes moved the due while the
    step was open (old and new values, the decision).
    """
    return {
        "step_key": step.key, "name": step.name, "agency_id": step.agency_id, "opening": step.openings,
        "opened_at": step.opened_at, "due_at": step.due_at, "completed_at": ended_at,
        "timeliness": timeliness, "outcome": outcome, "due_changes": [dict(c) for c in step.due_changes],
    }


def control_sheet(handoffs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plain copies of the records, oldest first."""
    return [dict(row) for row in handoffs]


def is_late(agency_id: str, open_steps: Iterable[StepState], handoffs: Sequence[dict[str, Any]],
            at: datetime) -> bool:
    """The agency is late: one of its open steps is past due at ``at`` (or was reported overdue),
    or it handed a step on late."""
    for step in open_steps:
        if step.agency_id == agency_id and (step.overdue_raised or (step.due_at is not None and at > step.due_at)):
            return True
    return any(row["agency_id"] == agency_id and row["timeliness"] == LATE for row in handoffs)
