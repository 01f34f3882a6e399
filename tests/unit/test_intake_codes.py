"""Dossier codes: <agency>-<yyMMdd>-<NNNN>, counted per agency per Vietnamese calendar day."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.codes import DossierCodes, format_code
from services.clock import VIETNAM
from shared_events.scalars import DOSSIER_CODE_PATTERN
from tests.random_refs import random_agency_id, random_suffix


class FakeConnection:
    def __init__(self, counters: Counter[tuple[str, date]]) -> None:
        self._counters = counters

    async def fetchval(self, sql: str, agency_id: str, day: date) -> int:
        assert "dossier_code_counters" in sql
        self._counters[(agency_id, day)] += 1
        return self._counters[(agency_id, day)]


class FakePool:
    """Counts like the counter table: one number per (agency, day), from 1."""

    def __init__(self) -> None:
        self.counters: Counter[tuple[str, date]] = Counter()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield FakeConnection(self.counters)


@pytest.fixture
def codes() -> DossierCodes:
    return DossierCodes(FakePool(), f"intake_{random_suffix()}")  # type: ignore[arg-type]


def test_a_code_is_the_agency_the_day_and_a_four_digit_number() -> None:
    agency_id = random_agency_id()

    assert format_code(agency_id, date(2025, 11, 28), 7) == f"{agency_id}-251128-0007"


@given(number=st.integers(min_value=1, max_value=9999), day=st.dates(min_value=date(2000, 1, 1)))
def test_every_code_matches_the_published_pattern(number: int, day: date) -> None:
    code = format_code("000.00.01.H40", day, number)

    assert re.fullmatch(DOSSIER_CODE_PATTERN, code)
    assert code.endswith(f"-{number:04d}")
    assert code.split("-")[1] == day.strftime("%y%m%d")


def test_a_submission_at_2330_utc_counts_on_the_next_vietnamese_day() -> None:
    received_at = datetime(2025, 11, 27, 23, 30, tzinfo=UTC)

    day = received_at.astimezone(VIETNAM).date()

    assert day == date(2025, 11, 28)
    assert format_code("000.00.01.H40", day, 1) == "000.00.01.H40-251128-0001"


async def test_next_code_uses_the_vietnamese_day_of_receipt(codes: DossierCodes) -> None:
    agency_id = random_agency_id()

    code = await codes.next_code(agency_id, datetime(2025, 11, 27, 23, 30, tzinfo=UTC))

    assert code == f"{agency_id}-251128-0001"


async def test_next_code_keeps_the_same_day_until_midnight_in_vietnam(codes: DossierCodes) -> None:
    agency_id = random_agency_id()

    last_minute = await codes.next_code(agency_id, datetime(2025, 11, 28, 16, 59, tzinfo=UTC))
    midnight = await codes.next_code(agency_id, datetime(2025, 11, 28, 17, 0, tzinfo=UTC))

    assert last_minute == f"{agency_id}-251128-0001"
    assert midnight == f"{agency_id}-251129-0001"


async def test_next_code_counts_per_agency_per_day(codes: DossierCodes) -> None:
    first_agency, second_agency = random_agency_id(), random_agency_id()
    morning = datetime(2025, 11, 28, 1, 0, tzinfo=UTC) + timedelta(minutes=random.randint(0, 600))

    numbers = [
        await codes.next_code(first_agency, morning),
        await codes.next_code(first_agency, morning + timedelta(minutes=5)),
        await codes.next_code(second_agency, morning),
        await codes.next_code(first_agency, morning + timedelta(days=1)),
    ]

    assert [code.rsplit("-", 1)[1] for code in numbers] == ["0001", "0002", "0001", "0001"]


def test_a_number_beyond_9999_never_yields_a_code_outside_the_published_pattern() -> None:
    try:
        code = format_code("000.00.01.H40", date(2025, 11, 28), 10_000)
    except ValueError:
        return

    assert re.fullmatch(DOSSIER_CODE_PATTERN, code)
