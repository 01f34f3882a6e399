"""Events the postal service publishes on ``lienthong.postal.events`` (bưu chính công ích).

A dossier travels by post on at most two *legs*: ``pickup`` (the carrier collects the papers at the
applicant's home and hands them to the receiving desk) and ``return`` (the carrier takes the result
from the desk to the applicant's address). Each leg is one order at the carrier, a *shipment*.
Every event names its dossier by ``dossier_code``, the envelope ``subject`` and the Kafka key.

Who reads what: intake records a pickup handed to its desk (:class:`PickupHandedToAgency`);
routing, which owns status 10, records a result delivered by post (:class:`ResultDeliveredByPost`)
and a result brought back to the desk (:class:`ResultReturnedToDesk`); notify tells the applicant
of every status and of a failed delivery; the audit ledger keeps all of them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared_events.contracts.base import Contract, Upcaster
from shared_events.scalars import AgencyId, DossierCode, LongText, ShortText, UtcDatetime
from shared_events.topics import POSTAL_EVENTS

PostalLeg = Literal["pickup", "return"]
"""``pickup``: home → receiving desk; ``return``: the result, desk → applicant's address."""

ShipmentStatus = Literal["created", "collecting", "collected", "handed_to_agency", "in_transit", "delivered",
                         "delivery_failed", "returned_to_sender", "cancelled"]
"""A shipment's status at the carrier (docs/POSTAL.md has the order they are applied in)."""

PartnerId = ShortText
TrackingNumber = ShortText


class ShipmentOrdered(Contract):
    """The carrier accepted the order of one leg (once per leg, whatever was retried)."""

    TYPE: ClassVar[str] = "vn.lienthong.postal.shipment.ordered"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = POSTAL_EVENTS

    dossier_code: DossierCode
    leg: PostalLeg
    partner_id: PartnerId
    order_id: ShortText
    tracking_number: TrackingNumber
    cod_amount_vnd: int = Field(ge=0, description="What the carrier collects from the applicant: fee plus postage.")
    ordered_at: UtcDatetime


class ShipmentOrderRefused(Contract):
    """The carrier refused the order for good (not a passing failure): the desk must act."""

    TYPE: ClassVar[str] = "vn.lienthong.postal.shipment.order-refused"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = POSTAL_EVENTS

    dossier_code: DossierCode
    leg: PostalLeg
    partner_id: PartnerId
    reason: LongText
    refused_at: UtcDatetime


class ShipmentStatusChanged(Contract):
    """A shipment moved forward (a status reported by the carrier, by webhook or by reconciliation).

    ``attempt`` counts delivery attempts (1 for the first); ``status_at`` is the carrier's time of
    the status, ``recorded_at`` when postal learnt it."""

    TYPE: ClassVar[str] = "vn.lienthong.postal.shipment.status-changed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = POSTAL_EVENTS

    dossier_code: DossierCode
    leg: PostalLeg
    partner_id: PartnerId
    tracking_number: TrackingNumber
    status: ShipmentStatus
    attempt: int = Field(ge=1)
    status_at: UtcDatetime
    recorded_at: UtcDatetime
    detail: LongText | None = None


class PickupHandedToAgency(Contract):
    """The papers collected at the applicant's home reached the receiving desk (the desk sees them arrive)."""

    TYPE: ClassVar[str] = "vn.lienthong.postal.pickup.handed-to-agency"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = POSTAL_EVENTS

    dossier_code: DossierCode
    agency_id: AgencyId
    partner_id: PartnerId
    tracking_number: TrackingNumber
    handed_at: UtcDatetime


class ResultDeliveredByPost(Contract):
    """The carrier delivered the result to the applicant: the hand-over by post (routing records status 10)."""

    TYPE: ClassVar[str] = "vn.lienthong.postal.result.delivered"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = POSTAL_EVENTS

    dossier_code: DossierCode
    partner_id: PartnerId
    tracking_number: TrackingNumber
    attempts: int = Field(ge=1, description="Delivery attempts it took.")
    delivered_at: UtcDatetime


class PostalDeliveryFailed(Contract):
    """A delivery attempt of the result failed; the carrier tries again, or — after the last attempt
    allowed — brings the result back to the desk (``next_step``)."""

    TYPE: ClassVar[str] = "vn.lienthong.postal.delivery.failed"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = POSTAL_EVENTS

    dossier_code: DossierCode
    partner_id: PartnerId
    tracking_number: TrackingNumber
    attempt: int = Field(ge=1)
    max_attempts: int = Field(ge=1)
    reason: LongText | None = None
    next_step: Literal["redeliver", "return_to_desk"]
    failed_at: UtcDatetime


class ResultReturnedToDesk(Contract):
    """The result could not be delivered and is back at the receiving desk: the applicant collects it there."""

    TYPE: ClassVar[str] = "vn.lienthong.postal.result.returned-to-desk"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = POSTAL_EVENTS

    dossier_code: DossierCode
    agency_id: AgencyId
    partner_id: PartnerId
    tracking_number: TrackingNumber
    attempts: int = Field(ge=1)
    returned_at: UtcDatetime


class PostalFeeCollected(Contract):
    """The carrier collected money from the applicant on one leg: the procedure's fee (lệ phí, phí) and
    the postage (cước), for the receiving agency."""

    TYPE: ClassVar[str] = "vn.lienthong.postal.fee.collected"
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = POSTAL_EVENTS

    dossier_code: DossierCode
    leg: PostalLeg
    agency_id: AgencyId
    partner_id: PartnerId
    fee_vnd: int = Field(ge=0)
    postage_vnd: int = Field(ge=0)
    collected_at: UtcDatetime


CONTRACTS: tuple[type[Contract], ...] = (
    ShipmentOrdered, ShipmentOrderRefused, ShipmentStatusChanged, PickupHandedToAgency, ResultDeliveredByPost,
    PostalDeliveryFailed, ResultReturnedToDesk, PostalFeeCollected,
)
UPCASTERS: tuple[Upcaster, ...] = ()
