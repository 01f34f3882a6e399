"""Postal's use cases on the in-memory store: legs opened from intake's and routing's events, the
carrier's answers and reports applied by rank and time, what is published for the others."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from postal.application import LegPolicy, PostalApplication, Report
from postal.carrier_api import TrackingEvent
from postal.domain import UnknownShipmentError, idempotency_key
from postal.outbound import to_outbound
from postal.reactions import Reactions
from services.clock import VIETNAM
from services.consumer import UnprocessableMessage
from shared_events import DossierSubmitted
from shared_events.contracts.postal import (
    PickupHandedToAgency,
    PostalDeliveryFailed,
    PostalFeeCollected,
    ResultDeliveredByPost,
    ResultReturnedToDesk,
    ShipmentOrdered,
    ShipmentStatusChanged,
)
from shared_events.contracts.routing import RoutingFinished, StepClaimed
from shared_events.contracts.values import NationalStatus, PickupRequest, ResultDelivery
from shared_events.examples import example
from tests.support.builders import an_envelope

DESK = "400.12.16690.H40"
"""The one-stop centre of phường Trường Vinh (unit 16690) in the packaged geography."""
RECEIVED = datetime(2025, 7, 7, 9, 0, tzinfo=VIETNAM)
INTAKE_TOPIC, ROUTING_TOPIC = "t.intake", "t.routing"
DONE = NationalStatus.DONE_AWAITING_HANDOVER


@pytest.fixture
def app() -> PostalApplication:
    return PostalApplication(policy=LegPolicy(default_partner="vnpost", pickup_postage_vnd=20_000,
                                              return_postage_vnd=25_000, max_delivery_attempts=2))


def a_code() -> str:
    return f"{DESK}-250707-{random.randint(1, 999_999):06d}"


def submitted(*, pickup: bool = True, by_post: bool = True, **overrides: Any) -> DossierSubmitted:
    return example(
        DossierSubmitted, dossier_code=overrides.pop("dossier_code", a_code()), receiving_agency_id=DESK,
        procedure_code="2.000635", received_at=RECEIVED, locality_code="16690",
        pickup=PickupRequest(address="Số 5 Lê Hồng Phong, Trường Vinh", unit_code="16690") if pickup else None,
        result_delivery=(ResultDelivery(method="post", address="Số 5 Lê Hồng Phong, Trường Vinh")
                         if by_post else ResultDelivery(method="desk")), **overrides)


def react(app: PostalApplication, contract: Any, topic: str) -> list[Any]:
    reactions = Reactions(intake_topic=INTAKE_TOPIC, routing_topic=ROUTING_TOPIC)
    saved = reactions(app, contract, an_envelope(contract, RECEIVED), topic)
    app.save_changes(saved)
    return saved


def published(app: PostalApplication, code: str) -> list[Any]:
    return [record.contract for e in app.history(code) for record in to_outbound(e)]


def tracking(status: str, minutes: int, attempt: int = 1, cod: int | None = None) -> TrackingEvent:
    return TrackingEvent(id=f"msg_{uuid.uuid4().hex}", status=status, at=RECEIVED + timedelta(minutes=minutes),
                         attempt=attempt, cod_collected_vnd=cod)


def placed(app: PostalApplication, code: str, leg: str) -> tuple[str, str]:
    order_id, tracking_number = f"ORD-{uuid.uuid4().hex[:12]}", f"EB{random.randint(0, 10**8 - 1):08d}5VN"
    app.record_order_placed(code, leg, order_id=order_id, tracking_number=tracking_number, cod_amount_vnd=0,
                            events=[], at=RECEIVED)
    return order_id, tracking_number


def report(app: PostalApplication, code: str, leg: str, order: tuple[str, str], event: TrackingEvent) -> bool:
    return app.accept_webhook("vnpost", code, leg, Report.of_tracking(event, order_id=order[0],
                                                                       tracking_number=order[1]), RECEIVED)


def test_a_submission_asking_for_a_pickup_orders_it_at_once_with_a_deterministic_key(app):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    leg = app.dossier(c.dossier_code).leg("pickup")
    assert leg["pending"] == {"action": "order", "key": idempotency_key(c.dossier_code, "pickup", "order")}
    assert leg["order"]["receiver"]["unit_code"] == "16690"
    assert leg["order"]["sender"]["address"] == "Số 5 Lê Hồng Phong, Trường Vinh"
    assert leg["order"]["cod_amount_vnd"] == 20_000  # the pickup's postage; the fee is collected with the result


def test_a_repeated_submission_opens_nothing_more(app):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    assert react(app, c, INTAKE_TOPIC) == []


def test_a_dossier_that_does_not_travel_by_post_is_not_kept(app):
    c = submitted(pickup=False, by_post=False)
    assert react(app, c, INTAKE_TOPIC) == []
    assert app.find(c.dossier_code) is None


def test_the_result_ready_orders_its_return_with_the_fee_and_postage_to_collect(app):
    c = submitted(pickup=False)
    react(app, c, INTAKE_TOPIC)
    react(app, example(RoutingFinished, dossier_code=c.dossier_code, national_status=DONE,
                       finished_at=RECEIVED + timedelta(hours=3)), ROUTING_TOPIC)
    order = app.dossier(c.dossier_code).leg("return")["order"]
    assert order["cod_amount_vnd"] == 8_000 + 25_000  # the certified copy's fee (catalogue) plus the postage
    assert order["receiver"]["address"] == "Số 5 Lê Hồng Phong, Trường Vinh"
    assert order["receiver"]["unit_code"] == "16690"  # the applicant's unit when no other is given
    assert order["sender"]["name"].startswith("Trung tâm Phục vụ hành chính công")


@pytest.mark.parametrize("status", [NationalStatus.WITHDRAWN, NationalStatus.STOPPED, NationalStatus.REFUSED_AT_INTAKE])
def test_a_dossier_ended_before_collection_calls_off_the_pickup_not_yet_ordered_without_calling_the_carrier(
        app, status):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    react(app, example(RoutingFinished, dossier_code=c.dossier_code, national_status=status,
                       finished_at=RECEIVED + timedelta(minutes=5)), ROUTING_TOPIC)
    leg = app.dossier(c.dossier_code).leg("pickup")
    assert (leg["state"], leg["pending"]) == ("cancelled", None)


def test_a_withdrawal_after_ordering_asks_the_carrier_to_cancel_but_not_once_collected(app):
    c, d = submitted(), submitted()
    for s in (c, d):
        react(app, s, INTAKE_TOPIC)
    placed(app, c.dossier_code, "pickup")
    order_d = placed(app, d.dossier_code, "pickup")
    report(app, d.dossier_code, "pickup", order_d, tracking("collected", 30))
    for s in (c, d):
        react(app, example(RoutingFinished, dossier_code=s.dossier_code, national_status=NationalStatus.WITHDRAWN,
                           finished_at=RECEIVED + timedelta(hours=1)), ROUTING_TOPIC)
    assert app.dossier(c.dossier_code).leg("pickup")["pending"]["action"] == "cancel"
    assert app.dossier(d.dossier_code).leg("pickup")["pending"] is None


def test_an_order_answered_after_the_pickup_was_called_off_is_cancelled_at_the_carrier(app):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    react(app, example(RoutingFinished, dossier_code=c.dossier_code, national_status=NationalStatus.WITHDRAWN,
                       finished_at=RECEIVED), ROUTING_TOPIC)
    placed(app, c.dossier_code, "pickup")  # the order was already on its way when the withdrawal came
    assert app.dossier(c.dossier_code).leg("pickup")["pending"] == {
        "action": "cancel", "key": idempotency_key(c.dossier_code, "pickup", "cancel")}


def test_statuses_out_of_order_and_twice_never_move_a_shipment_backwards(app):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    order = placed(app, c.dossier_code, "pickup")
    collecting, collected, transit = tracking("collecting", 10), tracking("collected", 20, cod=20_000), \
        tracking("in_transit", 30)
    assert report(app, c.dossier_code, "pickup", order, transit)
    assert report(app, c.dossier_code, "pickup", order, collected)  # stored, but older: not applied
    assert not report(app, c.dossier_code, "pickup", order, transit)  # the same webhook id: nothing
    assert report(app, c.dossier_code, "pickup", order, collecting)
    leg = app.dossier(c.dossier_code).leg("pickup")
    assert leg["status"] == "in_transit"
    assert [(r["status"], r["applied"]) for r in leg["reports"]] == [
        ("in_transit", True), ("collected", False), ("collecting", False)]


def test_a_pickup_handed_to_the_desk_is_published_for_intake_and_its_postage_as_collected(app):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    order = placed(app, c.dossier_code, "pickup")
    for n, status in enumerate(["collecting", "collected", "in_transit", "handed_to_agency"], start=1):
        report(app, c.dossier_code, "pickup", order, tracking(status, 10 * n))
    out = published(app, c.dossier_code)
    handed = [p for p in out if isinstance(p, PickupHandedToAgency)]
    assert [(h.agency_id, h.tracking_number) for h in handed] == [(DESK, order[1])]
    fees = [p for p in out if isinstance(p, PostalFeeCollected)]
    assert [(f.leg, f.fee_vnd, f.postage_vnd) for f in fees] == [("pickup", 0, 20_000)]
    assert [p.status for p in out if isinstance(p, ShipmentStatusChanged)] == [
        "collecting", "collected", "in_transit", "handed_to_agency"]
    assert sum(isinstance(p, ShipmentOrdered) for p in out) == 1


def return_leg(app: PostalApplication) -> tuple[str, tuple[str, str]]:
    c = submitted(pickup=False)
    react(app, c, INTAKE_TOPIC)
    react(app, example(RoutingFinished, dossier_code=c.dossier_code, national_status=DONE,
                       finished_at=RECEIVED), ROUTING_TOPIC)
    return c.dossier_code, placed(app, c.dossier_code, "return")


def test_a_delivered_return_is_published_as_the_hand_over_by_post_with_the_fee_collected(app):
    code, order = return_leg(app)
    for n, status in enumerate(["collected", "in_transit", "delivered"], start=1):
        report(app, code, "return", order, tracking(status, 10 * n))
    out = published(app, code)
    assert [(d.attempts, d.tracking_number) for d in out if isinstance(d, ResultDeliveredByPost)] == [(1, order[1])]
    assert [(f.fee_vnd, f.postage_vnd) for f in out if isinstance(f, PostalFeeCollected)] == [(8_000, 25_000)]


def test_a_failed_delivery_is_tried_again_then_the_result_goes_back_to_the_desk(app):
    code, order = return_leg(app)
    report(app, code, "return", order, tracking("in_transit", 10))
    report(app, code, "return", order, tracking("delivery_failed", 20))
    assert app.dossier(code).leg("return")["pending"] == {
        "action": "redeliver", "key": idempotency_key(code, "return", "redeliver", 1)}
    report(app, code, "return", order, tracking("in_transit", 30, attempt=2))
    report(app, code, "return", order, tracking("delivery_failed", 40, attempt=2))
    assert app.dossier(code).leg("return")["pending"]["action"] == "return"
    report(app, code, "return", order, tracking("returned_to_sender", 50, attempt=2))
    out = published(app, code)
    assert [(f.attempt, f.next_step) for f in out if isinstance(f, PostalDeliveryFailed)] == [
        (1, "redeliver"), (2, "return_to_desk")]
    assert [(r.agency_id, r.attempts) for r in out if isinstance(r, ResultReturnedToDesk)] == [(DESK, 2)]
    assert not any(isinstance(p, (ResultDeliveredByPost, PostalFeeCollected)) for p in out)


def test_a_report_before_the_order_was_recorded_records_the_order_from_it(app):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    order = ("ORD-0123456789ab", "EB000000015VN")
    assert report(app, c.dossier_code, "pickup", order, tracking("created", 1))
    leg = app.dossier(c.dossier_code).leg("pickup")
    assert (leg["order_id"], leg["pending"]) == (order[0], None)


@pytest.mark.parametrize("partner, leg, order_id", [
    ("other-carrier", "pickup", None), ("vnpost", "return", None), ("vnpost", "pickup", "ORD-000000000000")])
def test_a_webhook_for_a_shipment_postal_does_not_have_is_refused(app, partner, leg, order_id):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    real = placed(app, c.dossier_code, "pickup")
    with pytest.raises(UnknownShipmentError):
        app.accept_webhook(partner, c.dossier_code, leg, Report.of_tracking(
            tracking("collecting", 5), order_id=order_id or real[0], tracking_number=real[1]), RECEIVED)
    with pytest.raises(UnknownShipmentError):
        app.accept_webhook("vnpost", a_code(), "pickup", Report.of_tracking(
            tracking("collecting", 5), order_id=real[0], tracking_number=real[1]), RECEIVED)


def test_a_contract_on_the_wrong_topic_or_one_postal_does_not_know_is_dead_lettered(app):
    with pytest.raises(UnprocessableMessage, match="not accepted"):
        react(app, submitted(), ROUTING_TOPIC)
    with pytest.raises(UnprocessableMessage, match="not accepted"):
        react(app, example(StepClaimed), INTAKE_TOPIC)
    with pytest.raises(UnprocessableMessage, match="does not handle"):
        react(app, example(ShipmentOrdered), ROUTING_TOPIC)


def test_a_pickup_whose_collected_status_came_late_still_records_its_postage_once(app):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    order = placed(app, c.dossier_code, "pickup")
    report(app, c.dossier_code, "pickup", order, tracking("in_transit", 30))
    report(app, c.dossier_code, "pickup", order, tracking("collected", 20))
    report(app, c.dossier_code, "pickup", order, tracking("handed_to_agency", 40))
    fees = [p for p in published(app, c.dossier_code) if isinstance(p, PostalFeeCollected)]
    assert [(f.leg, f.postage_vnd) for f in fees] == [("pickup", 20_000)]


def test_a_result_ready_read_before_the_submission_still_orders_the_return_once_the_submission_comes(app):
    c = submitted()
    ready = example(RoutingFinished, dossier_code=c.dossier_code, national_status=DONE, finished_at=RECEIVED)
    assert len(react(app, ready, ROUTING_TOPIC)) == 1  # noted
    assert react(app, ready, ROUTING_TOPIC) == []  # noted once
    react(app, c, INTAKE_TOPIC)
    legs = app.dossier(c.dossier_code).legs
    assert legs["return"]["pending"]["action"] == "order"
    assert legs["pickup"]["pending"]["action"] == "order"


def test_a_withdrawal_read_before_the_submission_means_no_pickup_is_ever_ordered(app):
    c = submitted()
    react(app, example(RoutingFinished, dossier_code=c.dossier_code, national_status=NationalStatus.WITHDRAWN,
                       finished_at=RECEIVED), ROUTING_TOPIC)
    react(app, c, INTAKE_TOPIC)
    assert app.dossier(c.dossier_code).legs == {}


def test_the_end_of_a_dossier_that_never_goes_by_post_is_only_noted(app):
    c = submitted(pickup=False, by_post=False)
    react(app, example(RoutingFinished, dossier_code=c.dossier_code, national_status=DONE, finished_at=RECEIVED),
          ROUTING_TOPIC)
    assert react(app, c, INTAKE_TOPIC) == []
    assert app.find(c.dossier_code) is None


def test_a_webhook_for_a_pickup_called_off_while_it_was_being_ordered_records_the_order_and_cancels_it(app):
    c = submitted()
    react(app, c, INTAKE_TOPIC)
    react(app, example(RoutingFinished, dossier_code=c.dossier_code, national_status=NationalStatus.WITHDRAWN,
                       finished_at=RECEIVED), ROUTING_TOPIC)
    order = ("ORD-0123456789ab", "EB000000015VN")
    assert report(app, c.dossier_code, "pickup", order, tracking("created", 1))
    leg = app.dossier(c.dossier_code).leg("pickup")
    assert (leg["order_id"], leg["pending"]["action"]) == (order[0], "cancel")
