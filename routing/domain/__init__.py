"""The routing aggregate: a dossier moving between agencies along its route, pure of I/O.

``RoutedDossier`` (in ``routing.domain.dossier``) is an ``eventsourcing`` aggregate whose id is
``RoutedDossier.create_id(code)``; ``routing.domain.model`` holds the national statuses, the step
state and ``critical_path_limit``; ``routing.domain.errors`` the domain errors.
"""

from routing.domain.dossier import ROUTING_NAMESPACE, RoutedDossier
from routing.domain.errors import (
    ApologyAlreadyIssuedError,
    DossierClosedError,
    InvalidCommandError,
    RoutingError,
    StepStateError,
    UnknownStepError,
    WrongAgencyError,
)
from routing.domain.model import (
    ACCEPTED,
    CLOSED_STATUSES,
    MAX_AMOUNT_VND,
    NEW,
    PAYMENT_REQUESTED,
    PROCESSING,
    REFUSED_AT_INTAKE,
    RESULT_READY,
    RESULT_RETURNED,
    STOPPED,
    SUPPLEMENT_REQUESTED,
    WITHDRAWN,
    StepState,
    critical_path_limit,
)

__all__ = [
    "ACCEPTED",
    "CLOSED_STATUSES",
    "MAX_AMOUNT_VND",
    "NEW",
    "PAYMENT_REQUESTED",
    "PROCESSING",
    "REFUSED_AT_INTAKE",
    "RESULT_READY",
    "RESULT_RETURNED",
    "ROUTING_NAMESPACE",
    "STOPPED",
    "SUPPLEMENT_REQUESTED",
    "WITHDRAWN",
    "ApologyAlreadyIssuedError",
    "DossierClosedError",
    "InvalidCommandError",
    "RoutedDossier",
    "RoutingError",
    "StepState",
    "StepStateError",
    "UnknownStepError",
    "WrongAgencyError",
    "critical_path_limit",
]
