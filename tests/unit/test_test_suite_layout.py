"""The layout of the test suite itself: test modules share helpers through tests/support only."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TEST_PACKAGES = ("tests.unit.", "tests.integration.", "tests.e2e.")


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of everything ``path`` imports, relative imports resolved.

    ``root`` is the tests/ folder; module names start at its parent, as in ``tests.unit.test_x``.
    """
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    package = parts if parts[-1] == "__init__" else parts[:-1]
    package = [p for p in package if p != "__init__"]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            anchor = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def imports_of_test_modules(root: Path) -> list[str]:
    """``path:line name`` for every import, under ``root``, of something in tests/unit, tests/integration
    or tests/e2e (test modules and their conftests share nothing by import; pytest shares fixtures)."""
    return [
        f"{path.relative_to(root.parent).as_posix()}:{line} {name}"
        for path in sorted(root.rglob("*.py"))
        for line, name in imported_modules(path, root)
        if name.startswith(TEST_PACKAGES)
    ]


def test_no_test_module_imports_another_test_module_helpers_come_from_tests_support() -> None:
    assert imports_of_test_modules(TESTS) == [], "move what test modules share to tests/support"


def test_the_scan_finds_absolute_and_relative_imports_of_test_modules(tmp_path: Path) -> None:
    unit = tmp_path / "tests" / "unit"
    unit.mkdir(parents=True)
    (unit / "test_a.py").write_text("from tests.unit.test_b import a_thing\n", encoding="utf-8")
    (unit / "test_c.py").write_text("from .test_b import a_thing\nimport tests.e2e.test_d\n", encoding="utf-8")
    (unit / "test_e.py").write_text("from tests.support.builders import a_dossier\nfrom . import conftest\n",
                                    encoding="utf-8")

    found = imports_of_test_modules(tmp_path / "tests")

    assert found == ["tests/unit/test_a.py:1 tests.unit.test_b.a_thing",
                     "tests/unit/test_c.py:1 tests.unit.test_b.a_thing",
                     "tests/unit/test_c.py:2 tests.e2e.test_d",
                     "tests/unit/test_e.py:2 tests.unit.conftest"]
