"""Sending status webhooks (Standard Webhooks) to postal, in order, with retries and misbehaviour.

Each tracking event becomes one ``shipment.status`` webhook whose ``webhook-id`` is the event's id.
Headers: ``webhook-id``, ``webhook-timestamp`` (real Unix seconds when sent), ``webhook-signature``
(``v1,<HMAC-SHA256>`` and, with a signing key, ``v1a,<Ed25519>``, over ``{id}.{timestamp}.{body}``).
One task per order sends that order's webhooks one after the other; enqueuing never waits.
A delivery answered 5xx or 429, or not answered, is retried (6 attempts, 0.2 s doubling); a 2xx
or another 4xx ends it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from postal.carrier_api import WEBHOOK_EVENT_TYPE, StatusData, StatusWebhook, TrackingEvent
from postal.simulator.carrier import Shipment
from postal.simulator.settings import Behaviour
from services.webhooks import new_key_pair, new_secret, webhook_headers

log = logging.getLogger(__name__)

ATTEMPTS = 6
FIRST_BACKOFF_SECONDS = 0.2
REORDER_HOLD_SECONDS = 0.5
"""With ``reorder_webhooks``: how long a shipment's webhooks are held before going out in reverse."""
SEND_TIMEOUT_SECONDS = 5.0


class Signer:
    """Signs webhook content with a ``whsec_`` secret (``v1``) and optionally a ``whsk_`` key (``v1a``)."""

    def __init__(self, webhook_secret: str, signing_key: str | None = None) -> None:
        self._secret = webhook_secret
        self._signing_key = signing_key

    def headers(self, msg_id: str, body: str, timestamp: int | None = None) -> dict[str, str]:
        return {**webhook_headers(msg_id, body.encode(), secret=self._secret, private_key=self._signing_key,
                                  timestamp=timestamp), "content-type": "application/json"}

    @classmethod
    def impostor(cls, like_ed25519: bool) -> Signer:
        """A signer with a random secret (and key): what ``wrong_signing_key`` signs with."""
        return cls(new_secret(), new_key_pair()[0] if like_ed25519 else None)


def webhook_body(shipment: Shipment, event: TrackingEvent) -> str:
    data = StatusData(order_id=shipment.order_id, tracking_number=shipment.tracking_number,
                      reference=shipment.request.reference, leg=shipment.request.leg, status=event.status,
                      at=event.at, attempt=event.attempt, detail=event.detail,
                      cod_collected_vnd=event.cod_collected_vnd)
    return StatusWebhook(type=WEBHOOK_EVENT_TYPE, timestamp=event.at, data=data).model_dump_json()


@dataclass
class WebhookStats:
    sent: int = 0
    """Deliveries answered 2xx (a duplicate counts twice)."""
    dropped: int = 0
    """Webhooks never sent on purpose (``drop_webhook_ratio``)."""
    failed: int = 0
    """Deliveries given up after every attempt failed."""
    rejected: int = 0
    """Deliveries answered with a 4xx other than 429 (not retried)."""
    attempts: int = 0


@dataclass
class _Queued:
    event_id: str
    body: str


@dataclass
class WebhookSender:
    """Queues webhooks per order and sends them from background tasks."""

    client: httpx.AsyncClient
    url: str
    signer: Signer
    impostor: Signer
    behaviour: Callable[[], Behaviour]
    down_until: Callable[[], float]
    """The ``time.monotonic()`` instant before which nothing is sent."""
    rng: random.Random
    stats: WebhookStats = field(default_factory=WebhookStats)
    _queues: dict[str, deque[_Queued]] = field(default_factory=dict)
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def enqueue(self, shipment: Shipment, event: TrackingEvent, *, resend: bool = False) -> bool:
        """Queue the webhook of ``event``; False if it is dropped (never for a resend)."""
        if not resend and self.rng.random() < self.behaviour().drop_webhook_ratio:
            self.stats.dropped += 1
            log.info("webhook dropped on purpose", extra={"webhook_id": event.id})
            return False
        queue = self._queues.setdefault(shipment.order_id, deque())
        queue.append(_Queued(event.id, webhook_body(shipment, event)))
        if shipment.order_id not in self._tasks:
            self._tasks[shipment.order_id] = asyncio.create_task(self._drain(shipment.order_id))
        return True

    def pending(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, order_id: str) -> None:
        queue = self._queues[order_id]
        try:
            while queue:
                if self.behaviour().reorder_webhooks:
                    await asyncio.sleep(REORDER_HOLD_SECONDS)
                    batch = list(reversed(queue))
                    queue.clear()
                else:
                    batch = [queue.popleft()]
                for item in batch:
                    await self._send(item)
        finally:
            del self._tasks[order_id]
            if not queue:
                self._queues.pop(order_id, None)
            else:  # cancelled with webhooks still queued: nothing more to do at shutdown
                log.warning("webhooks left unsent", extra={"order_id": order_id, "count": len(queue)})

    async def _send(self, item: _Queued) -> None:
        await self._wait_until_up()
        behaviour = self.behaviour()
        if behaviour.webhook_delay_seconds:
            await asyncio.sleep(behaviour.webhook_delay_seconds)
        for _ in range(2 if behaviour.duplicate_webhooks else 1):
            await self._deliver(item, self.impostor if behaviour.wrong_signing_key else self.signer)

    async def _wait_until_up(self) -> None:
        while True:  # down_for_seconds may be changed meanwhile: look again every 0.1 s
            remaining = self.down_until() - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.1))

    async def _deliver(self, item: _Queued, signer: Signer) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        outcome = "no attempt"
        for attempt in range(1, ATTEMPTS + 1):
            await self._wait_until_up()
            self.stats.attempts += 1
            try:
                response = await self.client.post(self.url, content=item.body.encode(),
                                                   headers=signer.headers(item.event_id, item.body),
                                                   timeout=SEND_TIMEOUT_SECONDS)
            except httpx.HTTPError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    self.stats.sent += 1
                    return
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    self.stats.rejected += 1
                    log.warning("webhook refused", extra={"webhook_id": item.event_id,
                                                          "status_code": response.status_code,
                                                          "answer": response.text[:300]})
                    return
                outcome = f"HTTP {response.status_code}"
            if attempt < ATTEMPTS:
                await asyncio.sleep(backoff)
                backoff *= 2
        self.stats.failed += 1
        log.error("webhook given up", extra={"webhook_id": item.event_id, "attempts": ATTEMPTS,
                                             "last_outcome": outcome})
