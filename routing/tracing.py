"""Where a change came from, kept with every event it stores.

Every event routing stores carries, alongside its own fields, the ``correlation_id`` of the request
or message that caused it and that message's id as ``causation_id``; the relay reads them back onto
the published records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Trace:
    """Where a change came from: the correlation it continues, and the message that caused it."""

    correlation_id: str | None = None
    causation_id: str | None = None


def stamp(aggregate: Any, trace: Trace) -> None:
    """Keep ``trace`` alongside every pending event of ``aggregate`` (stored with it)."""
    for pending in aggregate.pending_events:
        object.__setattr__(pending, "correlation_id", trace.correlation_id)
        object.__setattr__(pending, "causation_id", trace.causation_id)
