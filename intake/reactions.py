"""How intake reacts to events other services publish about its dossiers."""

from __future__ import annotations

from typing import Any

from intake.application import DossierNotFoundError, IntakeApplication
from services.consumer import UnprocessableMessage
from shared_events import CloudEvent, DossierStatusChanged


def apply_status_change(app: IntakeApplication, contract: Any, envelope: CloudEvent) -> list[Any]:
    """Record a reported national status on the dossier; repeated reports change nothing."""
    if not isinstance(contract, DossierStatusChanged):
        raise UnprocessableMessage(f"intake does not handle {envelope.type}")
    try:
        dossier = app.dossier(contract.dossier_code)
    except DossierNotFoundError:
        raise UnprocessableMessage(f"no dossier {contract.dossier_code}") from None
    dossier.record_status_change(
        event_id=envelope.id, national_status=int(contract.national_status), reason=contract.reason,
        agency_id=contract.changed_by_agency_id, changed_at=contract.changed_at)
    return [dossier]
