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


def write_json(path: Path, facts: dict[str, Any], parameters: dict[str, Any], figures: list[Figure],
               intake: Figure | None, extra: dict[str, Any]) -> None:
    document = {
        "machine": facts,
        "parameters": parameters,
        "figures": [{**f.as_dict(), "intake_ratio": _rounded(ratio(intake, f))} for f in figures],
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def print_results(console: Console, figures: list[Figure], intake: Figure | None, parameters: dict[str, Any]) -> None:
    console.print(results_table(figures, intake, parameters))
    for line in notes(figures):
        console.print(f"  [dim]{line}[/dim]")
