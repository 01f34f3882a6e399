"""Which Kafka and PostgreSQL the bench uses, and the facts of the machine it runs on.

``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` are used when both are set. Otherwise
``infra.stack.up()`` starts (or reuses) the native development stack; whatever was not
running before is stopped again at the end, whatever was running is left running.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg


@dataclass
class Infrastructure:
    kafka: str
    database_url: str
    native: bool  # the native stack of infra.stack (its Kafka version is known)
    started: list[str] = field(default_factory=list)  # components the bench started

    def release(self) -> list[str]:
        """Stop what the bench started; the names of what it stopped."""
        from infra import kafka, postgres

        stoppers = {"kafka": kafka.down, "postgres": postgres.down}
        for component in self.started:
            stoppers[component]()
        return list(self.started)


def acquire(report: Any = print) -> Infrastructure:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database_url = os.environ.get("DATABASE_URL")
    if kafka and database_url:
        return Infrastructure(kafka, database_url, native=False)

    from infra import stack

    before = stack.status()
    info = stack.up(report=report)
    started = [name for name, running in (("kafka", before.kafka.running), ("postgres", before.postgres.running))
               if not running]
    return Infrastructure(kafka or info.kafka_bootstrap_servers, database_url or info.database_url,
                          native=not kafka, started=started)


async def machine_facts(infrastructure: Infrastructure) -> dict[str, Any]:
    """Cores, CPU, memory, load, Python, library, Kafka and PostgreSQL versions."""
    facts: dict[str, Any] = {
        "date": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "libraries": ", ".join(f"{name} {importlib.metadata.version(name)}"
                               for name in ("aiokafka", "asyncpg", "httpx", "eventsourcing", "uvicorn")),
    }
    if infrastructure.native:
        from infra.kafka import kafka_version

        facts["kafka"] = f"Apache Kafka {kafka_version()} (KRaft, 1 node) at {infrastructure.kafka}"
    else:
        facts["kafka"] = f"broker at {infrastructure.kafka} (version not reported by the protocol)"
    conn = await asyncpg.connect(infrastructure.database_url)
    try:
        version = await conn.fetchval("SHOW server_version")
        fsync = await conn.fetchval("SHOW fsync")
        sync_commit = await conn.fetchval("SHOW synchronous_commit")
    finally:
        await conn.close()
    host = infrastructure.database_url.rsplit("@", 1)[-1]
    facts["postgresql"] = f"PostgreSQL {version} at {host} (fsync={fsync}, synchronous_commit={sync_commit})"
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None
