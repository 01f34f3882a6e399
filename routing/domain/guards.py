"""What the routed dossier's commands check before they act, and the arguments they refuse.

Each guard raises the domain error that says why the command cannot act (``routing.domain.errors``)
and changes nothing; the aggregate calls them before it triggers any event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from routing import routes
from routing.domain.errors import (
    DossierClosedError,
    InvalidCommandError,
    StepStateError,
    WrongAgencyError,
)
from routing.domain.model import SKIPPED, StepState
from shared_events.contracts.values import NationalStatus

if TYPE_CHECKING:
    from routing.domain.dossier import RoutedDossier

DOCUMENT_KEYS = frozenset({"name", "media_type", "size_bytes", "sha256"})
"""What every result document names."""


# --- arguments -------------------------------------------------------------------------------------

def require_aware(moment: Any, name: str) -> None:
    """``moment`` is a datetime with a timezone."""
    if not isinstance(moment, datetime):
        raise InvalidCommandError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidCommandError(f"{name} {moment.isoformat()} has no timezone")


def require_text(value: Any, name: str) -> None:
    """``value`` is text that is not blank."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommandError(f"{name} must be non-blank text")


def checked_documents(given: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Plain copies of result documents, each with name, media_type, size_bytes and sha256."""
    copies = []
    for document in given:
        if not isinstance(document, Mapping) or not set(document) >= DOCUMENT_KEYS:
            raise InvalidCommandError(f"a document needs {sorted(DOCUMENT_KEYS)}, got {document!r}")
        copies.append(dict(document))
    return copies


# --- the dossier's state ---------------------------------------------------------------------------

def require_not_closed(dossier: RoutedDossier) -> None:
    if dossier.closed:
        raise DossierClosedError(
            f"hồ sơ {dossier.code} is closed (status {dossier.national_status}): {dossier.closed_reason}"
        )


def require_processing(dossier: RoutedDossier, action: str) -> None:
    if dossier.national_status != NationalStatus.PROCESSING:
        raise StepStateError(f"cannot {action} while hồ sơ {dossier.code} has status {dossier.national_status}")


def require_paused(dossier: RoutedDossier, status: int, at: datetime) -> None:
    """The dossier waits for what ``status`` asked (5 a supplement, 6 a payment) since before ``at``."""
    require_not_closed(dossier)
    require_aware(at, "at")
    if dossier.national_status != status:
        raise StepStateError(f"hồ sơ {dossier.code} is not waiting for that (status {dossier.national_status})")
    if at < dossier.pauses[-1]["started_at"]:
        raise InvalidCommandError(f"{at.isoformat()} is before the pause began")


def require_closable(dossier: RoutedDossier, at: datetime) -> None:
    """Not closed, and no result awaiting handover (status 9)."""
    require_not_closed(dossier)
    require_aware(at, "at")
    if dossier.national_status == NationalStatus.DONE_AWAITING_HANDOVER:
        raise StepStateError(f"hồ sơ {dossier.code} is resolved; its result awaits handover")


def require_unrouted(dossier: RoutedDossier) -> None:
    if dossier.route_version is not None:
        raise StepStateError(f"hồ sơ {dossier.code} already follows route version {dossier.route_version}")


def require_route(dossier: RoutedDossier, route: routes.Route) -> None:
    """``route`` is the route version the dossier follows."""
    if (route.procedure_code, route.version) != (dossier.procedure_code, dossier.route_version):
        raise InvalidCommandError(
            f"route {route.procedure_code} {route.version} is not the dossier's "
            f"{dossier.procedure_code} {dossier.route_version}"
        )


def step_for(dossier: RoutedDossier, step_key: str, agency_id: str, at: datetime) -> StepState:
    """The step an agency acts on, after the checks every step action shares."""
    require_not_closed(dossier)
    require_aware(at, "at")
    if dossier.route_version is None:
        raise StepStateError(f"hồ sơ {dossier.code} has no route yet")
    step = dossier.step(step_key)
    if step.state == SKIPPED:
        raise StepStateError(f"step {step_key!r} is skipped: its option was not chosen")
    if step.agency_id != agency_id:
        raise WrongAgencyError(f"step {step_key!r} of hồ sơ {dossier.code} is assigned to {step.agency_id}")
    if step.is_active and step.opened_at is not None and at < step.opened_at:
        raise InvalidCommandError(
            f"{at.isoformat()} is before step {step_key!r} opened ({step.opened_at.isoformat()})")
    return step


def running_due(step: StepState) -> datetime:
    """The due instant of an open step of a dossier whose clock runs (only a pause leaves it None)."""
    if step.due_at is None:
        raise StepStateError(f"step {step.key!r} has no due instant while the clock is stopped")
    return step.due_at


def active_step(dossier: RoutedDossier, step_key: str, agency_id: str, at: datetime) -> StepState:
    """:func:`step_for`, and the step is open or claimed."""
    step = step_for(dossier, step_key, agency_id, at)
    if not step.is_active:
        raise StepStateError(f"step {step_key!r} is {step.state}, not open or claimed")
    return step
