"""Intake's dossier-code counter on the real PostgreSQL (intake/codes.py): codes are
``<agency>-<yyMMdd>-<NNNN>``, numbered from 1 per receiving agency per day in Vietnam, and never
shared by two submissions, however many processes ask at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime

import asyncpg
import pytest

from intake.codes import DossierCodes, format_code
from tests.random_refs import random_agency_id
from tests.support.endpoints import Endpoints

pytestmark = pytest.mark.integration
MONDAY_9_VN = datetime(2025, 7, 7, 2, 0, tzinfo=UTC)


@asynccontextmanager
async def counter(endpoints: Endpoints, schema: str, pool_size: int = 4) -> AsyncIterator[DossierCodes]:
    """The counter of one intake process: its own connection pool on ``schema``."""
    pool = await asyncpg.create_pool(endpoints.database_url, min_size=1, max_size=pool_size)
    try:
        codes = DossierCodes(pool, schema)
        await codes.create_table()
        yield codes
    finally:
        await pool.close()


def number_of(code: str) -> int:
    return int(code.rsplit("-", 1)[1])


async def test_the_first_code_of_an_agency_on_a_day_is_numbered_1_and_the_next_2(
        endpoints: Endpoints, schema: str) -> None:
    agency = random_agency_id()
    async with counter(endpoints, schema) as codes:
        first = await codes.next_code(agency, MONDAY_9_VN)
        second = await codes.next_code(agency, MONDAY_9_VN)

    assert (first, second) == (format_code(agency, date(2025, 7, 7), 1), format_code(agency, date(2025, 7, 7), 2))


async def test_each_agency_and_each_day_has_a_sequence_of_its_own(endpoints: Endpoints, schema: str) -> None:
    agency, other = random_agency_id(), random_agency_id()
    tuesday = datetime(2025, 7, 8, 2, 0, tzinfo=UTC)
    async with counter(endpoints, schema) as codes:
        await codes.next_code(agency, MONDAY_9_VN)

        others = [await codes.next_code(other, MONDAY_9_VN), await codes.next_code(agency, tuesday)]
        again = await codes.next_code(agency, MONDAY_9_VN)

    assert others == [f"{other}-250707-0001", f"{agency}-250708-0001"]
    assert again == f"{agency}-250707-0002"


@pytest.mark.parametrize(("received_at", "day"), [
    (datetime(2025, 7, 6, 16, 59, tzinfo=UTC), "250706"),  # 23:59 in Vietnam
    (datetime(2025, 7, 6, 17, 0, tzinfo=UTC), "250707"),  # midnight in Vietnam, still the 6th in UTC
])
async def test_the_day_of_a_code_is_the_day_of_receipt_in_vietnam(
        endpoints: Endpoints, schema: str, received_at: datetime, day: str) -> None:
    agency = random_agency_id()
    async with counter(endpoints, schema) as codes:
        code = await codes.next_code(agency, received_at)

    assert code == f"{agency}-{day}-0001"


async def test_a_thousand_concurrent_requests_from_four_processes_get_the_numbers_1_to_1000_once_each(
        endpoints: Endpoints, schema: str) -> None:
    agency = random_agency_id()
    async with counter(endpoints, schema) as first, counter(endpoints, schema) as second, \
            counter(endpoints, schema) as third, counter(endpoints, schema) as fourth:
        processes = [first, second, third, fourth]

        codes = await asyncio.gather(*[processes[n % 4].next_code(agency, MONDAY_9_VN) for n in range(1000)])

    assert len(set(codes)) == 1000
    assert sorted(number_of(code) for code in codes) == list(range(1, 1001))
    assert {code.rsplit("-", 1)[0] for code in codes} == {f"{agency}-250707"}


async def test_a_process_started_later_on_the_schema_goes_on_with_the_same_sequence(
        endpoints: Endpoints, schema: str) -> None:
    agency = random_agency_id()
    async with counter(endpoints, schema) as first:
        await first.next_code(agency, MONDAY_9_VN)
        async with counter(endpoints, schema) as second:

            later = await second.next_code(agency, MONDAY_9_VN)

    assert number_of(later) == 2
