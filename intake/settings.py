"""Settings of the intake service (environment prefix ``INTAKE_``)."""

from pydantic_settings import SettingsConfigDict

from services.documents.settings import DocumentSettings
from services.settings import ServiceSettings
from shared_events.topics import DOSSIER_STATUS, INTAKE_DOSSIER_EVENTS, POSTAL_EVENTS


class IntakeSettings(ServiceSettings, DocumentSettings):
    """Everything intake reads from its environment; see docs/CONFIGURATION.md."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    service_name: str = "intake"
    http_port: int = 8001
    database_schema: str = "intake"
    event_source: str = "/lienthong/intake"
    events_topic: str = INTAKE_DOSSIER_EVENTS
    status_topic: str = DOSSIER_STATUS
    postal_topic: str = POSTAL_EVENTS
    consumer_group: str = "intake-status"
