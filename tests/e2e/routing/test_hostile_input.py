"""Nothing stalls routing: events intake would refuse, replies out of range and undecodable
records, put on routing's input topics directly, are each handled — recorded on the dossier or
dead-lettered with the reason — and the 50 valid records behind them on the same partition are
all applied. Requests carrying unbounded numbers or instants get 422, and the dossiers routing
cannot route are listed for their desk and for auditors."""

from __future__ import annotations

import json
import secrets

import pytest

from shared_events import DossierAccepted
from shared_events.contracts.routing import AgencyActed
from tests.support.agencies import AgencySimulator, routed_view
from tests.support.intake import bearer
from tests.support.kafka import read_until
from tests.support.routing import (
    all_routed,
    at,
    cloud_event_bytes,
    every_row,
    fresh_codes,
    produce_on_partition,
    raw_submission,
    step_of,
    submit,
)

pytestmark = pytest.mark.e2e
COMMUNE = "400.10.16690.H40"
POLICE = "400.11.16690.H40"


def submissions(system, codes: list[str], **fields) -> list[tuple[bytes, bytes]]:
    return [(code.encode(), cloud_event_bytes(raw_submission(system, code, **fields), code)[0]) for code in codes]


async def unroutable_for(system, http, token: str) -> dict[str, dict]:
    rows = await every_row(http, f"{system.routing_url}/v1/routing/unroutable", bearer(token))
    return {row["dossier_code"]: row for row in rows}


async def dead_letter_reason(system, key: str) -> str:
    dead = await read_until(system.kafka, system.dead_letter_topic, lambda rs: len(rs) >= 1,
                            keep=lambda r: r.key == key.encode())
    return dict(dead[0].headers)["dlq-reason"].decode()


@pytest.mark.parametrize(("case", "fields", "error"), [
    ("unknown locality", {"locality": "99999"}, "UnknownUnitError"),
    ("no route on the day of receipt", {"received_at": at(1, 9, month=3).replace(year=2016)}, "NoRouteError"),
    ("unknown locality accepted later", {"locality": "01", "national_status": 1}, "UnknownUnitError"),
])
async def test_a_dossier_routing_cannot_route_is_recorded_listed_and_the_50_behind_it_are_routed(
        system, http, tokens, case: str, fields: dict, error: str) -> None:
    system.set_time(at(7, 9))
    # The desk's own agency received it (so its desk sees the list); a six-digit number, which
    # intake's daily counter never reaches here, keeps it apart from intake's dossiers.
    code = f"{system.agency_id}-{fields.get('received_at', at(7, 9)):%y%m%d}-{secrets.randbelow(900_000) + 100_000}"
    poison = submissions(system, [code], **fields)
    if fields.get("national_status") == 1:
        accepted = DossierAccepted(dossier_code=code, accepted_by="desk-test", accepted_at=at(7, 9))
        poison.append((code.encode(), cloud_event_bytes(accepted, code)[0]))
    behind = fresh_codes(50)

    partition = await produce_on_partition(system.kafka, system.events_topic, poison)
    await produce_on_partition(system.kafka, system.events_topic, submissions(system, behind), partition)

    await all_routed(system, http, tokens["auditor"], behind)
    listed = await unroutable_for(system, http, tokens["desk"])
    assert code in listed, case
    assert listed[code]["reason"].startswith(error)
    assert listed[code]["national_status"] == fields.get("national_status", 2)
    assert code in await unroutable_for(system, http, tokens["auditor"])
    assert code not in await unroutable_for(system, http, tokens["other-desk"])
    view = (await http.get(f"{system.routing_url}/v1/routing/dossiers/{code}",
                           headers=bearer(tokens["auditor"]))).json()
    assert (view["route_version"], view["national_status"]) == (None, fields.get("national_status", 2))


async def police_steps_open(system, http, tokens, count: int) -> list[str]:
    """``count`` birth registrations whose police step (a stream-integrated agency's) is open."""
    system.set_time(at(7, 9))
    codes = fresh_codes(count)
    await produce_on_partition(system.kafka, system.events_topic,
                               submissions(system, codes, procedure="1.001193"))
    await all_routed(system, http, tokens["auditor"], codes)
    system.set_time(at(7, 10))
    agencies = AgencySimulator(system, http)
    for code in codes:
        done = await agencies.rest(code, "birth_registration", COMMUNE, "complete", {"documents": []})
        assert done.status_code == 200, done.text
    return codes


def reply_bytes(code: str, acted_at: str | None = None) -> bytes:
    reply = AgencyActed(dossier_code=code, step_key="residence_registration", agency_id=POLICE, action="claim",
                        acted_at=at(7, 10))
    value, _ = cloud_event_bytes(reply, code, source=f"/agencies/{POLICE}")
    if acted_at is None:
        return value
    event = json.loads(value)
    event["data"]["acted_at"] = acted_at
    return json.dumps(event).encode()


@pytest.mark.parametrize(("case", "poison"), [
    ("acted_at in year 9999", lambda code: reply_bytes(code, "9999-12-31T20:00:00Z")),
    ("an undecodable record of 1 MB", lambda code: b"\xff" * 1_000_000),
])
async def test_a_poisonous_reply_is_dead_lettered_and_the_50_replies_behind_it_are_applied(
        system, http, tokens, case: str, poison) -> None:
    codes = await police_steps_open(system, http, tokens, 50)
    poisoned = fresh_codes(1)[0]
    topic = system.agency_reply_topic(POLICE)

    await produce_on_partition(system.kafka, topic, [(poisoned.encode(), poison(poisoned))])
    await produce_on_partition(system.kafka, topic, [(code.encode(), reply_bytes(code)) for code in codes])

    await all_routed(system, http, tokens["auditor"], codes,
                     until=lambda view: step_of(view, "residence_registration")["state"] == "claimed")
    assert await dead_letter_reason(system, poisoned), case


async def test_an_apology_dated_in_year_9999_gets_422_and_routing_goes_on_publishing(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.000635", at(7, 9))
    agencies = AgencySimulator(system, http)
    await routed_view(system, http, tokens["auditor"], code)
    system.set_time(at(8, 9))  # the copy was due Monday 17:30: the commune is late
    await routed_view(system, http, tokens["auditor"], code, until=lambda v: step_of(v, "issue_copy")["overdue"])

    far = await http.post(f"{system.routing_url}/v1/inbox/{code}/apology", headers=agencies.headers(COMMUNE),
                          json={"reason": "Xin lỗi vì chậm trả", "new_appointment_at": "9999-12-31T23:59:59-10:00"})

    assert far.status_code == 422, far.text
    assert far.headers["content-type"] == "application/problem+json"
    inbox = await http.get(f"{system.routing_url}/v1/inbox", headers=agencies.headers(COMMUNE))
    assert inbox.status_code == 200
    later = await submit(system, http, tokens, "2.000635", at(8, 9))
    await read_until(system.kafka, system.routing_topic, lambda rs: len(rs) >= 1,
                     keep=lambda r: r.key == later.encode())


@pytest.mark.parametrize("params", [
    {"offset": "9223372036854775808"},
    {"offset": "-1"},
    {"limit": "100000"},
    {"due_before": "0001-01-01T00:00+14:00"},
    {"due_before": "9999-12-31T23:59:59-14:00"},
])
async def test_an_inbox_query_with_an_unbounded_number_or_instant_gets_422(system, http, params: dict) -> None:
    agencies = AgencySimulator(system, http)

    response = await http.get(f"{system.routing_url}/v1/inbox", params=params, headers=agencies.headers(COMMUNE))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [name] = params
    assert any(name in error["name"] for error in response.json()["errors"]), response.json()


async def test_only_desks_and_auditors_see_the_dossiers_routing_could_not_route(system, http, tokens) -> None:
    agencies = AgencySimulator(system, http)

    response = await http.get(f"{system.routing_url}/v1/routing/unroutable", headers=agencies.headers(COMMUNE))

    assert response.status_code == 403
