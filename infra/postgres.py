"""A development PostgreSQL cluster on 127.0.0.1, run as an unprivileged user.

Contract:

* :func:`ensure_installed` returns the directory of the server binaries (``initdb``,
  ``pg_ctl``), installing the Debian ``postgresql`` package when they are missing and we
  are root; otherwise it fails with a message saying what to install.
* :func:`up` initialises the cluster on first start (UTF8, ``--auth-local=trust``,
  ``--auth-host=scram-sha-256``, random passwords kept mode 0600 in
  ``<state>/postgres-credentials.json``), starts it with ``pg_ctl -w`` (or reuses the
  running one), and makes sure the login role and database ``lienthong`` exist, the role
  owning the database. Calling it again is harmless.
* The cluster lives in ``<state>/postgres/`` (``data/``, ``run/`` socket, ``postgres.log``)
  unless the server user cannot reach the state directory; then in
  ``/var/tmp/lienthong-<hash of the state dir>/postgres/``.
* :func:`database_url` is ``postgresql://lienthong:<password>@127.0.0.1:<port>/lienthong``;
  :func:`create_schema` creates a schema in it if missing; :func:`down` stops the cluster
  (``pg_ctl stop -m fast``); :func:`status` changes nothing. All functions are synchronous.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from rich.console import Console

from infra import runas, state
from infra.process import StartupError, log_tail, port_open

DEFAULT_PORT = 25432
DATABASE = "lienthong"
APP_ROLE = "lienthong"
SUPERUSER = "postgres"
START_TIMEOUT = 60
BIN_DIR_ENV = "LIENTHONG_PG_BINDIR"
CREDENTIALS_FILE = "postgres-credentials.json"
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MAX_SOCKET_PATH = 100  # sun_path holds 107 bytes


@dataclass(frozen=True)
class PostgresInfo:
    """A running cluster: the application's connection URL, where its files are, its pid."""

    database_url: str
    port: int
    data_dir: Path
    log_file: Path
    pid: int | None


@dataclass(frozen=True)
class PostgresStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path | None  # None before the first `up`


# --- binaries -------------------------------------------------------------------------


def _bin_dir(preferred_version: str | None = None) -> Path | None:
    if os.environ.get(BIN_DIR_ENV):
        return Path(os.environ[BIN_DIR_ENV])
    found = [d / "bin" for d in Path("/usr/lib/postgresql").glob("*") if (d / "bin" / "pg_ctl").exists()]
    found.sort(key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0, reverse=True)
    for candidate in found:
        if candidate.parent.name == preferred_version:
            return candidate
    if found:
        return found[0]
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl and (Path(pg_ctl).parent / "initdb").exists() else None


def ensure_installed(console: Console | None = None) -> Path:
    """The server binaries' directory, installing PostgreSQL with apt-get if root and missing."""
    existing = _existing_root()
    wanted = (existing / "data" / "PG_VERSION").read_text().strip() if existing else None
    found = _bin_dir(wanted)
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StartupError("PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
                           f"(Debian/Ubuntu: `sudo apt-get install postgresql`) or set {BIN_DIR_ENV}")
    console = console or Console(stderr=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with console.status("Installing PostgreSQL with apt-get…"):
        for step in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql-common"],
                     # like the official image: no default cluster on port 5432
                     ["sed", "-ri", r"s/#?\s*(create_main_cluster) .*$/\1 = false/",
                      "/etc/postgresql-common/createcluster.conf"],
                     ["apt-get", "install", "-y", "postgresql"]):
            done = subprocess.run(step, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise StartupError(f"`{' '.join(step)}` failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    found = _bin_dir(wanted)
    if found is None:
        raise StartupError("apt-get installed postgresql but no pg_ctl was found under /usr/lib/postgresql")
    return found


# --- files ----------------------------------------------------------------------------


def _candidate_roots() -> tuple[Path, Path]:
    preferred = state.state_dir() / "postgres"
    fallback = Path("/var/tmp") / f"lienthong-{state.short_hash(str(state.state_dir()))}" / "postgres"
    return preferred, fallback


def _existing_root() -> Path | None:
    """The directory of an already initialised cluster, if any."""
    return next((r for r in _candidate_roots() if (r / "data" / "PG_VERSION").exists()), None)


def _root(user: runas.ServerUser) -> Path:
    """The cluster's directory (see module docstring); neither created nor chowned here."""
    existing = _existing_root()
    if existing is not None:
        return existing
    preferred, fallback = _candidate_roots()
    too_long = len(str(preferred / "run" / ".s.PGSQL.00000")) > MAX_SOCKET_PATH
    if too_long or not runas.can_reach(user, state.state_dir()):
        return fallback
    return preferred


def _prepare_root(user: runas.ServerUser) -> Path:
    root = _root(user)
    if root.parent != state.state_dir():
        Console(stderr=True).print(f"[yellow]{user.name} cannot use {state.state_dir()}; "
                                   f"PostgreSQL keeps its files in {root}[/]")
        root.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    for directory in (root, root / "run"):
        directory.mkdir(mode=0o700, exist_ok=True)
        runas.give(user, directory)
    return root


def _credentials() -> dict[str, str]:
    """The stored passwords, created (mode 0600) on first use."""
    path = state.state_dir() / CREDENTIALS_FILE
    if path.exists():
        return json.loads(path.read_text())
    created = {"superuser_password": secrets.token_urlsafe(24), "app_password": secrets.token_urlsafe(24)}
    state.write_private(path, json.dumps(created, indent=2) + "\n")
    return created


def _initdb(user: runas.ServerUser, bin_dir: Path, root: Path) -> None:
    pwfile = root / ".superuser-password"
    state.write_private(pwfile, _credentials()["superuser_password"] + "\n")
    runas.give(user, pwfile)
    locales = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower().split()
    locale = "C.UTF-8" if "c.utf8" in locales or "c.utf-8" in locales else "C"
    try:
        done = runas.run(user, [str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER,
                                f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                                "--encoding=UTF8", f"--locale={locale}"], cwd=root)
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        raise StartupError(f"initdb failed:\n{done.stdout}{done.stderr}")


def _write_config(user: runas.ServerUser, root: Path, port: int) -> None:
    """(Re)write ``lienthong.conf`` and include it from ``postgresql.conf`` once."""
    data = root / "data"
    settings = {"listen_addresses": "'127.0.0.1'", "port": str(port),
                "unix_socket_directories": f"'{root / 'run'}'", "max_connections": "300",
                "fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
                "password_encryption": "'scram-sha-256'"}
    conf = data / "lienthong.conf"
    conf.write_text("# Written by `lienthong infra up` on every start.\n"
                    + "".join(f"{key} = {value}\n" for key, value in settings.items()))
    runas.give(user, conf)
    main = data / "postgresql.conf"
    if "include 'lienthong.conf'" not in main.read_text():
        with main.open("a") as out:
            out.write("\ninclude 'lienthong.conf'\n")


# --- server ---------------------------------------------------------------------------


def _pg_ctl(user: runas.ServerUser, bin_dir: Path, root: Path, *args: str
            ) -> subprocess.CompletedProcess[str]:
    return runas.run(user, [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), *args], cwd=root)


def _postmaster(root: Path) -> tuple[int | None, int | None]:
    """(pid, port) from ``postmaster.pid``, ``(None, None)`` when absent."""
    try:
        lines = (root / "data" / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), int(lines[3])
    except (FileNotFoundError, IndexError, ValueError):
        return None, None


def _is_running(user: runas.ServerUser, bin_dir: Path, root: Path) -> bool:
    return (root / "data" / "PG_VERSION").exists() and _pg_ctl(user, bin_dir, root, "status").returncode == 0


def _ensure_role_and_database(root: Path, port: int) -> None:
    password = _credentials()["app_password"]
    with psycopg.connect(host=str(root / "run"), port=port, user=SUPERUSER, dbname="postgres",
                         autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(APP_ROLE),
                                                                          sql.Literal(password)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(DATABASE), sql.Identifier(APP_ROLE)))


def up(port: int = DEFAULT_PORT, timeout: int = START_TIMEOUT) -> PostgresInfo:
    """Initialise (first time), start (or reuse) the cluster and ensure role and database."""
    bin_dir = ensure_installed()
    user = runas.server_user()
    root = _prepare_root(user)
    if not _is_running(user, bin_dir, root):
        if port_open(port):
            raise StartupError(f"port {port} on 127.0.0.1 is already in use by another process")
        if not (root / "data" / "PG_VERSION").exists():
            _initdb(user, bin_dir, root)
        _write_config(user, root, port)
        started = _pg_ctl(user, bin_dir, root, "-l", str(root / "postgres.log"), "-w", "-t", str(timeout),
                          "start")
        if started.returncode != 0:
            raise StartupError(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}\n"
                               f"{log_tail(root / 'postgres.log')}")
    pid, running_port = _postmaster(root)
    if running_port != port:
        raise StartupError(f"PostgreSQL from this state directory already runs on port {running_port}; "
                           "run `infra down` before changing ports")
    _ensure_role_and_database(root, port)
    state.record("postgres", {"port": port, "pid": pid, "data_dir": str(root / "data"),
                              "log_file": str(root / "postgres.log"), "user": user.name,
                              "database_url": f"postgresql://{APP_ROLE}@127.0.0.1:{port}/{DATABASE}"})
    return PostgresInfo(database_url(port), port, root / "data", root / "postgres.log", pid)


def database_url(port: int | None = None) -> str:
    """The application's URL; the port defaults to the running cluster's, else 25432."""
    port = port or state.read_info().get("postgres", {}).get("port", DEFAULT_PORT)
    password = quote(_credentials()["app_password"], safe="")
    return f"postgresql://{APP_ROLE}:{password}@127.0.0.1:{port}/{DATABASE}"


def create_schema(url: str, name: str) -> None:
    """Create schema ``name`` (lower-case identifier) in the database at ``url`` if missing."""
    if not SCHEMA_NAME.match(name):
        raise ValueError(f"not a plain lower-case schema name: {name!r}")
    # created concurrently: fine
    with psycopg.connect(url, autocommit=True) as conn, contextlib.suppress(psycopg.errors.UniqueViolation):
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))


def _existing_cluster() -> tuple[runas.ServerUser, Path, Path] | None:
    """(user, binaries, root) of the initialised cluster, None when there is none."""
    root, user = _existing_root(), runas.server_user(create=False)
    bin_dir = _bin_dir((root / "data" / "PG_VERSION").read_text().strip()) if root else None
    return (user, bin_dir, root) if root and user and bin_dir else None


def down(timeout: int = START_TIMEOUT) -> bool:
    """Stop the cluster (fast shutdown, immediate if that times out). True if it was running."""
    cluster = _existing_cluster()
    was_running = cluster is not None and _is_running(*cluster)
    if cluster is not None and was_running:
        user, bin_dir, root = cluster
        stopped = _pg_ctl(user, bin_dir, root, "stop", "-m", "fast", "-w", "-t", str(timeout))
        if stopped.returncode != 0:
            _pg_ctl(user, bin_dir, root, "stop", "-m", "immediate", "-w", "-t", str(timeout))
    state.forget("postgres")
    return was_running


def status() -> PostgresStatus:
    """Whether the cluster runs, its postmaster pid and port; changes nothing."""
    cluster = _existing_cluster()
    if cluster is None:
        return PostgresStatus(False, None, None, None)
    running = _is_running(*cluster)
    pid, port = _postmaster(cluster[2]) if running else (None, None)
    return PostgresStatus(running, pid, port, cluster[2] / "data")
