"""The carrier partners postal works with, read from the partners file (``POSTAL_PARTNERS_FILE``).

Each partner has: the base URL of its API and the client credentials postal uses there; the keys
its status webhooks are signed with (``whsec_…`` secrets for ``v1``, ``whpk_…`` Ed25519 public keys
for ``v1a``; several of each while a key is being rotated); and the ids of the lienthong clients
that act for it (its staff and systems, party ``postal``), which see its shipments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from postal.carrier import CarrierPartner
from services.webhooks import WebhookKeys

PARTNER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
"""A partner's id: the last segment of its webhook endpoint's path."""


class PartnerEntry(BaseModel):
    """One partner as the file gives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partner_id: str = Field(pattern=PARTNER_ID_PATTERN)
    name: str = Field(min_length=1)
    base_url: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    webhook_secrets: tuple[str, ...] = ()
    webhook_public_keys: tuple[str, ...] = ()
    api_client_ids: tuple[str, ...] = ()


class PartnersFileError(ValueError):
    """The partners file cannot be used."""


@dataclass(frozen=True)
class Partner:
    """A carrier partner: how to call it, how to check its webhooks, who acts for it."""

    partner_id: str
    name: str
    carrier: CarrierPartner
    webhook_keys: WebhookKeys
    api_client_ids: frozenset[str]


@dataclass(frozen=True)
class Partners:
    """Every partner by id."""

    by_id: dict[str, Partner]

    @classmethod
    def load(cls, path: Path, *, tolerance_seconds: float) -> Partners:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            entries = [PartnerEntry.model_validate(item) for item in raw.get("partners", [])]
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise PartnersFileError(f"{path}: {exc}") from exc
        partners: dict[str, Partner] = {}
        for e in entries:
            if e.partner_id in partners:
                raise PartnersFileError(f"{path}: partner {e.partner_id} is listed twice")
            if not (e.webhook_secrets or e.webhook_public_keys):
                raise PartnersFileError(f"{path}: partner {e.partner_id} has no webhook key")
            partners[e.partner_id] = Partner(
                partner_id=e.partner_id, name=e.name,
                carrier=CarrierPartner(base_url=e.base_url.rstrip("/"), client_id=e.client_id,
                                       client_secret=e.client_secret),
                webhook_keys=WebhookKeys(secrets=e.webhook_secrets, public_keys=e.webhook_public_keys,
                                         tolerance_seconds=tolerance_seconds),
                api_client_ids=frozenset(e.api_client_ids))
        return cls(partners)

    def get(self, partner_id: str) -> Partner | None:
        return self.by_id.get(partner_id)

    def of_client(self, client_id: str) -> Partner | None:
        """The partner a lienthong client acts for (None: it acts for none)."""
        return next((p for p in self.by_id.values() if client_id in p.api_client_ids), None)
