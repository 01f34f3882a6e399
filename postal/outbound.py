"""Which stored postal events leave the service, as which contracts (all on the postal topic).

An order the carrier accepted or refused, every status that moved a shipment forward, and what such a
status means for the others: a pickup handed to the desk (intake), a result delivered (routing records
status 10, which it owns), a delivery failed (notify tells the applicant), a result brought back to
the desk (routing, notify), the money collected (the fee report, the audit ledger). Reports that moved
nothing, registrations, intents and the carrier's answers to actions stay inside (the shipment history
of ``GET /v1/postal/dossiers/{code}/shipments`` shows them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from postal.domain import PostalDossier, RoutingEnd
from services.relay import Outbound
from shared_events.contracts.base import Contract
from shared_events.contracts.postal import (
    PickupHandedToAgency,
    PostalDeliveryFailed,
    PostalFeeCollected,
    ResultDeliveredByPost,
    ResultReturnedToDesk,
    ShipmentOrdered,
    ShipmentOrderRefused,
    ShipmentStatusChanged,
)

D = PostalDossier


def _status_changed(e: Any) -> ShipmentStatusChanged:
    return ShipmentStatusChanged(
        dossier_code=e.dossier_code, leg=e.leg, partner_id=e.partner_id, tracking_number=e.tracking_number,
        status=e.status, attempt=e.attempt, status_at=e.status_at, recorded_at=e.recorded_at, detail=e.detail)


def _handed_to_agency(e: Any) -> PickupHandedToAgency:
    return PickupHandedToAgency(dossier_code=e.dossier_code, agency_id=e.agency_id,
                                partner_id=e.partner_id, tracking_number=e.tracking_number, handed_at=e.status_at)


def _delivered(e: Any) -> ResultDeliveredByPost:
    return ResultDeliveredByPost(dossier_code=e.dossier_code, partner_id=e.partner_id,
                                 tracking_number=e.tracking_number, attempts=e.attempt, delivered_at=e.status_at)


def _failed(e: Any) -> PostalDeliveryFailed:
    return PostalDeliveryFailed(
        dossier_code=e.dossier_code, partner_id=e.partner_id, tracking_number=e.tracking_number,
        attempt=e.attempt, max_attempts=e.max_delivery_attempts, reason=e.detail,
        next_step="redeliver" if e.attempt < e.max_delivery_attempts else "return_to_desk", failed_at=e.status_at)


def _returned_to_desk(e: Any) -> ResultReturnedToDesk:
    return ResultReturnedToDesk(dossier_code=e.dossier_code, agency_id=e.agency_id, partner_id=e.partner_id,
                                tracking_number=e.tracking_number, attempts=e.attempt, returned_at=e.status_at)


CONTRACT_OF: dict[type, Callable[[Any], Contract]] = {
    D.OrderPlaced: lambda e: ShipmentOrdered(
        dossier_code=e.dossier_code, leg=e.leg, partner_id=e.partner_id, order_id=e.order_id,
        tracking_number=e.tracking_number, cod_amount_vnd=e.cod_amount_vnd, ordered_at=e.placed_at),
    D.OrderRefused: lambda e: ShipmentOrderRefused(
        dossier_code=e.dossier_code, leg=e.leg, partner_id=e.partner_id, reason=e.reason, refused_at=e.refused_at),
    D.FeeCollected: lambda e: PostalFeeCollected(
        dossier_code=e.dossier_code, leg=e.leg, agency_id=e.agency_id, partner_id=e.partner_id, fee_vnd=e.fee_vnd,
        postage_vnd=e.postage_vnd, collected_at=e.collected_at),
}
"""The contract of each stored event type that always leaves the service."""

STAYS_INSIDE = frozenset({D.Registered, D.LegOpened, D.ActionRequested, D.ActionAnswered, RoutingEnd.Noted})


EFFECTS: dict[tuple[str, str], Callable[[Any], Contract]] = {
    ("pickup", "handed_to_agency"): _handed_to_agency,
    ("return", "delivered"): _delivered,
    ("return", "delivery_failed"): _failed,
    ("return", "returned_to_sender"): _returned_to_desk,
}
"""(leg, status) → what an applied status means for the other services."""


def to_outbound(e: Any) -> list[Outbound]:
    """The relay's mapping: the records a stored event becomes (none for what stays inside)."""
    kind = type(e)
    correlation_id = getattr(e, "correlation_id", None)
    if kind in STAYS_INSIDE:
        return []
    make = CONTRACT_OF.get(kind)
    if make is not None:
        return [Outbound(make(e), e.dossier_code, correlation_id)]
    if kind is not D.StatusReported:
        raise ValueError(f"postal does not know whether to publish {kind.__qualname__}")
    if not e.applied:
        return []
    records = [Outbound(_status_changed(e), e.dossier_code, correlation_id)]
    effect = EFFECTS.get((e.leg, e.status))
    if effect is not None:
        records.append(Outbound(effect(e), e.dossier_code, correlation_id, discriminator=1))
    return records
