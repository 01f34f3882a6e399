"""Dossier content travels with the route, under need to know, with real processes on both document
backends (PostgreSQL, and an S3-compatible store: moto's server as a local process).

The birth chain (1.001193): the portal uploads the declaration, the birth certificate and the
household's consent and submits; the desk accepts; the commune (REST) reads its step's view and
downloads what it declares, then completes with the birth-registration extract; the police and social
insurance (both stream-integrated) receive their steps on Kafka with exactly what their steps declare
and a link per document, download with their own credentials, and complete with their results; the
desk and the portal receive the three results; the desk hands them over. Agencies not on the route
learn nothing; links used by another agency, after expiry, twice or altered are refused; a byte
altered in the store is detected and the read refused. Every read is on the routing topic.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.random_refs import random_citizen_id, random_name
from tests.support.agencies import AgencySimulator, result_document, routed_view, step_done
from tests.support.deployments import deploy_system
from tests.support.endpoints import Endpoints
from tests.support.intake import bearer
from tests.support.kafka import eventually, read_until
from tests.support.routing import at, step_of
from tests.support.s3_server import S3Server
from tests.support.uploads import a_document, file_of, uploaded

pytestmark = pytest.mark.e2e

COMMUNE, POLICE, SOCIAL_INSURANCE = "400.10.16690.H40", "400.11.16690.H40", "400.22.90001.H40"
TAX = "400.21.90001.H40"
"""On no step of the birth chain."""
LINK_TTL = timedelta(seconds=900)


@pytest.fixture(scope="module", params=["postgres", "s3"])
def backend(request: pytest.FixtureRequest) -> S3Server | None:
    """Where the deployment keeps its documents: PostgreSQL (None), or moto's S3 server."""
    return None if request.param == "postgres" else request.getfixturevalue("s3_server")


@pytest.fixture(scope="module")
async def deployment(endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory,
                     backend: S3Server | None) -> AsyncIterator[Any]:
    s3 = None if backend is None else backend.store_settings()
    async with deploy_system(endpoints, tmp_path_factory.mktemp("content"), at(7, 9), documents_s3=s3) as system:
        yield system


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


def an_applicant() -> dict[str, str]:
    return {"kind": "citizen", "full_name": random_name(), "identity_number": random_citizen_id(),
            "phone": "0912345678", "email": "me.be@example.vn", "address": "Số 5 đường Lê Mao, phường Trường Vinh"}


async def submitted_online(system: Any, http: httpx.AsyncClient, documents: list[dict[str, Any]],
                           procedure: str = "1.001193") -> tuple[str, dict[str, Any]]:
    """The portal uploads ``documents`` and submits; the desk accepts. The code and the applicant."""
    portal, desk = system.token("portal"), system.token("desk")
    applicant = an_applicant()
    body = await uploaded(http, portal, {
        "procedure_code": procedure, "applicant": applicant, "documents": documents, "channel": "online",
        "result_delivery": {"method": "desk"}, "locality_code": "16690", "receiving_agency_id": system.agency_id,
    }, base_url=system.base_url)
    submitted = await http.post(f"{system.base_url}/v1/dossiers", json=body, headers=bearer(portal))
    assert submitted.status_code == 201, submitted.text
    code = submitted.json()["code"]
    accepted = await http.post(f"{system.base_url}/v1/dossiers/{code}/acceptance", headers=bearer(desk))
    assert accepted.status_code == 200, accepted.text
    return code, applicant


def entry(document: dict[str, Any], href: str, from_step: str | None = None) -> dict[str, Any]:
    return {**document, "from_step": from_step, "href": f"{href}/{document['sha256']}"}


def pick(applicant: dict[str, str], *fields: str) -> dict[str, str]:
    return {field: applicant[field] for field in fields}


def problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["type"].rsplit("/", 1)[1]


def link_problem(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["code"]


async def reads_of(system: Any, code: str, done: Any) -> list[dict[str, Any]]:
    """The DossierContentRead records of ``code`` on the routing topic, once ``done(records)``."""
    def ours(record: Any) -> bool:
        return record.key == code.encode() and json.loads(record.value)["type"].startswith(
            "vn.lienthong.dossier.content-read.")
    records = await read_until(system.kafka, system.routing_topic,
                               lambda rs: done([json.loads(r.value)["data"] for r in rs]), keep=ours, timeout=60)
    return [json.loads(r.value)["data"] for r in records]


def read_key(read: dict[str, Any]) -> tuple[Any, ...]:
    return (read["reader_party"], read["reader_agency_id"], read["via"], read["purpose"], read["step_key"],
            tuple(read["fields"]), tuple(read["documents"]))


async def test_the_birth_chain_hands_each_agency_exactly_what_its_step_declares_and_the_results_to_the_desk(
        deployment: Any, http: httpx.AsyncClient) -> None:
    system = deployment
    agencies = AgencySimulator(system, http)
    declaration, certificate, consent = (a_document(name) for name in (
        "to_khai_khai_sinh", "giay_chung_sinh", "van_ban_dong_y_thuong_tru"))
    system.set_time(at(7, 9))
    code, applicant = await submitted_online(system, http, [declaration, certificate, consent])
    await routed_view(system, http, system.token("auditor"), code,
                      until=lambda v: v["route_version"] is not None and step_of(v, "birth_registration")["state"]
                      == "open")

    # The commune (REST) reads its step's view: the fields and documents its step declares, no more.
    commune = agencies.headers(COMMUNE)
    inbox = f"{system.routing_url}/v1/inbox/{code}/steps/birth_registration"
    view = await http.get(f"{inbox}/content", headers=commune)
    href = f"/v1/inbox/{code}/steps/birth_registration/documents"
    assert view.status_code == 200, view.text
    assert view.json() == {
        "dossier_code": code, "step_key": "birth_registration",
        "applicant": pick(applicant, "kind", "full_name", "identity_number", "phone", "address"),
        "documents": [entry(declaration, href), entry(certificate, href)],
    }
    for document in (declaration, certificate):
        downloaded = await http.get(f"{system.routing_url}{href}/{document['sha256']}", headers=commune)
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.content == file_of(document["sha256"])
        assert downloaded.headers["content-type"] == "application/pdf"
    undeclared = await http.get(f"{system.routing_url}{href}/{consent['sha256']}", headers=commune)
    assert problem(undeclared) == (403, "not-declared")
    not_yet = await http.get(f"{system.routing_url}/v1/inbox/{code}/steps/residence_registration/content",
                             headers=agencies.headers(POLICE))
    assert problem(not_yet) == (403, "not-declared")

    # The commune completes with the extract: a reference to a file it did not upload is refused.
    system.set_time(at(7, 10))
    unknown = await http.post(f"{inbox}/complete", json={"documents": [a_document("trich_luc_khai_sinh")]},
                              headers=commune)
    assert problem(unknown) == (422, "documents-not-uploaded")
    extract = result_document("trich_luc_khai_sinh")
    assert (await agencies.rest(code, "birth_registration", COMMUNE, "claim")).status_code == 200
    done = await agencies.rest(code, "birth_registration", COMMUNE, "complete", {"documents": [extract]})
    assert done.status_code == 200, done.text

    # The police and social insurance receive their steps on Kafka with exactly their declared view.
    police_step = (await agencies.seen_on_inbox_topic(code, "residence_registration", POLICE))["data"]
    insurance_step = (await agencies.seen_on_inbox_topic(code, "health_insurance_card", SOCIAL_INSURANCE))["data"]
    links: dict[tuple[str, str], str] = {}
    for step, agency, fields, documents in (
            (police_step, POLICE, ("full_name", "identity_number", "address"),
             [(declaration, None), (consent, None), (extract, "birth_registration")]),
            (insurance_step, SOCIAL_INSURANCE, ("full_name", "identity_number", "phone", "address"),
             [(declaration, None), (extract, "birth_registration")])):
        content = step["content"]
        assert content["applicant"] == pick(applicant, *fields)
        assert [(d["document"], d["from_step"]) for d in content["documents"]] == documents
        for d in content["documents"]:
            assert d["link"]["url"].startswith(f"{system.routing_url}/v1/document-links/")
            assert d["link"]["expires_at"] <= (at(7, 10) + LINK_TTL + timedelta(minutes=1)).isoformat()
            links[agency, d["document"]["name"]] = d["link"]["url"]

    # Links: the agency's own, with its own token, once; not another agency's, not altered, not expired.
    system.set_time(at(7, 10, 5))
    police_extract = links[POLICE, "trich_luc_khai_sinh"]
    other = await http.get(police_extract, headers=agencies.headers(SOCIAL_INSURANCE))
    assert link_problem(other) == (403, "link-other-agency")
    fetched = await http.get(police_extract, headers=agencies.headers(POLICE))
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == file_of(extract["sha256"])
    again = await http.get(police_extract, headers=agencies.headers(POLICE))
    assert link_problem(again) == (403, "link-used")
    declaration_link = links[POLICE, "to_khai_khai_sinh"]
    altered = declaration_link[:-3] + ("AAA" if not declaration_link.endswith("AAA") else "BBB")
    assert link_problem(await http.get(altered, headers=agencies.headers(POLICE))) == (403, "link-invalid")
    assert link_problem(await http.get(links[SOCIAL_INSURANCE, "to_khai_khai_sinh"],
                                       headers=agencies.headers(TAX))) == (403, "link-other-agency")
    insurance_extract = await http.get(links[SOCIAL_INSURANCE, "trich_luc_khai_sinh"],
                                       headers=agencies.headers(SOCIAL_INSURANCE))
    assert insurance_extract.content == file_of(extract["sha256"])
    system.set_time(at(7, 10, 20))
    expired = await http.get(declaration_link, headers=agencies.headers(POLICE))
    assert link_problem(expired) == (403, "link-expired")
    # After expiry the police read their step's view (and fresh paths) from the inbox instead.
    police_href = f"/v1/inbox/{code}/steps/residence_registration/documents"
    police_view = await http.get(f"{system.routing_url}/v1/inbox/{code}/steps/residence_registration/content",
                                 headers=agencies.headers(POLICE))
    assert police_view.json()["documents"] == [entry(declaration, police_href), entry(consent, police_href),
                                               entry(extract, police_href, "birth_registration")]

    # The police and social insurance complete with their results (uploaded first, by Kafka reply).
    residence, card = result_document("xac_nhan_thuong_tru"), result_document("the_bhyt")
    system.set_time(at(7, 11))
    await agencies.kafka(code, "residence_registration", POLICE, "claim", at(7, 11))
    await agencies.kafka(code, "residence_registration", POLICE, "complete", at(7, 11), documents=[residence])
    await routed_view(system, http, system.token("auditor"), code, until=step_done("residence_registration"))
    system.set_time(at(7, 11, 30))
    await agencies.kafka(code, "health_insurance_card", SOCIAL_INSURANCE, "complete", at(7, 11, 30),
                         documents=[card])
    await routed_view(system, http, system.token("auditor"), code, until=lambda v: v["national_status"] == 9)

    # The desk and the portal (the citizen's) receive the three results; the desk hands them over.
    results_url = f"{system.routing_url}/v1/routing/dossiers/{code}/results"
    results_href = f"/v1/routing/dossiers/{code}/results"
    expected = {"dossier_code": code, "documents": [
        entry(extract, results_href, "birth_registration"), entry(residence, results_href, "residence_registration"),
        entry(card, results_href, "health_insurance_card")]}
    for party in ("desk", "portal"):
        results = await http.get(results_url, headers=bearer(system.token(party)))
        assert results.json() == expected, party
        for document in (extract, residence, card):
            got = await http.get(f"{results_url}/{document['sha256']}", headers=bearer(system.token(party)))
            assert got.content == file_of(document["sha256"]), (party, document["name"])
    system.set_time(at(7, 14))
    handed = await http.post(f"{system.routing_url}/v1/routing/dossiers/{code}/handover",
                             headers=bearer(system.token("desk")))
    assert handed.status_code == 200 and handed.json()["national_status"] == 10

    # An agency with no step on the dossier learns nothing, whatever it asks for.
    outsider = agencies.headers(TAX)
    for step_key in ("birth_registration", "residence_registration", "health_insurance_card"):
        base = f"{system.routing_url}/v1/inbox/{code}/steps/{step_key}"
        assert problem(await http.get(f"{base}/content", headers=outsider)) == (404, "dossier-not-found")
        for document in (declaration, certificate, consent, extract):
            assert problem(await http.get(f"{base}/documents/{document['sha256']}", headers=outsider)) == (
                404, "dossier-not-found")
    assert problem(await http.get(results_url, headers=outsider)) == (404, "dossier-not-found")
    assert problem(await http.get(f"{system.routing_url}/v1/routing/dossiers/{code}",
                                  headers=outsider)) == (404, "dossier-not-found")

    # Every read is on the routing topic, refusals none: who, how, what.
    declared_police = (declaration["sha256"], consent["sha256"], extract["sha256"])
    declared_insurance = (declaration["sha256"], extract["sha256"])
    wanted = sorted([
        ("agency", COMMUNE, "rest", "step_view", "birth_registration",
         ("kind", "full_name", "identity_number", "phone", "address"), ()),
        ("agency", COMMUNE, "rest", "document", "birth_registration", (), (declaration["sha256"],)),
        ("agency", COMMUNE, "rest", "document", "birth_registration", (), (certificate["sha256"],)),
        ("agency", POLICE, "stream", "step_view", "residence_registration", ("full_name", "identity_number",
                                                                             "address"), declared_police),
        ("agency", SOCIAL_INSURANCE, "stream", "step_view", "health_insurance_card",
         ("full_name", "identity_number", "phone", "address"), declared_insurance),
        ("agency", POLICE, "link", "document", "residence_registration", (), (extract["sha256"],)),
        ("agency", SOCIAL_INSURANCE, "link", "document", "health_insurance_card", (), (extract["sha256"],)),
        ("agency", POLICE, "rest", "step_view", "residence_registration", ("full_name", "identity_number",
                                                                           "address"), ()),
        *[(party, agency, "rest", "results", None, (), (d["sha256"],))
          for party, agency in (("desk", system.agency_id), ("portal", None)) for d in (extract, residence, card)],
    ])
    reads = await reads_of(system, code, lambda rs: len(rs) >= len(wanted))
    assert sorted(read_key(r) for r in reads) == wanted


async def test_a_byte_altered_in_the_store_is_detected_on_read_and_the_read_refused(
        deployment: Any, http: httpx.AsyncClient, backend: S3Server | None) -> None:
    system = deployment
    agencies = AgencySimulator(system, http)
    declaration = a_document("to_khai_cap_ban_sao_trich_luc")
    system.set_time(at(8, 9))
    code, _ = await submitted_online(system, http, [declaration], procedure="2.000635")
    await routed_view(system, http, system.token("auditor"), code,
                      until=lambda v: v["route_version"] is not None and step_of(v, "issue_copy")["state"] == "open")
    url = f"{system.routing_url}/v1/inbox/{code}/steps/issue_copy/documents/{declaration['sha256']}"
    assert (await http.get(url, headers=agencies.headers(COMMUNE))).content == file_of(declaration["sha256"])

    altered = bytearray(file_of(declaration["sha256"]))
    altered[1000] ^= 0x01
    if backend is None:
        conn = await asyncpg.connect(system.database_url)
        try:
            await conn.execute(f'UPDATE "{system.documents_schema}".document_chunks SET bytes = $2 '
                               "WHERE sha256 = $1 AND n = 0", declaration["sha256"], bytes(altered))
        finally:
            await conn.close()
    else:
        backend.client().put_object(Bucket=backend.bucket, Key=f"{system.documents_prefix}{declaration['sha256']}",
                                    Body=bytes(altered), ContentType="application/pdf")
    assert hashlib.sha256(altered).hexdigest() != declaration["sha256"]

    refused = await http.get(url, headers=agencies.headers(COMMUNE))

    assert problem(refused) == (502, "document-corrupt")
    # The refusal is reported in routing's log, and recorded as no read: the next read follows the first.
    async def reported() -> bool:
        return f"document {declaration['sha256']}" in system.processes["routing"].log_tail(400)
    assert await eventually(reported, timeout=10)
    assert (await http.get(f"{system.routing_url}/v1/inbox/{code}/steps/issue_copy/content",
                           headers=agencies.headers(COMMUNE))).status_code == 200
    reads = await reads_of(system, code, lambda rs: len(rs) >= 2)
    assert [read_key(r)[2:4] for r in reads] == [("rest", "document"), ("rest", "step_view")]


async def test_reading_a_dossier_at_intake_is_recorded_as_a_read_of_the_applicants_data(
        deployment: Any, http: httpx.AsyncClient) -> None:
    system = deployment
    system.set_time(at(9, 9))
    code, applicant = await submitted_online(system, http, [a_document("to_khai_cap_ban_sao_trich_luc")],
                                             procedure="2.000635")

    read = await http.get(f"{system.base_url}/v1/dossiers/{code}", headers=bearer(system.token("desk")))

    assert read.status_code == 200 and read.json()["applicant"] == applicant

    def ours(record: Any) -> bool:
        return record.key == code.encode() and json.loads(record.value)["type"].startswith(
            "vn.lienthong.dossier.content-read.")
    [record] = await read_until(system.kafka, system.events_topic, lambda rs: len(rs) >= 1, keep=ours)
    data = json.loads(record.value)["data"]
    assert (data["reader_party"], data["reader_agency_id"], data["purpose"], data["via"], data["fields"]) == (
        "desk", system.agency_id, "dossier", "rest", list(applicant))
