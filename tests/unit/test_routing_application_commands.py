"""Routing's HTTP-facing use cases on the in-memory event store: what each stores, what the relay
publishes for it, who may read a dossier, and form 06 for every way a step is handed on."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import cache

import pytest

from routing.application import (
    Actor,
    RoutedDossierNotFoundError,
    RoutingApplication,
    StepAction,
    Trace,
    inbox_rows,
    unroutable_rows,
)
from routing.domain import InvalidCommandError, RoutedDossier
from routing.outbound import status_change, to_contract
from shared_events.contracts.routing import ClockPaused
from tests.random_refs import random_agency_id
from tests.support.builders import LOCALITY, a_document, vn


@cache
def application() -> RoutingApplication:
    return RoutingApplication()


def a_code(at: datetime) -> str:
    return f"{random_agency_id()}-{at:%y%m%d}-{random.randint(1, 9999):04d}"


def received(app: RoutingApplication, procedure: str, at: datetime, receiving: str | None = None) -> RoutedDossier:
    """A desk-accepted dossier of ``procedure``, routed and stored."""
    dossier = app.receive(code=a_code(at), procedure_code=procedure, locality_code=LOCALITY,
                          receiving_agency_id=receiving or random_agency_id(), channel="desk",
                          result_delivery_method="desk", options=[], received_at=at, national_status=2)
    assert dossier is not None
    app.save_dossier(dossier)
    return dossier


def agency_of(app: RoutingApplication, code: str, step_key: str) -> Actor:
    agency_id = app.dossier(code).step(step_key).agency_id or ""
    return Actor(party="agency", agency_id=agency_id, client_id=f"client-{agency_id}")


def act(app: RoutingApplication, code: str, step_key: str, action: str, at: datetime, **details) -> RoutedDossier:
    actor = agency_of(app, code, step_key)
    return app.act_on_step(actor, StepAction(code=code, step_key=step_key, agency_id=actor.agency_id or "",
                                             action=action, at=at, **details), Trace())


def complete(app: RoutingApplication, code: str, step_key: str, at: datetime) -> RoutedDossier:
    return act(app, code, step_key, "complete", at, documents=[a_document()])


def at_tax_payment(app: RoutingApplication) -> RoutedDossier:
    """A land transfer (1.004227) whose tax payment step, the one that may ask for money, is open."""
    dossier = received(app, "1.004227", vn(7, 7, 9))
    complete(app, dossier.code, "receive_and_check", vn(7, 8, 9))
    return complete(app, dossier.code, "tax_assessment", vn(7, 9, 9))


# --- a payment request keeps its reason ---------------------------------------------------------------


def test_a_payment_request_keeps_its_reason_on_the_stored_event_and_on_what_is_published() -> None:
    app = application()
    code = at_tax_payment(app).code

    act(app, code, "tax_payment", "request_payment", vn(7, 9, 10), amount_vnd=1_250_000,
        reason="Thuế thu nhập cá nhân và lệ phí trước bạ")

    stored = app.history(code)[-1]
    assert isinstance(stored, RoutedDossier.PaymentRequested)
    assert stored.reason == "Thuế thu nhập cá nhân và lệ phí trước bạ"
    contract = to_contract(stored)
    assert isinstance(contract, ClockPaused)
    assert (contract.kind, contract.amount_vnd, contract.reason) == (
        "payment", 1_250_000, "Thuế thu nhập cá nhân và lệ phí trước bạ")
    status = status_change(stored)
    assert status is not None and (status.national_status, status.reason) == (
        6, "Thuế thu nhập cá nhân và lệ phí trước bạ")


def test_a_payment_request_without_a_reason_is_stored_and_published_without_one() -> None:
    app = application()
    code = at_tax_payment(app).code

    act(app, code, "tax_payment", "request_payment", vn(7, 9, 10), amount_vnd=300_000)

    stored = app.history(code)[-1]
    assert stored.reason is None
    assert to_contract(stored).reason is None


def test_a_payment_request_stored_before_reasons_were_kept_still_loads_and_publishes() -> None:
    app = application()
    code = at_tax_payment(app).code
    act(app, code, "tax_payment", "request_payment", vn(7, 9, 10), amount_vnd=300_000, reason="Lệ phí")
    stored = app.mapper.to_stored_event(app.history(code)[-1])
    state = app.mapper.transcoder.decode(stored.state)
    del state["reason"]
    older = type(stored)(originator_id=stored.originator_id, originator_version=stored.originator_version,
                         topic=stored.topic, state=app.mapper.transcoder.encode(state))

    event = app.mapper.to_domain_event(older)
    dossier = app.repository.get(stored.originator_id, version=stored.originator_version - 1)
    event.mutate(dossier)

    assert (dossier.national_status, dossier.pauses[-1]["kind"]) == (6, "payment")
    assert stored.topic == "routing.domain.dossier:RoutedDossier.PaymentRequested"
    assert "reason" not in vars(event)
    assert to_contract(event).reason is None
    assert status_change(event) is not None


def test_a_blank_payment_reason_is_refused_and_nothing_is_stored() -> None:
    app = application()
    code = at_tax_payment(app).code
    before = len(app.history(code))

    with pytest.raises(InvalidCommandError, match="reason"):
        act(app, code, "tax_payment", "request_payment", vn(7, 9, 10), amount_vnd=300_000, reason="   ")

    assert len(app.history(code)) == before


# --- form 06: a refusal is classified against its due ------------------------------------------------


@pytest.mark.parametrize(("refused_at", "timeliness"), [
    (vn(7, 7, 10), "early"),
    (vn(7, 31, 10), "late"),
])
def test_a_refusal_is_classified_on_the_control_sheet_against_the_steps_due(
        refused_at: datetime, timeliness: str) -> None:
    app = application()
    code = received(app, "1.001193", vn(7, 7, 9)).code

    act(app, code, "birth_registration", "refuse", refused_at, reason="Hồ sơ không đủ điều kiện")

    [row] = app.dossier(code).control_sheet()
    assert (row["step_key"], row["outcome"], row["timeliness"]) == ("birth_registration", "refused", timeliness)
    assert row["completed_at"] == refused_at


def test_a_refusal_on_the_due_instant_is_on_time() -> None:
    app = application()
    code = received(app, "1.001193", vn(7, 7, 9)).code
    due = app.dossier(code).step("birth_registration").due_at
    assert due is not None

    act(app, code, "birth_registration", "refuse", due, reason="Hồ sơ không đủ điều kiện")

    assert [row["timeliness"] for row in app.dossier(code).control_sheet()] == ["on_time"]


# --- who may read a dossier ----------------------------------------------------------------------------


def test_the_receiving_desk_an_agency_on_the_route_and_an_auditor_may_read_a_dossier() -> None:
    app = application()
    desk = random_agency_id()
    code = received(app, "1.001193", vn(7, 7, 9), receiving=desk).code

    for reader in (Actor("desk", desk, "desk-1"), agency_of(app, code, "birth_registration"),
                   Actor("auditor", None, "auditor-1")):
        assert app.readable(reader, code).code == code


def test_a_stranger_reading_a_dossier_is_told_it_does_not_exist() -> None:
    app = application()
    code = received(app, "1.001193", vn(7, 7, 9)).code

    for stranger in (Actor("desk", random_agency_id(), "desk-2"), Actor("agency", random_agency_id(), "a-2"),
                     Actor("portal", None, "portal")):
        with pytest.raises(RoutedDossierNotFoundError):
            app.readable(stranger, code)


# --- the receiving desk's commands ------------------------------------------------------------------------


def desk_of(app: RoutingApplication, code: str) -> Actor:
    return Actor(party="desk", agency_id=app.dossier(code).receiving_agency_id, client_id="desk-officer")


def test_the_receiving_desk_records_a_supplement_and_the_clock_runs_again_with_later_dues() -> None:
    app = application()
    code = received(app, "1.001193", vn(7, 7, 9)).code
    due_before = app.dossier(code).step("birth_registration").due_at
    act(app, code, "birth_registration", "request_supplement", vn(7, 7, 10), reason="Bổ sung giấy chứng sinh")

    app.supplement(desk_of(app, code), code, vn(7, 9, 10), [a_document()], Trace(correlation_id="c-1"))

    dossier = app.dossier(code)
    due_after = dossier.step("birth_registration").due_at
    assert dossier.national_status == 4
    assert due_before is not None and due_after is not None and due_after > due_before
    assert app.history(code)[-1].correlation_id == "c-1"


def test_the_receiving_desk_records_a_payment_hands_over_the_result_and_stops_another_dossier() -> None:
    app = application()
    code = at_tax_payment(app).code
    act(app, code, "tax_payment", "request_payment", vn(7, 9, 10), amount_vnd=300_000)
    app.pay(desk_of(app, code), code, vn(7, 10, 9), Trace())
    complete(app, code, "tax_payment", vn(7, 10, 10))
    complete(app, code, "update_certificate", vn(7, 11, 10))

    app.hand_over(desk_of(app, code), code, vn(7, 11, 15), Trace())
    other = received(app, "1.001193", vn(7, 7, 9)).code
    app.stop(desk_of(app, other), other, "Dừng theo đề nghị", vn(7, 7, 11), Trace())

    assert app.dossier(code).national_status == 10 and app.dossier(code).handed_over_by == "desk-officer"
    assert app.dossier(other).national_status == 8


@pytest.mark.parametrize("caller", ["another desk", "an agency on the route"])
def test_a_desk_command_from_anyone_but_the_receiving_desk_is_told_the_dossier_does_not_exist(caller: str) -> None:
    app = application()
    code = received(app, "1.001193", vn(7, 7, 9)).code
    actor = (Actor("desk", random_agency_id(), "desk-x") if caller == "another desk"
             else agency_of(app, code, "birth_registration"))

    with pytest.raises(RoutedDossierNotFoundError):
        app.stop(actor, code, "Dừng", vn(7, 7, 11), Trace())
    assert app.dossier(code).national_status == 4


# --- the timer --------------------------------------------------------------------------------------------


def test_the_timer_saves_an_overdue_step_once_and_then_has_nothing_to_save() -> None:
    app = application()
    code = received(app, "1.001193", vn(7, 7, 9)).code

    first = app.check_deadlines(code, vn(7, 31, 9), timedelta(hours=4))
    second = app.check_deadlines(code, vn(7, 31, 10), timedelta(hours=4))

    assert first is not None and second is None
    assert [type(e).__name__ for e in app.history(code)].count("StepOverdue") == 1


# --- the read model rows ---------------------------------------------------------------------------------


def test_every_chosen_step_has_an_inbox_row_and_a_routed_dossier_has_no_unroutable_row() -> None:
    app = application()
    dossier = received(app, "1.001193", vn(7, 7, 9))

    rows = inbox_rows(app.dossier(dossier.code))

    assert {row["step_key"] for row in rows} == {
        key for key, step in dossier.steps.items() if step.agency_id is not None}
    assert {row["national_status"] for row in rows} == {4}
    assert unroutable_rows(app.dossier(dossier.code)) == []
