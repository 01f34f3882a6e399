"""How intake reacts to what other services publish about its dossiers (``lienthong.dossier-status``).

One handler per contract type (:data:`HANDLERS`). Every reported transition is checked against
intake's own state (:meth:`intake.domain.Dossier.record_status_change`): a status intake owns
(1, 2, 3) reported by someone else, any change of a terminal status (3, 7, 8, 10), a status 7
nobody asked for and a decline of no pending withdrawal are dead-lettered with the reason;
a repeated report changes nothing. Any other contract on the topic is dead-lettered too:
intake does not silently drop what it was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from intake.application import DossierNotFoundError, IntakeApplication
from intake.domain import Dossier, StatusReportRefusedError
from services.consumer import UnprocessableMessage
from shared_events import CloudEvent, DossierStatusChanged, DossierWithdrawalDeclined


def _status_changed(dossier: Dossier, contract: DossierStatusChanged, envelope: CloudEvent) -> bool:
    return dossier.record_status_change(
        event_id=envelope.id, national_status=int(contract.national_status), reason=contract.reason,
        agency_id=contract.changed_by_agency_id, changed_at=contract.changed_at)


def _withdrawal_declined(dossier: Dossier, contract: DossierWithdrawalDeclined, envelope: CloudEvent) -> bool:
    return dossier.record_withdrawal_declined(event_id=envelope.id, reason=contract.reason,
                                              declined_at=contract.declined_at)


HANDLERS: dict[type, Callable[[Dossier, Any, CloudEvent], bool]] = {
    DossierStatusChanged: _status_changed,
    DossierWithdrawalDeclined: _withdrawal_declined,
}
"""Contract type → how it changes the dossier (returns whether anything changed)."""


def apply_status_change(app: IntakeApplication, contract: Any, envelope: CloudEvent, topic: str = "") -> list[Any]:
    """Apply one message from the status topic (intake reads no other, so ``topic`` does not
    matter); the dossiers to save (empty when nothing changed)."""
    handler = HANDLERS.get(type(contract))
    if handler is None:
        raise UnprocessableMessage(f"intake does not handle {envelope.type} on the status topic")
    try:
        dossier = app.dossier(contract.dossier_code)
    except DossierNotFoundError:
        raise UnprocessableMessage(f"no dossier {contract.dossier_code}") from None
    try:
        changed = handler(dossier, contract, envelope)
    except StatusReportRefusedError as exc:
        raise UnprocessableMessage(f"refused: {exc}") from None
    return [dossier] if changed else []
