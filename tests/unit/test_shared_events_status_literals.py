"""National status codes are named, never written as numbers: ``shared_events.contracts.values``
holds :class:`NationalStatus`, ``STATUS_OWNERS`` and ``TERMINAL_STATUSES``, and code compares
with those.

The scan reads every module of the service packages and reports a comparison of a
``national_status`` (or a bare ``status``) with an integer literal, and an integer literal passed
or stored as ``national_status``. ``response.status == 200`` is HTTP and not looked at.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("intake", "services", "shared_events", "bench", "infra", "routing")
STATUS_NAMES = frozenset({"national_status", "status"})


def _is_status(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in STATUS_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr == "national_status"
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value == "national_status"
    return False


def _has_int_literal(node: ast.expr | None) -> bool:
    if isinstance(node, ast.Constant):
        return type(node.value) is int
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_has_int_literal(e) for e in node.elts)
    return False


def status_literals(source: str) -> Iterator[tuple[int, str]]:
    """``(line, code)`` of every place ``source`` writes a status as a number."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_is_status(o) for o in operands) and any(_has_int_literal(o) for o in operands):
                yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.keyword) and node.arg == "national_status" and _has_int_literal(node.value):
            yield node.value.lineno, f"national_status={ast.unparse(node.value)}"
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "national_status" and _has_int_literal(value):
                    yield value.lineno, f"'national_status': {ast.unparse(value)}"


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("source", [
    "if national_status == 2: pass",
    "ok = dossier.national_status in (1, 2)",
    "ok = 9 != status",
    "Dossier(national_status=9)",
    "row = {'national_status': 4}",
    "ok = event['national_status'] >= 4",
])
def test_the_scan_finds_a_status_written_as_a_number(source: str) -> None:
    assert list(status_literals(source))


@pytest.mark.parametrize("source", [
    "if national_status == NationalStatus.ACCEPTED: pass",
    "ok = dossier.national_status in TERMINAL_STATUSES",
    "ok = response.status == 200",
    "Problem(status=503, slug='service-unavailable')",
    "Dossier(national_status=status_at_receipt(channel))",
])
def test_the_scan_leaves_named_statuses_and_http_statuses_alone(source: str) -> None:
    assert not list(status_literals(source))


def test_no_module_of_the_services_writes_a_national_status_as_a_number() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}: {code}"
             for path in modules() for line, code in status_literals(path.read_text(encoding="utf-8"))]

    assert found == [], "use shared_events.contracts.values.NationalStatus:\n" + "\n".join(found)
