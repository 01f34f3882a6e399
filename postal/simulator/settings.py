"""The simulator's settings (environment ``POSTAL_SIM_*``) and its misbehaviour.

The ``DEV_*`` constants are development-only credentials, published on purpose so that postal's
development partner file can pair with the simulator; never use them for a real carrier.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_CLIENT_ID = "lienthong-dev"
"""Development only: the OAuth2 client id postal uses at the simulator."""
DEV_CLIENT_SECRET = "dev-carrier-secret-lienthong"
"""Development only: that client's secret."""
DEV_WEBHOOK_SECRET = "whsec_gFBhzKjOu9PJ8GIHPjoB/Q1l3fGSas56"
"""Development only: the Standard Webhooks ``v1`` (HMAC-SHA256) secret."""
DEV_SIGNING_KEY = "whsk_hRELPMaCAQv39gB1texSFiio+K7vNUlpBF6GAMSA5kg="
"""Development only: an Ed25519 private key for ``v1a`` signatures (not on by default)."""
DEV_PUBLIC_KEY = "whpk_5qzD65QHmh/rukMGP2Ctj3KiZCTGYyyGRsOytqoqskY="
"""Development only: the public key of :data:`DEV_SIGNING_KEY`."""
DEV_WEBHOOK_URL = "http://127.0.0.1:8003/v1/postal/webhooks/vnpost"
"""Where postal's development process receives carrier webhooks."""


class BehaviourFields(BaseModel):
    """How the simulator misbehaves; every field off by default (shared by settings and behaviour)."""

    duplicate_webhooks: bool = Field(default=False, description="Send every webhook twice, with the same id.")
    reorder_webhooks: bool = Field(default=False, description="Hold a shipment's webhooks a little and send "
                                   "what was held in reverse order.")
    drop_webhook_ratio: float = Field(default=0.0, ge=0, le=1, description="Share of webhooks never sent "
                                      "(the status is still in the tracking).")
    webhook_delay_seconds: float = Field(default=0.0, ge=0, description="Wait this long before each webhook.")
    fail_order_ratio: float = Field(default=0.0, ge=0, le=1, description="Share of /v1 calls answered "
                                    "500, 502 or 503 without acting.")
    fail_after_create_ratio: float = Field(default=0.0, ge=0, le=1, description="Share of order creations "
                                           "that create the order and still answer 500.")
    throttle_ratio: float = Field(default=0.0, ge=0, le=1, description="Share of /v1 calls answered 429 "
                                  "with Retry-After: 1.")
    slow_ratio: float = Field(default=0.0, ge=0, le=1, description="Share of /v1 calls answered late.")
    slow_seconds: float = Field(default=0.0, ge=0, description="How late a slow answer is.")
    down_for_seconds: float = Field(default=0.0, ge=0, description="From now on (wall clock), everything but "
                                    "/admin and /healthz answers 503 and no webhook leaves until it passes.")
    wrong_signing_key: bool = Field(default=False, description="Sign webhooks with another secret and key.")
    failed_delivery_attempts: int = Field(default=0, ge=0, description="The first N delivery attempts of a "
                                          "return end in delivery_failed.")
    paused: bool = Field(default=False, description="No shipment moves on schedule.")


class Behaviour(BehaviourFields):
    """The misbehaviour in force; ``PUT /admin/behaviour`` changes it, ``POST /admin/reset`` clears it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


BEHAVIOUR_FIELDS = tuple(BehaviourFields.model_fields)


class SimulatorSettings(BaseSettings, BehaviourFields):
    """Everything the simulator process reads at start (``POSTAL_SIM_<FIELD>``), the initial behaviour too."""

    model_config = SettingsConfigDict(env_prefix="POSTAL_SIM_", extra="ignore", frozen=True)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8090, gt=0, lt=65536)
    log_level: str = "INFO"
    client_id: str = Field(default=DEV_CLIENT_ID, min_length=1)
    client_secret: str = Field(default=DEV_CLIENT_SECRET, min_length=1)
    token_ttl_seconds: int = Field(default=3600, gt=0)
    webhook_url: str = DEV_WEBHOOK_URL
    webhook_secret: str = Field(default=DEV_WEBHOOK_SECRET, pattern=r"^whsec_[A-Za-z0-9+/=]+$")
    signing_key: str | None = Field(default=None, pattern=r"^whsk_[A-Za-z0-9+/=]+$",
                                    description="When set, webhooks also carry a v1a (Ed25519) signature.")
    step_seconds: float = Field(default=5.0, gt=0, description="Time between two statuses of a shipment, "
                                "on the simulator's clock.")
    clock_file: Path | None = Field(default=None, description="Read 'now' from this file (tests move it); "
                                    "else the system clock.")
    state_path: Path | None = Field(default=None, description="A SQLite file that keeps orders over "
                                    "restarts; else orders live in memory.")
    seed: int | None = Field(default=None, description="Seed of the random draws of the misbehaviour.")

    def initial_behaviour(self) -> Behaviour:
        return Behaviour(**{name: getattr(self, name) for name in BEHAVIOUR_FIELDS})
