"""Reading versioned rule data from YAML files: one error base, one way to find, read and validate.

The catalogue (``intake/catalogue.py``), the geography (``routing/geography.py``) and the routes
(``routing/routes.py``) are YAML files read once at start-up. Each module subclasses
:class:`DataFileError` and passes its class as ``error``, so a bad file raises that module's error
with the file and the reason, worded the same way everywhere. Pure apart from reading the files:
no service imports, no I/O besides :func:`read_mapping`.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

YAML_SUFFIXES = frozenset({".yaml", ".yml"})

M = TypeVar("M", bound=BaseModel)


class DataFileError(ValueError):
    """Data that cannot be used; ``file`` and ``reason`` say where and why (``"<file>: <reason>"``)."""

    def __init__(self, file: str | Path, reason: str) -> None:
        self.file = str(file)
        self.reason = reason
        super().__init__(f"{file}: {reason}")


def yaml_files(path: Path, *, error: type[DataFileError] = DataFileError, suffixes: Collection[str] = YAML_SUFFIXES,
               none_found: str = "no YAML files") -> list[Path]:
    """``path`` itself when it is a file, else the files in the directory ``path`` with one of
    ``suffixes``, sorted; ``error`` when there is no such path or no such file in it."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise error(path, "no such file or directory")
    files = sorted(p for p in path.iterdir() if p.suffix in suffixes and p.is_file())
    if not files:
        raise error(path, none_found)
    return files


def read_mapping(file: Path, *, error: type[DataFileError] = DataFileError, allowed: Collection[str] | None = None,
                 name: str | None = None) -> dict[str, Any]:
    """The YAML mapping in ``file``; ``error`` (naming ``name``, default the path) when the file
    cannot be read, is not YAML, is not a mapping or has a top-level key outside ``allowed``."""
    label = name if name is not None else file
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(label, f"cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise error(label, f"not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise error(label, "expected a mapping at the top level")
    if allowed is not None and (unknown := set(document) - set(allowed)):
        raise error(label, f"unknown top-level keys {sorted(unknown)}; expected {sorted(allowed)}")
    return document


def problems_of(exc: ValidationError) -> str:
    """Every error pydantic found, ``"<field path>: <message>"`` (the message alone when it is about
    the whole item) joined by ``"; "``."""
    return "; ".join(
        ": ".join(filter(None, [".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, ")]))
        for e in exc.errors())


def validated(model: type[M], raw: Any, *, file: str | Path, label: str,
              error: type[DataFileError] = DataFileError) -> M:
    """``raw`` as a ``model``; ``error(file, "<label>: <problems>")`` when it does not fit."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(file, f"{label}: {problems_of(exc)}") from None
