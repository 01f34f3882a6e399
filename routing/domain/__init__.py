"""The routing aggregate: a dossier moving between agencies along its route, pure of I/O.

``RoutedDossier`` (in ``routing.domain.dossier``) is an ``eventsourcing`` aggregate whose id is
``RoutedDossier.create_id(code)``; its commands and ``@event`` methods stay on the class (the
library defines an aggregate's event classes from the methods in its own body, and names stored
events by them: ``routing.domain.dossier:RoutedDossier.StepOpened``). What the commands use lives
beside it:

* ``model``: step states, ``StepState``, ``critical_path_limit`` (national statuses are
  ``shared_events.contracts.values.NationalStatus``, their one definition);
* ``errors``: the domain errors;
* ``guards``: the checks a command makes before it acts, and the arguments it refuses;
* ``assignment``: what assigning a route fixes (step records, cut-off, total limit);
* ``dues``: due instants after pauses (``dues_after_pauses``), overdue, deadline alerts;
* ``handoffs``: form 06's hand-off records and an agency's lateness;
* ``content``: need to know — a step's view of the dossier, the results handed over.
"""

from routing.domain.dossier import ROUTING_NAMESPACE, RoutedDossier
from routing.domain.errors import (
    ApologyAlreadyIssuedError,
    ContentNotDeclaredError,
    DossierClosedError,
    InvalidCommandError,
    ResultsNotReadyError,
    RoutingError,
    StepStateError,
    UnknownStepError,
    WrongAgencyError,
)
from routing.domain.model import (
    MAX_AMOUNT_VND,
    StepState,
    critical_path_limit,
)

__all__ = [
    "MAX_AMOUNT_VND",
    "ROUTING_NAMESPACE",
    "ApologyAlreadyIssuedError",
    "ContentNotDeclaredError",
    "DossierClosedError",
    "InvalidCommandError",
    "ResultsNotReadyError",
    "RoutedDossier",
    "RoutingError",
    "StepState",
    "StepStateError",
    "UnknownStepError",
    "WrongAgencyError",
    "critical_path_limit",
]
