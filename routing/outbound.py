"""Which stored routing events leave the service, as which contracts, on which topics.

Every routing event goes to the routing topic; an event that changes the national status
also goes to the status topic (for intake and the national portal); a step opened for a
stream-integrated agency also goes to that agency's inbox topic — with the step's content (what it
declares it needs of the dossier), each document as a signed single-use link issued when the record
is published — and so do due times a calendar change moved on such an agency's open step. The
content sent is recorded on the routing topic as a read (``DossierContentRead``, via ``stream``),
and so is every read through the API or a link (the read log's events). An operator's
working-calendar change goes to the routing topic under the key ``working-calendar``. A declined
withdrawal goes to the status topic only. Routing publishes only the statuses it owns (docs/STATUS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from routing.domain import RoutedDossier
from routing.domain.calendar import CalendarLog
from routing.settings import RoutingSettings
from services.clock import Clock, clock_from
from services.documents.links import LinkSigner
from services.documents.readlog import ReadLog, content_read
from services.relay import Outbound
from shared_events import DossierStatusChanged, DossierWithdrawalDeclined
from shared_events.contracts.calendar import DueTimesChanged, StepDueChange, WorkingCalendarChanged
from shared_events.contracts.documents import ContentDocument, DocumentLink, DossierContentRead, StepContent
from shared_events.contracts.routing import (
    ApologyIssued,
    ClockPaused,
    ClockResumed,
    DossierRouted,
    PlannedStep,
    RoutingFinished,
    StepClaimed,
    StepCompleted,
    StepDeadlineReached,
    StepOpened,
    StepReturned,
)

STATUS_RECORD, AGENCY_INBOX_RECORD, DISCLOSURE_RECORD = 1, 2, 1000
D = RoutedDossier


def link_signer(settings: RoutingSettings) -> LinkSigner:
    """The deployment's download links: its secret and TTL, rooted at routing's public URL."""
    return LinkSigner(settings.documents_link_secret, settings.documents_link_ttl_seconds, settings.public_base_url)


def outbound_mapper(settings: RoutingSettings, *, clock: Clock | None = None) -> Callable[[Any], list[Outbound]]:
    """The relay's mapping for this deployment's topic names; links are signed with the deployment's
    secret and expire ``documents_link_ttl_seconds`` after they are published (by ``clock``).

    Every record keeps the correlation and causation ids stored alongside its event
    (:func:`routing.application.stamp`)."""
    links = link_signer(settings)
    clock = clock or clock_from(settings.clock_file)

    def to_outbound(e: Any) -> list[Outbound]:
        correlation_id, causation_id = getattr(e, "correlation_id", None), getattr(e, "causation_id", None)
        records = []
        contract = to_contract(e)
        if contract is not None:
            records.append(Outbound(contract, contract.subject, correlation_id, causation_id))
        status = status_change(e)
        if status is not None:
            records.append(Outbound(status, e.dossier_code, correlation_id, causation_id,
                                    topic=settings.status_topic, discriminator=STATUS_RECORD))
        if contract is not None:
            inbox = with_content(contract, e, links, clock)
            for n, agency_id in enumerate(agency_inboxes_of(e)):
                records.append(Outbound(inbox, contract.subject, correlation_id, causation_id,
                                        topic=settings.agency_inbox_topic(agency_id),
                                        discriminator=AGENCY_INBOX_RECORD + n))
        disclosed = disclosure(e)
        if disclosed is not None:
            records.append(Outbound(disclosed, disclosed.subject, correlation_id, causation_id,
                                    discriminator=DISCLOSURE_RECORD))
        return records

    return to_outbound


def _content(e: Any) -> dict[str, Any] | None:
    """The content a stored ``StepOpened`` carries for a stream agency (None for a REST one, and for
    steps opened before content travelled with them)."""
    return getattr(e, "content", None) if type(e) is D.StepOpened else None


def with_content(contract: Any, e: Any, links: LinkSigner, clock: Clock) -> Any:
    """The inbox copy of ``contract``: a step opened with content gets it, each document with a fresh link."""
    content = _content(e)
    if content is None:
        return contract
    now = clock.now()
    documents = []
    for entry in content["documents"]:
        url, expires_at = links.issue(agency_id=e.agency_id, dossier_code=e.dossier_code, step_key=e.step_key,
                                      sha256=entry["document"]["sha256"], now=now)
        documents.append(ContentDocument(document=entry["document"], from_step=entry["from_step"],
                                         link=DocumentLink(url=url, expires_at=expires_at)))
    return contract.model_copy(update={"content": StepContent(applicant=content["applicant"],
                                                              documents=tuple(documents))})


def disclosure(e: Any) -> DossierContentRead | None:
    """The record of the content sent with a stream agency's step (who received what, when)."""
    content = _content(e)
    if content is None:
        return None
    return DossierContentRead(
        dossier_code=e.dossier_code, reader_party="agency", reader_agency_id=e.agency_id, step_key=e.step_key,
        purpose="step_view", via="stream", fields=tuple(content["applicant"]),
        documents=tuple(entry["document"]["sha256"] for entry in content["documents"]), read_at=e.opened_at)


def _routed(e: Any) -> DossierRouted:
    steps = tuple(PlannedStep(step_key=s["key"], name=s["name"], role=s["role"], agency_id=s["agency_id"],
                              integration=s["integration"], after=tuple(s["after"]),
                              limit_value=s["limit"]["value"], limit_unit=s["limit"]["unit"])
                  for s in e.steps if not s.get("skipped"))
    return DossierRouted(dossier_code=e.dossier_code, procedure_code=e.procedure_code, route_version=e.route_version,
                         steps=steps, processing_started_at=e.processing_started_at,
                         appointment_at=e.appointment_at or e.processing_started_at)


def _deadline(kind: str) -> Callable[[Any], StepDeadlineReached]:
    return lambda e: StepDeadlineReached(dossier_code=e.dossier_code, step_key=e.step_key, agency_id=e.agency_id,
                                         kind=kind, due_at=e.due_at, detected_at=e.detected_at)


def _finished(at: str, with_reason: bool = True) -> Callable[[Any], RoutingFinished]:
    """The end of routing: the status the event set (9, 10, 7, 8 or intake's 3), its reason and instant."""
    return lambda e: RoutingFinished(dossier_code=e.dossier_code, national_status=e.national_status,
                                     reason=e.reason if with_reason else None, finished_at=getattr(e, at))


CONTRACT_OF: dict[type, Callable[[Any], Any]] = {
    D.RouteAssigned: _routed,
    D.StepOpened: lambda e: StepOpened(
        dossier_code=e.dossier_code, procedure_code=e.procedure_code, step_key=e.step_key, step_name=e.step_name,
        agency_id=e.agency_id, opened_at=e.opened_at, due_at=e.due_at, opening=e.opening),
    D.StepClaimed: lambda e: StepClaimed(dossier_code=e.dossier_code, step_key=e.step_key, agency_id=e.agency_id,
                                         claimed_at=e.claimed_at),
    D.StepCompleted: lambda e: StepCompleted(
        dossier_code=e.dossier_code, step_key=e.step_key, agency_id=e.agency_id, completed_at=e.completed_at,
        due_at=e.due_at, timeliness=e.timeliness, documents=tuple(e.documents)),
    D.StepSentBack: lambda e: StepReturned(
        dossier_code=e.dossier_code, step_key=e.step_key, agency_id=e.agency_id, outcome="sent_back",
        reason=e.reason, to_steps=tuple(e.to_steps), returned_at=e.sent_back_at),
    D.StepRefused: lambda e: StepReturned(
        dossier_code=e.dossier_code, step_key=e.step_key, agency_id=e.agency_id, outcome="refused",
        reason=e.reason, returned_at=e.refused_at),
    D.SupplementRequested: lambda e: ClockPaused(
        dossier_code=e.dossier_code, kind="supplement", step_key=e.step_key, agency_id=e.agency_id,
        reason=e.reason, paused_at=e.requested_at),
    D.PaymentRequested: lambda e: ClockPaused(
        dossier_code=e.dossier_code, kind="payment", step_key=e.step_key, agency_id=e.agency_id,
        reason=getattr(e, "reason", None),  # a payment request stored before reasons were kept has none
        amount_vnd=e.amount_vnd, paused_at=e.requested_at),
    D.SupplementProvided: lambda e: ClockResumed(
        dossier_code=e.dossier_code, kind="supplement", resumed_at=e.provided_at, due_at=dict(e.dues),
        appointment_at=e.appointment_at),
    D.PaymentReceived: lambda e: ClockResumed(
        dossier_code=e.dossier_code, kind="payment", resumed_at=e.paid_at, due_at=dict(e.dues),
        appointment_at=e.appointment_at),
    D.StepDueSoon: _deadline("due_soon"),
    D.StepOverdue: _deadline("overdue"),
    D.ApologyIssued: lambda e: ApologyIssued(
        dossier_code=e.dossier_code, agency_id=e.agency_id, reason=e.reason,
        original_appointment_at=e.original_appointment_at, new_appointment_at=e.new_appointment_at,
        issued_at=e.issued_at),
    D.ResultReady: lambda e: RoutingFinished(
        dossier_code=e.dossier_code, national_status=e.national_status, finished_at=e.ready_at,
        results=tuple(getattr(e, "results", None) or ())),  # none recorded before results were kept
    D.ResultHandedOver: _finished("handed_over_at", with_reason=False),
    D.Withdrawn: _finished("withdrawn_at"),
    D.Stopped: _finished("stopped_at"),
    D.ClosedAtIntake: _finished("refused_at"),
    D.DueTimesRecomputed: lambda e: DueTimesChanged(
        dossier_code=e.dossier_code, calendar_revision=e.calendar_revision, decision=e.decision, reason=e.reason,
        steps=tuple(StepDueChange(step_key=s["step_key"], agency_id=s["agency_id"], opening=s["opening"],
                                  previous_due_at=s["previous_due_at"], due_at=s["due_at"]) for s in e.steps),
        previous_appointment_at=e.previous_appointment_at, appointment_at=e.appointment_at,
        changed_at=e.recomputed_at),
    ReadLog.Read: content_read,
    CalendarLog.Changed: lambda e: WorkingCalendarChanged(
        revision=e.revision, kind=e.kind, day=e.day, decision=e.decision, reason=e.reason,
        changed_by=e.changed_by, changed_at=e.changed_at),
}
"""The routing-topic contract of each stored event type that leaves the service."""

STAYS_INSIDE: frozenset[type] = frozenset({D.Received, D.RoutingImpossible, D.WithdrawalDeclined,
                                           D.ResultBackAtDesk, CalendarLog.Opened, ReadLog.Opened})
"""Stored event types with no routing-topic contract, on purpose (``WithdrawalDeclined`` goes to
the status topic only; ``RoutingImpossible`` is listed by ``GET /v1/routing/unroutable``;
``ResultBackAtDesk`` records postal's ``ResultReturnedToDesk``, which postal has published)."""


def to_contract(e: Any) -> Any:
    """The routing-topic contract of a stored event (None for events that stay inside)."""
    make = CONTRACT_OF.get(type(e))
    return None if make is None else make(e)


AGENCY_INBOXES_OF: dict[type, Callable[[Any], list[str]]] = {
    D.StepOpened: lambda e: [e.agency_id] if e.integration == "kafka" else [],
    D.DueTimesRecomputed: lambda e: sorted({s["agency_id"] for s in e.steps if s.get("integration") == "kafka"}),
}
"""Stored event types that also go to agencies' inbox topics, and to which agencies': a step opened
for a stream-integrated agency; due times moved on such an agency's open step."""


def agency_inboxes_of(e: Any) -> list[str]:
    """The agencies whose inbox topics also get the event's routing contract (none for most events)."""
    agencies_of = AGENCY_INBOXES_OF.get(type(e))
    return [] if agencies_of is None else agencies_of(e)


STATUS_TIME: dict[type, str] = {
    D.RouteAssigned: "assigned_at", D.SupplementRequested: "requested_at", D.SupplementProvided: "provided_at",
    D.PaymentRequested: "requested_at", D.PaymentReceived: "paid_at", D.StepRefused: "refused_at",
    D.Stopped: "stopped_at", D.ResultReady: "ready_at", D.ResultHandedOver: "handed_over_at",
    D.Withdrawn: "withdrawn_at",
}
"""Stored events that change a status routing owns (docs/STATUS.md: 4, 5, 6, 7, 8, 9, 10), and the
field saying when. ``ClosedAtIntake`` is absent on purpose: status 3 is intake's."""


BY_POST = "Đã trả kết quả qua dịch vụ bưu chính công ích"
"""The reason of status 10 when the carrier delivered the result."""


def _status_changed(at: str) -> Callable[[Any], DossierStatusChanged]:
    return lambda e: DossierStatusChanged(
        dossier_code=e.dossier_code, national_status=e.national_status, reason=getattr(e, "reason", None),
        changed_by_agency_id=getattr(e, "agency_id", None), changed_at=getattr(e, at))


def _handed_over(e: Any) -> DossierStatusChanged:
    """Status 10: no reason at the desk (as always), :data:`BY_POST` when delivered by post."""
    return DossierStatusChanged(
        dossier_code=e.dossier_code, national_status=e.national_status,
        reason=BY_POST if getattr(e, "via", "desk") == "post" else None, changed_at=e.handed_over_at)


STATUS_OF: dict[type, Callable[[Any], DossierStatusChanged | DossierWithdrawalDeclined]] = {
    **{event_type: _status_changed(at) for event_type, at in STATUS_TIME.items()},
    D.ResultHandedOver: _handed_over,
    D.WithdrawalDeclined: lambda e: DossierWithdrawalDeclined(
        dossier_code=e.dossier_code, national_status=e.national_status, reason=e.reason, declined_at=e.declined_at),
}
"""The status-topic record of each stored event type that has one: a change of a status routing
owns (:data:`STATUS_TIME`), or the decline of a withdrawal request (the status kept)."""


def status_change(e: Any) -> DossierStatusChanged | DossierWithdrawalDeclined | None:
    """The status-topic record of a stored event (None for events that change no status routing owns)."""
    make = STATUS_OF.get(type(e))
    return None if make is None else make(e)
