"""The intake application on in-memory persistence: submission, idempotency, history,
and the reaction to reported status changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from intake.application import DossierNotFoundError, IdempotencyKeyReusedError, IntakeApplication
from intake.domain import Dossier, SubmissionKey
from intake.reactions import apply_status_change
from services.consumer import UnprocessableMessage
from shared_events import CloudEvent, DossierAccepted, DossierStatusChanged, NationalStatus, to_cloud_event
from tests.random_refs import random_agency_id, random_sha256, random_suffix
from tests.support.builders import a_code, a_dossier, a_moment

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@pytest.fixture
def app() -> IntakeApplication:
    return IntakeApplication(env=IN_MEMORY)


def a_key(dossier: Dossier, fingerprint: str | None = None, **overrides: Any) -> SubmissionKey:
    fields: dict[str, Any] = {"client_id": dossier.submitted_by, "key": str(uuid4()),
                              "fingerprint": fingerprint or random_sha256(), "dossier_code": dossier.code}
    fields.update(overrides)
    return SubmissionKey(**fields)


def test_a_submitted_dossier_is_loaded_by_its_code(app: IntakeApplication) -> None:
    dossier = a_dossier()

    stored = app.submit(dossier, None)
    loaded = app.dossier(dossier.code)

    assert stored is dossier
    assert loaded.id == dossier.id
    assert (loaded.code, loaded.applicant, loaded.documents, loaded.national_status) == (
        dossier.code, dossier.applicant, dossier.documents, dossier.national_status)


def test_an_unknown_code_raises_dossier_not_found(app: IntakeApplication) -> None:
    with pytest.raises(DossierNotFoundError):
        app.dossier(a_code())


def test_the_history_lists_the_events_oldest_first(app: IntakeApplication) -> None:
    dossier = a_dossier()
    app.submit(dossier, None)
    app.accept(dossier.code, by=f"desk-{random_suffix()}", at=a_moment(), correlation_id=None)

    history = app.history(dossier.code)

    assert [type(e).__name__ for e in history] == ["Submitted", "Accepted"]
    assert [e.originator_version for e in history] == [1, 2]


def test_accepting_through_the_application_is_stored(app: IntakeApplication) -> None:
    dossier = a_dossier()
    app.submit(dossier, None)

    app.accept(dossier.code, by=f"desk-{random_suffix()}", at=a_moment(), correlation_id=str(uuid4()))

    assert app.dossier(dossier.code).national_status == NationalStatus.ACCEPTED


def test_refusing_through_the_application_is_stored(app: IntakeApplication) -> None:
    dossier = a_dossier()
    app.submit(dossier, None)
    reason = f"Thiếu giấy tờ {random_suffix()}"

    app.refuse(dossier.code, by=f"desk-{random_suffix()}", reason=reason, at=a_moment(), correlation_id=None)

    assert app.dossier(dossier.code).national_status == NationalStatus.REFUSED_AT_INTAKE
    assert app.history(dossier.code)[-1].reason == reason


def test_accepting_an_unknown_dossier_raises_dossier_not_found(app: IntakeApplication) -> None:
    with pytest.raises(DossierNotFoundError):
        app.accept(a_code(), by="desk", at=a_moment(), correlation_id=None)


def test_a_submission_key_is_stored_with_its_dossier(app: IntakeApplication) -> None:
    dossier = a_dossier()
    key = a_key(dossier)

    app.submit(dossier, key)

    stored = app.submission_key(key.client_id, key.key)
    assert stored is not None
    assert (stored.fingerprint, stored.dossier_code) == (key.fingerprint, dossier.code)


def test_an_unused_submission_key_is_none(app: IntakeApplication) -> None:
    assert app.submission_key(f"portal-{random_suffix()}", str(uuid4())) is None


def test_submitting_twice_with_the_same_key_returns_the_first_dossier(app: IntakeApplication) -> None:
    first = a_dossier()
    key = a_key(first)
    app.submit(first, key)
    second = a_dossier(submitted_by=first.submitted_by)

    stored = app.submit(second, a_key(second, key.fingerprint, key=key.key))

    assert stored.code == first.code
    with pytest.raises(DossierNotFoundError):
        app.dossier(second.code)


def test_reusing_a_key_for_a_different_request_raises_key_reused(app: IntakeApplication) -> None:
    first = a_dossier()
    key = a_key(first)
    app.submit(first, key)
    second = a_dossier(submitted_by=first.submitted_by)

    with pytest.raises(IdempotencyKeyReusedError):
        app.submit(second, a_key(second, random_sha256(), key=key.key))

    with pytest.raises(DossierNotFoundError):
        app.dossier(second.code)


def test_the_same_key_from_another_client_is_another_key(app: IntakeApplication) -> None:
    first = a_dossier()
    key = a_key(first)
    app.submit(first, key)
    second = a_dossier()

    stored = app.submit(second, a_key(second, key.fingerprint, key=key.key))

    assert stored is second
    assert app.dossier(second.code).code == second.code


def test_replaying_a_key_with_its_fingerprint_returns_its_dossier(app: IntakeApplication) -> None:
    dossier = a_dossier()
    key = a_key(dossier)
    app.submit(dossier, key)

    assert app.replay(key, key.fingerprint).code == dossier.code
    with pytest.raises(IdempotencyKeyReusedError):
        app.replay(key, random_sha256())


# --- reacting to reported status changes ----------------------------------------------


def a_status_message(code: str, **overrides: Any) -> tuple[DossierStatusChanged, CloudEvent]:
    fields: dict[str, Any] = {"dossier_code": code, "national_status": NationalStatus.PROCESSING,
                              "reason": None, "changed_by_agency_id": random_agency_id(),
                              "changed_at": datetime.now(UTC)}
    fields.update(overrides)
    contract = DossierStatusChanged(**fields)
    envelope = to_cloud_event(contract, id=str(uuid4()), source="/lienthong/routing", subject=code,
                              time=datetime.now(UTC), correlation_id=str(uuid4()))
    return contract, envelope


def test_a_status_change_for_an_unknown_dossier_is_unprocessable(app: IntakeApplication) -> None:
    contract, envelope = a_status_message(a_code())

    with pytest.raises(UnprocessableMessage):
        apply_status_change(app, contract, envelope)


def test_a_message_of_another_type_is_unprocessable(app: IntakeApplication) -> None:
    dossier = a_dossier()
    app.submit(dossier, None)
    contract = DossierAccepted(dossier_code=dossier.code, accepted_by="desk", accepted_at=datetime.now(UTC))
    envelope = to_cloud_event(contract, id=str(uuid4()), source="/lienthong/intake", subject=dossier.code,
                              time=datetime.now(UTC), correlation_id=str(uuid4()))

    with pytest.raises(UnprocessableMessage):
        apply_status_change(app, contract, envelope)


def test_a_status_change_returns_the_dossier_carrying_the_new_status(app: IntakeApplication) -> None:
    dossier = a_dossier(channel="desk")
    app.submit(dossier, None)
    contract, envelope = a_status_message(dossier.code, national_status=NationalStatus.SUPPLEMENT_REQUESTED,
                                          reason="Bổ sung bản sao")

    [changed] = apply_status_change(app, contract, envelope)
    app.save(changed)

    assert changed.code == dossier.code
    stored = app.dossier(dossier.code)
    assert stored.national_status == NationalStatus.SUPPLEMENT_REQUESTED
    assert stored.applied_event_ids == [envelope.id]
    last = app.history(dossier.code)[-1]
    assert (last.reason, last.agency_id) == ("Bổ sung bản sao", contract.changed_by_agency_id)


def test_a_repeated_status_change_adds_no_event(app: IntakeApplication) -> None:
    dossier = a_dossier(channel="desk")
    app.submit(dossier, None)
    contract, envelope = a_status_message(dossier.code)
    app.save(*apply_status_change(app, contract, envelope))

    app.save(*apply_status_change(app, contract, envelope))

    assert [type(e).__name__ for e in app.history(dossier.code)] == ["Submitted", "StatusChanged"]
