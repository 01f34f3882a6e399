"""Domain errors of the routed dossier; the HTTP status each maps to is in its docstring."""

from __future__ import annotations

from routing import routes


class RoutingError(Exception):
    """Base of every error the routed dossier raises."""


class WrongAgencyError(RoutingError):
    """The acting agency is not the one the step is assigned to (403)."""


class StepStateError(RoutingError):
    """The step or the dossier is not in a state that allows the action (409)."""


class DossierClosedError(RoutingError):
    """The dossier was withdrawn, stopped, refused or its result returned (409)."""


class UnknownStepError(RoutingError, routes.UnknownStepError):
    """The dossier's route has no step with this key (404)."""


class ApologyAlreadyIssuedError(RoutingError):
    """The dossier already has its apology and new appointment, form 04 (409)."""


class InvalidCommandError(RoutingError, ValueError):
    """An argument that can never be valid here: a naive datetime, a blank reason, a new
    appointment not after the current one, a route that is not the dossier's (422)."""


class ContentNotDeclaredError(RoutingError):
    """An agency asked for what its step does not declare it needs, or for a step it does not hold
    and never held (403)."""


class ResultsNotReadyError(RoutingError):
    """The results are handed over once every step is done (status 9 or 10), not before (409)."""
