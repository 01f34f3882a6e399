"""Routing's rules seen from outside: who may act, in which state, with which body; pauses,
deadlines, apologies, hand-over and withdrawal — all over the real broker and database."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.agencies import AgencySimulator, result_document, routed_view
from tests.support.intake import bearer
from tests.support.kafka import read_until
from tests.support.routing import at, every_row, instant, intake_status, step_of, submit
from tests.support.uploads import uploaded

pytestmark = pytest.mark.e2e
COMMUNE = "400.10.16690.H40"  # the commune people's committee of locality 16690 from July 2025
COMMUNE_POLICE = "400.11.16690.H40"
SOCIAL_INSURANCE = "400.22.90001.H40"


async def copy_dossier(system, http, tokens) -> str:
    code = await submit(system, http, tokens, "2.000635", at(7, 9))
    await routed_view(system, http, tokens["auditor"], code)
    return code


async def test_an_agency_acting_on_another_agencys_step_gets_403_and_nothing_changes(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.001193", at(7, 9))  # the police have a later step
    agencies = AgencySimulator(system, http)
    before = await routed_view(system, http, tokens["auditor"], code)

    response = await agencies.rest(code, "birth_registration", COMMUNE_POLICE, "claim")

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert await routed_view(system, http, tokens["auditor"], code) == before


async def test_an_agency_with_no_step_on_the_dossier_gets_404_as_for_an_unknown_dossier(system, http, tokens) -> None:
    code = await copy_dossier(system, http, tokens)
    agencies = AgencySimulator(system, http)
    unknown = f"{system.agency_id}-250707-9998"
    apology = {"reason": "Xin lỗi vì chậm trả", "new_appointment_at": at(9, 17, 30).isoformat()}

    answers = [await agencies.rest(c, "issue_copy", COMMUNE_POLICE, "claim") for c in (code, unknown)]
    answers += [await http.post(f"{system.routing_url}/v1/inbox/{c}/apology", json=apology,
                                headers=agencies.headers(COMMUNE_POLICE)) for c in (code, unknown)]
    answers += [await http.get(f"{system.routing_url}/v1/routing/dossiers/{c}{tail}",
                               headers=agencies.headers(COMMUNE_POLICE))
                for c in (code, unknown) for tail in ("", "/control-sheet")]
    answers += [await http.post(f"{system.routing_url}/v1/routing/dossiers/{c}/stop", json={"reason": "Dừng xử lý"},
                                headers=bearer(tokens["other-desk"])) for c in (code, unknown)]

    assert [r.status_code for r in answers] == [404] * len(answers)
    assert {r.json()["type"] for r in answers} == {"https://lienthong.gov.vn/problems/dossier-not-found"}


async def test_acting_on_a_step_that_is_no_longer_open_gets_409(system, http, tokens) -> None:
    code = await copy_dossier(system, http, tokens)
    agencies = AgencySimulator(system, http)
    done = await agencies.rest(code, "issue_copy", COMMUNE, "complete", {"documents": [result_document()]})
    assert done.status_code == 200

    again = await agencies.rest(code, "issue_copy", COMMUNE, "claim")

    assert again.status_code == 409
    assert again.json()["type"].endswith("/step-state-conflict")


async def test_malformed_bodies_get_422_and_nothing_changes(system, http, tokens) -> None:
    code = await copy_dossier(system, http, tokens)
    agencies = AgencySimulator(system, http)
    before = await routed_view(system, http, tokens["auditor"], code)

    bad_document = await agencies.rest(code, "issue_copy", COMMUNE, "complete",
                                       {"documents": [{"name": "", "media_type": "x", "size_bytes": -1}]})
    no_reason = await agencies.rest(code, "issue_copy", COMMUNE, "refusal", {})
    unknown_field = await agencies.rest(code, "issue_copy", COMMUNE, "refusal", {"reason": "Thiếu giấy", "x": 1})

    assert [r.status_code for r in (bad_document, no_reason, unknown_field)] == [422, 422, 422]
    assert len(bad_document.json()["errors"]) >= 3
    assert await routed_view(system, http, tokens["auditor"], code) == before


async def test_an_unknown_dossier_gets_404(system, http, tokens) -> None:
    unknown = f"{system.agency_id}-250707-9999"
    response = await AgencySimulator(system, http).rest(unknown, "issue_copy", COMMUNE, "claim")
    assert response.status_code == 404


async def test_an_agency_sees_only_the_steps_routed_to_it(system, http, tokens) -> None:
    code = await copy_dossier(system, http, tokens)
    agencies = AgencySimulator(system, http)

    mine = await every_row(http, f"{system.routing_url}/v1/inbox", agencies.headers(COMMUNE), state="open")
    theirs = await every_row(http, f"{system.routing_url}/v1/inbox", agencies.headers(COMMUNE_POLICE))
    view = await http.get(f"{system.routing_url}/v1/routing/dossiers/{code}", headers=agencies.headers(COMMUNE_POLICE))

    assert code in {item["dossier_code"] for item in mine}
    assert code not in {item["dossier_code"] for item in theirs}
    assert view.status_code == 404


async def test_a_supplement_request_stops_the_clock_until_the_citizen_supplements(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.001610", at(7, 9))
    agencies = AgencySimulator(system, http)
    registry = "000.08.21.H40"
    await routed_view(system, http, tokens["auditor"], code)
    system.set_time(at(7, 10))
    asked = await agencies.rest(code, "review_application", registry, "supplement-request",
                                {"reason": "Thiếu bản sao giấy tờ pháp lý của thành viên"})
    assert asked.status_code == 200, asked.text
    assert asked.json()["national_status"] == 5
    assert step_of(asked.json(), "review_application")["due_at"] is None
    await intake_status(system, http, tokens, code, 5)

    system.set_time(at(9, 10))
    supplement = await uploaded(http, tokens["desk"], {"documents": [result_document("ban_sao_giay_to")]},
                                base_url=system.routing_url)
    supplemented = await http.post(f"{system.routing_url}/v1/routing/dossiers/{code}/supplement",
                                   json=supplement, headers=bearer(tokens["desk"]))

    # Paused Mon 10:00 → Wed 10:00, 16 working hours: due Tue 09:00 becomes Thu 09:00.
    assert supplemented.status_code == 200, supplemented.text
    assert supplemented.json()["national_status"] == 4
    assert instant(step_of(supplemented.json(), "review_application")["due_at"]) == at(10, 9)
    await intake_status(system, http, tokens, code, 4)


async def test_an_overdue_step_is_flagged_attributed_and_its_agency_apologises_once(system, http, tokens) -> None:
    code = await copy_dossier(system, http, tokens)
    agencies = AgencySimulator(system, http)

    system.set_time(at(8, 8))  # the copy was due Monday 17:30
    view = await routed_view(system, http, tokens["auditor"], code, until=lambda v: step_of(v, "issue_copy")["overdue"])
    records = await read_until(system.kafka, system.routing_topic, lambda rs: len(rs) >= 1,
                               keep=lambda r: r.key == code.encode()
                               and json.loads(r.value)["type"] == "vn.lienthong.routing.step.deadline.v1"
                               and json.loads(r.value)["data"]["kind"] == "overdue")
    assert json.loads(records[0].value)["data"]["agency_id"] == COMMUNE
    overdue = await every_row(http, f"{system.routing_url}/v1/inbox", agencies.headers(COMMUNE), overdue="true")
    assert code in {item["dossier_code"] for item in overdue}

    apology = {"reason": "Xin lỗi vì chậm trả do thiếu cán bộ", "new_appointment_at": at(9, 17, 30).isoformat()}
    not_late = await http.post(f"{system.routing_url}/v1/inbox/{code}/apology", json=apology,
                               headers=agencies.headers(COMMUNE_POLICE))
    first = await http.post(f"{system.routing_url}/v1/inbox/{code}/apology", json=apology,
                            headers=agencies.headers(COMMUNE))
    second = await http.post(f"{system.routing_url}/v1/inbox/{code}/apology", json=apology,
                             headers=agencies.headers(COMMUNE))

    assert not_late.status_code == 404  # the police have no step on this dossier
    assert first.status_code == 200, first.text
    assert second.status_code == 409
    body = first.json()
    assert instant(body["original_appointment_at"]) == instant(view["appointment_at"]) == at(7, 17, 30)
    assert instant(body["new_appointment_at"]) == at(9, 17, 30)


async def test_the_desk_hands_the_result_over_and_intake_shows_status_10(system, http, tokens) -> None:
    code = await copy_dossier(system, http, tokens)
    early = await http.post(f"{system.routing_url}/v1/routing/dossiers/{code}/handover", headers=bearer(tokens["desk"]))
    assert early.status_code == 409
    await AgencySimulator(system, http).rest(code, "issue_copy", COMMUNE, "complete", {"documents": []})
    await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 9)

    other_desk = await http.post(f"{system.routing_url}/v1/routing/dossiers/{code}/handover",
                                 headers=bearer(tokens["other-desk"]))
    handed = await http.post(f"{system.routing_url}/v1/routing/dossiers/{code}/handover",
                             headers=bearer(tokens["desk"]))

    assert other_desk.status_code == 404
    assert handed.status_code == 200 and handed.json()["national_status"] == 10
    await intake_status(system, http, tokens, code, 10)


async def test_a_withdrawal_at_intake_closes_the_open_steps(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.001193", at(7, 9))
    await routed_view(system, http, tokens["auditor"], code)

    withdrawn = await http.post(f"{system.base_url}/v1/dossiers/{code}/withdrawal",
                                json={"reason": "Gia đình tự làm thủ tục sau"}, headers=bearer(tokens["desk"]))
    assert withdrawn.status_code == 202, withdrawn.text  # requested: routing decides (docs/STATUS.md)
    view = await routed_view(system, http, tokens["auditor"], code, until=lambda v: v["national_status"] == 7)
    await intake_status(system, http, tokens, code, 7)

    assert step_of(view, "birth_registration")["state"] == "closed"
    claim = await AgencySimulator(system, http).rest(code, "birth_registration", COMMUNE, "claim")
    assert claim.status_code == 409


async def test_a_step_sent_back_over_kafka_reopens_the_previous_step(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "2.001610", at(7, 9))
    agencies = AgencySimulator(system, http)
    await routed_view(system, http, tokens["auditor"], code)
    system.set_time(at(7, 10))
    await agencies.rest(code, "review_application", "000.08.21.H40", "complete", {"documents": []})
    await agencies.seen_on_inbox_topic(code, "tax_code", "000.81.00.H40")

    system.set_time(at(7, 11))
    await agencies.kafka(code, "tax_code", "000.81.00.H40", "send_back", at(7, 11), reason="Sai mã ngành nghề")

    view = await routed_view(system, http, tokens["auditor"], code,
                             until=lambda v: step_of(v, "review_application")["opening"] == 2)
    assert step_of(view, "review_application")["state"] == "open"
    assert instant(step_of(view, "review_application")["due_at"]) == at(8, 11)
    assert step_of(view, "tax_code")["state"] == "pending"


async def dead_letter_of(system, event_id: str) -> str:
    """The reason routing gave for dead-lettering the record whose event id is ``event_id``."""
    dead = await read_until(system.kafka, system.dead_letter_topic, lambda rs: len(rs) >= 1,
                            keep=lambda r: event_id.encode() in (r.value or b""))
    return dict(dead[0].headers)["dlq-reason"].decode()


async def test_a_kafka_reply_for_another_agencys_step_is_dead_lettered_and_changes_nothing(
        system, http, tokens) -> None:
    code = await copy_dossier(system, http, tokens)
    agencies = AgencySimulator(system, http)
    before = await routed_view(system, http, tokens["auditor"], code)
    system.set_time(at(7, 10))

    sent = await agencies.kafka(code, "issue_copy", COMMUNE_POLICE, "complete", at(7, 10), documents=[])

    assert "WrongAgencyError" in await dead_letter_of(system, sent)
    assert await routed_view(system, http, tokens["auditor"], code) == before


async def test_a_reply_on_another_agencys_topic_is_refused_and_the_consumer_goes_on(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.001193", at(7, 9))
    agencies = AgencySimulator(system, http)
    await routed_view(system, http, tokens["auditor"], code)
    system.set_time(at(7, 10))
    assert (await agencies.rest(code, "birth_registration", COMMUNE, "complete", {"documents": []})).status_code == 200
    await agencies.seen_on_inbox_topic(code, "residence_registration", COMMUNE_POLICE)

    forged = await agencies.kafka(code, "residence_registration", COMMUNE_POLICE, "claim", at(7, 10),
                                  topic_of=SOCIAL_INSURANCE)

    assert f"the reply topic of {SOCIAL_INSURANCE}" in await dead_letter_of(system, forged)
    view = await routed_view(system, http, tokens["auditor"], code)
    assert step_of(view, "residence_registration")["state"] == "open"
    await agencies.kafka(code, "residence_registration", COMMUNE_POLICE, "claim", at(7, 10))
    await routed_view(system, http, tokens["auditor"], code,
                      until=lambda v: step_of(v, "residence_registration")["state"] == "claimed")


async def test_a_reply_dated_before_its_step_opened_or_ahead_of_the_clock_is_dead_lettered(
        system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.001193", at(7, 9))
    agencies = AgencySimulator(system, http)
    await routed_view(system, http, tokens["auditor"], code)
    system.set_time(at(7, 10))
    assert (await agencies.rest(code, "birth_registration", COMMUNE, "complete", {"documents": []})).status_code == 200

    early = await agencies.kafka(code, "residence_registration", COMMUNE_POLICE, "claim", at(7, 9, 30))
    ahead = await agencies.kafka(code, "residence_registration", COMMUNE_POLICE, "claim", at(7, 10, 6))

    assert "before step" in await dead_letter_of(system, early)
    assert "later than now" in await dead_letter_of(system, ahead)
    view = await routed_view(system, http, tokens["auditor"], code)
    assert step_of(view, "residence_registration")["state"] == "open"


async def test_stopping_processing_closes_the_open_steps_with_status_8(system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.001193", at(7, 9))
    await routed_view(system, http, tokens["auditor"], code)

    stopped = await http.post(f"{system.routing_url}/v1/routing/dossiers/{code}/stop",
                              json={"reason": "Hồ sơ giả mạo giấy chứng sinh"}, headers=bearer(tokens["desk"]))

    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["national_status"] == 8
    assert step_of(stopped.json(), "birth_registration")["state"] == "closed"
    await intake_status(system, http, tokens, code, 8)


async def test_routings_events_keep_the_requests_correlation_and_the_replys_correlation_and_causation(
        system, http, tokens) -> None:
    code = await submit(system, http, tokens, "1.001193", at(7, 9))
    agencies = AgencySimulator(system, http)
    await routed_view(system, http, tokens["auditor"], code)
    system.set_time(at(7, 10))
    request_id, reply_correlation = str(uuid.uuid4()), str(uuid.uuid4())

    done = await http.post(f"{system.routing_url}/v1/inbox/{code}/steps/birth_registration/complete",
                           json={"documents": []},
                           headers={**agencies.headers(COMMUNE), "X-Correlation-ID": request_id})
    assert done.status_code == 200
    reply_id = await agencies.kafka(code, "residence_registration", COMMUNE_POLICE, "claim", at(7, 10),
                                    correlation_id=reply_correlation)

    def of_type(kind: str):
        return lambda r: r.key == code.encode() and json.loads(r.value)["type"] == kind
    completed = await read_until(system.kafka, system.routing_topic, lambda rs: len(rs) >= 1,
                                 keep=of_type("vn.lienthong.routing.step.completed.v1"))
    claimed = await read_until(system.kafka, system.routing_topic, lambda rs: len(rs) >= 1,
                               keep=of_type("vn.lienthong.routing.step.claimed.v1"))
    assert json.loads(completed[0].value)["correlationid"] == request_id
    assert (json.loads(claimed[0].value)["correlationid"], json.loads(claimed[0].value)["causationid"]) == (
        reply_correlation, reply_id)
