"""What the relay publishes for each stored routing event: its contract on the routing topic, a
status record on the status topic for the statuses routing owns, a copy of a step opened (with its
content) or of due times moved for a stream-integrated agency on that agency's inbox topic, the
record of content sent or read, and nothing for what stays inside."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from routing.calendar.changes import ChangeKind
from routing.domain import RoutedDossier
from routing.domain.calendar import CalendarLog
from routing.outbound import (
    AGENCY_INBOX_RECORD,
    CONTRACT_OF,
    STATUS_RECORD,
    STATUS_TIME,
    STAYS_INSIDE,
    outbound_mapper,
    status_change,
    to_contract,
)
from routing.settings import RoutingSettings
from services.documents.readlog import Reader, ReadLog, ReadOf
from shared_events import DossierStatusChanged, DossierWithdrawalDeclined
from shared_events.contracts.calendar import CALENDAR_KEY, DueTimesChanged, WorkingCalendarChanged
from shared_events.contracts.documents import DossierContentRead
from shared_events.contracts.routing import (
    ApologyIssued,
    ClockPaused,
    ClockResumed,
    DossierRouted,
    RoutingFinished,
    StepClaimed,
    StepCompleted,
    StepDeadlineReached,
    StepOpened,
    StepReturned,
)
from tests.support.builders import (
    CIVIL_STATUS,
    POLICE,
    a_document,
    a_routed_dossier,
    calendar,
    complete,
    started,
    vn,
)

SETTINGS = RoutingSettings(agency_inbox_prefix=f"agency-{uuid.uuid4().hex[:6]}.")
TO_OUTBOUND = outbound_mapper(SETTINGS)

CONTRACT_TYPE = {
    "RouteAssigned": DossierRouted, "StepOpened": StepOpened, "StepClaimed": StepClaimed,
    "StepCompleted": StepCompleted, "StepSentBack": StepReturned, "StepRefused": StepReturned,
    "SupplementRequested": ClockPaused, "PaymentRequested": ClockPaused, "SupplementProvided": ClockResumed,
    "PaymentReceived": ClockResumed, "StepDueSoon": StepDeadlineReached, "StepOverdue": StepDeadlineReached,
    "ApologyIssued": ApologyIssued, "ResultReady": RoutingFinished, "ResultHandedOver": RoutingFinished,
    "Withdrawn": RoutingFinished, "Stopped": RoutingFinished, "ClosedAtIntake": RoutingFinished,
    "DueTimesRecomputed": DueTimesChanged, "Changed": WorkingCalendarChanged, "Read": DossierContentRead,
}


def agency(dossier: RoutedDossier, step_key: str) -> str:
    return dossier.step(step_key).agency_id or ""


def a_birth_registration_from_receipt_to_handover() -> RoutedDossier:
    """Claimed, paused for a supplement, completed, the next steps overdue, an apology, results, handover."""
    dossier, route = started("1.001193", vn(7, 7, 9))
    dossier.claim("birth_registration", CIVIL_STATUS, vn(7, 7, 9, 30))
    dossier.request_supplement("birth_registration", CIVIL_STATUS, "Bổ sung giấy chứng sinh", vn(7, 7, 10))
    dossier.provide_supplement(vn(7, 8, 9), [a_document()], calendar())
    complete(dossier, route, "birth_registration", vn(7, 8, 10))
    dossier.check_deadlines(vn(7, 8, 11), timedelta(days=30), calendar())
    dossier.check_deadlines(vn(7, 31, 9), timedelta(hours=1), calendar())
    new_appointment = (dossier.appointment_at or vn(7, 31, 9)) + timedelta(days=7)
    dossier.issue_apology(POLICE, "Xin lỗi vì chậm trễ", new_appointment, vn(7, 31, 10))
    for key in ("residence_registration", "health_insurance_card"):
        complete(dossier, route, key, vn(7, 31, 11))
    dossier.hand_over("desk-1", vn(7, 31, 15))
    return dossier


def a_land_transfer_that_was_paid_for() -> RoutedDossier:
    dossier, route = started("1.004227", vn(7, 7, 9))
    for key, day in (("receive_and_check", 8), ("tax_assessment", 9)):
        complete(dossier, route, key, vn(7, day, 9))
    dossier.request_payment("tax_payment", agency(dossier, "tax_payment"), 1_250_000, vn(7, 9, 10), reason="Lệ phí")
    dossier.record_payment(vn(7, 10, 9), calendar())
    return dossier


def ended_dossiers() -> list[RoutedDossier]:
    """Dossiers sent back, refused, withdrawn, stopped, closed at intake, declined a withdrawal, unroutable."""
    sent_back, route = started("1.001193", vn(7, 7, 9))
    complete(sent_back, route, "birth_registration", vn(7, 7, 10))
    sent_back.send_back("residence_registration", POLICE, "Sai thông tin cư trú", vn(7, 7, 11), calendar())
    refused, _ = started("1.001193", vn(7, 7, 9))
    refused.refuse("birth_registration", CIVIL_STATUS, "Không đủ điều kiện", vn(7, 7, 10), calendar())
    withdrawn, _ = started("1.001193", vn(7, 7, 9))
    withdrawn.withdraw("Không cần nữa", vn(7, 7, 10))
    stopped, _ = started("1.001193", vn(7, 7, 9))
    stopped.stop("Dừng theo yêu cầu", vn(7, 7, 10), by="desk-1")
    at_intake = a_routed_dossier("1.001193", vn(7, 7, 9))
    at_intake.close_at_intake("Hồ sơ không hợp lệ", vn(7, 7, 10))
    declined, copy_route = started("2.000635", vn(7, 7, 9))
    complete(declined, copy_route, "issue_copy", vn(7, 7, 10))
    declined.decide_withdrawal("Không cần nữa", vn(7, 7, 11))
    unroutable = a_routed_dossier("1.001193", vn(7, 7, 9))
    unroutable.record_unroutable("NoRouteError: no route in force", vn(7, 7, 9))
    return [sent_back, refused, withdrawn, stopped, at_intake, declined, unroutable]


def a_copy_brought_back_to_the_desk_by_the_carrier() -> RoutedDossier:
    """A copy the carrier could not deliver: back at the desk, then handed over there."""
    dossier, route = started("2.000635", vn(7, 7, 9))
    complete(dossier, route, "issue_copy", vn(7, 7, 10))
    dossier.record_result_back_at_desk(dossier.receiving_agency_id, "vnpost", "EB000000001VN", 3, vn(7, 9, 16))
    dossier.hand_over("desk-1", vn(7, 10, 9))
    return dossier


def a_day_off_that_moved_open_steps() -> list[Any]:
    """An operator's day off, and a dossier whose open steps (one a stream agency's) it moved."""
    dossier, route = started("1.001193", vn(7, 7, 9))
    complete(dossier, route, "birth_registration", vn(7, 7, 10))
    book = CalendarLog()
    book.change(ChangeKind.ADD_DAY_OFF, date(2025, 7, 8), "1234/QĐ-TTg", "Nghỉ đột xuất", by="operator",
                at=vn(7, 7, 11), seed=calendar().data, today=date(2025, 7, 7))
    dossier.reschedule(book.in_force(calendar().data), decision="1234/QĐ-TTg", reason="Nghỉ đột xuất",
                       at=vn(7, 7, 11))
    return [*book.pending_events, *dossier.pending_events]


def a_read_of_a_step_view() -> list[Any]:
    log = ReadLog(dossier_code=a_routed_dossier("1.001193", vn(7, 7, 9)).code)
    log.record(Reader(client_id="police-system", party="agency", agency_id=POLICE),
               ReadOf(purpose="step_view", via="rest", step_key="residence_registration", fields=["full_name"]),
               vn(7, 7, 10))
    return log.pending_events


def every_event() -> list[Any]:
    dossiers = [a_birth_registration_from_receipt_to_handover(), a_land_transfer_that_was_paid_for(),
                a_copy_brought_back_to_the_desk_by_the_carrier(), *ended_dossiers()]
    return ([event for dossier in dossiers for event in dossier.pending_events] + a_day_off_that_moved_open_steps()
            + a_read_of_a_step_view())


@pytest.fixture(scope="module")
def events() -> list[Any]:
    return every_event()


def test_the_journeys_below_store_every_event_type_the_tables_name(events: list[Any]) -> None:
    assert {type(e) for e in events} == set(CONTRACT_OF) | STAYS_INSIDE


def test_each_stored_event_with_a_contract_becomes_that_contract_for_the_same_dossier(events: list[Any]) -> None:
    for event in events:
        contract = to_contract(event)
        if type(event) in STAYS_INSIDE:
            assert contract is None, type(event).__name__
        else:
            assert type(contract) is CONTRACT_TYPE[type(event).__name__], type(event).__name__
            assert contract.subject == getattr(event, "dossier_code", CALENDAR_KEY)


def test_each_event_that_changes_a_status_routing_owns_goes_to_the_status_topic_with_that_status(
        events: list[Any]) -> None:
    for event in (e for e in events if type(e) in STATUS_TIME):
        records = [r for r in TO_OUTBOUND(event) if r.topic == SETTINGS.status_topic]

        [record] = records
        assert isinstance(record.contract, DossierStatusChanged)
        assert record.discriminator == STATUS_RECORD
        assert record.contract.national_status == event.national_status
        assert record.contract.changed_at == getattr(event, STATUS_TIME[type(event)])


def test_a_refusal_at_intake_publishes_no_status_because_status_3_is_intakes(events: list[Any]) -> None:
    [closed] = [e for e in events if isinstance(e, RoutedDossier.ClosedAtIntake)]

    assert status_change(closed) is None
    assert [r.topic for r in TO_OUTBOUND(closed)] == [None]


def test_a_declined_withdrawal_goes_to_the_status_topic_only_with_the_status_kept(events: list[Any]) -> None:
    [declined] = [e for e in events if isinstance(e, RoutedDossier.WithdrawalDeclined)]

    [record] = TO_OUTBOUND(declined)

    assert record.topic == SETTINGS.status_topic
    assert record.contract == DossierWithdrawalDeclined(
        dossier_code=declined.dossier_code, national_status=9, reason="Không cần nữa", declined_at=vn(7, 7, 11))


def test_a_step_opened_for_a_stream_agency_also_goes_to_its_inbox_topic_and_a_rest_agencys_does_not(
        events: list[Any]) -> None:
    opened = [e for e in events if isinstance(e, RoutedDossier.StepOpened)]
    stream = next(e for e in opened if e.integration == "kafka")
    rest = next(e for e in opened if e.integration == "rest")

    main, inbox, disclosed = TO_OUTBOUND(stream)
    [only] = TO_OUTBOUND(rest)

    assert (main.topic, inbox.topic, disclosed.topic) == (None, SETTINGS.agency_inbox_topic(stream.agency_id), None)
    assert inbox.contract.model_copy(update={"content": None}) == main.contract
    assert inbox.discriminator == AGENCY_INBOX_RECORD and isinstance(disclosed.contract, DossierContentRead)
    assert only.topic is None


def test_due_times_moved_on_stream_agencies_steps_also_go_to_each_of_their_inbox_topics(events: list[Any]) -> None:
    [moved] = [e for e in events if isinstance(e, RoutedDossier.DueTimesRecomputed)]
    stream_agencies = {s["agency_id"] for s in moved.steps if s["integration"] == "kafka"}
    assert stream_agencies, "the journey moves a stream agency's step"

    main, *inboxes = TO_OUTBOUND(moved)

    assert main.topic is None and main.subject == moved.dossier_code
    assert {r.topic for r in inboxes} == {SETTINGS.agency_inbox_topic(a) for a in stream_agencies}
    assert len({r.discriminator for r in [main, *inboxes]}) == len(inboxes) + 1


def test_a_calendar_change_is_published_once_under_the_calendar_key(events: list[Any]) -> None:
    [change] = [e for e in events if isinstance(e, CalendarLog.Changed)]

    [record] = TO_OUTBOUND(change)

    assert record.topic is None and record.subject == CALENDAR_KEY
    assert record.contract.day == date(2025, 7, 8) and record.contract.revision == 1


def test_what_stays_inside_is_not_published_at_all(events: list[Any]) -> None:
    for event in (e for e in events if type(e) in STAYS_INSIDE - {RoutedDossier.WithdrawalDeclined}):
        assert TO_OUTBOUND(event) == [], type(event).__name__


def test_every_record_keeps_the_correlation_and_causation_stored_with_its_event(events: list[Any]) -> None:
    [paid] = [e for e in events if isinstance(e, RoutedDossier.PaymentRequested)]
    correlation, causation = str(uuid.uuid4()), str(uuid.uuid4())
    object.__setattr__(paid, "correlation_id", correlation)
    object.__setattr__(paid, "causation_id", causation)

    records = TO_OUTBOUND(paid)

    assert [r.topic for r in records] == [None, SETTINGS.status_topic]
    assert {(r.correlation_id, r.causation_id) for r in records} == {(correlation, causation)}
    assert {r.subject for r in records} == {paid.dossier_code}
