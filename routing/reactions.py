"""How routing reacts to intake's events and to stream-integrated agencies' replies.

Handlers run on the event-store threads; what they return is saved with the consumed
position in one transaction.  A repeated event changes nothing.
"""

from __future__ import annotations

from typing import Any

from routing.application import RoutedDossierNotFoundError, RoutingApplication
from routing.domain import RoutingError
from services.consumer import UnprocessableMessage
from shared_events import (
    CloudEvent,
    DossierAccepted,
    DossierRefusedAtIntake,
    DossierSubmitted,
    DossierWithdrawn,
)
from shared_events.contracts.routing import AgencyActed


def react(app: RoutingApplication, contract: Any, envelope: CloudEvent) -> list[Any]:
    """Apply one incoming event; the dossiers to save (empty when nothing changed)."""
    try:
        dossier = _apply(app, contract)
    except RoutedDossierNotFoundError as exc:
        raise UnprocessableMessage(f"routing has no dossier {exc}") from None
    except RoutingError as exc:
        raise UnprocessableMessage(f"{type(exc).__name__}: {exc}") from None
    return [] if dossier is None else [dossier]


def _apply(app: RoutingApplication, c: Any) -> Any:
    if isinstance(c, DossierSubmitted):
        return app.receive(
            code=c.dossier_code, procedure_code=c.procedure_code, locality_code=c.locality_code,
            receiving_agency_id=c.receiving_agency_id, channel=c.channel, result_delivery_method=c.result_delivery.method,
            options=list(c.options), received_at=c.received_at, national_status=int(c.national_status))
    if isinstance(c, DossierAccepted):
        return app.accept(c.dossier_code, c.accepted_at)
    if isinstance(c, DossierRefusedAtIntake):
        return app.refused_at_intake(c.dossier_code, c.reason, c.refused_at)
    if isinstance(c, DossierWithdrawn):
        return app.withdraw(c.dossier_code, c.reason, c.withdrawn_at)
    if isinstance(c, AgencyActed):
        return app.act(c.dossier_code, c.step_key, c.agency_id, c.action, c.acted_at, reason=c.reason,
                       documents=[d.model_dump(mode="json") for d in c.documents], amount_vnd=c.amount_vnd)
    return None
