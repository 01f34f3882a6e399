"""Standard Webhooks: what postal accepts from the carrier, and what it refuses."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from services.webhooks import (
    SignedMessage,
    WebhookKeys,
    WebhookRejected,
    new_key_pair,
    new_secret,
    public_key_of,
    sign_webhook,
    verify_webhook,
    webhook_headers,
)
from tests.random_refs import random_suffix


def a_body() -> bytes:
    return json.dumps({"type": "shipment.status", "data": {"order_id": f"o-{random_suffix()}",
                                                           "detail": "Đã giao cho người nhận"}},
                      ensure_ascii=False).encode()


def a_webhook_id() -> str:
    return f"msg_{random_suffix(16)}"


def rejection(body: bytes, headers: dict[str, str], keys: WebhookKeys) -> str:
    with pytest.raises(WebhookRejected) as caught:
        verify_webhook(body, headers, keys)
    return caught.value.reason


def test_a_v1_signature_with_the_partners_secret_is_accepted() -> None:
    secret, body, webhook_id = new_secret(), a_body(), a_webhook_id()
    headers = webhook_headers(webhook_id, body, secret=secret)

    message = verify_webhook(body, headers, WebhookKeys(secrets=(secret,)))

    assert message == SignedMessage(id=webhook_id, timestamp=datetime.fromtimestamp(
        int(headers["webhook-timestamp"]), UTC))


def test_header_names_are_matched_whatever_their_case() -> None:
    secret, body = new_secret(), a_body()
    headers = {name.title(): value for name, value in webhook_headers(a_webhook_id(), body, secret=secret).items()}

    assert verify_webhook(body, headers, WebhookKeys(secrets=(secret,))).id == headers["Webhook-Id"]


def test_a_v1a_signature_is_accepted_with_the_public_key_alone() -> None:
    private_key, public_key = new_key_pair()
    body = a_body()
    headers = webhook_headers(a_webhook_id(), body, private_key=private_key)

    assert headers["webhook-signature"].startswith("v1a,")
    assert verify_webhook(body, headers, WebhookKeys(public_keys=(public_key,))).id == headers["webhook-id"]


def test_the_public_key_of_a_private_key_is_the_one_generated_with_it() -> None:
    private_key, public_key = new_key_pair()

    assert public_key_of(private_key) == public_key


def test_a_signature_with_both_versions_passes_with_either_key() -> None:
    secret = new_secret()
    private_key, public_key = new_key_pair()
    body = a_body()
    headers = webhook_headers(a_webhook_id(), body, secret=secret, private_key=private_key)

    assert verify_webhook(body, headers, WebhookKeys(secrets=(secret,))).id == headers["webhook-id"]
    assert verify_webhook(body, headers, WebhookKeys(public_keys=(public_key,))).id == headers["webhook-id"]


def test_a_signature_made_with_another_secret_is_refused() -> None:
    body = a_body()
    headers = webhook_headers(a_webhook_id(), body, secret=new_secret())

    assert rejection(body, headers, WebhookKeys(secrets=(new_secret(),))) == "bad-signature"


def test_another_partners_key_pair_does_not_vouch_for_this_partner() -> None:
    theirs, _ = new_key_pair()
    _, ours = new_key_pair()
    body = a_body()
    headers = webhook_headers(a_webhook_id(), body, private_key=theirs)

    assert rejection(body, headers, WebhookKeys(public_keys=(ours,))) == "bad-signature"


def test_an_altered_body_is_refused() -> None:
    secret, body = new_secret(), a_body()
    headers = webhook_headers(a_webhook_id(), body, secret=secret)

    assert rejection(body.replace(b"order_id", b"order_Id"), headers, WebhookKeys(secrets=(secret,))) \
        == "bad-signature"


def test_an_altered_webhook_id_is_refused() -> None:
    secret, body = new_secret(), a_body()
    headers = webhook_headers(a_webhook_id(), body, secret=secret) | {"webhook-id": a_webhook_id()}

    assert rejection(body, headers, WebhookKeys(secrets=(secret,))) == "bad-signature"


def test_a_body_that_is_not_utf8_is_refused() -> None:
    secret = new_secret()
    headers = webhook_headers(a_webhook_id(), b"{}", secret=secret)

    assert rejection(b"\xff\xfe{}", headers, WebhookKeys(secrets=(secret,))) == "bad-signature"


@pytest.mark.parametrize("offset", [-301, 301], ids=["stale", "from-the-future"])
def test_a_timestamp_outside_the_tolerance_is_refused_even_when_signed(offset: int) -> None:
    secret, body = new_secret(), a_body()
    headers = webhook_headers(a_webhook_id(), body, secret=secret, timestamp=int(time.time()) + offset)

    assert rejection(body, headers, WebhookKeys(secrets=(secret,))) == "stale-timestamp"


def test_a_tighter_tolerance_refuses_what_the_default_accepts() -> None:
    secret, body = new_secret(), a_body()
    sent = int(time.time())
    headers = webhook_headers(a_webhook_id(), body, secret=secret, timestamp=sent)
    later = datetime.fromtimestamp(sent + 31, UTC)

    assert verify_webhook(body, headers, WebhookKeys(secrets=(secret,)), now=later).id == headers["webhook-id"]
    with pytest.raises(WebhookRejected, match="stale-timestamp"):
        verify_webhook(body, headers, WebhookKeys(secrets=(secret,), tolerance_seconds=30), now=later)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing: str) -> None:
    secret, body = new_secret(), a_body()
    headers = webhook_headers(a_webhook_id(), body, secret=secret)
    del headers[missing]

    assert rejection(body, headers, WebhookKeys(secrets=(secret,))) == "missing-headers"


@pytest.mark.parametrize(("header", "value"), [
    ("webhook-timestamp", "yesterday"),
    ("webhook-timestamp", "1751853600.5"),
    ("webhook-timestamp", "9" * 40),
    ("webhook-signature", "v1"),
    ("webhook-signature", "v1,abc def"),
    ("webhook-signature", "v1,not base64!"),
    ("webhook-id", "two words"),
])
def test_a_malformed_header_is_refused(header: str, value: str) -> None:
    secret, body = new_secret(), a_body()
    headers = webhook_headers(a_webhook_id(), body, secret=secret) | {header: value}

    assert rejection(body, headers, WebhookKeys(secrets=(secret,))) == "malformed-headers"


def test_during_a_rotation_signatures_under_the_old_and_the_new_secret_both_pass() -> None:
    old, new = new_secret(), new_secret()
    keys = WebhookKeys(secrets=(old, new))
    body = a_body()

    for secret in (old, new):
        headers = webhook_headers(a_webhook_id(), body, secret=secret)
        assert verify_webhook(body, headers, keys).id == headers["webhook-id"]


def test_a_header_carrying_a_stale_and_a_current_signature_passes_on_the_current_one() -> None:
    old, new = new_secret(), new_secret()
    body, webhook_id, sent = a_body(), a_webhook_id(), int(time.time())
    signature = f"{sign_webhook(webhook_id, sent, body, secret=old)} {sign_webhook(webhook_id, sent, body, secret=new)}"
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(sent), "webhook-signature": signature}

    assert verify_webhook(body, headers, WebhookKeys(secrets=(new,))).id == webhook_id


def test_a_v1a_signature_is_not_accepted_when_no_public_key_is_configured() -> None:
    private_key, _ = new_key_pair()
    body = a_body()
    headers = webhook_headers(a_webhook_id(), body, private_key=private_key)

    assert rejection(body, headers, WebhookKeys(secrets=(new_secret(),))) == "bad-signature"


def test_a_signature_of_an_unknown_version_alone_is_refused() -> None:
    secret, body = new_secret(), a_body()
    headers = webhook_headers(a_webhook_id(), body, secret=secret)
    headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")

    assert rejection(body, headers, WebhookKeys(secrets=(secret,))) == "bad-signature"


def test_a_rejection_never_shows_the_secret() -> None:
    secret, body = new_secret(), a_body()
    headers = webhook_headers(a_webhook_id(), body, secret=new_secret())

    with pytest.raises(WebhookRejected) as caught:
        verify_webhook(body, headers, WebhookKeys(secrets=(secret,)))

    assert secret.removeprefix("whsec_") not in str(caught.value)
    assert secret.removeprefix("whsec_") not in repr(WebhookKeys(secrets=(secret,)))


@pytest.mark.parametrize("tolerance", [0, -1, 300.5, 3600])
def test_a_tolerance_outside_the_packages_window_is_refused(tolerance: float) -> None:
    with pytest.raises(ValueError, match="tolerance_seconds"):
        WebhookKeys(secrets=(new_secret(),), tolerance_seconds=tolerance)


@pytest.mark.parametrize("tolerance", [0.5, 300])
def test_a_tolerance_within_the_packages_window_is_taken(tolerance: float) -> None:
    assert WebhookKeys(secrets=(new_secret(),), tolerance_seconds=tolerance).tolerance_seconds == tolerance


def test_keys_that_are_not_standard_webhooks_keys_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="secret #1") as caught:
        WebhookKeys(secrets=("hunter2-not-a-secret",))
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ValueError, match="public key #1"):
        WebhookKeys(public_keys=("whpk_c2hvcnQ=",))
    with pytest.raises(ValueError, match="at least one"):
        WebhookKeys()


def test_signing_needs_a_key() -> None:
    with pytest.raises(ValueError, match="secret, a private key"):
        sign_webhook(a_webhook_id(), int(time.time()), a_body())
