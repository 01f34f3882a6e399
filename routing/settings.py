"""Settings of the routing service (environment prefix ``ROUTING_``)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.documents.settings import DocumentSettings
from services.settings import ServiceSettings
from shared_events.topics import (
    AGENCY_TOPIC_PREFIX,
    DOSSIER_STATUS,
    INTAKE_DOSSIER_EVENTS,
    POSTAL_EVENTS,
    ROUTING_DOSSIER_EVENTS,
    agency_inbox_topic,
    agency_reply_topic,
)


class RoutingSettings(ServiceSettings, DocumentSettings):
    """Everything routing reads from its environment; see docs/CONFIGURATION.md."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", frozen=True)

    service_name: str = "routing"
    http_port: int = 8002
    public_base_url: str = "http://127.0.0.1:8002"
    database_schema: str = "routing"
    event_source: str = "/lienthong/routing"
    intake_topic: str = INTAKE_DOSSIER_EVENTS
    events_topic: str = ROUTING_DOSSIER_EVENTS
    status_topic: str = DOSSIER_STATUS
    postal_topic: str = POSTAL_EVENTS
    agency_inbox_prefix: str = AGENCY_TOPIC_PREFIX
    consumer_group: str = "routing"
    due_soon_hours: float = Field(default=4.0, gt=0, description="working hours before the due time")
    timer_interval_seconds: float = Field(default=30.0, gt=0)
    timer_max_backoff_seconds: float = Field(default=30.0, gt=0,
                                             description="longest wait between sweeps while a dependency is down")
    reply_clock_skew_seconds: float = Field(default=300.0, ge=0, le=3600,
                                            description="how far ahead of routing's clock a reply's acted_at may be")

    def agency_inbox_topic(self, agency_id: str) -> str:
        return agency_inbox_topic(agency_id, self.agency_inbox_prefix)

    def agency_reply_topic(self, agency_id: str) -> str:
        return agency_reply_topic(agency_id, self.agency_inbox_prefix)
