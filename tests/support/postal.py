"""Driving dossiers by post in end-to-end tests: submissions with a pickup or a result sent home, the
carrier simulator of the deployment (its ``/admin``), time moved until the carrier has done its part,
and postal's view of a dossier's shipments."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx

from tests.support.intake import bearer
from tests.support.routing import DOCUMENTS
from tests.support.uploads import a_document, uploaded

HOME = {"address": "Số 5 đường Lê Hồng Phong, phường Trường Vinh", "unit_code": "16690"}
"""An applicant's home in the sample province (a commune-level unit in force from 1 July 2025)."""


DESKS = {"other-desk": "other_agency_id", "desk": "agency_id"}
"""The deployment's two receiving desks (parties) and the attribute naming each one's agency."""


def desk_agency(system: Any, desk: str) -> str:
    return str(getattr(system, DESKS[desk]))


def postal_submission(system: Any, procedure: str, *, pickup: bool, result_by_post: bool,
                      desk: str = "other-desk") -> dict[str, Any]:
    """A portal submission of ``procedure`` (its documents to upload first) to the receiving ``desk``, with
    the papers collected at home and/or the result sent home."""
    body: dict[str, Any] = {
        "procedure_code": procedure,
        "applicant": {"kind": "citizen", "full_name": "Nguyễn Thị Hoa", "identity_number": "040190001234",
                      "phone": "0912345678", "address": HOME["address"]},
        "documents": [a_document(key) for key in DOCUMENTS[procedure]],
        "channel": "online", "locality_code": "16690", "receiving_agency_id": desk_agency(system, desk),
        "result_delivery": ({"method": "post", **HOME} if result_by_post else {"method": "desk"}),
    }
    if pickup:
        body["pickup"] = dict(HOME)
    return body


async def submit_by_post(system: Any, http: httpx.AsyncClient, tokens: dict[str, str], procedure: str, *,
                         pickup: bool = True, result_by_post: bool = True, desk: str = "other-desk") -> str:
    """Submit through the portal to the receiving ``desk``; the dossier's code (status 1: the desk accepts
    it later)."""
    body = await uploaded(http, tokens["portal"], postal_submission(system, procedure, pickup=pickup,
                                                                     result_by_post=result_by_post, desk=desk),
                          base_url=system.base_url)
    answer = await http.post(f"{system.base_url}/v1/dossiers", json=body, headers=bearer(tokens["portal"]))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["code"])


async def shipments(system: Any, http: httpx.AsyncClient, token: str, code: str) -> list[dict[str, Any]]:
    answer = await http.get(f"{system.postal_url}/v1/postal/dossiers/{code}/shipments", headers=bearer(token))
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    return list(answer.json())


def leg_of(rows: list[dict[str, Any]], leg: str) -> dict[str, Any] | None:
    return next((row for row in rows if row["leg"] == leg), None)


async def while_time_passes(system: Any, done: Callable[[], Awaitable[Any]], *, step: timedelta = timedelta(seconds=2),
                            timeout: float = 120.0, interval: float = 0.2) -> Any:
    """Move the deployment's clock forward by ``step`` between polls of ``done()`` until it holds (the
    carrier moves shipments on that clock); its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        result = await done()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout}s (last: {result!r})")
        system.set_time(system.clock.now() + step)
        await asyncio.sleep(interval)


async def leg_reaches(system: Any, http: httpx.AsyncClient, token: str, code: str, leg: str, status: str,
                      **waiting: Any) -> dict[str, Any]:
    """Move time until postal reports ``leg`` of ``code`` at ``status``; that leg."""
    async def reached() -> dict[str, Any] | None:
        row = leg_of(await shipments(system, http, token, code), leg)
        return row if row is not None and row["status"] == status else None
    return await while_time_passes(system, reached, **waiting)


async def accept_and_complete(system: Any, http: httpx.AsyncClient, tokens: dict[str, str], code: str,
                              desk: str = "other-desk") -> None:
    """The receiving ``desk`` accepts the dossier and every agency on its route completes its step, by its
    own integration (REST inbox or Kafka replies), until the result is ready (status 9)."""
    from tests.support.agencies import AgencySimulator, routed_view

    accepted = await http.post(f"{system.base_url}/v1/dossiers/{code}/acceptance", headers=bearer(tokens[desk]))
    assert accepted.status_code == 200, accepted.text
    agencies, done = AgencySimulator(system, http), set()

    def moved(view: dict[str, Any]) -> bool:
        return view["national_status"] == 9 or any(s["state"] == "open" and s["key"] not in done
                                                   for s in view["steps"])
    while True:
        view = await routed_view(system, http, tokens["auditor"], code, until=moved)
        if view["national_status"] == 9:
            return
        for step in [s for s in view["steps"] if s["state"] == "open" and s["key"] not in done]:
            await agencies.claim_and_complete(code, step, system.clock.now())
            done.add(step["key"])
