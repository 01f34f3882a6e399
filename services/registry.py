"""Every runnable process of the system, by the name ``lienthong run`` takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class ProcessSpec:
    """One process: an HTTP service (``app_factory``) or a worker (``main``)."""

    name: str
    description: str
    env_prefix: str
    settings: str
    app_factory: str | None = None
    main: str | None = None

    def load_settings(self) -> Any:
        return _resolve(self.settings)()

    def load_main(self) -> Callable[[], None]:
        assert self.main is not None
        return _resolve(self.main)


def _resolve(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(import_module(module), attr)


PROCESSES: dict[str, ProcessSpec] = {
    spec.name: spec
    for spec in [
        ProcessSpec("intake", "HTTP API: receive dossiers, codes, status lookup", "INTAKE_",
                    "intake.settings:IntakeSettings", app_factory="intake.service:create_app"),
        ProcessSpec("intake-relay", "publishes intake's stored events to Kafka", "INTAKE_",
                    "intake.settings:IntakeSettings", main="intake.service:run_relay"),
        ProcessSpec("intake-consumer", "applies status changes reported by other services", "INTAKE_",
                    "intake.settings:IntakeSettings", main="intake.service:run_consumer"),
        ProcessSpec("routing", "HTTP API: agencies' REST inbox, routes, control sheets", "ROUTING_",
                    "routing.settings:RoutingSettings", app_factory="routing.service:create_app"),
        ProcessSpec("routing-relay", "publishes routing's events, status changes and agency inboxes", "ROUTING_",
                    "routing.settings:RoutingSettings", main="routing.service:run_relay"),
        ProcessSpec("routing-consumer", "applies intake's events and agencies' Kafka replies", "ROUTING_",
                    "routing.settings:RoutingSettings", main="routing.service:run_consumer"),
        ProcessSpec("routing-timer", "raises due-soon and overdue events as time passes", "ROUTING_",
                    "routing.settings:RoutingSettings", main="routing.service:run_timer"),
        ProcessSpec("postal", "HTTP API: carrier webhooks, shipments and their history, fees collected", "POSTAL_",
                    "postal.settings:PostalSettings", app_factory="postal.service:create_app"),
        ProcessSpec("postal-relay", "publishes postal's events", "POSTAL_",
                    "postal.settings:PostalSettings", main="postal.service:run_relay"),
        ProcessSpec("postal-consumer", "opens pickup and return legs from intake's and routing's events", "POSTAL_",
                    "postal.settings:PostalSettings", main="postal.service:run_consumer"),
        ProcessSpec("postal-dispatcher", "sends queued orders to the carrier and reconciles quiet shipments",
                    "POSTAL_", "postal.settings:PostalSettings", main="postal.service:run_dispatcher"),
        ProcessSpec("postal-sim", "the carrier simulator: tokens, orders, statuses, signed webhooks, misbehaviour "
                    "on demand (python -m postal.simulator --help)", "POSTAL_SIM_",
                    "postal.simulator.settings:SimulatorSettings", app_factory="postal.simulator.app:create_app"),
    ]
}
