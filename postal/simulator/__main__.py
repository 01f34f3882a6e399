"""``python -m postal.simulator``: run the carrier simulator (options override ``POSTAL_SIM_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from postal.simulator.settings import SimulatorSettings

cli = typer.Typer(add_completion=False, help=__doc__)


def _help(name: str, fallback: str = "") -> str:
    description = SimulatorSettings.model_fields[name].description or fallback
    return f"{description} (env POSTAL_SIM_{name.upper()})"


@cli.command()
def main(
    http_host: Annotated[str | None, typer.Option(help=_help("http_host", "Address to listen on."))] = None,
    http_port: Annotated[int | None, typer.Option(help=_help("http_port", "Port to listen on (8090)."))] = None,
    log_level: Annotated[str | None, typer.Option(help=_help("log_level", "INFO, DEBUG, WARNING…"))] = None,
    client_id: Annotated[str | None, typer.Option(help=_help("client_id", "OAuth2 client id accepted."))] = None,
    client_secret: Annotated[str | None, typer.Option(
        help=_help("client_secret", "That client's secret (the default is for development only)."))] = None,
    token_ttl_seconds: Annotated[int | None, typer.Option(help=_help("token_ttl_seconds", "Token lifetime."))] = None,
    webhook_url: Annotated[str | None, typer.Option(help=_help("webhook_url", "Where webhooks are POSTed."))] = None,
    webhook_secret: Annotated[str | None, typer.Option(
        help=_help("webhook_secret", "whsec_… secret of the v1 signature (default: development only)."))] = None,
    signing_key: Annotated[str | None, typer.Option(help=_help("signing_key"))] = None,
    step_seconds: Annotated[float | None, typer.Option(help=_help("step_seconds"))] = None,
    clock_file: Annotated[Path | None, typer.Option(help=_help("clock_file"))] = None,
    state_path: Annotated[Path | None, typer.Option(help=_help("state_path"))] = None,
    seed: Annotated[int | None, typer.Option(help=_help("seed"))] = None,
    duplicate_webhooks: Annotated[bool | None, typer.Option(help=_help("duplicate_webhooks"))] = None,
    reorder_webhooks: Annotated[bool | None, typer.Option(help=_help("reorder_webhooks"))] = None,
    drop_webhook_ratio: Annotated[float | None, typer.Option(help=_help("drop_webhook_ratio"))] = None,
    webhook_delay_seconds: Annotated[float | None, typer.Option(help=_help("webhook_delay_seconds"))] = None,
    fail_order_ratio: Annotated[float | None, typer.Option(help=_help("fail_order_ratio"))] = None,
    fail_after_create_ratio: Annotated[float | None, typer.Option(help=_help("fail_after_create_ratio"))] = None,
    throttle_ratio: Annotated[float | None, typer.Option(help=_help("throttle_ratio"))] = None,
    slow_ratio: Annotated[float | None, typer.Option(help=_help("slow_ratio"))] = None,
    slow_seconds: Annotated[float | None, typer.Option(help=_help("slow_seconds"))] = None,
    down_for_seconds: Annotated[float | None, typer.Option(help=_help("down_for_seconds"))] = None,
    wrong_signing_key: Annotated[bool | None, typer.Option(help=_help("wrong_signing_key"))] = None,
    failed_delivery_attempts: Annotated[int | None, typer.Option(help=_help("failed_delivery_attempts"))] = None,
    paused: Annotated[bool | None, typer.Option(help=_help("paused"))] = None,
) -> None:
    """Run the carrier simulator in the foreground until Ctrl-C / SIGTERM.

    Options default to their POSTAL_SIM_* variable, then to the development defaults.

    Change the misbehaviour later with PUT /admin/behaviour (see /docs).
    """
    import uvicorn

    from postal.simulator.app import create_app

    given: dict[str, Any] = {name: value for name, value in locals().items()
                             if name in SimulatorSettings.model_fields and value is not None}
    settings = SimulatorSettings(**given)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    cli()
