"""The token endpoint limits failed attempts per client id and per address, in a sliding window."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.app import create_service_app
from services.auth import FailedAttempts
from services.edge import install_edge
from services.problems import PROBLEM_MEDIA_TYPE
from services.settings import ServiceSettings
from tests.random_refs import random_suffix
from tests.support.apps import no_resources

LIMIT = 3
WINDOW = 60.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the limiter -----------------------------------------------------------------------


def test_a_key_may_fail_up_to_the_limit_before_it_is_blocked() -> None:
    attempts = FailedAttempts(LIMIT, WINDOW, clock=FakeClock())
    key = f"client:{random_suffix()}"

    for _ in range(LIMIT - 1):
        attempts.fail(key)
    assert attempts.retry_after(key) is None

    attempts.fail(key)
    assert attempts.retry_after(key) == WINDOW


def test_a_blocked_key_may_try_again_once_its_oldest_failure_leaves_the_window() -> None:
    clock = FakeClock()
    attempts = FailedAttempts(LIMIT, WINDOW, clock=clock)
    key = f"client:{random_suffix()}"
    attempts.fail(key)
    clock.now += 20
    attempts.fail(key)
    attempts.fail(key)

    clock.now += WINDOW - 20 - 5
    assert attempts.retry_after(key) == 5

    clock.now += 5
    assert attempts.retry_after(key) is None


def test_failures_of_one_key_do_not_block_another() -> None:
    attempts = FailedAttempts(LIMIT, WINDOW, clock=FakeClock())
    for _ in range(LIMIT):
        attempts.fail("client:a")

    assert attempts.retry_after("client:b") is None


def test_the_limiter_keeps_at_most_its_maximum_of_keys_forgetting_the_stalest() -> None:
    attempts = FailedAttempts(1, WINDOW, max_keys=10, clock=FakeClock())
    for n in range(25):
        attempts.fail(f"client:{n}")

    assert attempts.retry_after("client:24") is not None
    assert attempts.retry_after("client:0") is None


def test_an_address_a_client_authenticated_from_stays_trusted_for_that_client_only() -> None:
    clock = FakeClock()
    attempts = FailedAttempts(LIMIT, WINDOW, clock=clock)
    attempts.trust("desk-a", "10.0.0.1")

    assert attempts.trusted("desk-a", "10.0.0.1")
    assert not attempts.trusted("desk-a", "10.0.0.2")
    assert not attempts.trusted("desk-b", "10.0.0.1")
    clock.now += FailedAttempts.TRUST_SECONDS
    assert not attempts.trusted("desk-a", "10.0.0.1")


# --- the endpoint ----------------------------------------------------------------------






@pytest.fixture
def app(restored_logging: None) -> FastAPI:
    settings = ServiceSettings(environment="development", service_name=f"test-{random_suffix()}",
                               log_level="WARNING", auth_failed_attempts_limit=LIMIT,
                               auth_failed_attempts_window_seconds=WINDOW)
    app = create_service_app(title="test", description="test", settings=settings, lifespan=no_resources,
                             routers=[])
    install_edge(app, settings)
    return app


@pytest.fixture
def from_address(app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    """A test client whose requests come from the given address."""
    opened: list[TestClient] = []

    def client(address: str) -> TestClient:
        test_client = TestClient(app, client=(address, 50000))
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield client
    for test_client in opened:
        test_client.__exit__(None, None, None)


def ask_token(client: TestClient, client_id: str, secret: str):
    return client.post("/v1/auth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                               "client_secret": secret})


def right(client_id: str) -> str:
    return f"dev-secret-{client_id}"


def wrong() -> str:
    return f"wrong-{random_suffix()}"


def test_after_the_limit_of_wrong_secrets_for_a_client_even_the_right_one_gets_429_with_retry_after(
        from_address: Callable[[str], TestClient]) -> None:
    attacker, elsewhere = from_address("192.0.2.10"), from_address("192.0.2.11")
    for _ in range(LIMIT):
        assert ask_token(attacker, "portal", wrong()).status_code == 401

    response = ask_token(elsewhere, "portal", right("portal"))

    assert response.status_code == 429
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["type"].endswith("/too-many-requests")
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW
    assert "access_token" not in response.json()


def test_after_the_limit_of_failures_from_one_address_any_client_id_from_it_gets_429(
        from_address: Callable[[str], TestClient]) -> None:
    attacker = from_address("192.0.2.20")
    for _ in range(LIMIT):
        assert ask_token(attacker, f"guess-{random_suffix()}", wrong()).status_code == 401

    assert ask_token(attacker, "auditor", right("auditor")).status_code == 429
    assert ask_token(from_address("192.0.2.21"), "auditor", right("auditor")).status_code == 200


def test_successful_requests_are_not_counted_as_failures(from_address: Callable[[str], TestClient]) -> None:
    client = from_address("192.0.2.30")
    for _ in range(LIMIT * 2):
        assert ask_token(client, "desk-h40", right("desk-h40")).status_code == 200

    assert ask_token(client, "desk-h40", wrong()).status_code == 401


def test_an_attacker_cannot_lock_a_client_out_of_the_address_it_already_works_from(
        from_address: Callable[[str], TestClient]) -> None:
    desk, attacker = from_address("192.0.2.40"), from_address("192.0.2.41")
    assert ask_token(desk, "desk-h40", right("desk-h40")).status_code == 200
    for _ in range(LIMIT * 2):
        ask_token(attacker, "desk-h40", wrong())

    assert ask_token(desk, "desk-h40", right("desk-h40")).status_code == 200
    assert ask_token(from_address("192.0.2.42"), "desk-h40", right("desk-h40")).status_code == 429


def test_the_openapi_document_lists_the_429_of_the_token_endpoint(from_address: Callable[[str], TestClient]) -> None:
    document = from_address("192.0.2.50").get("/openapi.json").json()

    response = document["paths"]["/v1/auth/token"]["post"]["responses"]["429"]
    assert list(response["content"]) == [PROBLEM_MEDIA_TYPE]
