"""Session fixtures shared by integration and end-to-end tests.

Unit tests use none of these: they touch no broker and no database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.random_refs import random_suffix
from tests.support.endpoints import Endpoints, provide_endpoints
from tests.support.s3_server import S3Server, running_s3_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clock_starts_at(instant): the aware datetime a test's own clock starts at "
        "(tests/support/system.py); default Monday 7 July 2025, 09:00 in Vietnam")


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    """The real Kafka broker and PostgreSQL (see tests/support/endpoints.py)."""
    with provide_endpoints() as found:
        yield found


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server as a local process, the stand-in for an object store; one bucket for the
    run, each test under a prefix of its own."""
    with running_s3_server(tmp_path_factory.mktemp("moto"), bucket=f"lienthong-{random_suffix()}") as server:
        yield server
