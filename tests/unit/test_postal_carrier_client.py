"""The carrier client's pure parts: Retry-After, idempotency keys, token life, what each answer means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postal.carrier import (
    DETAIL_MAX_CHARS,
    CarrierConflict,
    CarrierNotFound,
    CarrierPartner,
    CarrierPolicy,
    CarrierRefused,
    check_idempotency_key,
    is_transient_status,
    problem_detail,
    refusal,
    retry_after_seconds,
    token_use_seconds,
)
from postal.domain import idempotency_key
from tests.random_refs import random_suffix

NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("7", 7.0), (" 120 ", 120.0), ("0.5", 0.5)])
def test_a_retry_after_in_seconds_is_read_as_such(value: str, seconds: float) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def test_a_retry_after_date_is_the_time_left_until_it() -> None:
    assert retry_after_seconds("Tue, 01 Dec 2026 08:30:45 GMT", NOW) == 45.0


def test_a_retry_after_date_already_past_means_no_wait() -> None:
    assert retry_after_seconds("Tue, 01 Dec 2026 08:00:00 GMT", NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1e3", "Tue, 99 Foo 2026"])
def test_a_retry_after_that_says_nothing_usable_is_ignored(value: str | None) -> None:
    assert retry_after_seconds(value, NOW) is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_throttling_time_outs_and_server_errors_are_worth_another_try(status: int) -> None:
    assert is_transient_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 200, 301])
def test_refusals_are_not_worth_another_try(status: int) -> None:
    assert not is_transient_status(status)


def test_a_conflict_a_missing_order_and_other_refusals_have_their_own_errors() -> None:
    assert type(refusal(409, b'{"detail": "already collected"}')) is CarrierConflict
    assert type(refusal(404, b"")) is CarrierNotFound
    assert type(refusal(422, b"{}")) is CarrierRefused
    assert refusal(409, b'{"detail": "already collected"}').status == 409


def test_a_refusals_detail_comes_from_its_problem_body() -> None:
    assert problem_detail(b'{"type": "about:blank", "title": "Conflict", "detail": "already collected"}') \
        == "already collected"
    assert problem_detail(b'{"error": "invalid_client"}') == "invalid_client"
    assert problem_detail(b'{"detail": [{"loc": ["body", "leg"], "msg": "bad"}]}').startswith('[{"loc"')
    assert problem_detail(b"Bad   gateway\n") == "Bad gateway"


def test_a_long_refusal_detail_is_truncated() -> None:
    detail = problem_detail(('{"detail": "' + "x" * 5000 + '"}').encode())

    assert len(detail) == DETAIL_MAX_CHARS
    assert detail.endswith("…")


def test_a_refusal_names_its_status_and_detail() -> None:
    assert str(refusal(409, b'{"detail": "already collected"}')) == "the carrier refused (409): already collected"


def test_a_token_is_used_for_nine_tenths_of_its_life() -> None:
    assert token_use_seconds(300) == pytest.approx(270)
    assert token_use_seconds(10) == pytest.approx(9)


def test_a_long_lived_token_is_renewed_a_minute_before_it_expires() -> None:
    assert token_use_seconds(3600) == pytest.approx(3540)


def test_every_key_postal_makes_is_one_the_carrier_takes() -> None:
    code = f"000.00.01.H40-250707-{random_suffix()}"
    for leg, action, n in [("pickup", "order", None), ("pickup", "cancel", None), ("return", "redeliver", 9),
                           ("return", "return", None)]:
        assert check_idempotency_key(idempotency_key(code, leg, action, n))


@pytest.mark.parametrize("key", ["", "two words", "x" * 256, "khóa"])
def test_an_idempotency_key_the_carrier_could_not_take_is_refused_before_sending(key: str) -> None:
    with pytest.raises(ValueError, match="Idempotency-Key"):
        check_idempotency_key(key)


@pytest.mark.parametrize("changes", [
    {"attempts": 0},
    {"initial_backoff_seconds": 0},
    {"initial_backoff_seconds": 6.0, "max_backoff_seconds": 5.0},
    {"timeout_seconds": 0},
    {"breaker_threshold": 0},
    {"breaker_reset_seconds": 0},
    {"max_retry_after_seconds": -1},
])
def test_a_policy_that_cannot_work_is_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CarrierPolicy(**changes)  # type: ignore[arg-type]


def test_a_partner_needs_an_http_url_and_credentials_and_never_shows_its_secret() -> None:
    secret = f"s-{random_suffix()}"

    assert secret not in repr(CarrierPartner("http://carrier.test", "lienthong", secret))
    with pytest.raises(ValueError, match="http"):
        CarrierPartner("carrier.test", "lienthong", secret)
    with pytest.raises(ValueError, match="must not be empty"):
        CarrierPartner("http://carrier.test", "lienthong", "")


def test_a_retry_after_date_with_an_unknown_zone_is_taken_as_utc() -> None:
    assert retry_after_seconds("Tue, 01 Dec 2026 08:31:00 -0000", NOW) == 60.0
    assert retry_after_seconds("Tue, 01 Dec 2026 08:31:00 -0000", NOW + timedelta(seconds=90)) == 0.0
