"""The results as a rich table (and, on request, as JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.figures import Figure


def machine_table(facts: dict[str, Any]) -> Table:
    table = Table(title="machine", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in facts.items():
        table.add_row(key.replace("_", " "), str(value))
    return table


def ratio(intake: Figure | None, figure: Figure) -> float | None:
    """Intake's stored-per-second rate as a fraction of ``figure``'s rate."""
    if intake is None or not figure.baseline or not figure.rate:
        return None
    return intake.rate / figure.rate


def results_table(figures: list[Figure], intake: Figure | None, parameters: dict[str, Any]) -> Table:
    table = Table(title=f"results — N={parameters['submissions']}, concurrency C={parameters['concurrency']}",
                  title_justify="left")
    table.add_column("measured", no_wrap=True)
    for column in ("ops", "failed", "per s", "p50 ms", "p99 ms", "intake ÷ this"):
        table.add_column(column, justify="right", no_wrap=True)
    for figure in figures:
        r = ratio(intake, figure)
        table.add_row(figure.name, f"{figure.count:,}", str(figure.failures or ""), f"{figure.rate:,.0f}",
                      _ms(figure.p50_ms), _ms(figure.p99_ms), _ratio(r))
    return table


def notes(figures: list[Figure]) -> list[str]:
    return [f"{figure.name}: {figure.note}" for figure in figures if figure.note]


def _ratio(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.3f} (1/{1 / value:,.0f})" if value < 0.5 else f"{value:.2f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def latency_ratios(hand_off: Figure | None, figure: Figure) -> tuple[float | None, float | None]:
    """Routing's hand-off latency (p50, p99) as multiples of a round-trip baseline's."""
    if hand_off is None or not figure.baseline:
        return None, None
    p50 = hand_off.p50_ms / figure.p50_ms if hand_off.p50_ms is not None and figure.p50_ms else None
    p99 = hand_off.p99_ms / figure.p99_ms if hand_off.p99_ms is not None and figure.p99_ms else None
    return p50, p99


def routing_table(figures: list[Figure], hand_off: Figure | None, parameters: dict[str, Any]) -> Table:
    table = Table(title=f"routing — N={parameters['dossiers']} dossiers at C={parameters['concurrency']}, "
                        f"M={parameters['handoffs']} hand-offs, {parameters['handoff_concurrency']} in flight",
                  title_justify="left")
    table.add_column("measured", no_wrap=True)
    for column in ("ops", "failed", "per s", "p50 ms", "p99 ms", "hand-off ÷ this"):
        table.add_column(column, justify="right", no_wrap=True)
    for figure in figures:
        p50, p99 = latency_ratios(hand_off, figure)
        shown = "" if p50 is None or p99 is None else f"p50 {p50:.1f}×, p99 {p99:.1f}×"
        table.add_row(figure.name, f"{figure.count:,}", str(figure.failures or ""), f"{figure.rate:,.1f}"
                      if figure.rate < 100 else f"{figure.rate:,.0f}", _ms(figure.p50_ms), _ms(figure.p99_ms), shown)
    return table


def write_json(path: Path, facts: dict[str, Any], parameters: dict[str, Any], figures: list[Figure],
               intake: Figure | None, extra: dict[str, Any], routing_figures: list[Figure] | None = None,
               hand_off: Figure | None = None, routing_extra: dict[str, Any] | None = None) -> None:
    document: dict[str, Any] = {
        "machine": facts,
        "parameters": parameters,
        "figures": [{**f.as_dict(), "intake_ratio": _rounded(ratio(intake, f))} for f in figures],
        **extra,
    }
    if routing_figures:
        document["routing"] = {
            "figures": [{**f.as_dict(), "hand_off_p50_ratio": _rounded(latency_ratios(hand_off, f)[0]),
                         "hand_off_p99_ratio": _rounded(latency_ratios(hand_off, f)[1])} for f in routing_figures],
            **(routing_extra or {}),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def print_results(console: Console, figures: list[Figure], intake: Figure | None, parameters: dict[str, Any]) -> None:
    console.print(results_table(figures, intake, parameters))
    for line in notes(figures):
        console.print(f"  [dim]{line}[/dim]")
