"""The carrier's API as lienthong speaks it: the wire models of orders, tracking and status webhooks.

The public postal carrier is a partner outside our walls. Postal calls it (OAuth2 client
credentials, then ``/v1/orders`` with an ``Idempotency-Key``) and it calls postal back with
Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``). The carrier
simulator (:mod:`postal.simulator`) serves exactly this API, and the client
(:mod:`postal.carrier`) calls exactly it: both import the models from here.

Endpoints (docs/POSTAL.md):

* ``POST /oauth/token`` — form ``grant_type=client_credentials``, ``client_id``, ``client_secret``
  → :class:`TokenAnswer`; 401 for wrong credentials.
* ``POST /v1/orders`` — :class:`OrderRequest`, header ``Idempotency-Key`` → 201 :class:`Order`;
  the same key again → 200 and the same order (never a second one); the same key with another
  body → 422.
* ``GET /v1/orders/{order_id}`` → :class:`Order` with its whole tracking (``events``).
* ``POST /v1/orders/{order_id}/cancel`` → 200 :class:`Order` (cancelled); 409 once collected.
* ``POST /v1/orders/{order_id}/redeliver`` → 200 :class:`Order`: another delivery attempt after
  ``delivery_failed``; 409 otherwise.
* ``POST /v1/orders/{order_id}/return`` → 200 :class:`Order`: bring it back to the sender after
  ``delivery_failed``; 409 otherwise.

All of them take ``Authorization: Bearer <token>`` (401 without a valid one), and answer 429 with
``Retry-After`` when throttling, 5xx when failing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared_events.contracts.postal import PostalLeg, ShipmentStatus

STATUS_RANK: dict[str, int] = {
    "created": 0,
    "collecting": 10,
    "collected": 20,
    "in_transit": 30,
    "delivery_failed": 40,
    "handed_to_agency": 90,
    "delivered": 90,
    "returned_to_sender": 90,
    "cancelled": 90,
}
"""Where each status stands within one delivery attempt; 90: final, nothing follows it."""

FINAL_STATUSES = frozenset(status for status, rank in STATUS_RANK.items() if rank == 90)

PICKUP_STATUSES: tuple[ShipmentStatus, ...] = ("created", "collecting", "collected", "in_transit", "handed_to_agency")
"""A pickup's statuses in the order they come (or ``cancelled`` before ``collected``)."""

RETURN_STATUSES: tuple[ShipmentStatus, ...] = ("created", "collected", "in_transit", "delivered")
"""A return's statuses when the first attempt succeeds; a failed attempt reports ``delivery_failed``,
then ``in_transit`` again with the next attempt number (after a redelivery), or
``returned_to_sender`` (after a return)."""

WEBHOOK_EVENT_TYPE = "shipment.status"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TokenAnswer(_Wire):
    access_token: str
    token_type: Literal["Bearer", "bearer"] = "Bearer"
    expires_in: int = Field(gt=0, description="Seconds.")


class Party(_Wire):
    """A sender or a receiver: who, where (with the administrative unit code), how to call them."""

    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=20)
    address: str = Field(min_length=1, max_length=2000)
    unit_code: str = Field(pattern=r"^[0-9]{2,5}$", description="Mã đơn vị hành chính.")


class OrderRequest(_Wire):
    """One leg of one dossier, ordered from the carrier."""

    reference: str = Field(min_length=1, max_length=64, description="The dossier code.")
    leg: PostalLeg
    sender: Party
    receiver: Party
    description: str = Field(min_length=1, max_length=500, description="What the package holds.")
    cod_amount_vnd: int = Field(ge=0, description="To collect from the applicant: the fee plus the postage.")


class TrackingEvent(_Wire):
    """One status of a shipment; ``id`` is the ``webhook-id`` of the webhook that reported it."""

    id: str = Field(min_length=1, max_length=128)
    status: ShipmentStatus
    at: datetime
    attempt: int = Field(default=1, ge=1)
    detail: str | None = Field(default=None, max_length=500)
    cod_collected_vnd: int | None = Field(default=None, ge=0)


class Order(_Wire):
    order_id: str
    tracking_number: str
    reference: str
    leg: PostalLeg
    status: ShipmentStatus
    created_at: datetime
    cod_amount_vnd: int = 0
    events: tuple[TrackingEvent, ...] = ()


class StatusData(_Wire):
    """The ``data`` of a status webhook."""

    order_id: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=64)
    reference: str = Field(min_length=1, max_length=64)
    leg: PostalLeg
    status: ShipmentStatus
    at: datetime
    attempt: int = Field(default=1, ge=1)
    detail: str | None = Field(default=None, max_length=500)
    cod_collected_vnd: int | None = Field(default=None, ge=0)


class StatusWebhook(_Wire):
    """The body of a status webhook (Standard Webhooks: ``type``, ``timestamp``, ``data``)."""

    type: Literal["shipment.status"]
    timestamp: datetime
    data: StatusData
