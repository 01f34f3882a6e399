"""Need to know: each step's view of a dossier holds exactly what the step declares; an agency reads
only the steps it holds or handled; results go to the desk and the applicant once ready; download
links are bound to one agency, expire, and refuse any alteration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from routing.domain import ContentNotDeclaredError, ResultsNotReadyError, RoutedDossier
from routing.domain.content import declared_document, handed_results, held_step, step_content
from routing.outbound import disclosure, link_signer, outbound_mapper
from routing.routes import Route
from routing.settings import RoutingSettings
from services.clock import FixedClock
from services.documents.links import LinkRefusedError, LinkSigner
from shared_events.contracts.routing import StepOpened
from tests.random_refs import random_sha256
from tests.support.builders import (
    CIVIL_STATUS,
    POLICE,
    SOCIAL_INSURANCE,
    a_document,
    calendar,
    complete,
    started,
    vn,
)

BIRTH_DOCUMENTS = ("to_khai_khai_sinh", "giay_chung_sinh", "van_ban_dong_y_thuong_tru", "van_ban_uy_quyen")


def a_birth_dossier() -> tuple[RoutedDossier, Route, dict[str, dict[str, Any]]]:
    documents = {name: a_document(name) for name in BIRTH_DOCUMENTS}
    dossier, route = started("1.001193", vn(7, 7, 9), documents=list(documents.values()))
    return dossier, route, documents


def test_the_commune_sees_the_applicant_fields_and_the_documents_its_step_declares_and_nothing_else() -> None:
    dossier, _, documents = a_birth_dossier()
    applicant = dossier.applicant or {}

    view = step_content(dossier, "birth_registration")

    assert view == {
        "applicant": {k: applicant[k] for k in ("kind", "full_name", "identity_number", "phone", "address")},
        "documents": [{"document": documents[k], "from_step": None}
                      for k in ("to_khai_khai_sinh", "giay_chung_sinh", "van_ban_uy_quyen")],
    }


def test_the_police_get_the_declaration_the_household_consent_and_the_communes_result_once_it_is_done() -> None:
    dossier, route, documents = a_birth_dossier()
    complete(dossier, route, "birth_registration", vn(7, 7, 10))
    [extract] = dossier.step("birth_registration").result_documents
    applicant = dossier.applicant or {}

    view = step_content(dossier, "residence_registration")

    assert view == {
        "applicant": {k: applicant[k] for k in ("full_name", "identity_number", "address")},
        "documents": [{"document": documents["to_khai_khai_sinh"], "from_step": None},
                      {"document": documents["van_ban_dong_y_thuong_tru"], "from_step": None},
                      {"document": extract, "from_step": "birth_registration"}],
    }
    assert "email" not in view["applicant"] and "giay_chung_sinh" not in {
        d["document"]["name"] for d in view["documents"]}


def test_a_supplemented_document_joins_the_views_of_the_steps_that_declare_it() -> None:
    dossier, _, _ = a_birth_dossier()
    dossier.request_supplement("birth_registration", CIVIL_STATUS, "Bổ sung giấy chứng sinh", vn(7, 7, 10))
    supplemented = a_document("giay_chung_sinh")
    dossier.provide_supplement(vn(7, 7, 11), [supplemented], calendar())

    names = [d["document"] for d in step_content(dossier, "birth_registration")["documents"]]

    assert names[-1] == supplemented


def test_an_agency_reads_a_step_it_holds_or_handled_but_not_another_agencys_nor_one_not_opened_yet() -> None:
    dossier, route, _ = a_birth_dossier()

    assert held_step(dossier, "birth_registration", CIVIL_STATUS).key == "birth_registration"
    with pytest.raises(ContentNotDeclaredError):
        held_step(dossier, "residence_registration", POLICE)  # not opened yet
    with pytest.raises(ContentNotDeclaredError):
        held_step(dossier, "birth_registration", POLICE)  # the commune's step
    complete(dossier, route, "birth_registration", vn(7, 7, 10))
    assert held_step(dossier, "birth_registration", CIVIL_STATUS).state == "done"  # read-only, what it handled
    assert held_step(dossier, "residence_registration", POLICE).state == "open"


def test_a_document_outside_the_view_is_refused() -> None:
    dossier, _, documents = a_birth_dossier()
    view = step_content(dossier, "birth_registration")

    assert declared_document(view, documents["giay_chung_sinh"]["sha256"])["from_step"] is None
    with pytest.raises(ContentNotDeclaredError):
        declared_document(view, documents["van_ban_dong_y_thuong_tru"]["sha256"])
    with pytest.raises(ContentNotDeclaredError):
        declared_document(view, random_sha256())


def test_results_are_handed_over_only_once_every_step_is_done_and_then_all_of_them() -> None:
    dossier, route, _ = a_birth_dossier()
    complete(dossier, route, "birth_registration", vn(7, 7, 10))
    with pytest.raises(ResultsNotReadyError):
        handed_results(dossier)
    for key in ("residence_registration", "health_insurance_card"):
        complete(dossier, route, key, vn(7, 7, 11))

    results = handed_results(dossier)

    assert [r["from_step"] for r in results] == ["birth_registration", "residence_registration",
                                                 "health_insurance_card"]
    [ready] = [e for e in dossier.pending_events if type(e) is RoutedDossier.ResultReady]
    assert ready.results == [r["document"] for r in results]


# --- the stream agency's copy ------------------------------------------------------------------------


SETTINGS = RoutingSettings(agency_inbox_prefix="agency-content.", public_base_url="https://routing.example.vn")
NOW = datetime(2025, 7, 7, 3, 0, tzinfo=UTC)


def test_a_stream_agencys_step_arrives_with_its_view_and_a_link_per_document_and_the_routing_topic_gets_neither(
) -> None:
    dossier, route, documents = a_birth_dossier()
    complete(dossier, route, "birth_registration", vn(7, 7, 10))
    [opened] = [e for e in dossier.pending_events
                if type(e) is RoutedDossier.StepOpened and e.step_key == "residence_registration"]

    main, inbox, disclosed = outbound_mapper(SETTINGS, clock=FixedClock(NOW))(opened)

    assert isinstance(main.contract, StepOpened) and main.contract.content is None
    content = inbox.contract.content
    assert inbox.topic == SETTINGS.agency_inbox_topic(POLICE) and content is not None
    assert content.applicant == {k: (dossier.applicant or {})[k] for k in ("full_name", "identity_number", "address")}
    signer = link_signer(SETTINGS)
    for entry, expected in zip(content.documents, opened.content["documents"], strict=True):
        assert entry.document.model_dump(mode="json") == expected["document"]
        assert entry.link is not None and entry.link.url.startswith("https://routing.example.vn/v1/document-links/")
        claims = signer.verify(entry.link.url.rsplit("/", 1)[1], agency_id=POLICE, now=NOW)
        assert (claims.dossier_code, claims.step_key, claims.sha256) == (
            dossier.code, "residence_registration", entry.document.sha256)
        assert entry.link.expires_at == NOW + timedelta(seconds=SETTINGS.documents_link_ttl_seconds)
    assert disclosed.topic is None and disclosed.contract == disclosure(opened)
    assert disclosed.contract.via == "stream" and disclosed.contract.reader_agency_id == POLICE
    assert set(disclosed.contract.documents) == {documents["to_khai_khai_sinh"]["sha256"],
                                                 documents["van_ban_dong_y_thuong_tru"]["sha256"],
                                                 *(d["sha256"] for d in dossier.step("birth_registration")
                                                   .result_documents)}


def test_a_rest_agencys_step_carries_no_content_anywhere() -> None:
    dossier, _, _ = a_birth_dossier()
    [opened] = [e for e in dossier.pending_events if type(e) is RoutedDossier.StepOpened]

    assert opened.integration == "rest" and opened.content is None
    assert [r.topic for r in outbound_mapper(SETTINGS, clock=FixedClock(NOW))(opened)] == [None]


# --- links --------------------------------------------------------------------------------------------


def signer() -> LinkSigner:
    return LinkSigner("a-secret-of-at-least-thirty-two-characters", 900, "https://routing.example.vn")


def token(agency_id: str = SOCIAL_INSURANCE, now: datetime = NOW) -> str:
    url, _ = signer().issue(agency_id=agency_id, dossier_code="D-1", step_key="s", sha256=random_sha256(), now=now)
    return url.rsplit("/", 1)[1]


def test_a_link_is_good_for_its_agency_until_it_expires() -> None:
    link = token()

    assert signer().verify(link, agency_id=SOCIAL_INSURANCE, now=NOW + timedelta(seconds=899)).step_key == "s"
    with pytest.raises(LinkRefusedError) as expired:
        signer().verify(link, agency_id=SOCIAL_INSURANCE, now=NOW + timedelta(seconds=900))
    assert expired.value.reason == "link-expired"


def test_a_link_used_by_another_agency_is_refused() -> None:
    with pytest.raises(LinkRefusedError) as refused:
        signer().verify(token(), agency_id=POLICE, now=NOW)
    assert refused.value.reason == "link-other-agency"


@pytest.mark.parametrize("alter", [
    lambda t: t[:5] + ("A" if t[5] != "A" else "B") + t[6:],  # a payload character
    lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],  # a signature character
    lambda t: t.split(".")[0],  # no signature
    lambda t: "",  # nothing
    lambda t: "é" + t,  # not ASCII
    lambda t: t + "é",  # not ASCII in the signature
], ids=["payload", "signature", "unsigned", "empty", "non-ascii", "non-ascii-signature"])
def test_an_altered_link_is_refused_before_anything_in_it_is_believed(alter: Any) -> None:
    with pytest.raises(LinkRefusedError) as refused:
        signer().verify(alter(token()), agency_id=SOCIAL_INSURANCE, now=NOW)
    assert refused.value.reason == "link-invalid"


def test_a_link_signed_with_another_secret_is_refused() -> None:
    other = LinkSigner("another-secret-of-at-least-thirty-two-chars", 900, "https://x")
    url, _ = other.issue(agency_id=POLICE, dossier_code="D", step_key="s", sha256=random_sha256(), now=NOW)

    with pytest.raises(LinkRefusedError):
        signer().verify(url.rsplit("/", 1)[1], agency_id=POLICE, now=NOW)
