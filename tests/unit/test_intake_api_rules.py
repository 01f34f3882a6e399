"""The rules of intake's use cases and entry points: request fingerprints, who may read a
dossier or submit in an agency's name, and checking a submission against the catalogue."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from intake.api import DossierCreate, fingerprint, to_command
from intake.application import check_submission_rules, may_read, may_submit_for
from intake.catalogue import Catalogue, SubmissionProblem
from intake.reference import ReferenceData
from services.auth import PartyKind, Principal
from services.clock import VIETNAM
from tests.random_refs import random_agency_id, random_sha256, random_suffix
from tests.support.builders import a_dossier, a_submission

IN_FORCE = datetime(2025, 11, 28, 2, 0, tzinfo=UTC)
CHANNEL_OF = {"desk": "desk", "portal": "online", "postal": "post"}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return ReferenceData.load()


@pytest.fixture
def check(catalogue: Catalogue, reference: ReferenceData):
    def check(body: DossierCreate, principal: Principal, received_at: datetime) -> tuple[str, list[SubmissionProblem]]:
        return check_submission_rules(catalogue, reference, to_command(body, None), principal.party,
                                      received_at.astimezone(VIETNAM).date())
    return check


def a_principal(party: PartyKind, agency_id: str | None = None) -> Principal:
    return Principal(client_id=f"{party}-{random_suffix()}", party=party, agency_id=agency_id,
                     roles=frozenset({"dossier:submit", "dossier:read"}))


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


# --- fingerprints ----------------------------------------------------------------------


def test_the_fingerprint_does_not_depend_on_the_order_of_keys() -> None:
    body = a_submission()

    assert fingerprint(DossierCreate.model_validate(body)) == fingerprint(
        DossierCreate.model_validate(reversed_keys(body)))


def test_the_fingerprint_is_a_sha256_hex_digest() -> None:
    value = fingerprint(DossierCreate.model_validate(a_submission()))

    assert len(value) == 64 and int(value, 16) >= 0


@pytest.mark.parametrize("change", [
    {"channel": "desk"},
    {"locality_code": "00004"},
    {"result_delivery": {"method": "post", "address": "12 Lê Lợi, Vinh"}},
], ids=["channel", "locality", "result delivery"])
def test_the_fingerprint_differs_when_the_content_differs(change: dict[str, Any]) -> None:
    body = a_submission()

    assert fingerprint(DossierCreate.model_validate(body)) != fingerprint(
        DossierCreate.model_validate({**body, **change}))


def test_the_fingerprint_differs_when_a_document_differs() -> None:
    body = a_submission()
    other = {**body, "documents": [{**body["documents"][0], "sha256": random_sha256()}]}

    assert fingerprint(DossierCreate.model_validate(body)) != fingerprint(DossierCreate.model_validate(other))


# --- who may read a dossier ------------------------------------------------------------


def test_an_auditor_reads_every_dossier() -> None:
    assert may_read(a_principal("auditor"), a_dossier())


@pytest.mark.parametrize("party", ["desk", "agency"])
def test_a_desk_or_agency_reads_the_dossiers_its_agency_received(party: PartyKind) -> None:
    dossier = a_dossier()

    assert may_read(a_principal(party, dossier.receiving_agency_id), dossier)


@pytest.mark.parametrize("party", ["desk", "agency"])
def test_a_desk_or_agency_does_not_read_another_agencys_dossiers(party: PartyKind) -> None:
    assert not may_read(a_principal(party, random_agency_id()), a_dossier())


@pytest.mark.parametrize("party", ["desk", "agency"])
def test_a_desk_or_agency_without_an_agency_reads_nothing(party: PartyKind) -> None:
    assert not may_read(a_principal(party, None), a_dossier())


@pytest.mark.parametrize("party", ["portal", "postal"])
def test_a_portal_or_postal_partner_reads_the_dossiers_it_submitted(party: PartyKind) -> None:
    principal = a_principal(party)

    assert may_read(principal, a_dossier(submitted_by=principal.client_id))


@pytest.mark.parametrize("party", ["portal", "postal"])
def test_a_portal_or_postal_partner_does_not_read_others_dossiers(party: PartyKind) -> None:
    assert not may_read(a_principal(party), a_dossier())


def test_a_portal_does_not_read_its_agencys_dossiers_by_agency_id() -> None:
    dossier = a_dossier()

    assert not may_read(a_principal("portal", dossier.receiving_agency_id), dossier)


# --- checking against the catalogue -----------------------------------------------------


@pytest.mark.parametrize("party", ["desk", "portal", "postal"])
def test_a_valid_submission_has_no_problems(check, party: PartyKind) -> None:
    body = DossierCreate.model_validate(a_submission(channel=CHANNEL_OF[party]))

    version, problems = check(body, a_principal(party), IN_FORCE)

    assert problems == []
    assert version == "2025.07"


@pytest.mark.parametrize(("party", "channel"), [("portal", "desk"), ("portal", "post"), ("desk", "online"),
                                                ("postal", "online")])
def test_a_party_using_another_partys_channel_is_reported(check, party: PartyKind,
                                                            channel: str) -> None:
    body = DossierCreate.model_validate(a_submission(channel=channel))

    _, problems = check(body, a_principal(party), IN_FORCE)

    assert [(p.field, p.code) for p in problems] == [("channel", "channel_not_for_party")]


def test_an_unknown_procedure_is_reported(check) -> None:
    body = DossierCreate.model_validate(a_submission(procedure_code=f"9.{random.randint(0, 999999):06d}"))

    version, problems = check(body, a_principal("portal"), IN_FORCE)

    assert version == ""
    assert [(p.field, p.code) for p in problems] == [("procedure_code", "procedure_unknown")]


def test_every_problem_is_reported_at_once(check) -> None:
    body = DossierCreate.model_validate(a_submission(
        channel="desk", procedure_code=f"9.{random.randint(0, 999999):06d}"))

    _, problems = check(body, a_principal("portal"), IN_FORCE)

    assert {p.code for p in problems} == {"channel_not_for_party", "procedure_unknown"}


def test_catalogue_problems_with_the_documents_are_reported(check) -> None:
    body = DossierCreate.model_validate(a_submission(documents=[
        {"name": "to_khai_cap_ban_sao_trich_luc", "media_type": "application/zip", "size_bytes": 10,
         "sha256": random_sha256()}]))

    _, problems = check(body, a_principal("portal"), IN_FORCE)

    assert [(p.field, p.code) for p in problems] == [("documents[0].media_type", "document_media_type_not_accepted")]
    assert all(p.message_vi for p in problems)


def test_the_version_in_force_is_chosen_by_the_vietnamese_day_of_receipt(check) -> None:
    body = DossierCreate.model_validate(a_submission())
    # 30 June 2025, 17:30 UTC is already 1 July 2025 in Vietnam, when version 2025.07 took effect.
    received_at = datetime(2025, 6, 30, 17, 30, tzinfo=UTC)

    version, problems = check(body, a_principal("portal"), received_at)

    assert problems == []
    assert version == "2025.07"


def test_the_previous_version_applies_the_vietnamese_day_before(check) -> None:
    body = DossierCreate.model_validate(a_submission())
    received_at = datetime(2025, 6, 30, 16, 59, tzinfo=UTC)

    version, _ = check(body, a_principal("portal"), received_at)

    assert version == "2016.01"


# --- submitting in an agency's name -----------------------------------------------------


def test_a_desk_submits_for_its_own_agency() -> None:
    agency_id = random_agency_id()

    assert may_submit_for(a_principal("desk", agency_id), agency_id)


def test_a_desk_does_not_submit_in_another_agencys_name() -> None:
    assert not may_submit_for(a_principal("desk", random_agency_id()), random_agency_id())


@pytest.mark.parametrize("party", ["portal", "postal"])
def test_a_portal_or_postal_partner_submits_to_any_receiving_desk(party: PartyKind) -> None:
    assert may_submit_for(a_principal(party), random_agency_id())
