"""Routing's use cases and reactions, on the in-memory event store: who may act before what
state, dossiers that cannot be routed, status ownership, withdrawal decisions, reply topics,
bounds on replies, correlation and causation, and what the relay publishes for each."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import cache

import pytest

from routing.application import (
    Actor,
    RoutedDossierNotFoundError,
    RoutingApplication,
    StepAction,
    Trace,
)
from routing.domain import (
    InvalidCommandError,
    RoutedDossier,
    StepStateError,
    WrongAgencyError,
)
from routing.domain.calendar import CalendarLog
from routing.outbound import CONTRACT_OF, STAYS_INSIDE, outbound_mapper, status_change
from routing.reactions import HANDLERS, Reactions, ReplyPolicy
from routing.settings import RoutingSettings
from services.consumer import UnprocessableMessage
from services.documents.readlog import ReadLog
from shared_events import (
    DossierStatusChanged,
    DossierWithdrawalDeclined,
    DossierWithdrawalRequested,
)
from shared_events.contracts.routing import AgencyActed
from tests.random_refs import random_agency_id, random_sha256
from tests.support.builders import (
    CIVIL_STATUS,
    LOCALITY,
    POLICE,
    SOCIAL_INSURANCE,
    an_envelope,
    vn,
)

INTAKE_TOPIC = "intake-events"
POSTAL_TOPIC = "postal-events"
PREFIX = "agency."


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@cache
def application() -> RoutingApplication:
    return RoutingApplication()


def a_code(day: str = "250707") -> str:
    return f"{random_agency_id()}-{day}-{uuid.uuid4().int % 10_000:04d}"


def received(app: RoutingApplication, procedure: str = "1.001193", *, at: datetime | None = None,
             locality: str = LOCALITY, receiving: str | None = None) -> RoutedDossier:
    at = at or vn(7, 7, 9)
    dossier = app.receive(code=a_code(at.strftime("%y%m%d")), procedure_code=procedure, locality_code=locality,
                          receiving_agency_id=receiving or random_agency_id(), channel="desk",
                          result_delivery_method="desk", options=[], received_at=at, national_status=2)
    assert dossier is not None
    app.save_dossier(dossier)
    return dossier


def agency(agency_id: str) -> Actor:
    return Actor(party="agency", agency_id=agency_id, client_id=f"client-{agency_id}")


def event_names(app: RoutingApplication, code: str) -> list[str]:
    return [type(e).__name__ for e in app.history(code)]


def documents() -> list[dict]:
    return [{"name": "ket_qua", "media_type": "application/pdf", "size_bytes": 10, "sha256": random_sha256()}]


# --- authorisation before state ------------------------------------------------------------------


def test_an_apology_by_an_agency_with_no_step_is_not_found_whatever_the_state() -> None:
    app = application()
    dossier = received(app)  # nobody is late: for an agency on the route this would be a state conflict
    stranger = random_agency_id()

    with pytest.raises(RoutedDossierNotFoundError):
        app.apologise(agency(stranger), dossier.code, "Xin lỗi", vn(7, 20, 17), vn(7, 7, 10), Trace())
    with pytest.raises(StepStateError):
        app.apologise(agency(CIVIL_STATUS), dossier.code, "Xin lỗi", vn(7, 20, 17), vn(7, 7, 10), Trace())


def test_an_unknown_dossier_and_another_agencys_dossier_answer_the_same() -> None:
    app = application()
    dossier = received(app)
    stranger = agency(random_agency_id())
    claim = StepAction(code=dossier.code, step_key="birth_registration", agency_id=stranger.agency_id or "",
                       action="claim", at=vn(7, 7, 10))

    with pytest.raises(RoutedDossierNotFoundError):
        app.act_on_step(stranger, claim, Trace())
    with pytest.raises(RoutedDossierNotFoundError):
        app.act_on_step(stranger, StepAction(**{**claim.__dict__, "code": a_code()}), Trace())
    with pytest.raises(RoutedDossierNotFoundError):
        app.readable(stranger, dossier.code)
    other_desk = Actor(party="desk", agency_id=random_agency_id(), client_id="desk-b")
    with pytest.raises(RoutedDossierNotFoundError):
        app.stop(other_desk, dossier.code, "Dừng xử lý", vn(7, 7, 10), Trace())
    assert event_names(app, dossier.code)[-1] == "StepOpened"


def test_an_agency_on_the_route_acting_on_another_agencys_step_is_told_so() -> None:
    app = application()
    dossier = received(app)

    with pytest.raises(WrongAgencyError):
        app.act_on_step(agency(POLICE), StepAction(code=dossier.code, step_key="birth_registration",
                                                   agency_id=POLICE, action="claim", at=vn(7, 7, 10)), Trace())


def test_an_apology_whose_new_appointment_could_not_be_published_is_refused_and_not_stored() -> None:
    app = application()
    dossier = received(app)
    app.act_on_step(agency(CIVIL_STATUS), StepAction(code=dossier.code, step_key="birth_registration",
                                                     agency_id=CIVIL_STATUS, action="complete", at=vn(7, 9, 9),
                                                     documents=documents()), Trace())
    before = event_names(app, dossier.code)

    with pytest.raises(InvalidCommandError, match="cannot be published"):
        app.apologise(agency(CIVIL_STATUS), dossier.code, "Xin lỗi vì chậm", datetime.fromisoformat(
            "9999-12-31T23:59:59-10:00").replace(year=9998), vn(7, 9, 10), Trace())
    assert event_names(app, dossier.code) == before


# --- dossiers routing cannot route -----------------------------------------------------------------


@pytest.mark.parametrize(("procedure", "locality", "at", "error"), [
    ("1.001193", "99999", vn(7, 7, 9), "UnknownUnitError"),
    ("2.000635", LOCALITY, vn(3, 1, 9, year=2016), "NoRouteError"),
])
def test_a_dossier_that_cannot_be_routed_is_recorded_with_the_reason_and_keeps_its_status(
        procedure: str, locality: str, at: datetime, error: str) -> None:
    app = application()
    dossier = received(app, procedure, at=at, locality=locality)

    assert event_names(app, dossier.code) == ["Received", "RoutingImpossible"]
    stored = app.dossier(dossier.code)
    assert stored.national_status == 2 and stored.route_version is None
    assert stored.unroutable_reason is not None and stored.unroutable_reason.startswith(error)


# --- status ownership and withdrawal -------------------------------------------------------------------


def test_a_refusal_at_intake_closes_routings_record_and_publishes_no_status() -> None:
    app = application()
    dossier = app.receive(code=a_code(), procedure_code="1.001193", locality_code=LOCALITY,
                          receiving_agency_id=random_agency_id(), channel="online", result_delivery_method="desk",
                          options=[], received_at=vn(7, 7, 9), national_status=1)
    assert dossier is not None
    app.save_dossier(dossier)

    app.save_dossier(app.close_at_intake(dossier.code, "Hồ sơ không hợp lệ", vn(7, 7, 10)))

    last = app.history(dossier.code)[-1]
    assert (type(last).__name__, last.national_status) == ("ClosedAtIntake", 3)
    assert status_change(last) is None
    assert app.close_at_intake(dossier.code, "Lần nữa", vn(7, 7, 11)) is None


def test_a_withdrawal_request_of_a_dossier_in_processing_withdraws_it_with_status_7_on_the_status_topic() -> None:
    app = application()
    dossier = received(app)

    app.save_dossier(app.decide_withdrawal(dossier.code, "Không cần nữa", vn(7, 7, 10)))

    last = app.history(dossier.code)[-1]
    assert type(last).__name__ == "Withdrawn"
    assert status_change(last) == DossierStatusChanged(
        dossier_code=dossier.code, national_status=7, reason="Không cần nữa", changed_at=vn(7, 7, 10))


def test_a_withdrawal_request_of_a_done_dossier_is_declined_with_the_status_it_keeps() -> None:
    app = application()
    dossier = received(app, "2.000635")
    app.act_on_step(agency(CIVIL_STATUS), StepAction(code=dossier.code, step_key="issue_copy",
                                                     agency_id=CIVIL_STATUS, action="complete", at=vn(7, 7, 10),
                                                     documents=documents()), Trace())

    app.save_dossier(app.decide_withdrawal(dossier.code, "Không cần nữa", vn(7, 7, 11)))

    last = app.history(dossier.code)[-1]
    assert type(last).__name__ == "WithdrawalDeclined"
    assert app.dossier(dossier.code).national_status == 9
    assert status_change(last) == DossierWithdrawalDeclined(
        dossier_code=dossier.code, national_status=9, reason="Không cần nữa", declined_at=vn(7, 7, 11))


def test_every_stored_event_type_either_has_a_contract_or_stays_inside_on_purpose() -> None:
    event_types = {value for aggregate in (RoutedDossier, CalendarLog, ReadLog) for value in vars(aggregate).values()
                   if isinstance(value, type) and issubclass(value, aggregate.Event)
                   and value not in (aggregate.Event, aggregate.Created)}
    assert event_types == set(CONTRACT_OF) | STAYS_INSIDE


# --- reactions: topics, bounds, trace ---------------------------------------------------------------------


def reactions(now: datetime) -> Reactions:
    settings = RoutingSettings(agency_inbox_prefix=PREFIX)
    topics = {settings.agency_reply_topic(a): a for a in (POLICE, SOCIAL_INSURANCE, CIVIL_STATUS)}
    return Reactions(intake_topic=INTAKE_TOPIC, postal_topic=POSTAL_TOPIC, policy=ReplyPolicy(
        agency_of_reply_topic=topics.get, clock=FakeClock(now), max_skew=timedelta(minutes=5)))


def envelope_of(contract, subject: str):
    return an_envelope(contract, vn(7, 7, 9), subject)


def kafka_ready(app: RoutingApplication) -> RoutedDossier:
    """A birth registration whose police step (a stream-integrated agency's) is open."""
    dossier = received(app)
    app.act_on_step(agency(CIVIL_STATUS), StepAction(code=dossier.code, step_key="birth_registration",
                                                     agency_id=CIVIL_STATUS, action="complete", at=vn(7, 7, 14),
                                                     documents=documents()), Trace())
    return dossier


def reply(code: str, step_key: str, agency_id: str, at: datetime) -> AgencyActed:
    return AgencyActed(dossier_code=code, step_key=step_key, agency_id=agency_id, action="claim", acted_at=at)


def test_a_reply_on_its_agencys_topic_is_applied_with_the_messages_correlation_and_causation() -> None:
    app = application()
    code = kafka_ready(app).code
    contract = reply(code, "residence_registration", POLICE, vn(7, 7, 15))
    envelope = envelope_of(contract, code)

    [dossier] = reactions(vn(7, 7, 15))(app, contract, envelope, PREFIX + f"{POLICE}.replies")

    [claimed] = dossier.pending_events
    assert (claimed.correlation_id, claimed.causation_id) == (envelope.correlationid, envelope.id)
    [record] = outbound_mapper(RoutingSettings())(claimed)
    assert (record.correlation_id, record.causation_id) == (envelope.correlationid, envelope.id)


@pytest.mark.parametrize(("topic_of", "step_key", "agency_id", "minutes_ahead", "reason"), [
    (SOCIAL_INSURANCE, "residence_registration", POLICE, 0, "arrived on"),
    (CIVIL_STATUS, "birth_registration", CIVIL_STATUS, 0, "REST inbox"),
    (POLICE, "residence_registration", POLICE, 6, "later than now"),
    (POLICE, "residence_registration", POLICE, -60 * 24, "before step"),
    (POLICE, "health_insurance_card", POLICE, 0, "WrongAgencyError"),
])
def test_a_reply_from_the_wrong_topic_for_a_rest_step_or_out_of_time_is_dead_lettered_with_the_reason(
        topic_of: str, step_key: str, agency_id: str, minutes_ahead: int, reason: str) -> None:
    app = application()
    code = kafka_ready(app).code if step_key != "birth_registration" else received(app).code
    now = vn(7, 7, 15)
    contract = reply(code, step_key, agency_id, now + timedelta(minutes=minutes_ahead))

    with pytest.raises(UnprocessableMessage, match=reason):
        reactions(now)(app, contract, envelope_of(contract, code), f"{PREFIX}{topic_of}.replies")


def test_intake_events_are_accepted_only_from_the_intake_topic_and_unknown_dossiers_are_dead_lettered() -> None:
    app = application()
    code = a_code()
    request = DossierWithdrawalRequested(dossier_code=code, requested_by="citizen-1", reason="Không cần nữa",
                                         requested_at=vn(7, 7, 10))

    with pytest.raises(UnprocessableMessage, match="is not accepted on"):
        reactions(vn(7, 7, 10))(app, request, envelope_of(request, code), f"{PREFIX}{POLICE}.replies")
    with pytest.raises(UnprocessableMessage, match="no dossier"):
        reactions(vn(7, 7, 10))(app, request, envelope_of(request, code), INTAKE_TOPIC)


def test_a_contract_routing_does_not_handle_is_dead_lettered_not_dropped() -> None:
    app = application()
    code = a_code()
    status = DossierStatusChanged(dossier_code=code, national_status=4, changed_at=vn(7, 7, 10))

    assert DossierStatusChanged not in HANDLERS
    with pytest.raises(UnprocessableMessage, match="does not handle"):
        reactions(vn(7, 7, 10))(app, status, envelope_of(status, code), INTAKE_TOPIC)
