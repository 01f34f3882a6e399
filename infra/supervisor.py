"""A supervisor for a deployment's processes, as systemd or a container runtime would be.

Contract:

* :meth:`Supervisor.run` starts every child, and restarts one that exits, after a backoff that
  doubles with each quick failure (:func:`backoff`: 0.5 s, 1 s, 2 s … capped at 30 s) and starts
  again from 0.5 s once a child has stayed up :data:`STABLE_SECONDS`. Every exit and restart is
  logged. It returns after SIGTERM or SIGINT, having stopped every child by PID (SIGTERM, then
  SIGKILL after ``grace_seconds``).
* Children run in sessions of their own (a Ctrl-C in the supervisor's terminal reaches the
  supervisor only) and, on Linux, get SIGTERM if the supervisor itself dies.
* ``<state_dir>/supervisor.pid`` holds the supervisor's pid while it runs, and
  ``<state_dir>/supervisor.json`` (replaced atomically on every change) says, per child, its
  pid, state (``running``, ``restarting``, ``stopped``), restarts and last exit code;
  :func:`read_status` reads it. Each child's output is appended to ``<state_dir>/logs/<name>.log``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.state import write_private

STATUS_FILE = "supervisor.json"
PID_FILE = "supervisor.pid"
BASE_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 30.0
"""A child that ran this long before it exited is restarted after the base backoff again."""
POLL_SECONDS = 0.2

log = logging.getLogger("lienthong.supervisor")


def backoff(consecutive_failures: int) -> float:
    """Seconds to wait before restarting a child that failed ``consecutive_failures`` times in a row."""
    return min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, consecutive_failures - 1))


@dataclass(frozen=True)
class ChildSpec:
    """One process to keep running."""

    name: str
    argv: Sequence[str]
    cwd: Path | None = None


@dataclass
class _Child:
    spec: ChildSpec
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    consecutive_failures: int = 0
    last_exit_code: int | None = None
    restart_at: float | None = None
    started_wall: str | None = None

    def record(self) -> dict[str, Any]:
        running = self.process is not None and self.process.poll() is None
        return {
            "pid": self.process.pid if running and self.process is not None else None,
            "state": "running" if running else ("restarting" if self.restart_at is not None else "stopped"),
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "started_at": self.started_wall,
            "log": str(self.log_path),
        }


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Supervisor:
    """Keeps ``children`` running; see the module's contract."""

    children: Sequence[ChildSpec]
    state_dir: Path
    grace_seconds: float = 20.0
    env: dict[str, str] | None = None
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _children: list[_Child] = field(default_factory=list, init=False)

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def run(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, self.request_stop),
                    signal.SIGINT: signal.signal(signal.SIGINT, self.request_stop)}
        (self.state_dir / PID_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
        self._children = [_Child(spec, self.state_dir / "logs" / f"{spec.name}.log") for spec in self.children]
        try:
            for child in self._children:
                self._start(child)
            self._write_status()
            while not self._stop.wait(POLL_SECONDS):
                if self._tend():
                    self._write_status()
        finally:
            self._stop_all()
            self._write_status()
            (self.state_dir / PID_FILE).unlink(missing_ok=True)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _start(self, child: _Child) -> None:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(child.log_path, "ab") as output:
            child.process = subprocess.Popen(
                list(child.spec.argv), cwd=child.spec.cwd, env=self.env, stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        child.started_at = time.monotonic()
        child.started_wall = datetime.now(UTC).isoformat(timespec="seconds")
        child.restart_at = None
        log.info("started %s (pid %d)", child.spec.name, child.process.pid)

    def _tend(self) -> bool:
        """Notice exits, start what is due; True when anything changed."""
        changed = False
        now = time.monotonic()
        for child in self._children:
            if child.process is not None and (code := child.process.poll()) is not None:
                child.process = None
                child.last_exit_code = code
                ran = now - child.started_at
                child.consecutive_failures = 1 if ran >= STABLE_SECONDS else child.consecutive_failures + 1
                delay = backoff(child.consecutive_failures)
                child.restart_at = now + delay
                log.warning("%s exited with code %d after %.1f s; restarting in %.1f s (restart %d)",
                            child.spec.name, code, ran, delay, child.restarts + 1)
                changed = True
            if child.process is None and child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)
                changed = True
        return changed

    def _stop_all(self) -> None:
        running = [c for c in self._children if c.process is not None and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", child.spec.name, self.grace_seconds)
                child.process.kill()
                child.process.wait(timeout=10)
            child.last_exit_code = child.process.returncode
            log.info("stopped %s (pid %d)", child.spec.name, child.process.pid)
        for child in self._children:
            child.restart_at = None

    def _write_status(self) -> None:
        status = {"pid": os.getpid(), "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                  "stopping": self._stop.is_set(),
                  "children": {child.spec.name: child.record() for child in self._children}}
        write_private(self.state_dir / STATUS_FILE, json.dumps(status, indent=2) + "\n")


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """What the supervisor of ``state_dir`` last recorded, or ``None`` when it never ran there."""
    try:
        return json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_pid(state_dir: Path) -> int | None:
    """The running supervisor's pid, as its pid file says (``None`` without one)."""
    try:
        return int((state_dir / PID_FILE).read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return None
