"""Settings of the routing service (environment prefix ``ROUTING_``)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    """Everything routing reads from its environment; see docs/CONFIGURATION.md."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", frozen=True)

    service_name: str = "routing"
    http_port: int = 8002
    database_schema: str = "routing"
    event_source: str = "/lienthong/routing"
    intake_topic: str = "lienthong.intake.dossier-events"
    events_topic: str = "lienthong.routing.dossier-events"
    status_topic: str = "lienthong.dossier-status"
    agency_replies_topic: str = "lienthong.routing.agency-replies"
    agency_inbox_prefix: str = "lienthong.agency."
    consumer_group: str = "routing"
    store_threads: int = 16
    due_soon_hours: float = Field(default=4.0, gt=0, description="working hours before the due time")
    timer_interval_seconds: float = Field(default=30.0, gt=0)

    def agency_inbox_topic(self, agency_id: str) -> str:
        """The inbox topic of a stream-integrated agency."""
        return f"{self.agency_inbox_prefix}{agency_id}.inbox"
