"""Kafka topic names. Every message on them is keyed by the dossier code."""

INTAKE_DOSSIER_EVENTS = "lienthong.intake.dossier-events"
"""Events the intake service publishes about the dossiers it receives (tiếp nhận hồ sơ)."""

DOSSIER_STATUS = "lienthong.dossier-status"
"""National status changes reported by routing, postal and other services (trạng thái hồ sơ)."""

ROUTING_DOSSIER_EVENTS = "lienthong.routing.dossier-events"
"""Routing's events: route assigned, steps opened, claimed, completed, paused, overdue (luân chuyển)."""

AGENCY_INBOX = "lienthong.routing.agency-inbox"
"""Steps handed to stream-integrated agency systems; per-agency topics are named by :func:`agency_inbox_topic`."""

AGENCY_REPLIES = "lienthong.routing.agency-replies"
"""Actions stream-integrated agency systems take on the steps routed to them."""


AGENCY_TOPIC_PREFIX = "lienthong.agency."
"""What every stream-integrated agency's own topics start with (a deployment may choose another)."""


def agency_inbox_topic(agency_id: str, prefix: str = AGENCY_TOPIC_PREFIX) -> str:
    """The inbox topic of one stream-integrated agency, e.g. ``lienthong.agency.000.60.06.H40.inbox``:
    routing hands the agency its steps there."""
    return f"{prefix}{agency_id}.inbox"


def agency_reply_topic(agency_id: str, prefix: str = AGENCY_TOPIC_PREFIX) -> str:
    """The reply topic of one stream-integrated agency, e.g. ``lienthong.agency.000.60.06.H40.replies``:
    only that agency writes to it, and routing checks the topic against the step's agency."""
    return f"{prefix}{agency_id}.replies"
