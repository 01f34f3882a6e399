"""Operators keep the working calendar at run time: a day off or a make-up working day added by
decision moves the due times of open steps and the appointment at once — in the agencies' inbox,
the dossier's view, its history and on Kafka — and routing keeps the change across a restart.

The calendar log belongs to a deployment, so these tests have their own (not the shared one),
and each works in its own week of 2027: their order does not matter.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from services.sandbox import REPO_ROOT
from tests.support.agencies import routed_view
from tests.support.deployments import deploy_system
from tests.support.endpoints import Endpoints
from tests.support.intake import bearer
from tests.support.kafka import eventually, read_until
from tests.support.routing import uploaded_desk_submission

pytestmark = pytest.mark.e2e
VN = timezone(timedelta(hours=7))
COMMUNE = "400.10.16690.H40"  # birth registration, the first step of 1.001193 (1 working day; 3 in all)
DECISION = "1234/QĐ-TTg"


def vn(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=VN)


@pytest.fixture(scope="module")
async def deployment(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    async with deploy_system(endpoints, tmp_path_factory.mktemp("calendar"), vn(3, 1, 8)) as system:
        yield system


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=120) as client:
        yield client


async def received(system: Any, http: httpx.AsyncClient, at: datetime) -> tuple[str, dict]:
    """A birth registration received and accepted at the desk at ``at``, once its first step is open."""
    system.set_time(at)
    token = system.token("desk")
    answer = await http.post(f"{system.base_url}/v1/dossiers", headers=bearer(token),
                             json=await uploaded_desk_submission(system, http, token, "1.001193"))
    assert answer.status_code == 201, answer.text
    code = answer.json()["code"]
    view = await routed_view(system, http, system.token("auditor"), code)
    return code, view


async def change(system: Any, http: httpx.AsyncClient, kind: str, day: str, *, decision: str = DECISION,
                 party: str = "operator") -> httpx.Response:
    return await http.post(f"{system.routing_url}/v1/routing/calendar/changes",
                           json={"kind": kind, "date": day, "decision": decision, "reason": "Theo quyết định"},
                           headers=bearer(system.token(party)))


async def inbox_due(system: Any, http: httpx.AsyncClient, code: str, step_key: str) -> datetime:
    answer = await http.get(f"{system.routing_url}/v1/inbox", params={"limit": 500},
                            headers=bearer(system.agency_token(COMMUNE)))
    assert answer.status_code == 200, answer.text
    [row] = [r for r in answer.json() if r["dossier_code"] == code and r["step_key"] == step_key]
    return datetime.fromisoformat(row["due_at"])


async def calendar(system: Any, http: httpx.AsyncClient, **params: Any) -> dict:
    answer = await http.get(f"{system.routing_url}/v1/routing/calendar", params=params,
                            headers=bearer(system.token("auditor")))
    assert answer.status_code == 200, answer.text
    return answer.json()


def step(view: dict, key: str) -> dict:
    return next(s for s in view["steps"] if s["key"] == key)


async def restart_routing(system: Any) -> None:
    """Stop routing's API and consumer by PID and start them again."""
    for name in ("routing", "routing-consumer"):
        system.processes[name].stop()
    for name in ("routing", "routing-consumer"):
        system.processes[name].start()

    async def ready() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(f"{system.routing_url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False
    await eventually(ready, timeout=90)


async def test_a_day_off_added_while_a_step_is_open_moves_its_due_and_the_appointment_and_survives_a_restart(
        deployment, http) -> None:
    code, view = await received(deployment, http, vn(3, 1, 9))  # Monday 09:00
    assert datetime.fromisoformat(step(view, "birth_registration")["due_at"]) == vn(3, 2, 9)
    assert datetime.fromisoformat(view["appointment_at"]) == vn(3, 4, 9)
    deployment.set_time(vn(3, 1, 10))

    answer = await change(deployment, http, "add_day_off", "2027-03-02")  # Tuesday off

    assert answer.status_code == 201, answer.text
    assert answer.json()["dossiers_rescheduled"] >= 1 and answer.json()["rescheduling_complete"]
    assert await inbox_due(deployment, http, code, "birth_registration") == vn(3, 3, 9)
    view = await routed_view(deployment, http, deployment.token("auditor"), code)
    assert datetime.fromisoformat(view["appointment_at"]) == vn(3, 5, 9)
    [moved] = step(view, "birth_registration")["due_changes"]
    assert (datetime.fromisoformat(moved["previous_due_at"]), datetime.fromisoformat(moved["due_at"])) == (
        vn(3, 2, 9), vn(3, 3, 9))
    assert moved["decision"] == DECISION
    history = (await http.get(f"{deployment.routing_url}/v1/routing/dossiers/{code}/history",
                              headers=bearer(deployment.token("auditor")))).json()
    [recomputed] = [e for e in history if e["event"] == "DueTimesRecomputed"]
    assert recomputed["data"]["decision"] == DECISION
    assert datetime.fromisoformat(recomputed["data"]["previous_appointment_at"]) == vn(3, 4, 9)
    published = await read_until(deployment.kafka, deployment.routing_topic, lambda rs: len(rs) >= 2, keep=lambda r: (
        r.key == code.encode() and json.loads(r.value)["type"].endswith("due-times-changed.v1"))
        or r.key == b"working-calendar")
    assert {json.loads(r.value)["type"] for r in published} >= {
        "vn.lienthong.routing.dossier.due-times-changed.v1", "vn.lienthong.routing.calendar.changed.v1"}

    await restart_routing(deployment)

    assert await inbox_due(deployment, http, code, "birth_registration") == vn(3, 3, 9)
    days = {d["date"]: d["kind"] for d in (await calendar(deployment, http, year=2027))["days"]}
    assert days["2027-03-02"] == "day_off"
    _, view = await received(deployment, http, vn(3, 1, 11))  # after the restart, under the new calendar
    assert datetime.fromisoformat(step(view, "birth_registration")["due_at"]) == vn(3, 3, 11)


async def test_a_make_up_saturday_moves_the_due_and_the_appointment_earlier(deployment, http) -> None:
    code, view = await received(deployment, http, vn(3, 12, 9))  # Friday 09:00: due Monday 09:00
    assert datetime.fromisoformat(step(view, "birth_registration")["due_at"]) == vn(3, 15, 9)
    assert datetime.fromisoformat(view["appointment_at"]) == vn(3, 17, 9)
    deployment.set_time(vn(3, 12, 10))

    answer = await change(deployment, http, "add_working_day", "2027-03-13")

    assert answer.status_code == 201, answer.text
    assert await inbox_due(deployment, http, code, "birth_registration") == vn(3, 13, 9)
    view = await routed_view(deployment, http, deployment.token("auditor"), code)
    assert datetime.fromisoformat(view["appointment_at"]) == vn(3, 16, 9)
    assert [c["decision"] for c in view["appointment_changes"]] == [DECISION]


async def test_the_calendar_in_force_at_a_past_instant_is_replayed_without_later_changes(deployment, http) -> None:
    made_at = vn(4, 5, 9)
    just_before = (made_at - timedelta(microseconds=1)).isoformat()
    deployment.set_time(made_at)
    before = await calendar(deployment, http, year=2027, as_of=just_before)

    answer = await change(deployment, http, "add_day_off", "2027-04-09")

    assert answer.status_code == 201, answer.text
    assert datetime.fromisoformat(answer.json()["change"]["at"]) == made_at
    then = await calendar(deployment, http, year=2027, as_of=just_before)
    since = await calendar(deployment, http, year=2027, as_of=made_at.isoformat())
    assert then == before
    assert "2027-04-09" not in {d["date"] for d in then["days"]}
    assert "2027-04-09" in {d["date"] for d in since["days"]}
    assert since["revision"] == then["revision"] + 1
    assert "2027-04-09" in {d["date"] for d in (await calendar(deployment, http, year=2027))["days"]}


@pytest.mark.parametrize(("kind", "day", "status", "problem"), [
    ("add_day_off", "2027-05-08", 422, "weekend-day-off"),  # a Saturday
    ("add_working_day", "2027-05-11", 422, "weekday-make-up-day"),  # a Tuesday
    ("add_day_off", "2027-05-03", 409, "calendar-day-unchanged"),  # 3 May 2027 is off already (1 May observed)
    ("remove", "2027-05-12", 404, "calendar-entry-not-found"),  # an ordinary Wednesday
    ("add_day_off", "2031-05-12", 422, "year-not-covered"),
    ("add_day_off", "2027-04-27", 422, "day-in-the-past"),
])
async def test_a_change_that_breaks_a_rule_gets_its_precise_problem_and_changes_nothing(
        deployment, http, kind, day, status, problem) -> None:
    deployment.set_time(vn(4, 28, 9))
    before = await calendar(deployment, http, year=int(day[:4]))

    answer = await change(deployment, http, kind, day)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == f"https://lienthong.gov.vn/problems/{problem}"
    assert await calendar(deployment, http, year=int(day[:4])) == before


async def test_a_decision_not_numbered_as_documents_are_and_a_caller_who_is_not_an_operator_change_nothing(
        deployment, http) -> None:
    deployment.set_time(vn(5, 5, 9))
    before = await calendar(deployment, http)

    badly_numbered = await change(deployment, http, "add_day_off", "2027-05-14", decision="QĐ so 12")
    not_operator = await change(deployment, http, "add_day_off", "2027-05-14", party="desk")
    anonymous = await http.post(f"{deployment.routing_url}/v1/routing/calendar/changes",
                                json={"kind": "add_day_off", "date": "2027-05-14", "decision": DECISION,
                                      "reason": "Theo quyết định"})

    assert badly_numbered.status_code == 422
    assert [e["name"] for e in badly_numbered.json()["errors"]] == ["decision"]
    assert (not_operator.status_code, anonymous.status_code) == (403, 401)
    assert await calendar(deployment, http) == before


async def test_the_command_line_adds_a_day_off_and_lists_it(deployment, http) -> None:
    deployment.set_time(vn(6, 1, 9))
    credentials = ["--url", deployment.routing_url, "--client-id", deployment.client_id("operator"),
                   "--client-secret", deployment.secrets["operator"]]

    def lienthong(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "services.cli", "calendar", *args, *credentials],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                              env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})

    added = await asyncio.to_thread(lienthong, "add-day-off", "2027-06-04", "--decision", "77/TB-VPCP",
                                    "--reason", "Nghỉ bù")
    listed = await asyncio.to_thread(lienthong, "list", "--year", "2027")
    refused = await asyncio.to_thread(lienthong, "add-day-off", "2027-06-05", "--decision", "77/TB-VPCP",
                                      "--reason", "Nghỉ bù")

    assert added.returncode == 0, added.stdout + added.stderr
    assert "2027-06-04" in listed.stdout and "77/TB-VPCP" in listed.stdout
    assert refused.returncode == 1 and "422" in refused.stdout
    assert "2027-06-04" in {d["date"] for d in (await calendar(deployment, http, year=2027))["days"]}
