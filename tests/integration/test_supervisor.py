"""The supervisor keeps real child processes running: restarts what exits, stops all by PID.

The children are small Python programs, so these tests need neither Kafka nor PostgreSQL;
the supervisor runs as a process of its own, as `lienthong up` starts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.process import is_alive, wait_until
from infra.supervisor import MAX_BACKOFF_SECONDS, backoff, read_pid, read_status

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_backoff_doubles_with_each_quick_failure_up_to_its_cap() -> None:
    delays = [backoff(n) for n in range(1, 12)]

    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays == sorted(delays)
    assert max(delays) == MAX_BACKOFF_SECONDS


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A supervisor of two children: one that keeps running, one that fails at once (exit 3)."""
    state_dir = tmp_path / "state"
    program = textwrap.dedent(f"""
        import logging, sys
        from pathlib import Path
        from infra.supervisor import ChildSpec, Supervisor
        logging.basicConfig(level=logging.INFO)
        Supervisor([ChildSpec("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"]),
                    ChildSpec("crasher", [sys.executable, "-c", "raise SystemExit(3)"])],
                   Path({str(state_dir)!r}), grace_seconds=5).run()
    """)
    with open(tmp_path / "supervisor.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", program], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                   stderr=log, start_new_session=True)
    try:
        wait_until(lambda: child(state_dir, "sleeper").get("state") == "running", timeout=30,
                   what="the sleeper to run")
        yield process, state_dir
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def child(state_dir: Path, name: str) -> dict:
    return (read_status(state_dir) or {}).get("children", {}).get(name, {})


def test_a_child_that_is_killed_is_started_again_with_a_new_pid(supervisor) -> None:
    _, state_dir = supervisor
    first = child(state_dir, "sleeper")["pid"]

    os.kill(first, signal.SIGKILL)

    wait_until(lambda: child(state_dir, "sleeper").get("state") == "running"
               and child(state_dir, "sleeper").get("pid") != first, timeout=30, what="the sleeper to come back")
    restarted = child(state_dir, "sleeper")
    assert restarted["restarts"] == 1
    assert restarted["last_exit_code"] == -signal.SIGKILL
    assert is_alive(restarted["pid"])


def test_a_child_that_keeps_failing_is_restarted_again_and_again_and_its_exit_code_recorded(supervisor) -> None:
    _, state_dir = supervisor

    wait_until(lambda: child(state_dir, "crasher").get("restarts", 0) >= 3, timeout=30,
               what="three restarts of the crasher")

    assert child(state_dir, "crasher")["last_exit_code"] == 3
    assert "crasher exited with code 3" in (state_dir.parent / "supervisor.log").read_text()


def test_sigterm_stops_the_supervisor_and_every_child_by_pid(supervisor) -> None:
    process, state_dir = supervisor
    sleeper = child(state_dir, "sleeper")["pid"]
    assert read_pid(state_dir) == process.pid

    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=30)

    assert not is_alive(sleeper)
    assert child(state_dir, "sleeper")["state"] == "stopped"
    assert read_pid(state_dir) is None


def test_a_child_is_stopped_when_its_supervisor_is_killed(supervisor) -> None:
    process, state_dir = supervisor
    sleeper = child(state_dir, "sleeper")["pid"]

    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

    wait_until(lambda: not is_alive(sleeper), timeout=30, what="the orphaned child to stop")
