"""Builders of domain objects and request bodies that several test modules share.

Every builder fills what a test does not care about with random values (tests/random_refs.py), so
tests never collide, and takes as keyword arguments what a test does care about. Test modules
import builders from here, never from one another.

Intake: :func:`a_code`, :func:`a_moment`, :func:`a_dossier` (the intake aggregate) and
:func:`a_submission` (the body of ``POST /v1/dossiers``).

Routing (packaged calendar: sessions 07:30–11:30 and 13:30–17:30, no public holiday in July 2025;
locality 16690, Phường Trường Vinh, has the two-level agencies from 2025-07-01): :func:`vn`,
:func:`a_routed_code`, :func:`a_routed_dossier`, :func:`started`, :func:`complete`,
:func:`new_events`, :func:`opened`, :func:`replayed`, :func:`state_of` and the agencies of the
packaged routes (:data:`CIVIL_STATUS`, :data:`POLICE`, :data:`SOCIAL_INSURANCE`).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application

from intake.codes import format_code
from intake.domain import Dossier
from routing.calendar import VIETNAM, WorkingCalendar
from routing.domain import RoutedDossier
from routing.geography import Geography
from routing.routes import Route, RouteBook, plan
from shared_events import CloudEvent, NationalStatus, decode, encode, to_cloud_event
from tests.random_refs import random_agency_id, random_citizen_id, random_name, random_sha256, random_suffix
from tests.support.intake import COMMUNE, RECEIVING_DESK

# --- intake ------------------------------------------------------------------------------------

def a_code(agency_id: str | None = None) -> str:
    """A well-formed dossier code of ``agency_id`` (random when not given), dated today."""
    return format_code(agency_id or random_agency_id(), datetime.now(UTC).date(), random.randint(1, 9999))


def a_moment() -> datetime:
    """An aware instant somewhere in the ~10 weeks after 2025-11-28 08:30 Vietnam time."""
    return datetime(2025, 11, 28, 1, 30, tzinfo=UTC) + timedelta(minutes=random.randint(0, 10**5))


def a_dossier(**overrides: Any) -> Dossier:
    """A received intake dossier of procedure 2.000635 with random applicant and codes."""
    agency_id = overrides.pop("receiving_agency_id", None) or random_agency_id()
    channel = overrides.pop("channel", "online")
    fields: dict[str, Any] = {
        "code": a_code(agency_id),
        "procedure_code": "2.000635",
        "procedure_version": "2025.07",
        "applicant": {"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id()},
        "documents": [{"name": "to_khai_cap_ban_sao_trich_luc", "media_type": "application/pdf",
                       "size_bytes": random.randint(1, 10**6), "sha256": random_sha256()}],
        "channel": channel,
        "result_delivery": {"method": "desk"},
        "locality_code": f"{random.randint(0, 99999):05d}",
        "receiving_agency_id": agency_id,
        "submitted_by": f"portal-{random_suffix()}",
        "received_at": a_moment(),
        "national_status": NationalStatus.ACCEPTED if channel == "desk" else NationalStatus.NEW,
        "correlation_id": str(uuid4()),
    }
    fields.update(overrides)
    return Dossier(**fields)


class CountingCodes:
    """Hands out dossier codes like intake's PostgreSQL counter, and remembers who asked."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    async def next_code(self, agency_id: str, received_at: datetime) -> str:
        self.taken.append(agency_id)
        return f"{agency_id}-{received_at:%y%m%d}-{len(self.taken):04d}"


def a_submission(**overrides: Any) -> dict[str, Any]:
    """A complete, valid submission of 2.000635 (cấp bản sao trích lục hộ tịch)."""
    body: dict[str, Any] = {
        "procedure_code": "2.000635",
        "applicant": {"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id()},
        "documents": [{"name": "to_khai_cap_ban_sao_trich_luc", "media_type": "application/pdf",
                       "size_bytes": random.randint(1, 10_000_000), "sha256": random_sha256()}],
        "channel": "online",
        "result_delivery": {"method": "desk"},
        "locality_code": COMMUNE,
        "receiving_agency_id": RECEIVING_DESK,
    }
    body.update(overrides)
    return body


# --- routing -----------------------------------------------------------------------------------

LOCALITY = "16690"
CIVIL_STATUS, POLICE, SOCIAL_INSURANCE = "400.10.16690.H40", "400.11.16690.H40", "400.22.90001.H40"


@cache
def geography() -> Geography:
    return Geography.load()


@cache
def book() -> RouteBook:
    return RouteBook.load(geography=geography())


@cache
def calendar() -> WorkingCalendar:
    return WorkingCalendar.default()


def vn(month: int, day: int, hour: int, minute: int = 0, year: int = 2025) -> datetime:
    """An instant in Vietnam time."""
    return datetime(year, month, day, hour, minute, tzinfo=VIETNAM)


def a_routed_code() -> str:
    """A dossier code of a random agency, received on 2025-07-07."""
    return f"{random_agency_id()}-250707-{random.randint(1, 9999):04d}"


def a_routed_dossier(procedure_code: str, received_at: datetime, options: list[str] | None = None,
                     documents: list[dict[str, Any]] | None = None) -> RoutedDossier:
    """A desk-accepted dossier of ``procedure_code`` received by routing at ``received_at``, not started,
    with a random applicant (every field filled) and ``documents`` (none unless given)."""
    return RoutedDossier(
        code=a_routed_code(), procedure_code=procedure_code, locality_code=LOCALITY,
        receiving_agency_id=random_agency_id(), channel="desk", result_delivery_method="desk",
        options=options or [], received_at=received_at, national_status=2, applicant=an_applicant(),
        documents=documents or [], submitted_by="desk-" + random_suffix(),
    )


def an_applicant() -> dict[str, Any]:
    """A citizen applicant with every field filled."""
    return {"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id(),
            "phone": "0912345678", "email": "cong.dan@example.vn", "address": "Số 1 đường Lê Lợi, Vinh"}


def started(
    procedure_code: str, received_at: datetime, options: list[str] | None = None, route: Route | None = None,
    documents: list[dict[str, Any]] | None = None,
) -> tuple[RoutedDossier, Route]:
    """A dossier received at ``received_at`` (with ``documents``) whose route was assigned at that instant."""
    dossier = a_routed_dossier(procedure_code, received_at, options, documents)
    day = received_at.astimezone(VIETNAM).date()
    route = route or book().route(procedure_code, day)
    dossier.start(route, plan(route, geography(), LOCALITY, day, dossier.options), calendar(), received_at)
    return dossier, route


def a_document(name: str | None = None) -> dict[str, Any]:
    """A document reference named ``name`` (a random result name by default), with a random digest."""
    return {"name": name or f"ket_qua_{random_suffix()}.pdf", "media_type": "application/pdf",
            "size_bytes": random.randint(1, 10**6), "sha256": random_sha256()}


def complete(dossier: RoutedDossier, route: Route, step_key: str, at: datetime) -> None:
    """The assigned agency completes ``step_key`` at ``at`` with one result document."""
    dossier.complete(step_key, dossier.step(step_key).agency_id, at, [a_document()], calendar(), route)


_seen: dict[UUID, int] = {}


def new_events(dossier: RoutedDossier) -> list[Any]:
    """The events the dossier recorded since the last call, left pending so they can be saved."""
    seen = _seen.get(dossier.id, 0)
    _seen[dossier.id] = len(dossier.pending_events)
    return list(dossier.pending_events[seen:])


def opened(events: list[Any]) -> dict[str, datetime]:
    """Due instants of the steps the events opened, by step key."""
    return {e.step_key: e.due_at for e in events if isinstance(e, RoutedDossier.StepOpened)}


def replayed(dossier: RoutedDossier) -> RoutedDossier:
    """The dossier saved in an in-memory event store and rebuilt from its stored events."""
    app = Application(env={})
    app.save(dossier)
    return app.repository.get(dossier.id)


def state_of(dossier: RoutedDossier) -> dict[str, Any]:
    """The dossier's attributes, without its pending events, to compare two dossiers by."""
    return {k: v for k, v in vars(dossier).items() if k != "_pending_events"}


def an_envelope(contract: Any, at: datetime, subject: str | None = None) -> CloudEvent:
    """``contract`` as a consumer reads it off a topic (encoded and decoded): a fresh id, stamped ``at``."""
    return decode(encode(to_cloud_event(contract, id=str(uuid4()), source="/test",
                                        subject=subject or contract.dossier_code, time=at,
                                        correlation_id=str(uuid4()))))
