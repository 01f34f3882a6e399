"""Intake and routing together, as real processes, with a clock the test moves.

Both services share the deployment's topics (intake's events feed routing; routing's status
changes feed intake), one client list (every agency of the sample province has a client),
and one clock file.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from routing.geography import Geography
from services.clock import FileClock
from services.sandbox import client_entry
from tests.support.intake import PARTIES, IntakeDeployment

INTAKE_PROCESSES = ("intake", "intake-relay", "intake-consumer")
ROUTING_PROCESSES = ("routing", "routing-relay", "routing-consumer", "routing-timer")


@dataclass
class SystemDeployment(IntakeDeployment):
    timer_interval_seconds: float | None = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        self.clock_file = self.work_dir / f"clock-{self.suffix}.txt"
        geography = Geography.load()
        self.agency_ids = sorted({a.id for a in geography.agencies})
        self.stream_agency_ids = sorted(geography.stream_integrated_agency_ids())
        self.secrets.update({f"agency:{agency_id}": secrets.token_urlsafe(24) for agency_id in self.agency_ids})

    @property
    def clock(self) -> FileClock:
        assert self.clock_file is not None
        return FileClock(self.clock_file)

    def agency_client_id(self, agency_id: str) -> str:
        return f"agency-{agency_id.lower()}-{self.suffix}"

    def clients(self) -> list[dict[str, object]]:
        entries = super().clients()
        return entries + [client_entry(self.agency_client_id(agency_id), "agency", agency_id,
                                       ["dossier:read", "inbox:act"], self.secrets[f"agency:{agency_id}"])
                          for agency_id in self.agency_ids]

    def set_time(self, moment: datetime) -> None:
        self.clock.set(moment)

    def agency_token(self, agency_id: str) -> str:
        return self.client_token(self.agency_client_id(agency_id), self.secrets[f"agency:{agency_id}"])

    def tokens(self) -> dict[str, str]:
        return {party: self.token(party) for party in PARTIES}
