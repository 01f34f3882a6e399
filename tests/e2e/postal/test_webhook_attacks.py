"""Status webhooks that must not be believed, sent straight to postal's endpoint: each gets its precise
answer and changes nothing (read back), while a genuine one is applied once however often it comes."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from services.sandbox import OTHER_PARTNER_ID, PARTNER_ID
from services.webhooks import new_secret, webhook_headers
from tests.support.kafka import eventually
from tests.support.postal import leg_of, shipments, submit_by_post


@pytest.fixture
async def ordered(by_post, tokens, carrier, clock, http) -> dict[str, Any]:
    """A dossier whose pickup the carrier has ordered, the carrier holding every status back."""
    await carrier.set_behaviour(paused=True)
    code = await submit_by_post(by_post, http, tokens, "2.000635", result_by_post=False)

    async def ordered_leg() -> dict[str, Any] | None:
        leg = leg_of(await shipments(by_post, http, tokens["auditor"], code), "pickup")
        return leg if leg is not None and leg["order_id"] is not None else None
    leg = await eventually(ordered_leg, timeout=60)
    return {"code": code, **leg}


def status_body(ordered: dict[str, Any], status: str = "collecting", **data: Any) -> bytes:
    at = (ordered["status_at"] or "2025-07-07T02:00:00+00:00")
    return json.dumps({"type": "shipment.status", "timestamp": at, "data": {
        "order_id": ordered["order_id"], "tracking_number": ordered["tracking_number"], "reference": ordered["code"],
        "leg": "pickup", "status": status, "at": at, "attempt": 1, **data}}).encode()


async def send(by_post, http, body: bytes, headers: dict[str, str], partner: str = PARTNER_ID) -> Any:
    return await http.post(f"{by_post.postal_url}/v1/postal/webhooks/{partner}", content=body,
                           headers={**headers, "content-type": "application/json"})


async def history(by_post, http, tokens, code: str) -> list[dict[str, Any]]:
    leg = leg_of(await shipments(by_post, http, tokens["auditor"], code), "pickup")
    assert leg is not None
    return leg["history"]


def genuine(by_post, body: bytes, **kwargs: Any) -> dict[str, str]:
    return webhook_headers(f"msg_{uuid.uuid4().hex}", body, secret=by_post.carrier.webhook_secret, **kwargs)


@pytest.mark.parametrize("attack", ["wrong secret", "altered body", "stale timestamp", "future timestamp",
                                    "another partner's signature", "no signature"])
async def test_a_forged_or_stale_webhook_is_refused_with_401_and_changes_nothing(by_post, tokens, http, ordered,
                                                                                attack) -> None:
    before = await history(by_post, http, tokens, ordered["code"])
    body = status_body(ordered)
    headers = {
        "wrong secret": lambda: webhook_headers("msg_x", body, secret=new_secret()),
        "altered body": lambda: genuine(by_post, status_body(ordered, "in_transit")),
        "stale timestamp": lambda: genuine(by_post, body, timestamp=int(time.time()) - 600),
        "future timestamp": lambda: genuine(by_post, body, timestamp=int(time.time()) + 600),
        "another partner's signature": lambda: webhook_headers("msg_y", body,
                                                               secret=by_post.other_carrier.webhook_secret),
        "no signature": lambda: {k: v for k, v in genuine(by_post, body).items() if k != "webhook-signature"},
    }[attack]()
    answer = await send(by_post, http, body, headers)
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert await history(by_post, http, tokens, ordered["code"]) == before


async def test_a_v1a_ed25519_signature_alone_is_accepted(by_post, tokens, http, ordered) -> None:
    body = status_body(ordered)
    headers = webhook_headers(f"msg_{uuid.uuid4().hex}", body, private_key=by_post.carrier.signing_key)
    answer = await send(by_post, http, body, headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "accepted"


async def test_a_replayed_webhook_id_is_answered_200_and_applied_once(by_post, tokens, http, ordered) -> None:
    body = status_body(ordered)
    headers = genuine(by_post, body)
    first, again = await send(by_post, http, body, headers), await send(by_post, http, body, headers)
    assert (first.status_code, first.json()["outcome"]) == (200, "accepted")
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    reports = [r for r in await history(by_post, http, tokens, ordered["code"])
               if r["report_id"] == headers["webhook-id"]]
    assert [(r["status"], r["applied"]) for r in reports] == [("collecting", True)]


async def test_a_genuine_signature_of_another_partner_on_its_own_endpoint_finds_no_shipment(
        by_post, tokens, http, ordered) -> None:
    body = status_body(ordered)
    headers = webhook_headers(f"msg_{uuid.uuid4().hex}", body, secret=by_post.other_carrier.webhook_secret)
    answer = await send(by_post, http, body, headers, partner=OTHER_PARTNER_ID)
    assert answer.status_code == 404, answer.text
    assert all(r["report_id"] != headers["webhook-id"] for r in await history(by_post, http, tokens, ordered["code"]))


@pytest.mark.parametrize("change, status", [
    ({"order_id": "ORD-000000000000"}, 404), ({"reference": "000.00.01.H40-250707-999999"}, 404),
    ({"leg": "return"}, 404), ({"status": "lost_in_space"}, 422), ({"at": "yesterday"}, 422)])
async def test_a_webhook_for_an_unknown_shipment_gets_404_and_a_malformed_one_422(by_post, tokens, http, ordered,
                                                                                  change, status) -> None:
    before = await history(by_post, http, tokens, ordered["code"])
    body = status_body(ordered, **{k: v for k, v in change.items() if k != "status"})
    if "status" in change:
        body = body.replace(b'"collecting"', json.dumps(change["status"]).encode())
    answer = await send(by_post, http, body, genuine(by_post, body))
    assert answer.status_code == status, answer.text
    assert await history(by_post, http, tokens, ordered["code"]) == before


async def test_a_webhook_to_a_partner_postal_does_not_have_gets_404(by_post, http, ordered) -> None:
    body = status_body(ordered)
    answer = await send(by_post, http, body, genuine(by_post, body), partner="nobody")
    assert answer.status_code == 404, answer.text


async def test_a_signed_body_that_is_not_json_gets_422(by_post, http, ordered) -> None:
    signed = b"not json at all"
    answer = await send(by_post, http, signed, genuine(by_post, signed))
    assert answer.status_code == 422, answer.text
