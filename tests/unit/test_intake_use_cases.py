"""Intake's use cases on in-memory persistence: entitlement before anything is stored,
re-application after a lost version race, and the status consumer's handler table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from intake.api import DossierCreate, to_command
from intake.application import DossierIntake, IntakeApplication, NotEntitledError, SubmissionRejectedError
from intake.catalogue import Catalogue
from intake.domain import DossierStateError
from intake.reactions import HANDLERS, STATUS, apply_status_change
from intake.reference import ReferenceData
from services.auth import Principal
from services.clock import FixedClock
from services.consumer import UnprocessableMessage
from services.eventstore import ConcurrentChangeError, EventStore
from shared_events import (
    DossierAccepted,
    DossierStatusChanged,
    DossierWithdrawalDeclined,
    NationalStatus,
    to_cloud_event,
)
from tests.random_refs import random_suffix
from tests.support.builders import CountingCodes, a_dossier, a_moment, a_submission

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
NOW = datetime(2025, 11, 28, 2, 0, tzinfo=UTC)


class FakeDocuments:
    """Every document is one the caller uploaded (the refusals are tests/unit/test_document_uploads_intake.py's)."""

    async def check_references(self, client_id: str, documents: Any, *, field: str = "documents") -> list[Any]:
        return []

    async def attach(self, client_id: str, hashes: Any, dossier_code: str, at: datetime) -> list[str]:
        return []


@pytest.fixture
def intake(intake_store: EventStore[IntakeApplication], codes: CountingCodes) -> DossierIntake:
    return DossierIntake(intake_store, catalogue=Catalogue.load(), reference=ReferenceData.load(), codes=codes,  # type: ignore[arg-type]
                         documents=FakeDocuments(), clock=FixedClock(NOW))


def a_desk(agency_id: str) -> Principal:
    return Principal(client_id=f"desk-{random_suffix()}", party="desk", agency_id=agency_id,
                     roles=frozenset({"dossier:submit", "dossier:read", "dossier:accept"}))


def a_command(**overrides: Any):
    return to_command(DossierCreate.model_validate(a_submission(**overrides)), None)


async def test_a_desk_submission_for_its_own_agency_is_stored_accepted(
        intake: DossierIntake, codes: CountingCodes) -> None:
    command = a_command(channel="desk")

    view = await intake.submit(command, a_desk(command.receiving_agency_id), None)

    assert view.dossier.national_status == NationalStatus.ACCEPTED
    assert codes.taken == [command.receiving_agency_id]


async def test_a_desk_submitting_in_another_agencys_name_is_not_entitled_and_takes_no_number(
        intake: DossierIntake, codes: CountingCodes) -> None:
    with pytest.raises(NotEntitledError):
        await intake.submit(a_command(channel="desk"), a_desk("400.12.16690.H40"), None)

    assert codes.taken == []


async def test_a_submission_routing_could_not_route_is_rejected_before_a_number_is_taken(
        intake: DossierIntake, codes: CountingCodes) -> None:
    command = a_command(channel="desk", locality_code="99999")

    with pytest.raises(SubmissionRejectedError) as rejected:
        await intake.submit(command, a_desk(command.receiving_agency_id), None)

    assert [(p.field, p.code) for p in rejected.value.problems] == [("locality_code", "locality_unknown")]
    assert codes.taken == []


def test_an_acceptance_that_lost_a_version_race_is_re_applied_and_refused_by_the_dossier() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier()
    app.submit(dossier, None)
    attempts: list[int] = []

    def accept_while_another_desk_accepts_first(d: Any) -> None:
        attempts.append(d.version)
        if len(attempts) == 1:  # another desk's acceptance is saved between our load and our save
            app.accept(dossier.code, by="desk-other", at=a_moment(), correlation_id=None)
        d.accept(by="desk-this", at=a_moment(), correlation_id=None)

    with pytest.raises(DossierStateError):
        app.change(dossier.code, accept_while_another_desk_accepts_first)

    assert attempts == [1, 2]
    assert [type(e).__name__ for e in app.history(dossier.code)] == ["Submitted", "Accepted"]


def test_a_withdrawal_request_that_lost_a_race_with_an_acceptance_is_re_applied_and_succeeds() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier()
    app.submit(dossier, None)
    raced: list[bool] = []

    def request_while_the_desk_accepts(d: Any) -> None:
        if not raced:
            raced.append(True)
            app.accept(dossier.code, by="desk", at=a_moment(), correlation_id=None)
        d.request_withdrawal(by=dossier.submitted_by, reason="Không còn nhu cầu", at=a_moment(), correlation_id=None)

    changed = app.change(dossier.code, request_while_the_desk_accepts)

    assert (changed.national_status, changed.withdrawal) == (NationalStatus.ACCEPTED, "requested")


def test_a_change_that_keeps_losing_races_gives_up_with_a_concurrent_change_error() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier(channel="desk")
    app.submit(dossier, None)

    def always_overtaken(d: Any) -> None:
        other = app.dossier(dossier.code)
        other.record_status_change(event_id=str(uuid4()), national_status=4 + other.version % 2, reason=None,
                                   agency_id=None, changed_at=a_moment())
        app.save(other)
        d.record_status_change(event_id=str(uuid4()), national_status=9, reason=None, agency_id=None,
                               changed_at=a_moment())

    with pytest.raises(ConcurrentChangeError):
        app.change(dossier.code, always_overtaken)


# --- the status consumer's handler table ---------------------------------------------


def a_message(contract: Any) -> tuple[Any, Any]:
    envelope = to_cloud_event(contract, id=str(uuid4()), source="/lienthong/routing", subject=contract.dossier_code,
                              time=datetime.now(UTC), correlation_id=str(uuid4()))
    return contract, envelope


def test_the_status_topic_is_read_for_exactly_the_status_changes_and_withdrawal_decisions() -> None:
    assert {t for t, (kind, _) in HANDLERS.items() if kind == STATUS} == {DossierStatusChanged,
                                                                          DossierWithdrawalDeclined}


def test_a_contract_intake_has_no_handler_for_is_dead_lettered_with_its_type() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier()
    app.submit(dossier, None)

    with pytest.raises(UnprocessableMessage, match=r"dossier\.accepted"):
        apply_status_change(app, *a_message(DossierAccepted(dossier_code=dossier.code, accepted_by="desk",
                                                            accepted_at=datetime.now(UTC))))


def test_processing_reported_after_status_7_is_dead_lettered_not_applied() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier(channel="desk")
    dossier.request_withdrawal(by=dossier.submitted_by, reason="Rút", at=a_moment(), correlation_id=None)
    app.submit(dossier, None)
    app.save(*apply_status_change(app, *a_message(DossierStatusChanged(
        dossier_code=dossier.code, national_status=NationalStatus.WITHDRAWN, changed_at=datetime.now(UTC)))))

    with pytest.raises(UnprocessableMessage, match="terminal status 7"):
        apply_status_change(app, *a_message(DossierStatusChanged(
            dossier_code=dossier.code, national_status=NationalStatus.PROCESSING,
            changed_at=datetime.now(UTC))))

    assert app.dossier(dossier.code).national_status == NationalStatus.WITHDRAWN


def test_a_decline_of_the_pending_withdrawal_is_applied() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier(channel="online")
    dossier.request_withdrawal(by=dossier.submitted_by, reason="Rút", at=a_moment(), correlation_id=None)
    app.submit(dossier, None)

    app.save(*apply_status_change(app, *a_message(DossierWithdrawalDeclined(
        dossier_code=dossier.code, national_status=NationalStatus.NEW, reason="Đã xong",
        declined_at=datetime.now(UTC)))))

    stored = app.dossier(dossier.code)
    assert (stored.national_status, stored.withdrawal) == (NationalStatus.NEW, "declined")


def test_a_report_of_the_status_the_dossier_has_saves_nothing() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier(channel="desk")
    app.submit(dossier, None)
    processing = DossierStatusChanged(dossier_code=dossier.code, national_status=NationalStatus.PROCESSING,
                                      changed_at=datetime.now(UTC))
    app.save(*apply_status_change(app, *a_message(processing)))

    assert apply_status_change(app, *a_message(processing)) == []


def test_a_status_intake_owns_reported_by_routing_is_dead_lettered_even_when_it_is_the_current_one() -> None:
    app = IntakeApplication(env=IN_MEMORY)
    dossier = a_dossier(channel="desk")
    app.submit(dossier, None)

    with pytest.raises(UnprocessableMessage, match="owned by intake"):
        apply_status_change(app, *a_message(DossierStatusChanged(
            dossier_code=dossier.code, national_status=NationalStatus.ACCEPTED,
            changed_at=datetime.now(UTC))))
