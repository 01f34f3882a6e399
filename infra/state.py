"""Where the development infrastructure keeps its files, and what it records there.

Contract:

* :func:`state_dir` is ``$LIENTHONG_STATE_DIR`` or ``<repo root>/.state`` (git-ignored);
  it is created on first use.
* A pid file ``<state>/<name>.pid`` holds one decimal pid.
* ``<state>/infra.json`` (mode 0600) maps a component name (``"kafka"``, ``"postgres"``)
  to a JSON object describing the running instance; :func:`record` replaces one entry,
  :func:`forget` removes it. It never holds a password.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR_ENV = "LIENTHONG_STATE_DIR"
INFO_FILE = "infra.json"


def state_dir() -> Path:
    """The state directory, created if missing."""
    configured = os.environ.get(STATE_DIR_ENV)
    path = Path(configured).expanduser() if configured else REPO_ROOT / ".state"
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def short_hash(text: str) -> str:
    """Eight hex digits identifying ``text`` (used to name per-checkout directories)."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def pid_file(name: str) -> Path:
    return state_dir() / f"{name}.pid"


def write_pid(name: str, pid: int) -> None:
    pid_file(name).write_text(f"{pid}\n", encoding="ascii")


def read_pid(name: str) -> int | None:
    """The pid recorded for ``name``, or ``None`` when there is no readable pid file."""
    try:
        return int(pid_file(name).read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return None


def remove_pid(name: str) -> None:
    pid_file(name).unlink(missing_ok=True)


def read_info() -> dict[str, Any]:
    """Everything ``infra.json`` records, ``{}`` when it does not exist."""
    try:
        return json.loads((state_dir() / INFO_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def record(component: str, details: dict[str, Any]) -> None:
    """Replace the entry of ``component`` in ``infra.json``."""
    info = read_info()
    info[component] = details
    write_private(state_dir() / INFO_FILE, json.dumps(info, indent=2, sort_keys=True) + "\n")


def forget(component: str) -> None:
    """Remove the entry of ``component`` from ``infra.json`` (no error when absent)."""
    info = read_info()
    if info.pop(component, None) is not None:
        write_private(state_dir() / INFO_FILE, json.dumps(info, indent=2, sort_keys=True) + "\n")
