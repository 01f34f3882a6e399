"""The dossier aggregate: statuses at receipt, acceptance, refusal, reported status changes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest

from intake.codes import format_code
from intake.domain import (
    ACCEPTED,
    CLOSED_STATUSES,
    DONE_AWAITING_HANDOVER,
    NEW,
    REFUSED_AT_INTAKE,
    WITHDRAWN,
    Dossier,
    DossierStateError,
    SubmissionKey,
)
from tests.random_refs import random_agency_id, random_citizen_id, random_name, random_sha256, random_suffix


def a_code(agency_id: str | None = None) -> str:
    return format_code(agency_id or random_agency_id(), datetime.now(timezone.utc).date(), random.randint(1, 9999))


def a_moment() -> datetime:
    return datetime(2025, 11, 28, 1, 30, tzinfo=timezone.utc) + timedelta(minutes=random.randint(0, 10**5))


def a_dossier(**overrides: Any) -> Dossier:
    """A received dossier of procedure 2.000635 with random applicant and codes."""
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
        "national_status": ACCEPTED if channel == "desk" else NEW,
        "correlation_id": str(uuid4()),
    }
    fields.update(overrides)
    return Dossier(**fields)


def an_officer() -> str:
    return f"desk-{random_suffix()}"


def event_names(dossier: Dossier) -> list[str]:
    return [type(e).__name__ for e in dossier.collect_events()]


def test_a_desk_submission_starts_accepted() -> None:
    dossier = a_dossier(channel="desk")

    assert dossier.national_status == ACCEPTED == 2


@pytest.mark.parametrize("channel", ["online", "post"])
def test_an_online_or_postal_submission_starts_new(channel: str) -> None:
    dossier = a_dossier(channel=channel)

    assert dossier.national_status == NEW == 1


def test_a_new_dossier_records_one_submitted_event_with_its_fields() -> None:
    dossier = a_dossier()

    [submitted] = dossier.collect_events()

    assert isinstance(submitted, Dossier.Submitted)
    assert submitted.code == dossier.code
    assert submitted.applicant == dossier.applicant
    assert submitted.received_at == dossier.received_at


def test_accepting_a_new_dossier_moves_it_from_1_to_2() -> None:
    dossier = a_dossier()
    officer, at, correlation_id = an_officer(), a_moment(), str(uuid4())

    dossier.accept(by=officer, at=at, correlation_id=correlation_id)

    assert dossier.national_status == ACCEPTED
    accepted = dossier.collect_events()[-1]
    assert isinstance(accepted, Dossier.Accepted)
    assert (accepted.dossier_code, accepted.accepted_by, accepted.accepted_at, accepted.correlation_id) == (
        dossier.code, officer, at, correlation_id)


def test_accepting_a_dossier_twice_is_refused() -> None:
    dossier = a_dossier()
    dossier.accept(by=an_officer(), at=a_moment(), correlation_id=None)

    with pytest.raises(DossierStateError):
        dossier.accept(by=an_officer(), at=a_moment(), correlation_id=None)

    assert event_names(dossier) == ["Submitted", "Accepted"]


def test_accepting_a_desk_submission_is_refused_as_it_is_accepted_already() -> None:
    dossier = a_dossier(channel="desk")

    with pytest.raises(DossierStateError):
        dossier.accept(by=an_officer(), at=a_moment(), correlation_id=None)


def test_refusing_a_new_dossier_moves_it_from_1_to_3_with_the_reason() -> None:
    dossier = a_dossier()
    officer, reason = an_officer(), f"Thiếu tờ khai {random_suffix()}"

    dossier.refuse(by=officer, reason=reason, at=a_moment(), correlation_id=None)

    assert dossier.national_status == REFUSED_AT_INTAKE == 3
    refused = dossier.collect_events()[-1]
    assert isinstance(refused, Dossier.RefusedAtIntake)
    assert (refused.dossier_code, refused.refused_by, refused.reason) == (dossier.code, officer, reason)


def test_refusing_an_accepted_dossier_is_refused() -> None:
    dossier = a_dossier()
    dossier.accept(by=an_officer(), at=a_moment(), correlation_id=None)

    with pytest.raises(DossierStateError):
        dossier.refuse(by=an_officer(), reason="Quá hạn", at=a_moment(), correlation_id=None)

    assert dossier.national_status == ACCEPTED


def test_accepting_a_refused_dossier_is_refused() -> None:
    dossier = a_dossier()
    dossier.refuse(by=an_officer(), reason="Sai thủ tục", at=a_moment(), correlation_id=None)

    with pytest.raises(DossierStateError):
        dossier.accept(by=an_officer(), at=a_moment(), correlation_id=None)

    assert dossier.national_status == REFUSED_AT_INTAKE


@pytest.mark.parametrize("channel", ["desk", "online"])
def test_an_open_dossier_can_be_withdrawn(channel: str) -> None:
    dossier = a_dossier(channel=channel)
    applicant, reason = f"portal-{random_suffix()}", f"Không còn nhu cầu {random_suffix()}"

    dossier.withdraw(by=applicant, reason=reason, at=a_moment(), correlation_id=None)

    assert dossier.national_status == WITHDRAWN == 7
    withdrawn = dossier.collect_events()[-1]
    assert isinstance(withdrawn, Dossier.Withdrawn)
    assert (withdrawn.dossier_code, withdrawn.withdrawn_by, withdrawn.reason) == (dossier.code, applicant, reason)


@pytest.mark.parametrize("status", sorted(CLOSED_STATUSES | {DONE_AWAITING_HANDOVER}))
def test_a_closed_or_finished_dossier_cannot_be_withdrawn(status: int) -> None:
    dossier = a_dossier(channel="desk")
    dossier.record_status_change(event_id=str(uuid4()), national_status=status, reason=None,
                                 agency_id=random_agency_id(), changed_at=a_moment())

    with pytest.raises(DossierStateError):
        dossier.withdraw(by=f"portal-{random_suffix()}", reason="Rút hồ sơ", at=a_moment(), correlation_id=None)

    assert dossier.national_status == status


def a_status_report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"event_id": str(uuid4()), "national_status": random.randint(4, 10),
                              "reason": None, "agency_id": random_agency_id(), "changed_at": a_moment()}
    report.update(overrides)
    return report


def test_a_reported_status_change_is_recorded() -> None:
    dossier = a_dossier(channel="desk")
    report = a_status_report()

    assert dossier.record_status_change(**report) is True

    assert dossier.national_status == report["national_status"]
    changed = dossier.collect_events()[-1]
    assert isinstance(changed, Dossier.StatusChanged)
    assert (changed.dossier_code, changed.event_id, changed.agency_id) == (
        dossier.code, report["event_id"], report["agency_id"])


def test_a_repeated_status_report_is_applied_once() -> None:
    dossier = a_dossier(channel="desk")
    report = a_status_report(national_status=4)
    dossier.record_status_change(**report)
    dossier.record_status_change(**a_status_report(national_status=5))

    repeated = dossier.record_status_change(**report)

    assert repeated is False
    assert dossier.national_status == 5
    assert event_names(dossier) == ["Submitted", "StatusChanged", "StatusChanged"]


def test_the_dossier_id_is_derived_from_its_code_alone() -> None:
    code = a_code()

    assert Dossier.create_id(code=code) == Dossier.create_id(code=code)
    assert Dossier.create_id(code=code) != Dossier.create_id(code=a_code())
    assert a_dossier(code=code).id == Dossier.create_id(code=code)


def test_the_submission_key_id_depends_on_both_the_client_and_the_key() -> None:
    client_id, key = f"portal-{random_suffix()}", str(uuid4())

    same = SubmissionKey.create_id(client_id=client_id, key=key)

    assert same == SubmissionKey.create_id(client_id=client_id, key=key)
    assert same != SubmissionKey.create_id(client_id=f"postal-{random_suffix()}", key=key)
    assert same != SubmissionKey.create_id(client_id=client_id, key=str(uuid4()))


def test_the_submission_key_id_does_not_confuse_where_the_client_ends_and_the_key_begins() -> None:
    suffix = random_suffix()

    assert SubmissionKey.create_id(client_id="portal", key=f"-{suffix}") != SubmissionKey.create_id(
        client_id="portal-", key=suffix)


def test_a_submission_key_remembers_its_dossier_and_fingerprint() -> None:
    client_id, key, fingerprint, code = f"portal-{random_suffix()}", str(uuid4()), random_sha256(), a_code()

    submission_key = SubmissionKey(client_id=client_id, key=key, fingerprint=fingerprint, dossier_code=code)

    assert submission_key.id == SubmissionKey.create_id(client_id=client_id, key=key)
    assert (submission_key.fingerprint, submission_key.dossier_code) == (fingerprint, code)
