"""A Kafka broker and a PostgreSQL cluster of a test's own, to break without harming anyone.

Started with the project's own ``infra.kafka`` and ``infra.postgres`` (as ``lienthong infra
up`` starts them), but from a state directory of the test's (``LIENTHONG_STATE_DIR``) on
free ports: the shared instances other tests run on are never touched.  Each call runs in a
child interpreter so the state directory applies to it alone.  Everything is stopped by its
own PID or data directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.sandbox import REPO_ROOT, free_port

_SCRIPT = """
import json, sys
from infra import kafka, postgres, state
action, args = sys.argv[1], json.loads(sys.argv[2])
if action == "postgres-up":
    info = postgres.up(port=args["port"])
    print(json.dumps({"database_url": info.database_url, "pid": info.pid,
                      "root": str(info.data_dir.parent)}))
elif action == "postgres-stop-immediately":
    user, bin_dir, root = postgres._existing_cluster()
    done = postgres._pg_ctl(user, bin_dir, root, "stop", "-m", "immediate", "-w", "-t", "60")
    print(json.dumps({"returncode": done.returncode}))
elif action == "postgres-down":
    print(json.dumps({"was_running": postgres.down()}))
elif action == "kafka-up":
    info = kafka.up(port=args["port"], controller_port=args["controller_port"])
    print(json.dumps({"bootstrap_servers": info.bootstrap_servers, "pid": info.pid}))
elif action == "kafka-down":
    print(json.dumps({"was_running": kafka.down()}))
"""


@dataclass
class PrivateInfra:
    state_dir: Path
    kafka_port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    postgres_port: int = field(default_factory=free_port)
    kafka_pid: int | None = None
    postgres_root: Path | None = None
    database_url: str = ""
    kafka_bootstrap_servers: str = ""

    def _infra(self, action: str, **args: object) -> dict[str, object]:
        done = subprocess.run([sys.executable, "-c", _SCRIPT, action, json.dumps(args)], cwd=REPO_ROOT,
                              env={**os.environ, "LIENTHONG_STATE_DIR": str(self.state_dir)},
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"infra {action} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def start_postgres(self) -> str:
        info = self._infra("postgres-up", port=self.postgres_port)
        self.database_url = str(info["database_url"])
        self.postgres_root = Path(str(info["root"]))
        return self.database_url

    def stop_postgres_immediately(self) -> None:
        """``pg_ctl stop -m immediate``: every connection is cut, no checkpoint (a crash, in effect)."""
        self._infra("postgres-stop-immediately")

    def start_kafka(self) -> str:
        info = self._infra("kafka-up", port=self.kafka_port, controller_port=self.controller_port)
        self.kafka_bootstrap_servers = str(info["bootstrap_servers"])
        self.kafka_pid = int(str(info["pid"]))
        return self.kafka_bootstrap_servers

    def kill_kafka(self) -> None:
        """SIGKILL to the broker's PID; waits until it is gone."""
        assert self.kafka_pid is not None
        os.kill(self.kafka_pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(self.kafka_pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        for action in ("kafka-down", "postgres-down"):
            with contextlib.suppress(RuntimeError):
                self._infra(action)
        if self.postgres_root is not None and self.state_dir not in self.postgres_root.parents:
            shutil.rmtree(self.postgres_root.parent, ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our detached child) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, IndexError):
        return False
