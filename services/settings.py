"""Typed settings shared by every service.

Each service subclasses :class:`ServiceSettings` with its own environment prefix
(``INTAKE_``, ``ROUTING_`` …).  Settings are read once, inside the process's start-up,
and validated there: outside ``development`` a service refuses to start with the
development signing key or the development client list.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared_events.topics import DEAD_LETTERS

DEV_SIGNING_KEY = "lienthong-development-only-signing-key-do-not-deploy"
DEV_CLIENTS_FILE = Path(__file__).with_name("dev_clients.yaml")


POSTGRES_CALL_TIMEOUT = "LIENTHONG_POSTGRES_CALL_TIMEOUT_SECONDS"
"""Our own key in the event store's environment: about how long one call may wait for PostgreSQL
before it fails (read by :class:`services.eventstore.ResilientPostgresFactory`)."""


class SettingsError(ValueError):
    """The configuration cannot be used (e.g. a development secret in production)."""


class ServiceSettings(BaseSettings):
    """Settings every service has; subclasses set ``env_prefix``."""

    model_config = SettingsConfigDict(env_prefix="LIENTHONG_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    service_name: str = "service"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    kafka_bootstrap_servers: str = "127.0.0.1:29092"
    database_url: str = "postgresql://lienthong@127.0.0.1:25432/lienthong"
    database_schema: str = "public"
    auth_signing_key: str = DEV_SIGNING_KEY
    auth_clients_file: Path = DEV_CLIENTS_FILE
    auth_token_ttl_seconds: int = Field(default=3600, gt=0, le=86400)
    auth_failed_attempts_limit: int = Field(default=10, gt=0, description="failed token requests allowed "
                                            "per client id, and per address, in each window")
    auth_failed_attempts_window_seconds: float = Field(default=60.0, gt=0)
    http_max_body_bytes: int = Field(default=1_048_576, gt=0, description="larger request bodies get 413")
    database_pool_size: int = Field(default=4, gt=0, le=64, description="PostgreSQL connections per process "
                                    "for the event store (the read side has its own, as small)")
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    dead_letter_topic: str = DEAD_LETTERS
    log_level: str = "INFO"
    clock_file: Path | None = None
    """Outside production only: read the current time from this file (tests move time with it)."""

    @model_validator(mode="after")
    def _refuse_development_secrets_outside_development(self) -> ServiceSettings:
        if self.environment == "production" and self.clock_file is not None:
            raise SettingsError("production: a clock file is refused; the system clock is used")
        if self.environment == "development":
            return self
        if self.auth_signing_key == DEV_SIGNING_KEY or len(self.auth_signing_key) < 32:
            raise SettingsError(
                f"{self.environment}: set a signing key of at least 32 characters "
                "(the development key is refused)"
            )
        if self.auth_clients_file.resolve() == DEV_CLIENTS_FILE.resolve():
            raise SettingsError(
                f"{self.environment}: set a client list of your own (the development "
                "clients and their published secrets are refused)"
            )
        return self

    def eventsourcing_env(self, *, pool_size: int | None = None) -> dict[str, str]:
        """The ``eventsourcing`` library's settings for this service's event store.

        The pool holds ``database_pool_size`` connections (``pool_size``, if given, only lowers
        it: a process never needs more connections than threads calling the store), checks
        each connection before use (a PostgreSQL restart leaves the pool's connections
        stale) and waits for one only briefly, so a call fails within about
        ``database_connect_timeout_seconds`` while the database is down
        (:class:`services.eventstore.ResilientPostgresFactory`).
        """
        size = min(pool_size, self.database_pool_size) if pool_size else self.database_pool_size
        url = urlsplit(self.database_url)
        return {
            "PERSISTENCE_MODULE": "services.eventstore:ResilientPostgresFactory",
            "POSTGRES_DBNAME": url.path.lstrip("/"),
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or ""),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": self.database_schema,
            "POSTGRES_POOL_SIZE": str(size),
            "POSTGRES_MAX_OVERFLOW": "0",
            "POSTGRES_PRE_PING": "y",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_CONNECT_TIMEOUT": str(max(1, math.ceil(self.database_connect_timeout_seconds))),
            POSTGRES_CALL_TIMEOUT: str(self.database_connect_timeout_seconds),
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        }
