"""Time as a dependency, so tests move the clock instead of waiting.

Production processes use :class:`SystemClock`.  Outside production a service may be given a
*clock file* (``<PREFIX>_CLOCK_FILE``): its content, an ISO 8601 instant, is the current time
for every process that reads it, so a test can move time for the API, the consumers and the
timer at once by rewriting one file.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from shared_events.scalars import VIETNAM

__all__ = ["VIETNAM", "Clock", "FileClock", "FixedClock", "SystemClock", "clock_from"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """An instant held in memory until it is set again (tests, replays in one process)."""

    def __init__(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("a clock's instant needs a timezone")
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("a clock's instant needs a timezone")
        self.moment = moment


class FileClock:
    """The instant written in a file (re-read on every call); for tests and demonstrations."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        moment = datetime.fromisoformat(self.path.read_text(encoding="utf-8").strip())
        if moment.tzinfo is None:
            raise ValueError(f"{self.path}: the instant must carry a UTC offset")
        return moment

    def set(self, moment: datetime) -> None:
        """Write ``moment`` atomically: a reader sees the old instant or the new, never an empty file."""
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        partial.write_text(moment.isoformat(), encoding="utf-8")
        os.replace(partial, self.path)


def clock_from(path: Path | None) -> Clock:
    return FileClock(path) if path is not None else SystemClock()
