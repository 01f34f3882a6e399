"""The ``lienthong`` command line: infrastructure, services, credentials.

    lienthong infra up|down|status|env   Kafka (KRaft) and PostgreSQL on 127.0.0.1
    lienthong run <process>              run one process in the foreground
    lienthong supervise [process …]      keep processes running, restarting any that exits
    lienthong up / down / status         the whole system in the background, under a supervisor
    lienthong clients add …              create credentials for a party
    lienthong calendar list|add-day-off|add-working-day|remove   keep the working calendar
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sys
import urllib.request
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from infra.cli import app as infra_app
from services.registry import PROCESSES, ProcessSpec

app = typer.Typer(
    name="lienthong",
    help="lienthong — liên thông dossier routing: run the infrastructure and the services.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(infra_app, name="infra")
clients_app = typer.Typer(help="Manage the parties' client credentials.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
calendar_app = typer.Typer(
    help="Keep the working calendar (lịch làm việc): days off and make-up working days decided during the year. "
         "Talks to the routing service's API as an operator; every change is an event, and due times of open "
         "steps move at once.",
    no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")
console = Console()


@app.command()
def run(
    process: Annotated[str, typer.Argument(help=f"One of: {', '.join(PROCESSES)}")],
    host: Annotated[str | None, typer.Option(help="HTTP host (HTTP services only)")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (HTTP services only)")] = None,
) -> None:
    """Run one process in the foreground until Ctrl-C / SIGTERM."""
    spec = PROCESSES.get(process)
    if spec is None:
        raise typer.BadParameter(f"unknown process {process!r}; choose one of {', '.join(PROCESSES)}")
    if spec.app_factory is not None:
        import uvicorn

        settings = spec.load_settings()
        uvicorn.run(spec.app_factory, factory=True, host=host or settings.http_host,
                    port=port or settings.http_port, log_level="warning", access_log=False)
    else:
        spec.load_main()()


def _service_env(kafka: str, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for prefix in {spec.env_prefix for spec in PROCESSES.values()}:
        env.setdefault(f"{prefix}KAFKA_BOOTSTRAP_SERVERS", kafka)
        env.setdefault(f"{prefix}DATABASE_URL", database_url)
    return env


def _ready_or_gone(url: str, pid: int) -> bool:
    """The HTTP service at ``url`` is ready, or the process ``pid`` that should serve it is gone."""
    from infra import process as proc

    return _ready(url) or not proc.is_alive(pid)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _child_specs(names: list[str]) -> list[Any]:
    from infra.state import REPO_ROOT
    from infra.supervisor import ChildSpec

    return [ChildSpec(name, [sys.executable, "-m", "services.cli", "run", name], cwd=REPO_ROOT) for name in names]


@app.command()
def supervise(
    processes: Annotated[list[str] | None,
                         typer.Argument(help=f"Some of: {', '.join(PROCESSES)} (default: all)")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Where to record pids, restarts and logs "
                                                        "(default: the state directory of `lienthong up`)")] = None,
) -> None:
    """Run the processes in the foreground and restart any that exits (capped backoff) until SIGTERM."""
    from infra import state
    from infra.supervisor import Supervisor

    names = processes or list(PROCESSES)
    unknown = [name for name in names if name not in PROCESSES]
    if unknown:
        raise typer.BadParameter(f"unknown process {', '.join(unknown)}; choose from {', '.join(PROCESSES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    Supervisor(_child_specs(names), (state_dir or state.state_dir()).resolve()).run()


def _supervisor_pid() -> int | None:
    """The pid of the running supervisor of the state directory, if one runs."""
    from infra import process as proc
    from infra import state, supervisor

    pid = supervisor.read_pid(state.state_dir())
    if pid is None or not proc.is_alive(pid) or "supervise" not in proc.command_line(pid):
        return None
    return pid


@app.command()
def up() -> None:
    """Start Kafka, PostgreSQL and, under a supervisor, every service in the background; say where they listen."""
    from infra import process as proc
    from infra import stack, state, supervisor

    info = stack.up()
    env = _service_env(info.kafka_bootstrap_servers, info.database_url)
    logs = state.state_dir() / "logs"
    pid = _supervisor_pid()
    if pid is None:
        pid = proc.spawn_detached([sys.executable, "-m", "services.cli", "supervise", "--state-dir",
                                   str(state.state_dir())], logs / "supervisor.log", cwd=state.REPO_ROOT, env=env)
        proc.wait_until(lambda: supervisor.read_pid(state.state_dir()) == pid or not proc.is_alive(pid),
                        timeout=30, what="the supervisor to start")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        for spec in PROCESSES.values():
            task = bar.add_task(f"starting {spec.name}")
            if spec.app_factory is not None:
                url = f"http://{_http_address(spec)}/readyz"
                proc.wait_until(partial(_ready_or_gone, url, pid), timeout=90, what=url, raise_on_timeout=False)
            if not proc.is_alive(pid):
                console.print(proc.log_tail(logs / "supervisor.log"))
                console.print(f"[red]the supervisor exited; its log is {logs / 'supervisor.log'}[/red]")
                raise typer.Exit(1)
            child = (supervisor.read_status(state.state_dir()) or {}).get("children", {}).get(spec.name, {})
            bar.update(task, description=f"{spec.name} {child.get('state', 'starting')} (pid {child.get('pid')})")
    _print_status()


def _http_address(spec: ProcessSpec) -> str:
    settings = spec.load_settings()
    return f"{settings.http_host}:{settings.http_port}"


def _print_status() -> None:
    """One table: Kafka, PostgreSQL and every process, with its state, PID, restarts and address."""
    from infra import stack, state, supervisor

    infra = stack.status()
    supervisor_pid = _supervisor_pid()
    children = (supervisor.read_status(state.state_dir()) or {}).get("children", {}) if supervisor_pid else {}
    table = Table(title="lienthong")
    table.add_column("process")
    table.add_column("state")
    table.add_column("restarts")
    table.add_column("where")
    broker, database = infra.kafka, infra.postgres
    table.add_row("kafka", _state(broker.running and broker.answering, broker.pid), "-",
                  broker.bootstrap_servers or "-")
    table.add_row("postgresql", _state(database.running, database.pid), "-",
                  f"127.0.0.1:{database.port}/lienthong" if database.port else "-")
    table.add_row("supervisor", _state(supervisor_pid is not None, supervisor_pid), "-", "restarts what exits")
    for spec in PROCESSES.values():
        child = children.get(spec.name, {})
        where = f"http://{_http_address(spec)}/docs" if spec.app_factory else spec.description
        running = child.get("state") == "running"
        shown = _state(running, child.get("pid")) if running or not child else child.get("state", "stopped")
        table.add_row(spec.name, shown, str(child.get("restarts", "-")), where)
    console.print(table)
    console.print(f"logs: {state.state_dir() / 'logs'}   stop with: make down")


def _state(running: bool, pid: int | None) -> str:
    return f"running (pid {pid})" if running else "stopped"


@app.command()
def down(
    keep_infra: Annotated[bool, typer.Option(help="Stop the services but leave Kafka and PostgreSQL running")] = False,
) -> None:
    """Stop the supervisor and every service (by PID), then Kafka and PostgreSQL."""
    from infra import process as proc
    from infra import stack, state, supervisor

    pid = _supervisor_pid()
    if pid is not None:
        proc.terminate(pid, timeout=40)
        console.print(f"stopped the supervisor (pid {pid}) and its processes")
    recorded = (supervisor.read_status(state.state_dir()) or {}).get("children", {})
    for name, child in recorded.items():  # left behind by a supervisor that was killed
        child_pid = child.get("pid")
        if child_pid and proc.is_alive(child_pid) and name in proc.command_line(child_pid):
            proc.terminate(child_pid, timeout=20)
            console.print(f"stopped {name} (pid {child_pid})")
    for spec in PROCESSES.values():  # started by an older `lienthong up`, one pid file each
        legacy = state.read_pid(spec.name)
        if legacy is not None and proc.is_alive(legacy) and spec.name in proc.command_line(legacy):
            proc.terminate(legacy, timeout=20)
        state.remove_pid(spec.name)
    if not keep_infra:
        stack.down()


@app.command()
def status() -> None:
    """Show what is running, where, and how often the supervisor restarted each process."""
    _print_status()


@clients_app.command("add")
def clients_add(
    client_id: Annotated[str, typer.Argument(help="Lower-case id, e.g. desk-h40")],
    party: Annotated[str, typer.Option(help="portal | desk | agency | postal | auditor | operator")],
    role: Annotated[list[str], typer.Option(help="A role, repeatable (dossier:submit, dossier:read, …)")],
    agency_id: Annotated[str | None, typer.Option(help="The party's agency electronic id")] = None,
) -> None:
    """Generate a secret for a new client; print it once and the entry for the client list."""
    from services.auth import Client

    secret = secrets.token_urlsafe(32)
    client = Client(client_id=client_id, secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
                    party=party, agency_id=agency_id, roles=frozenset(role))
    console.print(f"[bold]secret for {client_id}[/bold] (shown once, give it to the party): {secret}")
    console.print("add to the client list file:")
    print(f"  - client_id: {client.client_id}\n    secret_sha256: {client.secret_sha256}\n"
          f"    party: {client.party}\n    agency_id: {client.agency_id or 'null'}\n"
          f"    roles: [{', '.join(sorted(client.roles))}]")


# --- calendar -------------------------------------------------------------------------------

def _routing_url() -> str:
    settings = PROCESSES["routing"].load_settings()
    return f"http://{settings.http_host}:{settings.http_port}"


CalendarUrl = Annotated[str | None, typer.Option(
    "--url", envvar="LIENTHONG_ROUTING_URL", help="The routing service (default: this machine's, from its settings)")]
ClientId = Annotated[str, typer.Option(envvar="LIENTHONG_CLIENT_ID", help="The operator's client id")]
ClientSecret = Annotated[str | None, typer.Option(
    envvar="LIENTHONG_CLIENT_SECRET",
    help="The operator's client secret (default: the development client list's, dev-secret-<client id>)")]
Decision = Annotated[str, typer.Option(help="The decision's number (số hiệu văn bản), e.g. 1234/QĐ-TTg")]
Reason = Annotated[str, typer.Option(help="Why: what the decision says of this day")]


class _CalendarClient:
    """The routing service's calendar API, with an operator's token."""

    def __init__(self, url: str | None, client_id: str, secret: str | None) -> None:
        import httpx

        self.url = (url or _routing_url()).rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=600)
        try:
            answer = self.http.post("/v1/auth/token", data={
                "grant_type": "client_credentials", "client_id": client_id,
                "client_secret": secret if secret is not None else f"dev-secret-{client_id}"})
        except httpx.HTTPError as exc:
            _fail(f"cannot reach the routing service at {self.url}: {exc}")
        if answer.status_code != 200:
            _fail_with(answer)
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, path, **kwargs)
        if answer.status_code >= 400:
            _fail_with(answer)
        return answer.json()


def _fail(message: str) -> None:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(1)


def _fail_with(answer: Any) -> None:
    try:
        body = answer.json()
        message = f"{answer.status_code} {body.get('title')}: {body.get('detail') or ''}"
        for error in body.get("errors") or []:
            message += f"\n  {error.get('name')}: {error.get('reason')}"
    except ValueError:
        message = f"{answer.status_code}: {answer.text[:500]}"
    _fail(message)


def _change(kind: str, day: str, decision: str, reason: str, url: str | None, client_id: str,
            secret: str | None) -> None:
    client = _CalendarClient(url, client_id, secret)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        progress.add_task("recording the change and moving the due times of open steps…", total=None)
        answer = client.call("POST", "/v1/routing/calendar/changes",
                             json={"kind": kind, "date": day, "decision": decision, "reason": reason})
    change = answer["change"]
    console.print(f"revision {change['revision']}: {change['kind']} {change['date']} "
                  f"({change['decision']}: {change['reason']}) by {change['by']}")
    console.print(f"{answer['dossiers_rescheduled']} dossier(s) got new due times")


@calendar_app.command("add-day-off")
def calendar_add_day_off(
    day: Annotated[str, typer.Argument(metavar="DATE", help="A weekday, YYYY-MM-DD")],
    decision: Decision, reason: Reason, url: CalendarUrl = None, client_id: ClientId = "operator",
    client_secret: ClientSecret = None,
) -> None:
    """Declare a weekday a day off (ngày nghỉ) by a decision."""
    _change("add_day_off", day, decision, reason, url, client_id, client_secret)


@calendar_app.command("add-working-day")
def calendar_add_working_day(
    day: Annotated[str, typer.Argument(metavar="DATE", help="A Saturday or Sunday, YYYY-MM-DD")],
    decision: Decision, reason: Reason, url: CalendarUrl = None, client_id: ClientId = "operator",
    client_secret: ClientSecret = None,
) -> None:
    """Declare a weekend day a make-up working day (ngày làm bù) by a decision."""
    _change("add_working_day", day, decision, reason, url, client_id, client_secret)


@calendar_app.command("remove")
def calendar_remove(
    day: Annotated[str, typer.Argument(metavar="DATE", help="A day off or make-up working day, YYYY-MM-DD")],
    decision: Decision, reason: Reason, url: CalendarUrl = None, client_id: ClientId = "operator",
    client_secret: ClientSecret = None,
) -> None:
    """Give a day off or a make-up working day back its ordinary nature by a decision."""
    _change("remove", day, decision, reason, url, client_id, client_secret)


@calendar_app.command("list")
def calendar_list(
    year: Annotated[int | None, typer.Option(help="The year (default: this year)")] = None,
    as_of: Annotated[str | None, typer.Option(help="The calendar in force at this instant (ISO 8601 with zone)")]
    = None,
    url: CalendarUrl = None, client_id: ClientId = "operator", client_secret: ClientSecret = None,
) -> None:
    """Show a year's days off and make-up working days, and the changes operators made."""
    client = _CalendarClient(url, client_id, secret=client_secret)
    params: dict[str, Any] = {"as_of": as_of} if as_of else {}
    if year is not None:
        params["year"] = year
    view = client.call("GET", "/v1/routing/calendar", params=params)
    table = Table(title=f"Lịch làm việc {view['year']} (revision {view['revision']})")
    for column in ("date", "kind", "source"):
        table.add_column(column)
    for entry in view["days"]:
        table.add_row(entry["date"], entry["kind"], entry["source"])
    console.print(table)
    if view["changes"]:
        changes = Table(title="Operators' changes")
        for column in ("revision", "kind", "date", "decision", "reason", "by", "at"):
            changes.add_column(column)
        for c in view["changes"]:
            changes.add_row(str(c["revision"]), c["kind"], c["date"], c["decision"], c["reason"], c["by"], c["at"])
        console.print(changes)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
