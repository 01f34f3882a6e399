"""Service settings: development secrets are refused outside development, and the
database URL becomes the event store's settings."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

import pytest
from pydantic import ValidationError

from services.settings import DEV_CLIENTS_FILE, DEV_SIGNING_KEY, POSTGRES_CALL_TIMEOUT, ServiceSettings, SettingsError
from tests.random_refs import random_suffix

STRICT_ENVIRONMENTS = ("production", "test")


def a_signing_key() -> str:
    return secrets.token_urlsafe(48)


def own_clients_file(tmp_path: Path) -> Path:
    path = tmp_path / f"clients-{random_suffix()}.yaml"
    path.write_text("clients: []\n", encoding="utf-8")
    return path


def test_development_accepts_the_development_key_and_clients() -> None:
    settings = ServiceSettings(environment="development")

    assert settings.auth_signing_key == DEV_SIGNING_KEY
    assert settings.auth_clients_file == DEV_CLIENTS_FILE


@pytest.mark.parametrize("environment", STRICT_ENVIRONMENTS)
def test_a_strict_environment_accepts_its_own_key_and_clients(environment: str, tmp_path: Path) -> None:
    key = a_signing_key()
    clients = own_clients_file(tmp_path)

    settings = ServiceSettings(environment=environment, auth_signing_key=key, auth_clients_file=clients)

    assert settings.auth_signing_key == key
    assert settings.auth_clients_file == clients


@pytest.mark.parametrize("environment", STRICT_ENVIRONMENTS)
def test_a_strict_environment_refuses_the_development_signing_key(environment: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="signing key") as refused:
        ServiceSettings(environment=environment, auth_signing_key=DEV_SIGNING_KEY,
                        auth_clients_file=own_clients_file(tmp_path))

    assert isinstance(refused.value.errors()[0]["ctx"]["error"], SettingsError)


@pytest.mark.parametrize("environment", STRICT_ENVIRONMENTS)
def test_a_strict_environment_refuses_a_signing_key_shorter_than_32_characters(
    environment: str, tmp_path: Path
) -> None:
    short_key = secrets.token_hex(16)[:31]

    with pytest.raises(ValidationError, match="at least 32 characters"):
        ServiceSettings(environment=environment, auth_signing_key=short_key,
                        auth_clients_file=own_clients_file(tmp_path))


@pytest.mark.parametrize("environment", STRICT_ENVIRONMENTS)
def test_a_strict_environment_accepts_a_signing_key_of_exactly_32_characters(
    environment: str, tmp_path: Path
) -> None:
    key = secrets.token_hex(16)

    assert ServiceSettings(environment=environment, auth_signing_key=key,
                           auth_clients_file=own_clients_file(tmp_path)).auth_signing_key == key


@pytest.mark.parametrize("environment", STRICT_ENVIRONMENTS)
def test_a_strict_environment_refuses_the_development_clients_file(environment: str) -> None:
    with pytest.raises(ValidationError, match="client list") as refused:
        ServiceSettings(environment=environment, auth_signing_key=a_signing_key(),
                        auth_clients_file=DEV_CLIENTS_FILE)

    assert isinstance(refused.value.errors()[0]["ctx"]["error"], SettingsError)


@pytest.mark.parametrize("environment", STRICT_ENVIRONMENTS)
def test_a_strict_environment_refuses_the_development_clients_file_by_another_path(
    environment: str, tmp_path: Path
) -> None:
    # A relative detour to the same file must not slip past the check.
    detour = DEV_CLIENTS_FILE.parent / ".." / DEV_CLIENTS_FILE.parent.name / DEV_CLIENTS_FILE.name

    with pytest.raises(ValidationError, match="client list"):
        ServiceSettings(environment=environment, auth_signing_key=a_signing_key(), auth_clients_file=detour)


def test_the_event_store_settings_unescape_the_user_and_password_of_the_database_url() -> None:
    user = f"svc@{random_suffix()}"
    password = f"p@ss:w/rd%#?{random_suffix()}"
    database = f"lienthong_{random_suffix()}"
    url = f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@db.example.vn:6543/{database}"

    env = ServiceSettings(database_url=url, database_schema="intake").eventsourcing_env()

    assert env["PERSISTENCE_MODULE"] == "services.eventstore:ResilientPostgresFactory"
    assert env["POSTGRES_USER"] == user
    assert env["POSTGRES_PASSWORD"] == password
    assert env["POSTGRES_HOST"] == "db.example.vn"
    assert env["POSTGRES_PORT"] == "6543"
    assert env["POSTGRES_DBNAME"] == database
    assert env["POSTGRES_SCHEMA"] == "intake"



def test_the_event_store_pool_is_small_checked_before_use_and_sized_by_a_setting() -> None:
    env = ServiceSettings(database_pool_size=3).eventsourcing_env()

    assert env["POSTGRES_POOL_SIZE"] == "3"
    assert env["POSTGRES_MAX_OVERFLOW"] == "0"
    assert env["POSTGRES_PRE_PING"] == "y"
    assert ServiceSettings().eventsourcing_env()["POSTGRES_POOL_SIZE"] == "4"


def test_a_pool_size_asked_by_a_service_only_lowers_the_configured_one() -> None:
    assert ServiceSettings(database_pool_size=4).eventsourcing_env(pool_size=16)["POSTGRES_POOL_SIZE"] == "4"
    assert ServiceSettings(database_pool_size=4).eventsourcing_env(pool_size=2)["POSTGRES_POOL_SIZE"] == "2"


def test_the_connect_time_out_bounds_how_long_an_event_store_call_waits_for_the_database() -> None:
    env = ServiceSettings(database_connect_timeout_seconds=2.5).eventsourcing_env()

    assert env[POSTGRES_CALL_TIMEOUT] == "2.5"
    assert env["POSTGRES_CONNECT_TIMEOUT"] == "3"


def test_the_event_store_settings_default_the_port_and_password() -> None:
    env = ServiceSettings(database_url="postgresql://lienthong@127.0.0.1/lienthong").eventsourcing_env()

    assert env["POSTGRES_PORT"] == "5432"
    assert env["POSTGRES_PASSWORD"] == ""
    assert env["POSTGRES_USER"] == "lienthong"
