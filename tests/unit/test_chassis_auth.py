"""Authentication: the client list, tokens, roles, and the token endpoint."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import yaml
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from services.app import create_service_app
from services.auth import AUDIENCE, ISSUER, Client, ClientRegistry, Principal, TokenIssuer, require_role
from services.problems import PROBLEM_MEDIA_TYPE, Problem
from services.settings import DEV_CLIENTS_FILE, ServiceSettings
from tests.random_refs import random_agency_id, random_suffix
from tests.support.apps import no_resources

DEV_CLIENT_IDS = ("portal", "desk-h40", "postal-vnpost", "auditor", "agency-ubnd-16690", "agency-police-16690",
                  "agency-pc06-h40")


def a_client(secret: str, **overrides: object) -> Client:
    fields: dict[str, object] = {
        "client_id": f"desk-{random_suffix()}",
        "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
        "party": "desk",
        "agency_id": random_agency_id(),
        "roles": frozenset({"dossier:submit", f"role:{random_suffix()}"}),
    }
    fields.update(overrides)
    return Client.model_validate(fields)


def a_signing_key() -> str:
    return secrets.token_urlsafe(48)


def dev_secret(client_id: str) -> str:
    return f"dev-secret-{client_id}"


# --- the client list -------------------------------------------------------------------


def test_the_registry_authenticates_a_client_with_its_secret() -> None:
    secret = secrets.token_urlsafe(24)
    client = a_client(secret)

    assert ClientRegistry([client]).authenticate(client.client_id, secret) == client


def test_the_registry_refuses_a_wrong_secret() -> None:
    client = a_client(secrets.token_urlsafe(24))

    assert ClientRegistry([client]).authenticate(client.client_id, secrets.token_urlsafe(24)) is None


def test_the_registry_refuses_an_unknown_client() -> None:
    secret = secrets.token_urlsafe(24)
    client = a_client(secret)

    assert ClientRegistry([client]).authenticate(f"unknown-{random_suffix()}", secret) is None


@pytest.mark.parametrize("client_id", DEV_CLIENT_IDS)
def test_the_development_clients_file_holds_the_published_secrets(client_id: str) -> None:
    registry = ClientRegistry.load(DEV_CLIENTS_FILE)

    assert registry.authenticate(client_id, dev_secret(client_id)) is not None


# --- tokens ----------------------------------------------------------------------------


def test_a_token_carries_the_party_agency_and_roles_of_its_client() -> None:
    client = a_client(secrets.token_urlsafe(24))
    issuer = TokenIssuer(a_signing_key(), ttl_seconds=600)

    token, ttl = issuer.issue(client)
    principal = issuer.verify(token, ClientRegistry([client]))

    assert ttl == 600
    assert principal == Principal(client_id=client.client_id, party=client.party,
                                  agency_id=client.agency_id, roles=client.roles)


def test_a_token_of_a_client_without_agency_carries_no_agency() -> None:
    client = a_client(secrets.token_urlsafe(24), client_id=f"portal-{random_suffix()}", party="portal",
                      agency_id=None)
    issuer = TokenIssuer(a_signing_key(), ttl_seconds=600)

    assert issuer.verify(issuer.issue(client)[0], ClientRegistry([client])).agency_id is None


def assert_unauthorized(problem: Problem) -> None:
    assert problem.status == 401
    assert problem.slug == "unauthorized"
    assert problem.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused_with_401() -> None:
    key = a_signing_key()
    client = a_client(secrets.token_urlsafe(24))
    token, _ = TokenIssuer(key, ttl_seconds=-5).issue(client)

    with pytest.raises(Problem) as refused:
        TokenIssuer(key, ttl_seconds=600).verify(token, ClientRegistry([client]))

    assert_unauthorized(refused.value)


def test_a_token_signed_with_another_key_is_refused_with_401() -> None:
    client = a_client(secrets.token_urlsafe(24))
    token, _ = TokenIssuer(a_signing_key(), ttl_seconds=600).issue(client)

    with pytest.raises(Problem) as refused:
        TokenIssuer(a_signing_key(), ttl_seconds=600).verify(token, ClientRegistry([client]))

    assert_unauthorized(refused.value)


PORTAL_ID = "portal-of-the-tests"


def portal() -> Client:
    """The client the hand-made tokens below are signed for."""
    return a_client(secrets.token_urlsafe(24), client_id=PORTAL_ID, party="portal", agency_id=None,
                    roles=frozenset({"dossier:read"}))


def signed_claims(key: str, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {"iss": ISSUER, "aud": AUDIENCE, "sub": PORTAL_ID, "iat": now,
                                 "exp": now + 600, "party": "portal", "agency_id": None, "roles": ["dossier:read"]}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not ...}, key, algorithm="HS256")


def test_a_token_with_the_claims_the_issuer_writes_is_accepted() -> None:
    key = a_signing_key()

    principal = TokenIssuer(key, ttl_seconds=600).verify(signed_claims(key), ClientRegistry([portal()]))

    assert principal.client_id == PORTAL_ID


@pytest.mark.parametrize("claims", [
    {"aud": "another-audience"},
    {"iss": "another-issuer"},
    {"exp": ...},
    {"iat": ...},
    {"party": ...},
    {"party": "stranger"},
    {"iat": "yesterday"},
    {"exp": int(time.time()) + 100_000_000 * 365},
    {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3600 + 600},
    {"iat": int(time.time()) - 100, "exp": int(time.time()) + 600},
    {"sub": f"portal-{random_suffix()}"},
    {"party": "desk"},
    {"agency_id": "000.00.01.H40"},
], ids=["wrong audience", "wrong issuer", "no expiry", "no issued-at", "no party", "unknown party",
        "issued-at not a number", "expiry in year 3000", "issued an hour in the future",
        "lifetime longer than the configured one", "unknown client", "another party than the client's",
        "another agency than the client's"])
def test_a_token_with_wrong_or_missing_claims_is_refused_with_401(claims: dict[str, object]) -> None:
    key = a_signing_key()

    with pytest.raises(Problem) as refused:
        TokenIssuer(key, ttl_seconds=600).verify(signed_claims(key, **claims), ClientRegistry([portal()]))

    assert_unauthorized(refused.value)


def test_a_token_issued_a_few_seconds_ahead_by_a_clock_running_fast_is_accepted() -> None:
    key, ahead = a_signing_key(), int(time.time()) + 10

    principal = TokenIssuer(key, ttl_seconds=600).verify(signed_claims(key, iat=ahead, exp=ahead + 600),
                                                         ClientRegistry([portal()]))

    assert principal.client_id == PORTAL_ID


def test_a_token_keeps_only_the_roles_its_client_still_holds() -> None:
    key = a_signing_key()
    token = signed_claims(key, roles=["dossier:read", "dossier:accept"])

    principal = TokenIssuer(key, ttl_seconds=600).verify(token, ClientRegistry([portal()]))

    assert principal.roles == {"dossier:read"}


def test_an_unsigned_token_is_refused_with_401() -> None:
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": PORTAL_ID, "iat": now, "exp": now + 600,
                        "party": "portal"}, None, algorithm="none")

    with pytest.raises(Problem) as refused:
        TokenIssuer(a_signing_key(), ttl_seconds=600).verify(token, ClientRegistry([portal()]))

    assert_unauthorized(refused.value)


def write_clients(path: Path, *clients: Client) -> None:
    path.write_text(yaml.safe_dump({"clients": [
        {**c.model_dump(mode="json"), "roles": sorted(c.roles)} for c in clients]}), encoding="utf-8")


def test_a_token_of_a_client_removed_from_the_client_list_file_is_refused(tmp_path: Path) -> None:
    staying, leaving = a_client(secrets.token_urlsafe(24)), a_client(secrets.token_urlsafe(24))
    clients_file = tmp_path / "clients.yaml"
    write_clients(clients_file, staying, leaving)
    registry, issuer = ClientRegistry.load(clients_file), TokenIssuer(a_signing_key(), ttl_seconds=600)
    token, _ = issuer.issue(leaving)
    assert issuer.verify(token, registry).client_id == leaving.client_id

    write_clients(clients_file, staying)
    os.utime(clients_file, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))

    with pytest.raises(Problem) as refused:
        issuer.verify(token, registry)
    assert_unauthorized(refused.value)
    assert issuer.verify(issuer.issue(staying)[0], registry).client_id == staying.client_id


def test_a_client_list_file_that_became_invalid_keeps_the_last_good_list(tmp_path: Path) -> None:
    client = a_client(secrets.token_urlsafe(24))
    clients_file = tmp_path / "clients.yaml"
    write_clients(clients_file, client)
    registry = ClientRegistry.load(clients_file)

    clients_file.write_text("clients: [{client_id: 'NOT VALID'}]", encoding="utf-8")
    os.utime(clients_file, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))

    assert registry.get(client.client_id) == client


# --- roles -----------------------------------------------------------------------------


def a_principal(*roles: str) -> Principal:
    return Principal(client_id=f"desk-{random_suffix()}", party="desk", agency_id=random_agency_id(),
                     roles=frozenset(roles))


def test_require_role_lets_through_a_principal_holding_the_role() -> None:
    role = f"dossier:{random_suffix()}"
    principal = a_principal(role, "dossier:read")

    assert require_role(role)(principal) is principal


def test_require_role_refuses_a_principal_without_the_role_with_403() -> None:
    role = f"dossier:{random_suffix()}"
    principal = a_principal("dossier:read")

    with pytest.raises(Problem) as refused:
        require_role(role)(principal)

    assert refused.value.status == 403
    assert refused.value.slug == "forbidden"
    assert role in (refused.value.detail or "")


# --- the token endpoint ----------------------------------------------------------------






def guarded_router(role: str) -> APIRouter:
    router = APIRouter()

    @router.get("/guarded")
    def guarded(principal: Principal = Depends(require_role(role))) -> dict[str, str]:
        return {"client_id": principal.client_id}

    return router


@pytest.fixture
def client(restored_logging: None) -> Iterator[TestClient]:
    settings = ServiceSettings(environment="development", service_name=f"test-{random_suffix()}",
                               log_level="WARNING")
    app = create_service_app(title="test", description="test", settings=settings, lifespan=no_resources,
                             routers=[guarded_router("dossier:submit")])
    with TestClient(app) as test_client:
        yield test_client


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_the_token_endpoint_issues_a_token_for_form_credentials(client: TestClient) -> None:
    response = client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "portal", "client_secret": dev_secret("portal")})

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    principal = client.app.state.token_issuer.verify(body["access_token"], client.app.state.client_registry)
    assert (principal.client_id, principal.party) == ("portal", "portal")


def test_the_token_endpoint_issues_a_token_for_http_basic_credentials(client: TestClient) -> None:
    response = client.post("/v1/auth/token", data={"grant_type": "client_credentials"},
                           headers=basic("desk-h40", dev_secret("desk-h40")))

    assert response.status_code == 200
    principal = client.app.state.token_issuer.verify(response.json()["access_token"],
                                                     client.app.state.client_registry)
    assert principal.party == "desk"
    assert principal.agency_id == "000.00.01.H40"
    assert "dossier:accept" in principal.roles


def test_the_token_endpoint_refuses_another_grant_type_with_400(client: TestClient) -> None:
    response = client.post("/v1/auth/token", data={
        "grant_type": "password", "client_id": "portal", "client_secret": dev_secret("portal")})

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["type"].endswith("/unsupported-grant-type")


@pytest.mark.parametrize("credentials", ["form", "basic"])
def test_the_token_endpoint_refuses_a_wrong_secret_with_401(client: TestClient, credentials: str) -> None:
    wrong = f"dev-secret-{random_suffix()}"
    if credentials == "form":
        response = client.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": "portal", "client_secret": wrong})
    else:
        response = client.post("/v1/auth/token", data={"grant_type": "client_credentials"},
                               headers=basic("portal", wrong))

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "WWW-Authenticate" in response.headers
    assert response.json()["type"].endswith("/unauthorized")
    assert "access_token" not in response.json()


def test_the_token_endpoint_refuses_undecodable_basic_credentials_with_401(client: TestClient) -> None:
    response = client.post("/v1/auth/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": "Basic %%%not-base64"})

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE


def token_for(client: TestClient, client_id: str) -> str:
    response = client.post("/v1/auth/token", data={"grant_type": "client_credentials"},
                           headers=basic(client_id, dev_secret(client_id)))
    return response.json()["access_token"]


def test_a_route_answers_a_caller_holding_its_role(client: TestClient) -> None:
    response = client.get("/guarded", headers={"Authorization": f"Bearer {token_for(client, 'portal')}"})

    assert response.status_code == 200
    assert response.json() == {"client_id": "portal"}


def test_a_route_refuses_a_caller_without_its_role_with_a_403_problem(client: TestClient) -> None:
    response = client.get("/guarded", headers={"Authorization": f"Bearer {token_for(client, 'auditor')}"})

    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["type"].endswith("/forbidden")


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic cG9ydGFsOng="],
                         ids=["missing", "garbage", "basic scheme"])
def test_a_route_refuses_a_caller_without_a_valid_bearer_token_with_a_401_problem(
    client: TestClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get("/guarded", headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
