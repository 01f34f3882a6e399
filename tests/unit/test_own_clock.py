"""A test's own clock on a shared deployment (tests/support/system.py): it starts at the test's
instant whatever the previous test left in the deployment's clock file, and moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.clock import FileClock
from tests.support.system import OwnClock

START = datetime.fromisoformat("2025-07-07T09:00:00+07:00")


def a_deployment(tmp_path: Path) -> Any:
    """What an own clock uses of a deployment: its clock file, as every process reads it."""
    return SimpleNamespace(clock=FileClock(tmp_path / "clock.txt"))


def test_an_own_clock_starts_at_its_tests_instant_whatever_the_previous_test_left(tmp_path: Path) -> None:
    deployment = a_deployment(tmp_path)
    OwnClock(deployment, START).set(START + timedelta(days=9))

    clock = OwnClock(deployment, START)

    assert clock.now() == deployment.clock.now() == START


def test_an_own_clock_moves_forward_and_back_by_what_it_is_told(tmp_path: Path) -> None:
    clock = OwnClock(a_deployment(tmp_path), START)

    later = clock.advance(timedelta(hours=2))
    earlier = clock.advance(timedelta(hours=-3))

    assert (later, earlier, clock.now()) == (START + timedelta(hours=2), START - timedelta(hours=1), earlier)


def test_an_own_clock_refuses_an_instant_without_an_offset(tmp_path: Path) -> None:
    clock = OwnClock(a_deployment(tmp_path), START)

    with pytest.raises(ValueError, match="UTC offset"):
        clock.set(datetime(2025, 7, 7, 9))

    assert clock.now() == START
    assert clock.now().astimezone(UTC) == datetime(2025, 7, 7, 2, tzinfo=UTC)
