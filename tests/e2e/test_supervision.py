"""`lienthong supervise` keeps a deployment's processes running, as `lienthong up` runs them.

The supervisor runs intake's three processes of a sandboxed deployment (its own topics, schema,
credentials, port and state directory — never the repository's `.state`). A process killed
with SIGKILL comes back under a new pid, the HTTP one answers again, `lienthong status` shows
the restarts, and `lienthong down --keep-infra` stops the supervisor and every child by PID
(Kafka and PostgreSQL are shared: they are left alone).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from infra.process import is_alive
from infra.supervisor import read_pid, read_status
from services.sandbox import REPO_ROOT
from tests.support.endpoints import Endpoints
from tests.support.intake import IntakeDeployment, bearer, uploaded_submission
from tests.support.kafka import create_topics, eventually

pytestmark = pytest.mark.e2e
PROCESSES = ("intake", "intake-relay", "intake-consumer")


class Supervised:
    """A supervisor process over a sandboxed intake, and where it records what it does."""

    def __init__(self, deployment: IntakeDeployment, state_dir: Path) -> None:
        self.deployment = deployment
        self.state_dir = state_dir
        self.env = {**os.environ, **deployment.environment(), "LIENTHONG_STATE_DIR": str(state_dir)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "supervisor.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "supervise", *PROCESSES, "--state-dir", str(self.state_dir)],
                cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def children(self) -> dict[str, dict]:
        return (read_status(self.state_dir) or {}).get("children", {})

    def child(self, name: str) -> dict:
        return self.children().get(name, {})

    def lienthong(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=REPO_ROOT,
                              env={**self.env, "COLUMNS": "250"}, capture_output=True, text=True, timeout=120,
                              check=False)

    def stop(self) -> None:
        """Whatever the test left running: the supervisor by PID, then any child it recorded."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)
        for child in self.children().values():
            if child.get("pid") and is_alive(child["pid"]):
                os.kill(child["pid"], signal.SIGKILL)


@pytest.fixture
async def supervised(endpoints: Endpoints, tmp_path: Path) -> AsyncIterator[Supervised]:
    deployment = IntakeDeployment(endpoints.kafka_bootstrap_servers, endpoints.database_url, tmp_path)
    await create_topics(deployment.kafka, [deployment.events_topic, deployment.status_topic])
    await create_topics(deployment.kafka, [deployment.dead_letter_topic], partitions=1)
    supervised = Supervised(deployment, tmp_path / "state")
    supervised.start()
    try:
        await eventually(lambda: all_running(supervised), timeout=90)
        await eventually(lambda: ready(deployment), timeout=90)
        yield supervised
    finally:
        supervised.stop()


async def all_running(supervised: Supervised) -> bool:
    assert supervised.process is not None and supervised.process.poll() is None, \
        (supervised.state_dir / "supervisor.log").read_text(errors="replace")[-5000:]
    children = supervised.children()
    return set(children) == set(PROCESSES) and all(c["state"] == "running" for c in children.values())


async def ready(deployment: IntakeDeployment) -> bool:
    async with httpx.AsyncClient(timeout=2) as client:
        try:
            return (await client.get(f"{deployment.base_url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False


async def restarted(supervised: Supervised, name: str, old_pid: int) -> bool:
    child = supervised.child(name)
    return child.get("state") == "running" and child.get("pid") not in (None, old_pid) and child["restarts"] >= 1


async def test_a_killed_worker_is_restarted_by_the_supervisor(supervised: Supervised) -> None:
    relay = supervised.child("intake-relay")["pid"]

    os.kill(relay, signal.SIGKILL)

    await eventually(lambda: restarted(supervised, "intake-relay", relay), timeout=60)
    assert supervised.child("intake-relay")["restarts"] == 1
    assert "intake-relay exited" in (supervised.state_dir / "supervisor.log").read_text(errors="replace")


async def test_a_killed_http_process_is_restarted_and_answers_again(supervised: Supervised) -> None:
    deployment = supervised.deployment
    http = supervised.child("intake")["pid"]

    os.kill(http, signal.SIGKILL)

    await eventually(lambda: restarted(supervised, "intake", http), timeout=60)
    await eventually(lambda: ready(deployment), timeout=90)
    async with httpx.AsyncClient(base_url=deployment.base_url, timeout=60) as client:
        token = deployment.token("portal")
        body = await uploaded_submission(client, token, deployment.agency_id)
        response = await client.post("/v1/dossiers", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text


async def test_status_shows_the_restarts_and_down_stops_the_supervisor_and_its_processes(
        supervised: Supervised) -> None:
    consumer = supervised.child("intake-consumer")["pid"]
    os.kill(consumer, signal.SIGKILL)
    await eventually(lambda: restarted(supervised, "intake-consumer", consumer), timeout=60)
    children = [c["pid"] for c in supervised.children().values()]

    status = supervised.lienthong("status")

    assert status.returncode == 0, status.stdout + status.stderr
    rows = {cells[1].strip(): [c.strip() for c in cells[2:]] for line in status.stdout.splitlines()
            if len(cells := line.split("│")) >= 5}
    assert rows["intake-consumer"][:2] == [f"running (pid {supervised.child('intake-consumer')['pid']})", "1"]
    assert rows["intake"][1] == "0"

    down = supervised.lienthong("down", "--keep-infra")

    assert down.returncode == 0, down.stdout + down.stderr
    assert supervised.process is not None
    assert supervised.process.wait(timeout=60) == 0
    assert read_pid(supervised.state_dir) is None
    assert not any(is_alive(pid) for pid in children)
