"""Retries wait with capped exponential backoff and jitter, and retry only outages."""

from __future__ import annotations

import logging
import random

import pytest

from services.retrying import Backoff, retry_while_unavailable


def test_the_waits_double_from_half_a_second_up_to_thirty_seconds_with_jitter() -> None:
    backoff = Backoff(rng=random.Random(7))

    waits = [backoff.next_delay() for _ in range(12)]

    ceilings = [min(30.0, 0.5 * 2**n) for n in range(12)]
    assert all(ceiling / 2 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True))
    assert max(waits) <= 30.0
    assert len(set(waits)) == len(waits)


def test_a_reset_starts_the_waits_again_from_the_first() -> None:
    backoff = Backoff(rng=random.Random(1))
    for _ in range(6):
        backoff.next_delay()

    backoff.reset()

    assert backoff.next_delay() <= 0.5


async def test_an_outage_is_retried_until_the_dependency_answers() -> None:
    attempts: list[int] = []

    async def connect() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError("not there yet")
        return "connected"

    result = await retry_while_unavailable(connect, what="connecting", logger=logging.getLogger(__name__),
                                           backoff=Backoff(0.001, 0.002))

    assert (result, len(attempts)) == ("connected", 3)


async def test_an_error_that_is_not_an_outage_is_raised_at_once() -> None:
    attempts: list[int] = []

    async def connect() -> None:
        attempts.append(1)
        raise ValueError("wrong database name")

    with pytest.raises(ValueError):
        await retry_while_unavailable(connect, what="connecting", logger=logging.getLogger(__name__),
                                      backoff=Backoff(0.001, 0.002))
    assert len(attempts) == 1
