"""Kafka topic names: every name lienthong uses is built here. Every message is keyed by the dossier code.

The fixed topics are declared (partitions, retention) in ``infra/topics.yaml``; the per-agency
topics of stream-integrated agencies are created by routing at start-up. A deployment that shares
a broker with others (``services.sandbox``) puts its own prefix in place of :data:`NAMESPACE`.
"""

NAMESPACE = "lienthong."
"""What every topic name starts with."""

INTAKE_DOSSIER_EVENTS = NAMESPACE + "intake.dossier-events"
"""Events the intake service publishes about the dossiers it receives (tiếp nhận hồ sơ)."""

DOSSIER_STATUS = NAMESPACE + "dossier-status"
"""National status changes, each reported by the one service that owns the status (docs/STATUS.md; trạng thái hồ sơ)."""

ROUTING_DOSSIER_EVENTS = NAMESPACE + "routing.dossier-events"
"""Routing's events: route assigned, steps opened, claimed, completed, paused, overdue (luân chuyển)."""

POSTAL_EVENTS = NAMESPACE + "postal.events"
"""Postal's events: orders to the carrier, shipment statuses, pickups handed to the desk, results
delivered or brought back, fees collected on delivery (bưu chính công ích)."""

DEAD_LETTERS = NAMESPACE + "dead-letters"
"""Messages a consumer could not process, with the reason in the headers."""

AGENCY_TOPIC_PREFIX = NAMESPACE + "agency."
"""What every stream-integrated agency's own topics start with (a deployment may choose another)."""


def agency_inbox_topic(agency_id: str, prefix: str = AGENCY_TOPIC_PREFIX) -> str:
    """The inbox topic of one stream-integrated agency, e.g. ``lienthong.agency.000.60.06.H40.inbox``:
    routing hands the agency its steps there."""
    return f"{prefix}{agency_id}.inbox"


def agency_reply_topic(agency_id: str, prefix: str = AGENCY_TOPIC_PREFIX) -> str:
    """The reply topic of one stream-integrated agency, e.g. ``lienthong.agency.000.60.06.H40.replies``:
    only that agency writes to it, and routing checks the topic against the step's agency."""
    return f"{prefix}{agency_id}.replies"


AGENCY_INBOX_TOPICS = agency_inbox_topic("<agency id>")
"""The per-agency inbox topics, as a pattern (a contract's ``TOPIC`` when it travels on them)."""

AGENCY_REPLY_TOPICS = agency_reply_topic("<agency id>")
"""The per-agency reply topics, as a pattern (``AgencyActed.TOPIC``)."""

FIXED_TOPICS = (INTAKE_DOSSIER_EVENTS, DOSSIER_STATUS, ROUTING_DOSSIER_EVENTS, POSTAL_EVENTS, DEAD_LETTERS)
"""The topics the services use whose names do not depend on an agency."""
