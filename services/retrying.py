"""Waiting out an outage: capped exponential backoff with jitter, and start-up retries.

A process retries only when the infrastructure failed (``services.failures``); it waits
0.5 s, then about twice as long each time up to 30 s, each wait drawn at random from the
upper half of its interval so that processes restarted together do not retry in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.failures import is_infrastructure_error
from services.observability import ThrottledLog

T = TypeVar("T")

INITIAL_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


class Backoff:
    """Successive waits of a retry loop: ``initial`` doubling up to ``cap``, with jitter."""

    def __init__(self, initial: float = INITIAL_BACKOFF_SECONDS, cap: float = MAX_BACKOFF_SECONDS,
                 *, rng: random.Random | None = None) -> None:
        if not 0 < initial <= cap:
            raise ValueError("backoff needs 0 < initial <= cap")
        self.initial = initial
        self.cap = cap
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The wait before the next attempt (between half and all of the capped interval)."""
        ceiling = min(self.cap, self.initial * 2 ** min(self.attempts, 32))
        self.attempts += 1
        return ceiling * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempts = 0

    async def wait(self, stop: asyncio.Event | None = None) -> None:
        """Sleep for the next delay, or until ``stop`` is set."""
        delay = self.next_delay()
        if stop is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


async def retry_while_unavailable(
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    logger: logging.Logger,
    backoff: Backoff | None = None,
    stop: asyncio.Event | None = None,
) -> T:
    """Run ``attempt()`` until it succeeds, waiting out infrastructure errors with backoff.

    Any other error is raised at once: a wrong configuration is not an outage.  Failures
    are logged at most once per interval, with how many there were.
    """
    backoff = backoff or Backoff()
    throttled = ThrottledLog(logger)
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if not is_infrastructure_error(exc) or (stop is not None and stop.is_set()):
                raise
            throttled.warning(f"{what}: a dependency is unavailable; retrying with backoff",
                              extra={"error": f"{type(exc).__name__}: {exc}"[:500]})
        await backoff.wait(stop)
