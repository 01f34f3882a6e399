"""The dossier aggregate: statuses at receipt, acceptance, refusal, reported status changes."""

from __future__ import annotations

import random
from typing import Any
from uuid import uuid4

import pytest

from intake.domain import Dossier, DossierStateError, StatusReportRefusedError, SubmissionKey
from shared_events.contracts.values import TERMINAL_STATUSES, NationalStatus
from tests.random_refs import random_agency_id, random_sha256, random_suffix
from tests.support.builders import a_code, a_dossier, a_moment


def an_officer() -> str:
    return f"desk-{random_suffix()}"


def event_names(dossier: Dossier) -> list[str]:
    return [type(e).__name__ for e in dossier.collect_events()]


def test_a_desk_submission_starts_accepted() -> None:
    dossier = a_dossier(channel="desk")

    assert dossier.national_status == NationalStatus.ACCEPTED == 2


@pytest.mark.parametrize("channel", ["online", "post"])
def test_an_online_or_postal_submission_starts_new(channel: str) -> None:
    dossier = a_dossier(channel=channel)

    assert dossier.national_status == NationalStatus.NEW == 1


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

    assert dossier.national_status == NationalStatus.ACCEPTED
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

    assert dossier.national_status == NationalStatus.REFUSED_AT_INTAKE == 3
    refused = dossier.collect_events()[-1]
    assert isinstance(refused, Dossier.RefusedAtIntake)
    assert (refused.dossier_code, refused.refused_by, refused.reason) == (dossier.code, officer, reason)


def test_refusing_an_accepted_dossier_is_refused() -> None:
    dossier = a_dossier()
    dossier.accept(by=an_officer(), at=a_moment(), correlation_id=None)

    with pytest.raises(DossierStateError):
        dossier.refuse(by=an_officer(), reason="Quá hạn", at=a_moment(), correlation_id=None)

    assert dossier.national_status == NationalStatus.ACCEPTED


def test_accepting_a_refused_dossier_is_refused() -> None:
    dossier = a_dossier()
    dossier.refuse(by=an_officer(), reason="Sai thủ tục", at=a_moment(), correlation_id=None)

    with pytest.raises(DossierStateError):
        dossier.accept(by=an_officer(), at=a_moment(), correlation_id=None)

    assert dossier.national_status == NationalStatus.REFUSED_AT_INTAKE


def a_status_report(**overrides: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"event_id": str(uuid4()), "national_status": random.choice([4, 5, 6, 8, 9, 10]),
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


# --- withdrawal: intake records the request, routing decides ---------------------------


def a_withdrawal_request(dossier: Dossier, **overrides: Any) -> bool:
    fields: dict[str, Any] = {"by": dossier.submitted_by, "reason": f"Không còn nhu cầu {random_suffix()}",
                              "at": a_moment(), "correlation_id": str(uuid4())}
    fields.update(overrides)
    return dossier.request_withdrawal(**fields)


def in_status(status: int) -> Dossier:
    """A dossier that reached ``status`` the way the owners of the statuses get it there."""
    if status == NationalStatus.REFUSED_AT_INTAKE:
        dossier = a_dossier()
        dossier.refuse(by=an_officer(), reason="Sai thủ tục", at=a_moment(), correlation_id=None)
        return dossier
    dossier = a_dossier(channel="desk")
    if status == NationalStatus.WITHDRAWN:
        a_withdrawal_request(dossier)
    if status != NationalStatus.ACCEPTED:
        dossier.record_status_change(**a_status_report(national_status=status))
    return dossier


@pytest.mark.parametrize("channel", ["desk", "online"])
def test_an_open_dossier_records_the_withdrawal_request_and_keeps_its_status(channel: str) -> None:
    dossier = a_dossier(channel=channel)
    status = dossier.national_status
    reason = f"Không còn nhu cầu {random_suffix()}"

    assert a_withdrawal_request(dossier, reason=reason) is True

    assert (dossier.national_status, dossier.withdrawal) == (status, "requested")
    requested = dossier.collect_events()[-1]
    assert isinstance(requested, Dossier.WithdrawalRequested)
    assert (requested.dossier_code, requested.requested_by, requested.reason) == (
        dossier.code, dossier.submitted_by, reason)


def test_a_second_withdrawal_request_while_one_is_pending_records_nothing() -> None:
    dossier = a_dossier(channel="desk")
    a_withdrawal_request(dossier)

    assert a_withdrawal_request(dossier) is False

    assert event_names(dossier) == ["Submitted", "WithdrawalRequested"]


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES | {NationalStatus.DONE_AWAITING_HANDOVER}))
def test_intake_refuses_a_withdrawal_itself_when_the_dossier_is_closed_or_done(status: int) -> None:
    dossier = in_status(status)
    version = dossier.version

    with pytest.raises(DossierStateError):
        a_withdrawal_request(dossier)

    assert dossier.version == version


def test_routings_status_7_after_a_request_shows_the_dossier_withdrawn() -> None:
    dossier = a_dossier(channel="desk")
    a_withdrawal_request(dossier)

    assert dossier.record_status_change(**a_status_report(national_status=NationalStatus.WITHDRAWN)) is True

    assert (dossier.national_status, dossier.withdrawal) == (NationalStatus.WITHDRAWN, "withdrawn")


def test_routings_decline_shows_the_withdrawal_declined_and_keeps_the_status() -> None:
    dossier = in_status(NationalStatus.DONE_AWAITING_HANDOVER)
    dossier.withdrawal = "requested"  # asked just before routing's 9 reached intake

    assert dossier.record_withdrawal_declined(event_id=str(uuid4()), reason="Đã giải quyết xong",
                                              declined_at=a_moment()) is True

    assert (dossier.national_status, dossier.withdrawal) == (NationalStatus.DONE_AWAITING_HANDOVER, "declined")


def test_a_decline_delivered_twice_is_recorded_once() -> None:
    dossier = a_dossier(channel="desk")
    a_withdrawal_request(dossier)
    event_id = str(uuid4())
    dossier.record_withdrawal_declined(event_id=event_id, reason="Đã xong", declined_at=a_moment())

    assert dossier.record_withdrawal_declined(event_id=event_id, reason="Đã xong", declined_at=a_moment()) is False

    assert event_names(dossier) == ["Submitted", "WithdrawalRequested", "WithdrawalDeclined"]


def test_a_decline_of_no_pending_withdrawal_is_refused() -> None:
    with pytest.raises(StatusReportRefusedError):
        a_dossier(channel="desk").record_withdrawal_declined(event_id=str(uuid4()), reason="x", declined_at=a_moment())


@pytest.mark.parametrize("status", [NationalStatus.NEW, NationalStatus.ACCEPTED])
def test_accepting_or_refusing_while_a_withdrawal_is_pending_is_refused(status: int) -> None:
    dossier = a_dossier(channel="online")
    a_withdrawal_request(dossier)

    with pytest.raises(DossierStateError):
        dossier.accept(by=an_officer(), at=a_moment(), correlation_id=None)
    with pytest.raises(DossierStateError):
        dossier.refuse(by=an_officer(), reason="Sai thủ tục", at=a_moment(), correlation_id=None)

    assert dossier.national_status == NationalStatus.NEW


# --- status reports are checked against the owners and intake's state -----------------


@pytest.mark.parametrize("status", [NationalStatus.NEW, NationalStatus.ACCEPTED, NationalStatus.REFUSED_AT_INTAKE])
def test_a_status_intake_owns_reported_by_another_service_is_refused(status: int) -> None:
    dossier = a_dossier(channel="online")
    dossier.accept(by=an_officer(), at=a_moment(), correlation_id=None)
    dossier.record_status_change(**a_status_report(national_status=4))

    with pytest.raises(StatusReportRefusedError, match="owned by intake"):
        dossier.record_status_change(**a_status_report(national_status=status))

    assert dossier.national_status == 4


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_a_terminal_status_never_changes(terminal: int) -> None:
    dossier = in_status(terminal)

    with pytest.raises(StatusReportRefusedError, match="terminal"):
        dossier.record_status_change(**a_status_report(national_status=4))

    assert dossier.national_status == terminal


def test_a_withdrawn_dossier_is_not_moved_back_to_processing() -> None:
    dossier = in_status(NationalStatus.WITHDRAWN)
    version = dossier.version

    with pytest.raises(StatusReportRefusedError):
        dossier.record_status_change(**a_status_report(national_status=4))

    assert (dossier.version, dossier.national_status) == (version, NationalStatus.WITHDRAWN)


def test_the_status_the_dossier_already_has_reported_again_changes_nothing() -> None:
    dossier = in_status(NationalStatus.STOPPED)

    assert dossier.record_status_change(**a_status_report(national_status=NationalStatus.STOPPED)) is False

    assert event_names(dossier) == ["Submitted", "StatusChanged"]


def test_a_withdrawal_nobody_requested_is_refused() -> None:
    dossier = a_dossier(channel="desk")

    with pytest.raises(StatusReportRefusedError, match="no withdrawal"):
        dossier.record_status_change(**a_status_report(national_status=NationalStatus.WITHDRAWN))

    assert dossier.national_status == NationalStatus.ACCEPTED


def test_processing_a_dossier_intake_has_not_accepted_is_refused() -> None:
    dossier = a_dossier(channel="online")

    with pytest.raises(StatusReportRefusedError, match="not accepted"):
        dossier.record_status_change(**a_status_report(national_status=4))


def test_a_new_dossier_whose_withdrawal_was_requested_can_be_withdrawn_by_routing() -> None:
    dossier = a_dossier(channel="online")
    a_withdrawal_request(dossier)

    dossier.record_status_change(**a_status_report(national_status=NationalStatus.WITHDRAWN))

    assert (dossier.national_status, dossier.withdrawal) == (NationalStatus.WITHDRAWN, "withdrawn")
