"""The dossier (hồ sơ) as seen by intake: an event-sourced aggregate, pure of I/O.

A dossier is created when it is received (tiếp nhận) — at the one-stop desk, online or
by public post — and keeps the national status code (1–10) that the national public
service portal uses.  Intake records acceptance or refusal of online and postal
submissions, and the status changes other services report about the dossier.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

DOSSIER_NAMESPACE = uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/dossiers")
SUBMISSION_KEY_NAMESPACE = uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/submission-keys")

NEW, ACCEPTED, REFUSED_AT_INTAKE = 1, 2, 3
WITHDRAWN, STOPPED, DONE_AWAITING_HANDOVER, RESULT_RETURNED = 7, 8, 9, 10
CLOSED_STATUSES = frozenset({REFUSED_AT_INTAKE, WITHDRAWN, STOPPED, RESULT_RETURNED})


class DossierStateError(Exception):
    """The action is not allowed in the dossier's current status."""


class Dossier(Aggregate):
    """One citizen's or organisation's dossier for one procedure.

    Every event after creation repeats the dossier code, so each stored event can be
    published on its own (the code is the Kafka key).
    """

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:  # type: ignore[override]
        return uuid5(DOSSIER_NAMESPACE, code)

    @event("Submitted")
    def __init__(
        self,
        code: str,
        procedure_code: str,
        procedure_version: str,
        applicant: dict[str, Any],
        documents: list[dict[str, Any]],
        channel: str,
        result_delivery: dict[str, Any],
        locality_code: str,
        receiving_agency_id: str,
        submitted_by: str,
        received_at: datetime,
        national_status: int,
        correlation_id: str | None,
        options: list[str] | None = None,
    ) -> None:
        self.code = code
        self.procedure_code = procedure_code
        self.procedure_version = procedure_version
        self.applicant = applicant
        self.documents = documents
        self.channel = channel
        self.result_delivery = result_delivery
        self.locality_code = locality_code
        self.receiving_agency_id = receiving_agency_id
        self.submitted_by = submitted_by
        self.received_at = received_at
        self.national_status = national_status
        self.correlation_id = correlation_id
        self.options = list(options or [])
        self.applied_event_ids: list[str] = []

    def accept(self, *, by: str, at: datetime, correlation_id: str | None) -> None:
        """Accept an online or postal submission after checking it (status 1 → 2)."""
        if self.national_status != NEW:
            raise DossierStateError(f"chỉ tiếp nhận được hồ sơ ở trạng thái 1 (Mới); hiện là {self.national_status}")
        self._accepted(dossier_code=self.code, accepted_by=by, accepted_at=at, correlation_id=correlation_id)

    @event("Accepted")
    def _accepted(self, dossier_code: str, accepted_by: str, accepted_at: datetime, correlation_id: str | None) -> None:
        self.national_status = ACCEPTED

    def refuse(self, *, by: str, reason: str, at: datetime, correlation_id: str | None) -> None:
        """Refuse a submission at intake with a reason (status 1 → 3, form 03)."""
        if self.national_status != NEW:
            raise DossierStateError(f"chỉ từ chối được hồ sơ ở trạng thái 1 (Mới); hiện là {self.national_status}")
        self._refused(dossier_code=self.code, refused_by=by, reason=reason, refused_at=at, correlation_id=correlation_id)

    @event("RefusedAtIntake")
    def _refused(self, dossier_code: str, refused_by: str, reason: str, refused_at: datetime, correlation_id: str | None) -> None:
        self.national_status = REFUSED_AT_INTAKE

    def withdraw(self, *, by: str, reason: str, at: datetime, correlation_id: str | None) -> None:
        """The applicant withdraws the dossier (rút hồ sơ, status 7) while it is not closed."""
        if self.national_status in CLOSED_STATUSES or self.national_status == DONE_AWAITING_HANDOVER:
            raise DossierStateError(f"không rút được hồ sơ ở trạng thái {self.national_status}")
        self._withdrawn(dossier_code=self.code, withdrawn_by=by, reason=reason, withdrawn_at=at,
                        correlation_id=correlation_id)

    @event("Withdrawn")
    def _withdrawn(self, dossier_code: str, withdrawn_by: str, reason: str, withdrawn_at: datetime,
                   correlation_id: str | None) -> None:
        self.national_status = WITHDRAWN

    def record_status_change(
        self, *, event_id: str, national_status: int, reason: str | None,
        agency_id: str | None, changed_at: datetime,
    ) -> bool:
        """Record a status reported by another service; a repeated report is ignored.

        Returns whether anything changed.
        """
        if event_id in self.applied_event_ids:
            return False
        self._status_changed(dossier_code=self.code, event_id=event_id, national_status=national_status, reason=reason,
                             agency_id=agency_id, changed_at=changed_at)
        return True

    @event("StatusChanged")
    def _status_changed(self, dossier_code: str, event_id: str, national_status: int, reason: str | None,
                        agency_id: str | None, changed_at: datetime) -> None:
        self.national_status = national_status
        self.applied_event_ids.append(event_id)


class SubmissionKey(Aggregate):
    """Remembers which dossier a client's ``Idempotency-Key`` created, and for what request."""

    @staticmethod
    def create_id(client_id: str, key: str, **_: Any) -> UUID:  # type: ignore[override]
        return uuid5(SUBMISSION_KEY_NAMESPACE, f"{client_id}\x00{key}")

    @event("Registered")
    def __init__(self, *, client_id: str, key: str, fingerprint: str, dossier_code: str) -> None:
        self.client_id = client_id
        self.key = key
        self.fingerprint = fingerprint
        self.dossier_code = dossier_code
