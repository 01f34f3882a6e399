"""Routing and the public postal service (bưu chính công ích), on the in-memory event store: a result
delivered by post is the hand-over (status 10, once, published like the desk's), a result brought back to
the desk is recorded and then handed over there, a delivery report that contradicts the dossier is
dead-lettered with the reason, and every other postal contract is passed by."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from functools import cache
from typing import Any

import pytest

from routing.api.schemas import to_view
from routing.application import Actor, RoutingApplication, StepAction, Trace
from routing.domain import InvalidCommandError, RoutedDossier
from routing.outbound import BY_POST, outbound_mapper
from routing.reactions import HANDLERS, POSTAL, Reactions, ReplyPolicy
from routing.settings import RoutingSettings
from services.clock import FixedClock
from services.consumer import UnprocessableMessage
from shared_events import (
    DossierStatusChanged,
    DossierSubmitted,
    DossierWithdrawalRequested,
)
from shared_events.contracts.postal import CONTRACTS, ResultDeliveredByPost, ResultReturnedToDesk
from shared_events.contracts.routing import RoutingFinished
from shared_events.examples import example
from shared_events.topics import POSTAL_EVENTS
from tests.random_refs import random_agency_id, random_citizen_id, random_name, random_sha256, random_suffix
from tests.support.builders import LOCALITY, a_document, an_envelope, vn

INTAKE_TOPIC = f"intake-{uuid.uuid4().hex[:8]}"
POSTAL_TOPIC = f"postal-{uuid.uuid4().hex[:8]}"
SETTINGS = RoutingSettings(status_topic=f"status-{uuid.uuid4().hex[:8]}")
PARTNER = "vnpost"


@cache
def application() -> RoutingApplication:
    return RoutingApplication()


def reactions() -> Reactions:
    return Reactions(intake_topic=INTAKE_TOPIC, postal_topic=POSTAL_TOPIC, policy=ReplyPolicy(
        agency_of_reply_topic=lambda topic: None, clock=FixedClock(vn(7, 8, 15)), max_skew=timedelta(minutes=5)))


def react(contract: Any, topic: str = POSTAL_TOPIC) -> list[RoutedDossier]:
    """Run the reaction to ``contract`` arriving on ``topic`` and save what it returns."""
    app = application()
    envelope = an_envelope(contract, vn(7, 8, 9))
    changed = reactions()(app, contract, envelope, topic)
    for dossier in changed:
        app.save_dossier(dossier)
    return changed


def names(code: str) -> list[str]:
    return [type(e).__name__ for e in application().history(code)]


def a_tracking_number() -> str:
    return f"EB{random.randint(0, 10**9):09d}VN"


def received(delivery: str = "post") -> str:
    """A copy of a civil-status extract (2.000635, one step) received and routed at the desk, the
    result to be delivered by post (or collected at the ``desk``); its code."""
    code = f"{random_agency_id()}-250707-{random.randint(1, 9999):04d}"
    result_delivery = {"method": "post", "address": "Số 1 đường Lê Lợi, phường Vinh"} if delivery == "post" \
        else {"method": "desk"}
    react(DossierSubmitted(
        dossier_code=code, dossier_id=uuid.uuid4(), procedure_code="2.000635", procedure_version="test",
        applicant={"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id()},
        documents=[{"name": "to_khai_cap_ban_sao_trich_luc", "media_type": "application/pdf", "size_bytes": 90_000,
                    "sha256": random_sha256()}],
        channel="desk", result_delivery=result_delivery, locality_code=LOCALITY,
        receiving_agency_id=code.rsplit("-", 2)[0], submitted_by=f"desk-{random_suffix()}",
        received_at=vn(7, 7, 9), national_status=2), INTAKE_TOPIC)
    return code


def awaiting_handover(delivery: str = "post") -> RoutedDossier:
    """A dossier whose only step is completed: its result awaits hand-over (status 9)."""
    app = application()
    code = received(delivery)
    agency_id = app.dossier(code).step("issue_copy").agency_id or ""
    app.save_dossier(app.apply_step_action(StepAction(code=code, step_key="issue_copy", agency_id=agency_id,
                                                      action="complete", at=vn(7, 7, 14),
                                                      documents=[a_document()])))
    dossier = app.dossier(code)
    assert dossier.national_status == 9
    return dossier


def delivered(code: str, tracking_number: str | None = None) -> ResultDeliveredByPost:
    return ResultDeliveredByPost(dossier_code=code, partner_id=PARTNER,
                                 tracking_number=tracking_number or a_tracking_number(), attempts=2,
                                 delivered_at=vn(7, 8, 10))


def returned(dossier: RoutedDossier, **overrides: Any) -> ResultReturnedToDesk:
    fields: dict[str, Any] = {"dossier_code": dossier.code, "agency_id": dossier.receiving_agency_id,
                              "partner_id": PARTNER, "tracking_number": a_tracking_number(), "attempts": 3,
                              "returned_at": vn(7, 9, 16)}
    fields.update(overrides)
    return ResultReturnedToDesk(**fields)


def published(code: str) -> list[Any]:
    """The records the relay publishes for the dossier's last stored event."""
    return outbound_mapper(SETTINGS)(application().history(code)[-1])


# --- delivered by post ------------------------------------------------------------------------------------


def test_a_result_delivered_by_post_is_handed_over_by_the_carrier_once() -> None:
    code = awaiting_handover().code
    report = delivered(code)

    [dossier] = react(report)
    again = react(report)

    assert dossier.national_status == 10
    assert (dossier.handed_over_by, dossier.handed_over_at, dossier.handed_over_via,
            dossier.handed_over_tracking_number) == (f"postal:{PARTNER}", vn(7, 8, 10), "post", report.tracking_number)
    assert again == []
    assert names(code)[-2:] == ["ResultReady", "ResultHandedOver"]


def test_the_hand_over_by_post_is_published_as_routing_finished_and_status_10_by_post() -> None:
    code = awaiting_handover().code
    react(delivered(code))

    finished, status = published(code)

    assert isinstance(finished.contract, RoutingFinished) and finished.topic is None
    assert (finished.contract.national_status, finished.contract.finished_at) == (10, vn(7, 8, 10))
    assert isinstance(status.contract, DossierStatusChanged) and status.topic == SETTINGS.status_topic
    assert (status.contract.national_status, status.contract.reason, status.contract.changed_at) == (
        10, BY_POST, vn(7, 8, 10))


def test_the_desks_hand_over_is_still_published_without_a_reason() -> None:
    dossier = awaiting_handover()
    desk = Actor(party="desk", agency_id=dossier.receiving_agency_id, client_id=f"desk-{random_suffix()}")
    application().hand_over(desk, dossier.code, vn(7, 8, 9), Trace())

    _, status = published(dossier.code)

    assert (status.contract.national_status, status.contract.reason) == (10, None)
    assert application().dossier(dossier.code).handed_over_via == "desk"


def test_a_delivery_reported_while_the_dossier_is_still_processing_is_dead_lettered_with_its_status() -> None:
    code = received()

    with pytest.raises(UnprocessableMessage, match=r"no result ready to hand over \(status 4\)"):
        react(delivered(code))

    assert application().dossier(code).national_status == 4


def test_a_delivery_reported_for_a_withdrawn_dossier_is_dead_lettered_as_closed() -> None:
    code = received()
    react(DossierWithdrawalRequested(dossier_code=code, requested_by="citizen", reason="Không cần nữa",
                                     requested_at=vn(7, 7, 10)), INTAKE_TOPIC)

    with pytest.raises(UnprocessableMessage, match=r"closed \(status 7\)"):
        react(delivered(code))


def test_a_delivery_by_post_of_a_result_the_applicant_collects_at_the_desk_is_dead_lettered() -> None:
    code = awaiting_handover(delivery="desk").code

    with pytest.raises(UnprocessableMessage, match="asked for the result at the desk"):
        react(delivered(code))

    assert application().dossier(code).national_status == 9


def test_a_delivery_reported_for_a_dossier_routing_never_received_is_dead_lettered() -> None:
    with pytest.raises(UnprocessableMessage, match="routing has no dossier"):
        react(delivered(f"{random_agency_id()}-250707-0001"))


# --- back at the desk ---------------------------------------------------------------------------------------


def test_a_result_brought_back_to_the_desk_is_recorded_once_and_keeps_status_9() -> None:
    dossier = awaiting_handover()
    report = returned(dossier)

    [changed] = react(report)
    again = react(report)

    assert changed.national_status == 9 and again == []
    assert names(dossier.code)[-2:] == ["ResultReady", "ResultBackAtDesk"]
    view = to_view(application().dossier(dossier.code))
    assert view.result_back_at_desk_at == vn(7, 9, 16) and view.result_back_at_desk is not None
    assert (view.result_back_at_desk.attempts, view.result_back_at_desk.tracking_number) == (3, report.tracking_number)
    assert view.handover is None


def test_a_result_back_at_the_desk_is_then_handed_over_at_the_desk() -> None:
    dossier = awaiting_handover()
    react(returned(dossier))
    desk = Actor(party="desk", agency_id=dossier.receiving_agency_id, client_id=f"desk-{random_suffix()}")

    application().hand_over(desk, dossier.code, vn(7, 10, 9), Trace())

    view = to_view(application().dossier(dossier.code))
    assert view.national_status == 10
    assert view.handover is not None
    assert (view.handover.via, view.handover.by, view.handover.at, view.handover.tracking_number) == (
        "desk", desk.client_id, vn(7, 10, 9), None)
    assert view.result_back_at_desk_at == vn(7, 9, 16)


def test_a_result_said_to_be_back_at_another_desk_is_dead_lettered() -> None:
    dossier = awaiting_handover()

    with pytest.raises(UnprocessableMessage, match="WrongAgencyError"):
        react(returned(dossier, agency_id=random_agency_id()))

    assert application().dossier(dossier.code).result_back_at_desk is None


def test_a_result_said_to_be_back_at_the_desk_before_it_is_ready_is_dead_lettered() -> None:
    code = received()
    dossier = application().dossier(code)

    with pytest.raises(UnprocessableMessage, match=r"no result awaiting hand-over \(status 4\)"):
        react(returned(dossier))


# --- passed by ------------------------------------------------------------------------------------------------

PASSED_BY = [t for t, (kind, _) in HANDLERS.items()
             if kind == POSTAL and t not in (ResultDeliveredByPost, ResultReturnedToDesk)]


def test_every_postal_contract_is_listed_in_the_handler_table() -> None:
    assert {t for t, (kind, _) in HANDLERS.items() if kind == POSTAL} == set(CONTRACTS)


@pytest.mark.parametrize("contract_type", PASSED_BY, ids=[t.__name__ for t in PASSED_BY])
def test_the_other_postal_contracts_are_passed_by_changing_nothing(contract_type: type) -> None:
    dossier = awaiting_handover()
    before = names(dossier.code)

    assert react(example(contract_type, dossier_code=dossier.code)) == []
    assert names(dossier.code) == before


def test_the_consumer_reads_the_postal_topic_named_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RoutingSettings().postal_topic == POSTAL_EVENTS
    topic = f"postal-{random_suffix()}"
    monkeypatch.setenv("ROUTING_POSTAL_TOPIC", topic)

    settings = RoutingSettings()
    kinds = Reactions(intake_topic=settings.intake_topic, postal_topic=settings.postal_topic, policy=ReplyPolicy(
        agency_of_reply_topic=lambda t: None, clock=FixedClock(vn(7, 8, 15)), max_skew=timedelta(minutes=5)))

    assert (settings.postal_topic, kinds.kind_of(topic), kinds.kind_of(POSTAL_EVENTS)) == (topic, POSTAL, None)


def test_a_hand_over_is_at_the_desk_or_by_post_with_a_tracking_number() -> None:
    dossier = awaiting_handover()

    with pytest.raises(InvalidCommandError, match="at the desk or by post"):
        dossier.hand_over("postal:vnpost", vn(7, 8, 10), via="drone")
    with pytest.raises(InvalidCommandError, match="tracking_number"):
        dossier.hand_over("postal:vnpost", vn(7, 8, 10), via="post")

    assert dossier.national_status == 9
