"""The intake application: use cases over the event-sourced dossier log.

Two layers:

- :class:`IntakeApplication` — the event-sourced application (synchronous, as ``eventsourcing``
  is): load → act → save, each command re-applied on a lost version race
  (:func:`services.eventstore.retry_on_conflict`).
- :class:`DossierIntake` — the use cases the HTTP API calls: who may do what, the checks of a
  submission against the catalogue and the reference data, the dossier code, the status at
  receipt; it calls the application through :class:`services.eventstore.EventStore`.

Errors (entry points translate them): :class:`DossierNotFoundError` (404),
:class:`NotEntitledError` (403), :class:`SubmissionRejectedError` and
:class:`IdempotencyKeyReusedError` (422), :class:`intake.domain.DossierStateError` and
:class:`services.eventstore.ConcurrentChangeError` (409),
:class:`services.documents.uploads.DossierTooLargeError` (413).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from intake.catalogue import Catalogue, SubmissionProblem, check_submission
from intake.codes import DossierCodes
from intake.domain import Dossier, SubmissionKey
from intake.reference import ReferenceData, check_reference
from services.auth import Principal
from services.clock import VIETNAM, Clock
from services.documents.readlog import Reader, ReadOf, record_read
from services.documents.uploads import DocumentReferences, ReferenceProblem
from services.eventstore import EventStore, TrackingApplication, retry_on_conflict
from shared_events import NationalStatus


class DossierNotFoundError(Exception):
    """No dossier has this code."""


class IdempotencyKeyReusedError(Exception):
    """The Idempotency-Key was used before for a different request."""


class NotEntitledError(Exception):
    """The caller may not do this (to this dossier, or in this agency's name)."""


class SubmissionRejectedError(Exception):
    """The submission does not fit its procedure or the reference data; ``problems`` says how."""

    def __init__(self, problems: Sequence[SubmissionProblem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = list(problems)


class IntakeApplication(TrackingApplication):
    """Receives dossiers and keeps their intake history."""

    name = "IntakeDossiers"

    def submit(self, dossier: Dossier, key: SubmissionKey | None) -> Dossier:
        """Store a new dossier (and its idempotency key) in one transaction.

        When the same key was stored concurrently, the dossier it created is returned.
        """
        try:
            self.save(dossier, key)
            return dossier
        except IntegrityError:
            if key is None:
                raise
            existing = self.submission_key(key.client_id, key.key)
            if existing is None:
                raise
            return self.replay(existing, key.fingerprint)

    def replay(self, key: SubmissionKey, fingerprint: str) -> Dossier:
        """The dossier an earlier request with the same key created."""
        if key.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(key.key)
        return self.dossier(key.dossier_code)

    def submission_key(self, client_id: str, key: str) -> SubmissionKey | None:
        try:
            return self.repository.get(SubmissionKey.create_id(client_id=client_id, key=key))
        except AggregateNotFoundError:
            return None

    def dossier(self, code: str) -> Dossier:
        try:
            return self.repository.get(Dossier.create_id(code=code))
        except AggregateNotFoundError:
            raise DossierNotFoundError(code) from None

    def history(self, code: str) -> list[Any]:
        """Every stored event of the dossier, oldest first."""
        return list(self.events.get(Dossier.create_id(code=code)))

    def record_read(self, code: str, reader: Reader, what: ReadOf, at: datetime) -> None:
        """Store one read of the dossier's personal data in its read log."""
        record_read(self, code, reader, what, at)

    def change(self, code: str, act: Callable[[Dossier], Any]) -> Dossier:
        """Load the dossier, ``act`` on it, save it; again on a lost version race.

        A conflicting concurrent change makes ``act`` raise its domain error on re-application;
        ``ConcurrentChangeError`` after too many lost races.
        """
        def attempt() -> Dossier:
            dossier = self.dossier(code)
            act(dossier)
            self.save(dossier)
            return dossier

        return retry_on_conflict(attempt)

    def accept(self, code: str, *, by: str, at: datetime, correlation_id: str | None) -> Dossier:
        return self.change(code, lambda d: d.accept(by=by, at=at, correlation_id=correlation_id))

    def refuse(self, code: str, *, by: str, reason: str, at: datetime, correlation_id: str | None) -> Dossier:
        return self.change(code, lambda d: d.refuse(by=by, reason=reason, at=at, correlation_id=correlation_id))

    def request_withdrawal(self, code: str, *, by: str, reason: str, at: datetime,
                           correlation_id: str | None) -> Dossier:
        """Record the applicant's withdrawal request (a pending one is answered as it is)."""
        return self.change(code, lambda d: d.request_withdrawal(by=by, reason=reason, at=at,
                                                               correlation_id=correlation_id))


def status_at_receipt(channel: str) -> NationalStatus:
    """A dossier received at the desk is accepted there and then (2); online and postal ones wait (1)."""
    return NationalStatus.ACCEPTED if channel == "desk" else NationalStatus.NEW


CHANNEL_OF_PARTY = {"desk": "desk", "portal": "online", "postal": "post"}
"""The one channel each submitting party uses."""

PICKUP_PARTY = "portal"
"""Only the citizen's portal offers a pickup at home (thu gom hồ sơ tại nhà)."""

_NO_PICKUP_BECAUSE = {
    "desk": "người nộp đã đem hồ sơ đến quầy tiếp nhận",
    "postal": "hồ sơ đã được bưu chính công ích thu gom và chuyển đến",
}


def _pickup_party_problem(party: str) -> SubmissionProblem:
    why = _NO_PICKUP_BECAUSE.get(party, f"bên gọi loại '{party}' không nộp hồ sơ thay người dân")
    return SubmissionProblem(
        field="pickup", code="pickup_not_offered",
        message_vi=f"Chỉ đăng ký thu gom hồ sơ tại nhà khi nộp trực tuyến qua Cổng dịch vụ công; {why}.")


@dataclass(frozen=True)
class SubmitDossier:
    """Receive a dossier (tiếp nhận hồ sơ), as the caller sent it.

    ``fingerprint`` identifies the request's content for ``idempotency_key`` replays.
    """

    procedure_code: str
    applicant: dict[str, Any]
    documents: list[dict[str, Any]]
    channel: str
    result_delivery: dict[str, Any]
    locality_code: str
    receiving_agency_id: str
    options: list[str]
    fingerprint: str
    idempotency_key: str | None = None
    pickup: dict[str, Any] | None = None
    """``{address, unit_code, phone?}``: the papers are to be collected at the applicant's home by post."""


@dataclass(frozen=True)
class DossierView:
    """A dossier, its stored events oldest first, and whether an earlier request made it."""

    dossier: Dossier
    history: list[Any] = field(default_factory=list)
    replayed: bool = False


def check_submission_rules(catalogue: Catalogue, reference: ReferenceData, command: SubmitDossier,
                           party: str, on: date) -> tuple[str, list[SubmissionProblem]]:
    """The procedure version in force on ``on`` and every problem with the submission.

    Checks, all reported together: the channel of the submitting ``party``; a pickup only from the
    portal (``pickup_not_offered``); the catalogue (procedure in force, channel, pickup, documents,
    result delivery, options); the reference data (locality, receiving agency, route in force, the
    pickup's and the delivery address's units — :func:`intake.reference.check_reference`).
    """
    problems: list[SubmissionProblem] = []
    expected_channel = CHANNEL_OF_PARTY.get(party)
    if expected_channel is not None and command.channel != expected_channel:
        problems.append(SubmissionProblem(
            field="channel", code="channel_not_for_party",
            message_vi=f"Bên gọi loại '{party}' chỉ nộp hồ sơ qua kênh '{expected_channel}'"))
    if command.pickup is not None and party != PICKUP_PARTY:
        problems.append(_pickup_party_problem(party))
    procedure = catalogue.find(command.procedure_code, on)
    version = ""
    if procedure is None:
        problems.append(SubmissionProblem(
            field="procedure_code", code="procedure_unknown",
            message_vi=f"Thủ tục {command.procedure_code} không có hoặc chưa/không còn hiệu lực"))
    else:
        version = procedure.version
        problems += check_submission(
            procedure, channel=command.channel, result_delivery_method=str(command.result_delivery.get("method")),
            documents=[(d["name"], d["media_type"], d["size_bytes"]) for d in command.documents],
            options=command.options, pickup=command.pickup is not None)
    reference_problems = check_reference(
        reference, procedure_code=command.procedure_code, locality_code=command.locality_code,
        receiving_agency_id=command.receiving_agency_id, options=command.options, on=on,
        pickup_unit_code=None if command.pickup is None else command.pickup["unit_code"],
        delivery_unit_code=command.result_delivery.get("unit_code"))
    if procedure is None:  # the procedure is reported once
        reference_problems = [p for p in reference_problems if p.field != "procedure_code"]
    return version, problems + reference_problems


def _submission_problems(problems: Sequence[ReferenceProblem]) -> list[SubmissionProblem]:
    return [SubmissionProblem(field=p.field, code=p.code, message_vi=p.message_vi) for p in problems]


def may_read(principal: Principal, dossier: Dossier) -> bool:
    """Auditors read every dossier; desks and agencies those their agency received;
    portal and postal partners those they submitted."""
    if principal.party == "auditor":
        return True
    if principal.party in ("desk", "agency"):
        return principal.agency_id == dossier.receiving_agency_id
    return principal.client_id == dossier.submitted_by


def is_receiving_desk(principal: Principal, dossier: Dossier) -> bool:
    return principal.party == "desk" and principal.agency_id == dossier.receiving_agency_id


def may_submit_for(principal: Principal, receiving_agency_id: str) -> bool:
    """A desk submits only in its own agency's name; portal and postal partners for any desk."""
    return principal.party != "desk" or principal.agency_id == receiving_agency_id


Command = Callable[..., Dossier]
"""``IntakeApplication.accept`` and the like: ``command(code, *, by, at, correlation_id, ...)``."""


class DossierIntake:
    """The use cases of intake's HTTP API; built once per process in the lifespan."""

    def __init__(self, store: EventStore[IntakeApplication], *, catalogue: Catalogue,
                 reference: ReferenceData, codes: DossierCodes, documents: DocumentReferences,
                 clock: Clock) -> None:
        self._store = store
        self._documents = documents
        self._catalogue = catalogue
        self._reference = reference
        self._codes = codes
        self._clock = clock

    @property
    def _app(self) -> IntakeApplication:
        assert self._store.app is not None
        return self._store.app

    async def _view(self, dossier: Dossier, replayed: bool = False) -> DossierView:
        return DossierView(dossier, await self._store.call(self._app.history, dossier.code), replayed)

    async def submit(self, command: SubmitDossier, principal: Principal, correlation_id: str | None) -> DossierView:
        """Check, number and store a dossier: status 2 at the desk, 1 online and by post.

        Every document must be one the submitting client uploaded, matching the store
        (``document_not_uploaded`` / ``document_mismatch`` naming ``documents[i]``), and all of
        them within the per-dossier limit (:class:`DossierTooLargeError`). The dossier's references
        to its uploads are recorded before the dossier is saved, so the sweeper never removes a
        file a stored dossier refers to.

        A retry with the same ``idempotency_key`` and content returns the first dossier
        (``replayed``); nothing is stored and no code is taken for a refused submission.
        """
        if not may_submit_for(principal, command.receiving_agency_id):
            raise NotEntitledError("a desk submits dossiers only for its own agency")
        if command.idempotency_key is not None:
            existing = await self._store.call(self._app.submission_key, principal.client_id, command.idempotency_key)
            if existing is not None:
                dossier = await self._store.call(self._app.replay, existing, command.fingerprint)
                return await self._view(dossier, replayed=True)
        received_at = self._clock.now()
        version, problems = check_submission_rules(self._catalogue, self._reference, command, principal.party,
                                                   received_at.astimezone(VIETNAM).date())
        problems += _submission_problems(
            await self._documents.check_references(principal.client_id, command.documents))
        if problems:
            raise SubmissionRejectedError(problems)
        code = await self._codes.next_code(command.receiving_agency_id, received_at)
        hashes = [d["sha256"] for d in command.documents]
        missing = await self._documents.attach(principal.client_id, hashes, code, received_at)
        if missing:  # removed since they were checked (the sweeper got there first)
            raise SubmissionRejectedError([
                SubmissionProblem(field=f"documents[{i}]", code="document_not_uploaded",
                                  message_vi="Tệp này không còn trong kho; hãy tải lên lại")
                for i, sha256 in enumerate(hashes) if sha256 in missing])
        dossier = Dossier(
            code=code, procedure_code=command.procedure_code, procedure_version=version,
            applicant=command.applicant, documents=command.documents, channel=command.channel,
            result_delivery=command.result_delivery, locality_code=command.locality_code,
            receiving_agency_id=command.receiving_agency_id, submitted_by=principal.client_id,
            received_at=received_at, national_status=status_at_receipt(command.channel),
            correlation_id=correlation_id, options=command.options, pickup=command.pickup,
        )
        key = None
        if command.idempotency_key is not None:
            key = SubmissionKey(client_id=principal.client_id, key=command.idempotency_key,
                                fingerprint=command.fingerprint, dossier_code=code)
        stored = await self._store.call(self._app.submit, dossier, key)
        return await self._view(stored, replayed=stored is not dossier)

    async def read(self, code: str, principal: Principal) -> DossierView:
        """The dossier and its history, for those entitled to read it; the read of the applicant's
        data is recorded (who, when, which fields) in the dossier's read log."""
        dossier = await self._readable(code, principal)
        fields = [name for name, value in dossier.applicant.items() if value is not None]
        await self._store.call(
            self._app.record_read, code, Reader(client_id=principal.client_id, party=principal.party,
                                                agency_id=principal.agency_id),
            ReadOf(purpose="dossier", via="rest", fields=fields), self._clock.now())
        return await self._view(dossier)

    async def _readable(self, code: str, principal: Principal) -> Dossier:
        dossier = await self._store.call(self._app.dossier, code)
        if not may_read(principal, dossier):
            # The same answer as for a code that does not exist: existence is not revealed.
            raise DossierNotFoundError(code)
        return dossier

    async def _act(self, code: str, principal: Principal, command: Command, allowed: Callable[[Dossier], bool],
                   correlation_id: str | None, **kwargs: Any) -> DossierView:
        dossier = await self._readable(code, principal)
        if not allowed(dossier):
            raise NotEntitledError(f"the caller may not act on dossier {code}")
        changed = await self._store.call(command, code, by=principal.client_id, at=self._clock.now(),
                                         correlation_id=correlation_id, **kwargs)
        return await self._view(changed)

    async def accept(self, code: str, principal: Principal, correlation_id: str | None) -> DossierView:
        """The receiving desk accepts an online or postal dossier (1 → 2)."""
        return await self._act(code, principal, self._app.accept, lambda d: is_receiving_desk(principal, d),
                               correlation_id)

    async def refuse(self, code: str, principal: Principal, reason: str, correlation_id: str | None) -> DossierView:
        """The receiving desk refuses a dossier at intake (1 → 3, form 03)."""
        return await self._act(code, principal, self._app.refuse, lambda d: is_receiving_desk(principal, d),
                               correlation_id, reason=reason)

    async def request_withdrawal(self, code: str, principal: Principal, reason: str,
                                 correlation_id: str | None) -> DossierView:
        """The applicant (through its submitter or the receiving desk) asks to withdraw; routing decides."""
        return await self._act(
            code, principal, self._app.request_withdrawal,
            lambda d: is_receiving_desk(principal, d) or principal.client_id == d.submitted_by,
            correlation_id, reason=reason)
