"""Settings of the postal service (environment prefix ``POSTAL_``); see docs/CONFIGURATION.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings, SettingsError
from shared_events.topics import INTAKE_DOSSIER_EVENTS, POSTAL_EVENTS, ROUTING_DOSSIER_EVENTS

DEV_PARTNERS_FILE = Path(__file__).with_name("dev_partners.yaml")


class PostalSettings(ServiceSettings):
    """Everything postal reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="POSTAL_", extra="ignore", frozen=True)

    service_name: str = "postal"
    http_port: int = 8003
    database_schema: str = "postal"
    event_source: str = "/lienthong/postal"
    events_topic: str = POSTAL_EVENTS
    intake_topic: str = INTAKE_DOSSIER_EVENTS
    routing_topic: str = ROUTING_DOSSIER_EVENTS
    consumer_group: str = "postal"

    partners_file: Path = Field(default=DEV_PARTNERS_FILE, description="The carrier partners: API, credentials, "
                                "webhook keys (postal/dev_partners.yaml shows the shape)")
    default_partner: str = Field(default="vnpost", description="The partner every new leg is ordered from")

    pickup_postage_vnd: int = Field(default=22_000, ge=0, description="Postage of a pickup leg, collected at pickup")
    return_postage_vnd: int = Field(default=22_000, ge=0, description="Postage of a return leg, collected on delivery")
    max_delivery_attempts: int = Field(default=3, ge=1, le=10, description="Delivery attempts of a result before "
                                       "the carrier brings it back to the desk")

    webhook_tolerance_seconds: float = Field(default=300.0, gt=0, le=300,
                                             description="How far a webhook's timestamp may be from now")

    carrier_attempts: int = Field(default=4, ge=1, le=10, description="Tries of one carrier call (retries + 1)")
    carrier_initial_backoff_seconds: float = Field(default=0.2, gt=0)
    carrier_max_backoff_seconds: float = Field(default=5.0, gt=0)
    carrier_timeout_seconds: float = Field(default=5.0, gt=0, description="Per HTTP request to the carrier")
    carrier_breaker_threshold: int = Field(default=5, ge=1, description="Failed calls in a row that open the "
                                           "circuit breaker")
    carrier_breaker_reset_seconds: float = Field(default=30.0, gt=0, description="How long the breaker stays "
                                                 "open before one trial call")
    carrier_max_retry_after_seconds: float = Field(default=30.0, gt=0)

    dispatch_interval_seconds: float = Field(default=0.5, gt=0, description="How often the dispatcher looks "
                                             "for queued carrier calls when idle")
    dispatch_concurrency: int = Field(default=8, ge=1, le=64)
    action_retry_max_seconds: float = Field(default=60.0, gt=0, description="Longest wait before a queued "
                                            "carrier call that failed is tried again")
    reconcile_interval_seconds: float = Field(default=30.0, gt=0, description="How often quiet shipments are "
                                              "looked for")
    quiet_after_seconds: float = Field(default=900.0, gt=0, description="A shipment with no news for this long "
                                       "(on the service's clock) is asked for its tracking")

    @model_validator(mode="after")
    def _refuse_development_partners_outside_development(self) -> PostalSettings:
        if self.environment != "development" and self.partners_file.resolve() == DEV_PARTNERS_FILE.resolve():
            raise SettingsError(f"{self.environment}: set a partners file of your own (the development partners "
                                "and their published secrets are refused)")
        return self
