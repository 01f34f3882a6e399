"""Standard Webhooks: verifying the carrier's status webhooks, and signing them (simulator, tests).

Headers ``webhook-id``, ``webhook-timestamp`` (integer Unix seconds, wall-clock transport time)
and ``webhook-signature`` (space-separated ``v1,<base64>`` and/or ``v1a,<base64>``). Signed content:
``f"{id}.{timestamp}.{body}"``. ``v1`` is HMAC-SHA256 with a ``whsec_`` secret (the
``standardwebhooks`` package signs and verifies it); ``v1a`` is Ed25519 (``cryptography``) with a
``whsk_`` private and ``whpk_`` public key, each the base64 of the 32 raw key bytes.

A partner rotates its secret by sending, for a while, signatures under both: :class:`WebhookKeys`
holds several secrets and public keys, and a message passes when any signature matches any key.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets as _random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

SECRET_PREFIX = "whsec_"
PRIVATE_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
MAX_TOLERANCE_SECONDS = 300.0
"""The ``standardwebhooks`` package refuses timestamps more than 5 minutes off the real clock."""

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

RejectionReason = Literal["missing-headers", "malformed-headers", "stale-timestamp", "bad-signature"]

_ID = re.compile(r"^[\x21-\x7e]{1,256}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_ENTRY = re.compile(r"^([a-z0-9]+),([A-Za-z0-9+/=]+)$")


class WebhookRejected(Exception):
    """A webhook that must not be trusted; ``reason`` says why (never a key or a secret)."""

    def __init__(self, reason: RejectionReason) -> None:
        super().__init__(f"webhook rejected: {reason}")
        self.reason: RejectionReason = reason


@dataclass(frozen=True)
class SignedMessage:
    """What a verified webhook's headers vouch for: its id (for de-duplication) and when it was sent."""

    id: str
    timestamp: datetime


@dataclass(frozen=True)
class WebhookKeys:
    """The keys one partner signs with: ``whsec_`` secrets (v1) and ``whpk_`` public keys (v1a).

    Several of each may be given while the partner rotates; at least one key in all.
    """

    secrets: tuple[str, ...] = field(default=(), repr=False)
    public_keys: tuple[str, ...] = ()
    tolerance_seconds: float = MAX_TOLERANCE_SECONDS

    def __post_init__(self) -> None:
        if not 0 < self.tolerance_seconds <= MAX_TOLERANCE_SECONDS:
            raise ValueError(f"tolerance_seconds must be > 0 and <= {MAX_TOLERANCE_SECONDS:g}")
        if not self.secrets and not self.public_keys:
            raise ValueError("webhook keys need at least one secret or public key")
        for index, secret in enumerate(self.secrets):
            if _secret_bytes(secret) is None:
                raise ValueError(f"webhook secret #{index + 1} is not {SECRET_PREFIX}<base64>")
        for index, key in enumerate(self.public_keys):
            if _raw_key(key, PUBLIC_KEY_PREFIX) is None:
                raise ValueError(f"public key #{index + 1} is not {PUBLIC_KEY_PREFIX}<base64 of 32 bytes>")


def verify_webhook(body: bytes, headers: Mapping[str, str], keys: WebhookKeys, *,
                   now: datetime | None = None) -> SignedMessage:
    """The webhook's id and timestamp once its headers and a signature check out; else WebhookRejected.

    ``now`` (aware; default the real UTC clock) bounds the timestamp to ±``keys.tolerance_seconds``.
    The ``standardwebhooks`` package also checks v1 against the real clock (±5 minutes), so ``now``
    must stay close to it: this is transport time, never the business clock.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    lowered = {name.lower(): value for name, value in headers.items()}
    webhook_id = lowered.get(ID_HEADER, "").strip()
    timestamp_text = lowered.get(TIMESTAMP_HEADER, "").strip()
    signature_text = lowered.get(SIGNATURE_HEADER, "").strip()
    if not (webhook_id and timestamp_text and signature_text):
        raise WebhookRejected("missing-headers")
    entries = _signature_entries(signature_text)
    if not _ID.match(webhook_id) or not _TIMESTAMP.match(timestamp_text) or entries is None:
        raise WebhookRejected("malformed-headers")
    timestamp = int(timestamp_text)
    if abs(timestamp - now.timestamp()) > keys.tolerance_seconds:
        raise WebhookRejected("stale-timestamp")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected("bad-signature") from None
    if not (_v1_matches(text, webhook_id, timestamp_text, entries, keys.secrets)
            or _v1a_matches(f"{webhook_id}.{timestamp_text}.{text}".encode(), entries, keys.public_keys)):
        raise WebhookRejected("bad-signature")
    return SignedMessage(id=webhook_id, timestamp=datetime.fromtimestamp(timestamp, UTC))


def sign_webhook(webhook_id: str, timestamp: int, body: bytes, *, secret: str | None = None,
                 private_key: str | None = None) -> str:
    """The ``webhook-signature`` value: ``v1,...`` with ``secret``, ``v1a,...`` with ``private_key``, or both."""
    if secret is None and private_key is None:
        raise ValueError("signing needs a secret, a private key or both")
    text = body.decode("utf-8")
    entries: list[str] = []
    if secret is not None:
        entries.append(Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), text))
    if private_key is not None:
        raw = _raw_key(private_key, PRIVATE_KEY_PREFIX)
        if raw is None:
            raise ValueError(f"the private key is not {PRIVATE_KEY_PREFIX}<base64 of 32 bytes>")
        signature = Ed25519PrivateKey.from_private_bytes(raw).sign(f"{webhook_id}.{timestamp}.{text}".encode())
        entries.append(f"v1a,{base64.b64encode(signature).decode('ascii')}")
    return " ".join(entries)


def webhook_headers(webhook_id: str, body: bytes, *, secret: str | None = None, private_key: str | None = None,
                    timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``; ``timestamp`` defaults to the real clock."""
    if timestamp is None:
        timestamp = int(time.time())
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign_webhook(webhook_id, timestamp, body, secret=secret, private_key=private_key),
    }


def new_secret() -> str:
    """A fresh ``whsec_`` secret (24 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(24)).decode("ascii")


def new_key_pair() -> tuple[str, str]:
    """A fresh Ed25519 pair: (``whsk_`` private key, ``whpk_`` public key)."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return PRIVATE_KEY_PREFIX + base64.b64encode(raw).decode("ascii"), _public_key_text(private)


def public_key_of(private_key: str) -> str:
    """The ``whpk_`` public key of a ``whsk_`` private key."""
    raw = _raw_key(private_key, PRIVATE_KEY_PREFIX)
    if raw is None:
        raise ValueError(f"the private key is not {PRIVATE_KEY_PREFIX}<base64 of 32 bytes>")
    return _public_key_text(Ed25519PrivateKey.from_private_bytes(raw))


def _public_key_text(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def _signature_entries(header: str) -> list[tuple[str, str]] | None:
    """(version, base64) of each entry, or None when any entry is not ``version,signature``."""
    entries = []
    for entry in header.split():
        match = _ENTRY.match(entry)
        if match is None:
            return None
        entries.append((match.group(1), match.group(2)))
    return entries


def _v1_matches(text: str, webhook_id: str, timestamp: str, entries: list[tuple[str, str]],
                secrets: tuple[str, ...]) -> bool:
    v1 = " ".join(f"v1,{signature}" for version, signature in entries if version == "v1")
    if not v1:
        return False
    headers = {ID_HEADER: webhook_id, TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: v1}
    for secret in secrets:
        try:
            Webhook(secret).verify(text, headers, json_parse=False)
        except (WebhookVerificationError, ValueError):
            continue
        return True
    return False


def _v1a_matches(content: bytes, entries: list[tuple[str, str]], public_keys: tuple[str, ...]) -> bool:
    signatures = [_b64(signature) for version, signature in entries if version == "v1a"]
    for key in public_keys:
        raw = _raw_key(key, PUBLIC_KEY_PREFIX)
        if raw is None:
            continue
        public = Ed25519PublicKey.from_public_bytes(raw)
        for signature in signatures:
            if signature is None:
                continue
            try:
                public.verify(signature, content)
            except InvalidSignature:
                continue
            return True
    return False


def _b64(text: str) -> bytes | None:
    """The bytes of standard base64 ``text`` (padding optional), or None."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _secret_bytes(secret: str) -> bytes | None:
    if not secret.startswith(SECRET_PREFIX):
        return None
    raw = _b64(secret.removeprefix(SECRET_PREFIX))
    return raw or None


def _raw_key(key: str, prefix: str) -> bytes | None:
    if not key.startswith(prefix):
        return None
    raw = _b64(key.removeprefix(prefix))
    return raw if raw is not None and len(raw) == 32 else None
