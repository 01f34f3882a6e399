"""What a phase measured: how many operations, how long, and their latencies."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Figure:
    """One measured line: ``count`` operations in ``seconds``, with optional latencies (seconds)."""

    name: str
    count: int
    seconds: float
    latencies: list[float] = field(default_factory=list, repr=False)
    failures: int = 0
    note: str = ""
    baseline: bool = False  # compared with intake's stored-per-second rate

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def p50_ms(self) -> float | None:
        value = percentile(self.latencies, 0.50)
        return None if value is None else value * 1000

    @property
    def p99_ms(self) -> float | None:
        value = percentile(self.latencies, 0.99)
        return None if value is None else value * 1000

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count, "failures": self.failures,
                "seconds": round(self.seconds, 3), "per_second": round(self.rate, 1),
                "p50_ms": _round(self.p50_ms), "p99_ms": _round(self.p99_ms), "note": self.note,
                "baseline": self.baseline}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
