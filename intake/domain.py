"""The dossier (hồ sơ) as seen by intake: an event-sourced aggregate, pure of I/O.

A dossier is created when it is received (tiếp nhận) — at the one-stop desk, online or
by public post — and keeps the national status code (1–10) that the national public
service portal uses.  Intake decides statuses 1, 2 and 3 (acceptance or refusal of online and postal
submissions) and records the applicant's withdrawal request; every other status is
routing's (docs/STATUS.md), recorded here as reported and checked against the dossier.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared_events.contracts.values import STATUS_OWNERS, TERMINAL_STATUSES, NationalStatus

DOSSIER_NAMESPACE = uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/dossiers")
SUBMISSION_KEY_NAMESPACE = uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/submission-keys")

OWNED_BY_INTAKE = frozenset(s for s, owner in STATUS_OWNERS.items() if owner == "intake")
"""The statuses intake decides (docs/STATUS.md); every other status is routing's."""

NOT_WITHDRAWABLE = TERMINAL_STATUSES | {NationalStatus.DONE_AWAITING_HANDOVER}
"""Statuses in which intake itself refuses a withdrawal request (409), without asking routing."""

WithdrawalState = Literal["requested", "withdrawn", "declined"]


class DossierStateError(Exception):
    """The action is not allowed in the dossier's current status."""


class StatusReportRefusedError(Exception):
    """A status reported by another service contradicts intake's state or the status owners."""


class PostalReportRefusedError(Exception):
    """What postal reports contradicts the dossier (no pickup was asked for, another desk, another parcel)."""


class Dossier(Aggregate):
    """One citizen's or organisation's dossier for one procedure.

    Every event after creation repeats the dossier code, so each stored event can be
    published on its own (the code is the Kafka key).

    ``withdrawal`` is ``None`` until the applicant asks to withdraw (rút hồ sơ); then
    ``requested`` until routing decides, and ``withdrawn`` (status 7) or ``declined``.

    ``pickup`` is ``{address, unit_code, phone}`` when the applicant asked for the papers to be
    collected at home by post (thu gom hồ sơ tại nhà), else ``None`` (and for every dossier stored
    before pickups existed); ``arrival`` is ``{agency_id, partner_id, tracking_number, handed_at}``
    once the carrier handed them to the desk.
    """

    if TYPE_CHECKING:  # the event classes the @event decorators below define
        Submitted: ClassVar[type[Any]]
        Accepted: ClassVar[type[Any]]
        RefusedAtIntake: ClassVar[type[Any]]
        WithdrawalRequested: ClassVar[type[Any]]
        Withdrawn: ClassVar[type[Any]]
        StatusChanged: ClassVar[type[Any]]
        WithdrawalDeclined: ClassVar[type[Any]]
        ArrivedByPost: ClassVar[type[Any]]

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
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
        pickup: dict[str, Any] | None = None,
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
        self.pickup = None if pickup is None else dict(pickup)
        self.arrival: dict[str, Any] | None = None
        self.applied_event_ids: list[str] = []
        self.withdrawal: WithdrawalState | None = None

    @property
    def withdrawal_pending(self) -> bool:
        return self.withdrawal == "requested"

    def _refuse_while_withdrawal_pending(self) -> None:
        if self.withdrawal_pending:
            raise DossierStateError("hồ sơ đang chờ xử lý yêu cầu rút hồ sơ của người nộp")

    def accept(self, *, by: str, at: datetime, correlation_id: str | None) -> None:
        """Accept an online or postal submission after checking it (status 1 → 2)."""
        if self.national_status != NationalStatus.NEW:
            raise DossierStateError(f"chỉ tiếp nhận được hồ sơ ở trạng thái 1 (Mới); hiện là {self.national_status}")
        self._refuse_while_withdrawal_pending()
        self._accepted(dossier_code=self.code, accepted_by=by, accepted_at=at, correlation_id=correlation_id)

    @event("Accepted")
    def _accepted(self, dossier_code: str, accepted_by: str, accepted_at: datetime, correlation_id: str | None) -> None:
        self.national_status = NationalStatus.ACCEPTED

    def refuse(self, *, by: str, reason: str, at: datetime, correlation_id: str | None) -> None:
        """Refuse a submission at intake with a reason (status 1 → 3, form 03)."""
        if self.national_status != NationalStatus.NEW:
            raise DossierStateError(f"chỉ từ chối được hồ sơ ở trạng thái 1 (Mới); hiện là {self.national_status}")
        self._refuse_while_withdrawal_pending()
        self._refused(dossier_code=self.code, refused_by=by, reason=reason, refused_at=at,
                      correlation_id=correlation_id)

    @event("RefusedAtIntake")
    def _refused(self, dossier_code: str, refused_by: str, reason: str, refused_at: datetime,
                 correlation_id: str | None) -> None:
        self.national_status = NationalStatus.REFUSED_AT_INTAKE

    def request_withdrawal(self, *, by: str, reason: str, at: datetime, correlation_id: str | None) -> bool:
        """The applicant asks to withdraw the dossier (yêu cầu rút hồ sơ); routing decides.

        Refused at once in a status intake knows to be final or done (3, 7, 8, 9, 10).
        A request while another is pending changes nothing: returns False.
        """
        if self.national_status in NOT_WITHDRAWABLE:
            raise DossierStateError(f"không rút được hồ sơ ở trạng thái {int(self.national_status)}")
        if self.withdrawal_pending:
            return False
        self._withdrawal_requested(dossier_code=self.code, requested_by=by, reason=reason, requested_at=at,
                                   correlation_id=correlation_id)
        return True

    @event("WithdrawalRequested")
    def _withdrawal_requested(self, dossier_code: str, requested_by: str, reason: str, requested_at: datetime,
                              correlation_id: str | None) -> None:
        self.withdrawal = "requested"

    @event("Withdrawn")
    def _withdrawn(self, dossier_code: str, withdrawn_by: str, reason: str, withdrawn_at: datetime,
                   correlation_id: str | None) -> None:
        # Only in the history of dossiers withdrawn before routing owned status 7 (no new ones).
        self.national_status = NationalStatus.WITHDRAWN
        self.withdrawal = "withdrawn"

    def record_status_change(
        self, *, event_id: str, national_status: int, reason: str | None,
        agency_id: str | None, changed_at: datetime,
    ) -> bool:
        """Record a status reported by its owner (routing); returns whether anything changed.

        A repeated report (same event id, or the status the dossier already has) changes
        nothing.  Raises :class:`StatusReportRefusedError` for a status intake owns, for any
        change of a terminal status, for a change of a dossier intake has not accepted (other
        than the withdrawal it asked for), and for a withdrawal nobody requested.
        """
        if event_id in self.applied_event_ids:
            return False
        status = NationalStatus(national_status)
        current = NationalStatus(self.national_status)
        if status in OWNED_BY_INTAKE:
            raise StatusReportRefusedError(f"status {int(status)} is owned by intake, not by the reporting service")
        if status == current:
            return False
        if current in TERMINAL_STATUSES:
            raise StatusReportRefusedError(
                f"dossier {self.code} is in terminal status {int(current)}; status {int(status)} is not applied")
        if status == NationalStatus.WITHDRAWN and not self.withdrawal_pending:
            raise StatusReportRefusedError(f"no withdrawal of dossier {self.code} was requested")
        if current == NationalStatus.NEW and status != NationalStatus.WITHDRAWN:
            raise StatusReportRefusedError(
                f"dossier {self.code} is not accepted yet (status 1); status {int(status)} is not applied")
        self._status_changed(dossier_code=self.code, event_id=event_id, national_status=int(status), reason=reason,
                             agency_id=agency_id, changed_at=changed_at)
        return True

    @event("StatusChanged")
    def _status_changed(self, dossier_code: str, event_id: str, national_status: int, reason: str | None,
                        agency_id: str | None, changed_at: datetime) -> None:
        self.national_status = national_status
        self.applied_event_ids.append(event_id)
        if national_status == NationalStatus.WITHDRAWN:
            self.withdrawal = "withdrawn"

    def record_withdrawal_declined(self, *, event_id: str, reason: str, declined_at: datetime) -> bool:
        """Routing declined the pending withdrawal; a repeated report changes nothing.

        Raises :class:`StatusReportRefusedError` when no withdrawal is pending.
        """
        if event_id in self.applied_event_ids:
            return False
        if not self.withdrawal_pending:
            raise StatusReportRefusedError(f"no withdrawal of dossier {self.code} is pending")
        self._withdrawal_declined(dossier_code=self.code, event_id=event_id, reason=reason, declined_at=declined_at)
        return True

    @event("WithdrawalDeclined")
    def _withdrawal_declined(self, dossier_code: str, event_id: str, reason: str, declined_at: datetime) -> None:
        self.withdrawal = "declined"
        self.applied_event_ids.append(event_id)

    def record_arrival_by_post(self, *, agency_id: str, partner_id: str, tracking_number: str,
                               handed_at: datetime) -> bool:
        """The carrier handed the papers it collected at the applicant's home to the receiving desk;
        returns whether anything changed (the same parcel reported again changes nothing).

        Raises :class:`PostalReportRefusedError` when no pickup was asked for, when the desk is not
        the dossier's receiving agency, or when another parcel arrived already.
        """
        if self.pickup is None:
            raise PostalReportRefusedError(f"no pickup was requested for dossier {self.code}")
        if agency_id != self.receiving_agency_id:
            raise PostalReportRefusedError(
                f"dossier {self.code} is received by {self.receiving_agency_id}, not by {agency_id}")
        if self.arrival is not None:
            if self.arrival["tracking_number"] == tracking_number:
                return False
            raise PostalReportRefusedError(
                f"the papers of dossier {self.code} arrived already as {self.arrival['tracking_number']}")
        self._arrived_by_post(dossier_code=self.code, agency_id=agency_id, partner_id=partner_id,
                              tracking_number=tracking_number, handed_at=handed_at)
        return True

    @event("ArrivedByPost")
    def _arrived_by_post(self, dossier_code: str, agency_id: str, partner_id: str, tracking_number: str,
                         handed_at: datetime) -> None:
        self.arrival = {"agency_id": agency_id, "partner_id": partner_id, "tracking_number": tracking_number,
                        "handed_at": handed_at}


class SubmissionKey(Aggregate):
    """Remembers which dossier a client's ``Idempotency-Key`` created, and for what request."""

    if TYPE_CHECKING:  # defined by @event
        Registered: ClassVar[type[Any]]

    @staticmethod
    def create_id(client_id: str, key: str, **_: Any) -> UUID:
        return uuid5(SUBMISSION_KEY_NAMESPACE, f"{client_id}\x00{key}")

    @event("Registered")
    def __init__(self, *, client_id: str, key: str, fingerprint: str, dossier_code: str) -> None:
        self.client_id = client_id
        self.key = key
        self.fingerprint = fingerprint
        self.dossier_code = dossier_code
