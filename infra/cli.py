"""``lienthong infra``: start, stop and inspect the development Kafka and PostgreSQL.

Mounted into the main command line with ``app.add_typer(infra_app)``; also runnable alone
as ``python -m infra.cli``. Exit codes: 0 success, 1 failure (``status``: not healthy).
"""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra import kafka, postgres, stack, state
from infra.process import StartupError

app = typer.Typer(
    name="infra",
    help="Run a real Kafka broker and PostgreSQL on 127.0.0.1 for development and tests (no Docker).",
    no_args_is_help=True,
)
console = Console()

KafkaPort = Annotated[int, typer.Option(help="Kafka client port.", envvar="LIENTHONG_KAFKA_PORT")]
ControllerPort = Annotated[int, typer.Option(help="Kafka KRaft controller port.",
                                             envvar="LIENTHONG_KAFKA_CONTROLLER_PORT")]
PostgresPort = Annotated[int, typer.Option(help="PostgreSQL port.", envvar="LIENTHONG_POSTGRES_PORT")]


@app.command()
def up(
    kafka_port: KafkaPort = kafka.DEFAULT_PORT,
    kafka_controller_port: ControllerPort = kafka.DEFAULT_CONTROLLER_PORT,
    postgres_port: PostgresPort = postgres.DEFAULT_PORT,
) -> None:
    """Start Kafka and PostgreSQL (or reuse the running ones), create topics and schemas.

    The first run downloads the Kafka jars with Maven and initialises the database.

    Files live in the state directory ($LIENTHONG_STATE_DIR, default <repo>/.state).
    """
    try:
        kafka.ensure_jars(console)
        with console.status("Starting…") as spinner:
            info = stack.up(kafka_port, kafka_controller_port, postgres_port, report=spinner.update)
    except StartupError as error:
        console.print(f"[red]infra up failed:[/] {error}")
        raise typer.Exit(1) from error
    console.print(f"[green]Kafka[/]       listens on {info.kafka_bootstrap_servers}")
    console.print(f"[green]PostgreSQL[/]  listens on 127.0.0.1:{postgres_port} "
                  f"(database {postgres.DATABASE})")
    console.print(f"State in {state.state_dir()}. For services: eval \"$(python -m infra.cli env)\"")


@app.command()
def down() -> None:
    """Stop Kafka and PostgreSQL; their data stays for the next `up`."""
    for name, was_running in stack.down().items():
        console.print(f"{name}: {'stopped' if was_running else 'was not running'}")


@app.command()
def status() -> None:
    """Show whether Kafka and PostgreSQL run; exit code 1 unless both are up."""
    current = stack.status()
    table = Table("component", "state", "pid", "address")
    table.add_column("data", overflow="fold")
    broker = current.kafka
    table.add_row("kafka", _state(broker.running, broker.answering), str(broker.pid or "-"),
                  broker.bootstrap_servers or "-", str(state.state_dir() / "kafka" / "data"))
    pg = current.postgres
    table.add_row("postgres", _state(pg.running, pg.running), str(pg.pid or "-"),
                  f"127.0.0.1:{pg.port}" if pg.port else "-", str(pg.data_dir or "-"))
    console.print(table)
    if not current.healthy:
        raise typer.Exit(1)


def _state(running: bool, answering: bool) -> str:
    if not running:
        return "[red]stopped[/]"
    return "[green]running[/]" if answering else "[yellow]running, not answering[/]"


@app.command()
def env() -> None:
    """Print `export NAME=value` lines for KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL."""
    for name, value in stack.env().items():
        typer.echo(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    app()
