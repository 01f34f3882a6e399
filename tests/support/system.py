"""Intake and routing together, as real processes, with a clock the test moves.

Both services share the deployment's topics (intake's events feed routing; routing's status
changes feed intake), one client list (every agency of the sample province has a client),
and one clock file.

How a test gets a clock of its own
----------------------------------
Every process of a deployment reads the current instant from the deployment's clock file
(:class:`services.clock.FileClock`, the services' ``clock_file`` setting), re-read on every
call. Tests that share a deployment run one at a time, so a test owns the deployment's time
for as long as it runs, provided it starts from an instant of its own choosing rather than
wherever the previous test left the file. :class:`OwnClock` is that: built at the start of a
test, it sets the file to the test's first instant; the test then moves it only forward or
back within its own story (``clock.set(at)``, ``clock.advance(timedelta(hours=2))``).

- On the shared deployment (fixture ``system``), the ``clock`` fixture of tests/e2e/conftest.py
  is an :class:`OwnClock` started at :data:`~tests.support.deployments.SYSTEM_START`, or at the
  instant of the test's ``@pytest.mark.clock_starts_at(datetime)`` marker. Every test that uses
  ``system`` gets one, asked for or not, so no test inherits another's time.
- A test taking ``own_system`` gets its ``clock`` the same way, on its own deployment.
- Tests sharing a deployment of their module (a module fixture around
  :func:`~tests.support.deployments.deploy_system`) each build one first thing:
  ``clock = OwnClock(deployment, datetime(2027, 3, 1, 9, tzinfo=VN))``.
- The helpers that take ``system`` and set the time (``submit``, ``drive`` in
  tests/support/routing.py, ``SystemDeployment.set_time``) move that same clock.

A test that changes what the whole deployment shares beyond time — the working calendar, the
processes themselves — takes a deployment of its own (``own_system``), or shares one only with
tests that each work in a stretch of time of their own: an own clock does not undo a calendar
change another test would then compute its due times under. And a test reads
only its own dossiers (by code, or by paging through a list until it finds them), never the
length or the first page of a list other tests add to.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from routing.geography import Geography
from services.clock import FileClock
from services.sandbox import client_entry
from tests.support.intake import PARTIES, IntakeDeployment

INTAKE_PROCESSES = ("intake", "intake-relay", "intake-consumer")
ROUTING_PROCESSES = ("routing", "routing-relay", "routing-consumer", "routing-timer")
POSTAL_PROCESSES = ("postal-sim", "postal", "postal-relay", "postal-consumer", "postal-dispatcher")


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


class OwnClock:
    """One test's time on a deployment: set to the test's first instant when built, so the test
    never starts from the instant another test left (see the module's docstring)."""

    def __init__(self, deployment: SystemDeployment, start: datetime) -> None:
        self._file = deployment.clock
        self.start = start
        self.set(start)

    def now(self) -> datetime:
        return self._file.now()

    def set(self, moment: datetime) -> None:
        """Make ``moment`` (timezone-aware) the current instant of every process of the deployment."""
        if moment.tzinfo is None:
            raise ValueError(f"{moment}: a clock's instant needs a UTC offset")
        self._file.set(moment)

    def advance(self, by: timedelta) -> datetime:
        """Move the clock ``by`` (negative: back) from where it is; the new instant."""
        moment = self.now() + by
        self.set(moment)
        return moment
