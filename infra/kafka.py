"""A single-node Apache Kafka broker (KRaft, broker and controller in one JVM) on 127.0.0.1.

Contract:

* :func:`ensure_jars` makes sure ``infra/kafka/.cache/libs`` holds the broker's jars,
  running Maven (``infra/kafka/pom.xml``) only when they are missing.
* :func:`up` starts the broker detached (or reuses the one already running from this state
  directory) and returns only when it accepts TCP connections *and* answers a metadata
  request listing itself. Storage is formatted on the first start only; later starts keep
  the cluster id, topics and offsets. Files live in ``<state>/kafka/``: ``server.properties``,
  ``data/``, ``logs/server.log`` (log4j) and ``logs/stdout.log`` (JVM output).
* :func:`down` stops the broker (SIGTERM, then SIGKILL after a timeout); :func:`status`
  reports without changing anything.
* The functions are synchronous; call them from synchronous code or ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console

from infra import state
from infra.process import (
    StartupError,
    command_line,
    is_alive,
    log_tail,
    port_open,
    spawn_detached,
    terminate,
    wait_until,
)

DEFAULT_PORT = 29092
DEFAULT_CONTROLLER_PORT = 29093
KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
LIBS_DIR = KAFKA_DIR / ".cache" / "libs"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
JVM_OPTIONS = ["-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]
MAIN_CLASS = "kafka.Kafka"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class KafkaInfo:
    """A running broker: where clients connect, its pid and its log file."""

    bootstrap_servers: str
    pid: int
    log_file: Path


@dataclass(frozen=True)
class KafkaStatus:
    """What :func:`status` found: ``answering`` is true when a metadata request succeeded."""

    running: bool
    pid: int | None
    bootstrap_servers: str | None
    answering: bool


def kafka_version() -> str:
    """The Kafka version pinned in ``infra/kafka/pom.xml``."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", (KAFKA_DIR / "pom.xml").read_text())
    if not match:
        raise StartupError("infra/kafka/pom.xml does not declare <kafka.version>")
    return match.group(1).strip()


def _jars_complete() -> bool:
    version = kafka_version()
    required = [f"kafka_2.13-{version}.jar", f"kafka-clients-{version}.jar", f"kafka-server-{version}.jar",
                f"kafka-raft-{version}.jar", f"kafka-metadata-{version}.jar", f"kafka-storage-{version}.jar"]
    prefixes = ["log4j-core-", "log4j-slf4j-impl-", "scala-library-", "slf4j-api-"]
    names = {jar.name for jar in LIBS_DIR.glob("*.jar") if jar.stat().st_size > 0}
    return all(name in names for name in required) and all(
        any(name.startswith(prefix) for name in names) for prefix in prefixes
    )


def ensure_jars(console: Console | None = None) -> Path:
    """Return the jar directory, downloading the jars with Maven first if they are missing."""
    if LIBS_DIR.is_dir() and _jars_complete():
        return LIBS_DIR
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StartupError("Maven (mvn) is needed once to download the Kafka jars; install it and retry")
    console = console or Console(stderr=True)
    with console.status(f"Downloading Apache Kafka {kafka_version()} jars with Maven…"):
        done = subprocess.run([mvn, "-q", "-B", "dependency:copy-dependencies"], cwd=KAFKA_DIR,
                              capture_output=True, text=True)
    if done.returncode != 0 or not _jars_complete():
        output = done.stdout[-2000:] + done.stderr[-2000:]
        raise StartupError(f"Maven could not fetch the Kafka jars:\n{output}")
    return LIBS_DIR


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise StartupError("Java 17 or newer is needed to run Kafka; install a JDK and retry")
    return java


def _home() -> Path:
    return state.state_dir() / "kafka"


def _server_properties(port: int, controller_port: int) -> str:
    data = _home() / "data"
    return "\n".join([
        "# Written by `lienthong infra up` on every start; edit infra/kafka.py instead.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data}",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=10",  # 50 by default: slow first start on a small machine
        "transaction.state.log.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "",
    ])


def _java_command(main_class: str, *args: str, jvm_options: list[str] | None = None) -> list[str]:
    return [_java(), *(jvm_options or []), f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={_home() / 'logs'}", "-cp", str(LIBS_DIR / "*"), main_class, *args]


def _format_storage_once(properties: Path) -> None:
    """Format ``data/`` with a new cluster id unless it already holds a formatted log dir."""
    data = _home() / "data"
    if (data / "meta.properties").exists():
        return
    id_file = _home() / "cluster-id"
    if not id_file.exists():
        made = subprocess.run(_java_command("kafka.tools.StorageTool", "random-uuid"),
                              capture_output=True, text=True, check=True)
        id_file.write_text(made.stdout.strip().splitlines()[-1] + "\n")
    formatted = subprocess.run(
        _java_command("kafka.tools.StorageTool", "format", "-t", id_file.read_text().strip(),
                      "-c", str(properties), "--ignore-formatted"),
        capture_output=True, text=True,
    )
    if formatted.returncode != 0:
        raise StartupError(f"formatting Kafka storage failed:\n{formatted.stdout}{formatted.stderr}")


@contextlib.contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    logger = logging.getLogger("aiokafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


async def _describe_cluster(bootstrap_servers: str, timeout: float) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        return await asyncio.wait_for(admin.describe_cluster(), timeout)
    finally:
        await admin.close()


def answers(bootstrap_servers: str, timeout: float = 3.0) -> bool:
    """Whether the broker answers a metadata request that lists at least one broker."""
    host, _, port = bootstrap_servers.rpartition(":")
    if not port_open(int(port), host):
        return False
    with _quiet_aiokafka():
        try:
            cluster = asyncio.run(_describe_cluster(bootstrap_servers, timeout))
        except Exception:  # any failure means "not ready yet"
            return False
    return bool(cluster.get("brokers"))


def _running_pid() -> int | None:
    """The pid of the broker started from this state directory, if it still runs."""
    pid = state.read_pid("kafka")
    if pid is None:
        return None
    if is_alive(pid) and MAIN_CLASS in command_line(pid):
        return pid
    state.remove_pid("kafka")
    return None


def _wait_ready(pid: int, bootstrap_servers: str, stdout_log: Path, timeout: float) -> None:
    def ready() -> bool:
        if not is_alive(pid):
            server_log = stdout_log.with_name("server.log")
            raise StartupError(f"Kafka exited during start-up; see {server_log}. Last lines:\n"
                               f"{log_tail(stdout_log)}\n{log_tail(server_log)}")
        return answers(bootstrap_servers)

    wait_until(ready, timeout=timeout, interval=0.5, what=f"Kafka to answer on {bootstrap_servers}")


def up(port: int = DEFAULT_PORT, controller_port: int = DEFAULT_CONTROLLER_PORT,
       timeout: float = START_TIMEOUT) -> KafkaInfo:
    """Start the broker (or reuse the running one) and wait until it answers.

    Raises :class:`StartupError` when a port is taken by another process, when a broker
    from this state directory already runs on other ports, or when start-up times out.
    """
    ensure_jars()
    bootstrap = f"127.0.0.1:{port}"
    log_file = _home() / "logs" / "server.log"
    stdout_log = _home() / "logs" / "stdout.log"
    pid = _running_pid()
    if pid is not None:
        recorded = state.read_info().get("kafka", {}).get("bootstrap_servers", bootstrap)
        if recorded != bootstrap:
            raise StartupError(f"Kafka from this state directory already runs at {recorded}; "
                               "run `infra down` before changing ports")
        _wait_ready(pid, bootstrap, stdout_log, timeout)
        return KafkaInfo(bootstrap, pid, log_file)
    for taken in (port, controller_port):
        if port_open(taken):
            raise StartupError(f"port {taken} on 127.0.0.1 is already in use by another process")
    _home().mkdir(parents=True, exist_ok=True)
    properties = _home() / "server.properties"
    properties.write_text(_server_properties(port, controller_port))
    _format_storage_once(properties)
    pid = spawn_detached(_java_command(MAIN_CLASS, str(properties), jvm_options=JVM_OPTIONS),
                         stdout_log, cwd=_home())
    state.write_pid("kafka", pid)
    state.record("kafka", {"bootstrap_servers": bootstrap, "controller_port": controller_port, "pid": pid,
                           "log_file": str(log_file), "data_dir": str(_home() / "data")})
    try:
        _wait_ready(pid, bootstrap, stdout_log, timeout)
    except StartupError:
        down()
        raise
    return KafkaInfo(bootstrap, pid, log_file)


def down(timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the broker started from this state directory. True if one was running."""
    pid = _running_pid()
    if pid is not None:
        terminate(pid, timeout=timeout)
    state.remove_pid("kafka")
    state.forget("kafka")
    return pid is not None


def status() -> KafkaStatus:
    """Whether the broker runs and answers; changes nothing."""
    pid = _running_pid()
    bootstrap = state.read_info().get("kafka", {}).get("bootstrap_servers") if pid else None
    return KafkaStatus(running=pid is not None, pid=pid, bootstrap_servers=bootstrap,
                       answering=bool(bootstrap) and answers(str(bootstrap)))
