"""Need to know (Decree 13/2023/NĐ-CP): what one step's agency may read of a dossier, and the results
the desk and the applicant receive. Pure functions of the routed dossier's state.

A step's view holds exactly what its step declares (``StepState.needs``): the applicant's declared
fields, the submitted (and supplemented) documents whose catalogue key it declares, and the result
documents of the earlier steps it declares, once they are done. An agency reads a step's view while
it holds the step and, read-only, after it handled it; an agency with no step on the dossier learns
nothing, not even that it exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routing.domain.errors import ContentNotDeclaredError, ResultsNotReadyError
from routing.domain.model import DONE, StepState
from shared_events.contracts.values import NationalStatus

if TYPE_CHECKING:
    from routing.domain.dossier import RoutedDossier

RESULTS_STATUSES = frozenset({NationalStatus.DONE_AWAITING_HANDOVER, NationalStatus.RESULT_RETURNED})
"""The statuses in which the desk and the applicant receive the results."""


def step_content(dossier: RoutedDossier, step_key: str) -> dict[str, Any]:
    """The view of ``step_key``: ``{"applicant": {field: value}, "documents": [{"document", "from_step"}]}``."""
    needs = dossier.steps[step_key].needs
    applicant = dossier.applicant or {}
    fields = {name: applicant[name] for name in needs.get("applicant", []) if applicant.get(name) is not None}
    wanted = set(needs.get("documents", []))
    documents: list[dict[str, Any]] = [{"document": dict(d), "from_step": None}
                                       for d in dossier.documents if d["name"] in wanted]
    for key in needs.get("results", []):
        earlier = dossier.steps.get(key)
        if earlier is not None and earlier.state == DONE:
            documents += [{"document": dict(d), "from_step": key} for d in earlier.result_documents]
    return {"applicant": fields, "documents": documents}


def held_step(dossier: RoutedDossier, step_key: str, agency_id: str) -> StepState:
    """The step whose view ``agency_id`` asks for, when it holds it or handled it.

    The caller has checked that the agency is on the route (:meth:`RoutedDossier.involves`);
    ``UnknownStepError`` for a key the route lacks, :class:`ContentNotDeclaredError` for another
    agency's step or one not opened yet.
    """
    step = dossier.step(step_key)
    if step.agency_id != agency_id or not step.was_handled:
        raise ContentNotDeclaredError(f"cơ quan {agency_id} không giữ bước {step_key!r} của hồ sơ {dossier.code}")
    return step


def declared_document(content: dict[str, Any], sha256: str) -> dict[str, Any]:
    """The entry of ``content`` for the document at ``sha256``; :class:`ContentNotDeclaredError` if the
    view does not hold it."""
    for entry in content["documents"]:
        if entry["document"]["sha256"] == sha256:
            return entry
    raise ContentNotDeclaredError(f"bước này không được xem giấy tờ {sha256}")


def result_entries(dossier: RoutedDossier) -> list[dict[str, Any]]:
    """Every done step's result documents, in route order: ``[{"document", "from_step"}]``."""
    return [{"document": dict(d), "from_step": key}
            for key, step in dossier.steps.items() if step.state == DONE for d in step.result_documents]


def results_of(dossier: RoutedDossier) -> list[dict[str, Any]]:
    """The result documents themselves (what ``ResultReady`` records)."""
    return [entry["document"] for entry in result_entries(dossier)]


def handed_results(dossier: RoutedDossier) -> list[dict[str, Any]]:
    """The results the desk hands over and the applicant receives; :class:`ResultsNotReadyError` before
    every step is done."""
    if dossier.national_status not in RESULTS_STATUSES:
        raise ResultsNotReadyError(f"hồ sơ {dossier.code} chưa có kết quả (trạng thái {dossier.national_status})")
    return result_entries(dossier)
