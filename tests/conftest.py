"""Session fixtures shared by integration and end-to-end tests.

Unit tests use none of these: they touch no broker and no database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.endpoints import Endpoints, provide_endpoints


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "clock_starts_at(instant): the aware datetime a test's own clock starts at "
        "(tests/support/system.py); default Monday 7 July 2025, 09:00 in Vietnam")


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    """The real Kafka broker and PostgreSQL (see tests/support/endpoints.py)."""
    with provide_endpoints() as found:
        yield found
