"""Kafka topic names. Every message on them is keyed by the dossier code."""

INTAKE_DOSSIER_EVENTS = "lienthong.intake.dossier-events"
"""Events the intake service publishes about the dossiers it receives (tiếp nhận hồ sơ)."""

DOSSIER_STATUS = "lienthong.dossier-status"
"""National status changes reported by routing, postal and other services (trạng thái hồ sơ)."""
