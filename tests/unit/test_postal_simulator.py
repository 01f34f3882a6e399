"""The carrier simulator's state machine, tracking numbers, signatures and durable state (no network)."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook, WebhookVerificationError
from typer.testing import CliRunner

from postal.carrier_api import PICKUP_STATUSES, RETURN_STATUSES, OrderRequest, Party, StatusWebhook
from postal.simulator.__main__ import cli
from postal.simulator.carrier import (
    NOBODY_HOME,
    Carrier,
    IdempotencyMismatchError,
    Shipment,
    StatusConflictError,
    UnknownOrderError,
    is_valid_s10,
    s10_check_digit,
    tracking_number,
)
from postal.simulator.settings import (
    DEV_PUBLIC_KEY,
    DEV_SIGNING_KEY,
    DEV_WEBHOOK_SECRET,
    Behaviour,
    SimulatorSettings,
)
from postal.simulator.store import ShipmentStore
from postal.simulator.webhooks_out import Signer, webhook_body
from services.clock import FixedClock
from services.webhooks import new_key_pair, new_secret, public_key_of
from shared_events.contracts.postal import PostalLeg
from tests.random_refs import random_name, random_suffix

START = datetime(2025, 7, 7, 2, 0, tzinfo=UTC)
STEP = timedelta(seconds=5)


def an_order(leg: PostalLeg = "return", cod: int | None = None) -> OrderRequest:
    return OrderRequest(
        reference=f"H40.1-250707-{random_suffix(4)}", leg=leg,
        sender=Party(name="Bộ phận một cửa UBND xã", address="1 Đường Lê Lợi", unit_code="00004"),
        receiver=Party(name=random_name(), phone="0912345678", address="12 Ngõ 34 Phố Huế", unit_code="00007"),
        description="Kết quả giải quyết hồ sơ", cod_amount_vnd=random.randint(1, 90) * 1000 if cod is None else cod)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def carrier(clock: FixedClock) -> Carrier:
    return Carrier(clock, STEP)


def move(clock: FixedClock, carrier: Carrier, steps: float, failed_delivery_attempts: int = 0) -> None:
    clock.set(clock.now() + STEP * steps)
    carrier.advance(failed_delivery_attempts)


def statuses(shipment: Shipment) -> list[tuple[str, int]]:
    return [(event.status, event.attempt) for event in shipment.events]


def test_a_pickup_moves_through_its_statuses_one_step_apart_each_at_the_instant_it_became_due(
        carrier: Carrier, clock: FixedClock) -> None:
    request = an_order("pickup")
    shipment, _ = carrier.create(random_suffix(), request)

    move(clock, carrier, steps=10.5)

    assert [event.status for event in shipment.events] == list(PICKUP_STATUSES)
    assert [event.at for event in shipment.events] == [START + STEP * n for n in range(len(PICKUP_STATUSES))]
    assert {event.status: event.cod_collected_vnd for event in shipment.events} == {
        "created": None, "collecting": None, "collected": request.cod_amount_vnd, "in_transit": None,
        "handed_to_agency": None}
    assert shipment.order().status == "handed_to_agency"


def test_a_return_is_delivered_after_its_statuses_and_the_fee_is_collected_at_delivery(
        carrier: Carrier, clock: FixedClock) -> None:
    request = an_order("return")
    shipment, _ = carrier.create(random_suffix(), request)

    move(clock, carrier, steps=2)
    assert [event.status for event in shipment.events] == ["created", "collected", "in_transit"]
    move(clock, carrier, steps=1)

    assert [event.status for event in shipment.events] == list(RETURN_STATUSES)
    assert shipment.events[-1].cod_collected_vnd == request.cod_amount_vnd
    assert shipment.events[-1].at == START + STEP * 3


def test_nothing_moves_before_a_step_has_passed(carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order())

    move(clock, carrier, steps=0.99)

    assert statuses(shipment) == [("created", 1)]


def test_a_failing_delivery_waits_for_instructions_and_a_redelivery_is_the_next_attempt(
        carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("return"))

    move(clock, carrier, steps=30, failed_delivery_attempts=2)
    assert statuses(shipment) == [("created", 1), ("collected", 1), ("in_transit", 1), ("delivery_failed", 1)]
    assert shipment.events[-1].detail == NOBODY_HOME
    assert shipment.events[-1].cod_collected_vnd is None

    carrier.redeliver(shipment.order_id, random_suffix())
    move(clock, carrier, steps=30, failed_delivery_attempts=2)
    carrier.redeliver(shipment.order_id, random_suffix())
    move(clock, carrier, steps=30, failed_delivery_attempts=2)

    assert statuses(shipment)[3:] == [("delivery_failed", 1), ("in_transit", 2), ("delivery_failed", 2),
                                      ("in_transit", 3), ("delivered", 3)]


def test_a_redelivery_comes_one_step_after_it_was_asked_for(carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("return"))
    move(clock, carrier, steps=30, failed_delivery_attempts=1)
    asked_at = clock.now()

    carrier.redeliver(shipment.order_id, random_suffix())
    move(clock, carrier, steps=1.5, failed_delivery_attempts=1)

    assert (shipment.events[-1].status, shipment.events[-1].at) == ("in_transit", asked_at + STEP)


def test_a_repeated_redelivery_with_the_same_key_has_no_second_effect(carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("return"))
    move(clock, carrier, steps=30, failed_delivery_attempts=5)
    key = random_suffix()

    carrier.redeliver(shipment.order_id, key)
    carrier.redeliver(shipment.order_id, key)
    move(clock, carrier, steps=30, failed_delivery_attempts=5)
    carrier.redeliver(shipment.order_id, key)
    move(clock, carrier, steps=30, failed_delivery_attempts=5)

    assert [attempt for status, attempt in statuses(shipment) if status == "in_transit"] == [1, 2]
    assert shipment.status == "delivery_failed"


def test_another_instruction_while_one_is_pending_is_refused(carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("return"))
    move(clock, carrier, steps=30, failed_delivery_attempts=1)
    carrier.redeliver(shipment.order_id, random_suffix())

    with pytest.raises(StatusConflictError):
        carrier.redeliver(shipment.order_id, random_suffix())
    with pytest.raises(StatusConflictError):
        carrier.return_to_sender(shipment.order_id, random_suffix())


def test_a_return_to_sender_after_a_failed_delivery_ends_the_shipment_one_step_later(
        carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("return"))
    move(clock, carrier, steps=30, failed_delivery_attempts=1)
    key = random_suffix()

    carrier.return_to_sender(shipment.order_id, key)
    carrier.return_to_sender(shipment.order_id, key)
    move(clock, carrier, steps=30, failed_delivery_attempts=1)

    assert statuses(shipment)[-2:] == [("delivery_failed", 1), ("returned_to_sender", 1)]
    assert carrier.return_to_sender(shipment.order_id, key) is shipment
    with pytest.raises(StatusConflictError):
        carrier.return_to_sender(shipment.order_id, random_suffix())


def test_a_key_used_for_a_return_cannot_ask_for_a_redelivery(carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("return"))
    move(clock, carrier, steps=30, failed_delivery_attempts=1)
    key = random_suffix()
    carrier.return_to_sender(shipment.order_id, key)

    with pytest.raises(IdempotencyMismatchError):
        carrier.redeliver(shipment.order_id, key)


def test_redelivery_and_return_are_refused_unless_a_delivery_failed(carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("return"))

    with pytest.raises(StatusConflictError):
        carrier.redeliver(shipment.order_id, random_suffix())
    move(clock, carrier, steps=30)
    with pytest.raises(StatusConflictError):
        carrier.return_to_sender(shipment.order_id, random_suffix())
    assert shipment.status == "delivered"


@pytest.mark.parametrize("steps", [0, 1])
def test_an_order_is_cancelled_while_created_or_being_collected(carrier: Carrier, clock: FixedClock,
                                                                steps: int) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("pickup"))
    move(clock, carrier, steps=steps)

    carrier.cancel(shipment.order_id)
    move(clock, carrier, steps=30)

    assert shipment.status == "cancelled"
    assert shipment.events[-1].at == START + STEP * steps
    assert len(shipment.events) == steps + 2


def test_cancelling_a_cancelled_order_changes_nothing(carrier: Carrier) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("pickup"))
    carrier.cancel(shipment.order_id)

    carrier.cancel(shipment.order_id)

    assert [event.status for event in shipment.events] == ["created", "cancelled"]


def test_an_order_collected_cannot_be_cancelled(carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("pickup"))
    move(clock, carrier, steps=2)

    with pytest.raises(StatusConflictError):
        carrier.cancel(shipment.order_id)
    assert shipment.status == "collected"


def test_a_repeated_idempotency_key_returns_the_same_order_and_is_counted(carrier: Carrier) -> None:
    key, request = random_suffix(), an_order()

    first, first_created = carrier.create(key, request)
    again, again_created = carrier.create(key, request.model_copy())

    assert (first_created, again_created) == (True, False)
    assert again is first
    assert first.create_calls == 2
    assert len(carrier.shipments()) == 1


def test_a_key_reused_with_another_body_is_refused_and_creates_nothing(carrier: Carrier) -> None:
    key = random_suffix()
    carrier.create(key, an_order())

    with pytest.raises(IdempotencyMismatchError):
        carrier.create(key, an_order())
    assert len(carrier.shipments()) == 1


def test_an_unknown_order_is_not_found(carrier: Carrier) -> None:
    with pytest.raises(UnknownOrderError):
        carrier.get(f"ORD-{random_suffix(12)}")


def test_orders_get_distinct_ids_and_valid_consecutive_tracking_numbers(carrier: Carrier) -> None:
    shipments = [carrier.create(random_suffix(), an_order())[0] for _ in range(12)]

    numbers = [shipment.tracking_number for shipment in shipments]
    assert all(is_valid_s10(number) and number.startswith("EB") and number.endswith("VN") for number in numbers)
    assert [int(number[2:10]) for number in numbers] == list(range(1, 13))
    assert len({shipment.order_id for shipment in shipments}) == 12
    assert all(len(s.order_id) == 16 and s.order_id.startswith("ORD-") for s in shipments)


@pytest.mark.parametrize("number", ["EE123456785GB", "RR123456785VN", "EB000000005VN", "EB000000014VN",
                                    "EB000000080VN", "EB000000031VN"])
def test_known_s10_numbers_have_the_check_digit_the_standard_gives(number: str) -> None:
    assert s10_check_digit(number[2:10]) == int(number[10])
    assert is_valid_s10(number)


def test_a_wrong_check_digit_is_not_a_valid_s10_number() -> None:
    assert not is_valid_s10("EE123456784GB")
    assert tracking_number(12345678) == "EB123456785VN"


def test_a_status_appended_by_hand_is_recorded_now_and_the_schedule_goes_on_from_it(
        carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("return"))
    clock.set(START + timedelta(seconds=1))

    carrier.append(shipment.order_id, "in_transit")
    move(clock, carrier, steps=1)

    assert [(e.status, e.at) for e in shipment.events] == [
        ("created", START), ("in_transit", START + timedelta(seconds=1)), ("delivered", START + timedelta(seconds=6))]


def test_a_delivery_failure_appended_by_hand_waits_and_in_transit_afterwards_is_the_next_attempt(
        carrier: Carrier, clock: FixedClock) -> None:
    shipment, _ = carrier.create(random_suffix(), an_order("return"))

    carrier.append(shipment.order_id, "delivery_failed", "Địa chỉ không tồn tại")
    move(clock, carrier, steps=30)
    assert shipment.awaiting_instructions
    carrier.append(shipment.order_id, "in_transit")
    move(clock, carrier, steps=1)

    assert statuses(shipment) == [("created", 1), ("delivery_failed", 1), ("in_transit", 2), ("delivered", 2)]
    assert shipment.events[1].detail == "Địa chỉ không tồn tại"


def test_every_new_event_is_handed_over_once_in_the_order_it_was_recorded(
        carrier: Carrier, clock: FixedClock) -> None:
    first, _ = carrier.create(random_suffix(), an_order("pickup"))
    second, _ = carrier.create(random_suffix(), an_order("return"))
    move(clock, carrier, steps=1)

    taken = carrier.take_new_events()

    assert [(s.order_id, e.status) for s, e in taken] == [
        (first.order_id, "created"), (second.order_id, "created"),
        (first.order_id, "collecting"), (second.order_id, "collected")]
    assert carrier.take_new_events() == []
    assert len({event.id for _, event in taken}) == 4
    assert all(event.id.startswith("msg_") and len(event.id) == 36 for _, event in taken)


def test_shipments_kept_in_sqlite_come_back_as_they_were_and_numbering_goes_on(tmp_path: Path,
                                                                               clock: FixedClock) -> None:
    carrier = Carrier(clock, STEP)
    shipments = [carrier.create(random_suffix(), an_order(leg))[0] for leg in ("pickup", "return")]
    move(clock, carrier, steps=3, failed_delivery_attempts=1)
    key = random_suffix()
    carrier.return_to_sender(shipments[1].order_id, key)
    store = ShipmentStore(tmp_path / "state" / "carrier.sqlite")
    store.save(shipments)
    store.save(shipments[:1])
    store.close()

    reopened = ShipmentStore(tmp_path / "state" / "carrier.sqlite")
    restored = Carrier(clock, STEP, reopened.load())
    reopened.close()

    assert restored.shipments() == shipments
    assert restored.create(shipments[0].idempotency_key, shipments[0].request)[1] is False
    assert restored.create(random_suffix(), an_order())[0].tracking_number == tracking_number(3)
    assert restored.return_to_sender(shipments[1].order_id, key).upcoming == ["returned_to_sender"]


def test_a_webhook_signed_v1_verifies_with_the_secret_and_v1a_with_the_public_key() -> None:
    secret, signing_key = new_secret(), new_key_pair()[0]
    carrier = Carrier(FixedClock(START), STEP)
    shipment, _ = carrier.create(random_suffix(), an_order())
    event = shipment.events[0]
    body = webhook_body(shipment, event)

    headers = Signer(secret, signing_key).headers(event.id, body)

    assert Webhook(secret).verify(body, headers)["data"]["order_id"] == shipment.order_id
    v1a = [sig.split(",", 1)[1] for sig in headers["webhook-signature"].split(" ") if sig.startswith("v1a,")]
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_of(signing_key).removeprefix("whpk_")))
    public.verify(base64.b64decode(v1a[0]), f"{event.id}.{headers['webhook-timestamp']}.{body}".encode())
    parsed = StatusWebhook.model_validate_json(body)
    assert (parsed.type, parsed.timestamp, parsed.data.status) == ("shipment.status", event.at, "created")
    assert headers["webhook-id"] == event.id


def test_an_impostor_signature_does_not_verify_with_the_real_secret() -> None:
    secret = new_secret()
    body = '{"type":"shipment.status"}'

    headers = Signer.impostor(like_ed25519=True).headers(f"msg_{random_suffix(32)}", body)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
    assert "v1a," in headers["webhook-signature"]


def test_the_development_public_key_is_that_of_the_development_signing_key() -> None:
    assert public_key_of(DEV_SIGNING_KEY) == DEV_PUBLIC_KEY


def test_without_a_signing_key_a_webhook_carries_the_v1_signature_only() -> None:
    body = '{"type":"shipment.status"}'

    headers = Signer(DEV_WEBHOOK_SECRET).headers("msg_1", body)

    assert headers["webhook-signature"].startswith("v1,") and " " not in headers["webhook-signature"]
    assert Webhook(DEV_WEBHOOK_SECRET).verify(body, headers) == {"type": "shipment.status"}


def test_the_command_line_offers_every_setting_as_an_option() -> None:
    answer = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})

    assert answer.exit_code == 0
    assert all(f"--{name.replace('_', '-')}" in answer.output for name in SimulatorSettings.model_fields)


def test_settings_come_from_the_environment_and_carry_the_initial_behaviour(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTAL_SIM_HTTP_PORT", "18123")
    monkeypatch.setenv("POSTAL_SIM_DROP_WEBHOOK_RATIO", "0.25")
    monkeypatch.setenv("POSTAL_SIM_FAILED_DELIVERY_ATTEMPTS", "2")

    settings = SimulatorSettings()

    assert (settings.http_host, settings.http_port, settings.step_seconds) == ("127.0.0.1", 18123, 5.0)
    assert settings.initial_behaviour() == Behaviour(drop_webhook_ratio=0.25, failed_delivery_attempts=2)


def test_a_ratio_above_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTAL_SIM_THROTTLE_RATIO", "1.5")

    with pytest.raises(ValueError):
        SimulatorSettings()
