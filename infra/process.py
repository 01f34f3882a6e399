"""Starting, probing and stopping detached server processes.

Contract:

* :func:`spawn_detached` starts a command in its own session (it survives the caller and
  ignores the caller's Ctrl-C), stdin from ``/dev/null``, stdout and stderr appended to a
  log file, and returns its pid.
* :func:`is_alive` is false for missing and zombie processes (and reaps our own children).
* :func:`terminate` sends SIGTERM, waits up to ``timeout`` seconds, then SIGKILLs.
* :func:`wait_until` polls a condition with a deadline; it never sleeps a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class StartupError(RuntimeError):
    """A server did not start or did not become ready in time."""


def spawn_detached(
    command: Sequence[str], log_path: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> int:
    """Start ``command`` detached from this process; its output goes to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    return child.pid


def command_line(pid: int) -> list[str]:
    """The argv of ``pid`` (empty when the process is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (non-zombie) process."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaps it if it is our exited child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def terminate(pid: int, timeout: float = 30.0) -> bool:
    """Stop ``pid``: SIGTERM, wait up to ``timeout`` s, then SIGKILL. True if it had to be killed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if wait_until(lambda: not is_alive(pid), timeout=timeout, raise_on_timeout=False):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    wait_until(lambda: not is_alive(pid), timeout=10.0, what=f"process {pid} to die after SIGKILL")
    return True


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str = "condition",
    raise_on_timeout: bool = True,
) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass.

    Returns True when the condition held; on timeout raises :class:`StartupError`
    (or returns False when ``raise_on_timeout`` is false).
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            if raise_on_timeout:
                raise StartupError(f"timed out after {timeout:.0f}s waiting for {what}")
            return False
        time.sleep(interval)


def log_tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
