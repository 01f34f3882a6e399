"""Intake's submission by hash on in-memory persistence: a submission whose documents the client did
not upload, or that do not match, is refused before a code is taken and nothing is stored; the
references are attached before the dossier is saved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from intake.api import DossierCreate, to_command
from intake.application import DossierIntake, IntakeApplication, SubmissionRejectedError
from intake.catalogue import Catalogue
from intake.reference import ReferenceData
from services.auth import Principal
from services.clock import FixedClock
from services.documents.uploads import DossierTooLargeError, ReferenceProblem
from services.eventstore import EventStore
from tests.random_refs import random_suffix
from tests.support.builders import CountingCodes, a_submission

NOW = datetime(2025, 11, 28, 2, 0, tzinfo=UTC)


class FakeDocuments:
    """Uploads by client id; records what was attached, and when (before or after the save)."""

    def __init__(self, store: EventStore[IntakeApplication]) -> None:
        self.uploaded: dict[str, dict[str, tuple[int, str]]] = {}
        self.attached: list[tuple[str, list[str], str, bool]] = []
        self.removed: set[str] = set()
        self.too_large = False
        self._store = store

    def upload(self, client_id: str, document: Mapping[str, Any]) -> None:
        self.uploaded.setdefault(client_id, {})[document["sha256"]] = (document["size_bytes"], document["media_type"])

    async def check_references(self, client_id: str, documents: Sequence[Mapping[str, Any]], *,
                               field: str = "documents") -> list[ReferenceProblem]:
        if self.too_large:
            raise DossierTooLargeError("quá lớn")
        problems = []
        for i, d in enumerate(documents):
            found = self.uploaded.get(client_id, {}).get(d["sha256"])
            if found is None:
                problems.append(ReferenceProblem(f"{field}[{i}]", "document_not_uploaded", "chưa tải lên"))
            elif found != (d["size_bytes"], d["media_type"]):
                problems.append(ReferenceProblem(f"{field}[{i}]", "document_mismatch", "không khớp"))
        return problems

    async def attach(self, client_id: str, hashes: Sequence[str], dossier_code: str, at: datetime) -> list[str]:
        assert self._store.app is not None
        saved = bool(self._store.app.recorder.select_notifications(start=1, limit=1))
        self.attached.append((client_id, list(hashes), dossier_code, saved))
        return [h for h in hashes if h in self.removed]


@pytest.fixture
def documents(intake_store: EventStore[IntakeApplication]) -> FakeDocuments:
    return FakeDocuments(intake_store)


@pytest.fixture
def intake(intake_store: EventStore[IntakeApplication], codes: CountingCodes,
           documents: FakeDocuments) -> DossierIntake:
    return DossierIntake(intake_store, catalogue=Catalogue.load(), reference=ReferenceData.load(), codes=codes,  # type: ignore[arg-type]
                         documents=documents, clock=FixedClock(NOW))


def a_portal() -> Principal:
    return Principal(client_id=f"portal-{random_suffix()}", party="portal", agency_id=None,
                     roles=frozenset({"dossier:submit", "dossier:read"}))


def a_command(**overrides: Any) -> Any:
    return to_command(DossierCreate.model_validate(a_submission(**overrides)), None)


async def nothing_stored(store: EventStore[IntakeApplication]) -> bool:
    assert store.app is not None
    return not store.app.recorder.select_notifications(start=1, limit=10)


async def test_a_submission_of_documents_the_client_uploaded_is_stored_after_its_references_are_attached(
        intake: DossierIntake, documents: FakeDocuments) -> None:
    portal, command = a_portal(), a_command()
    documents.upload(portal.client_id, command.documents[0])
    view = await intake.submit(command, portal, None)
    assert documents.attached == [(portal.client_id, [command.documents[0]["sha256"]], view.dossier.code, False)]


async def test_a_document_the_client_never_uploaded_is_refused_before_a_code_is_taken(
        intake: DossierIntake, documents: FakeDocuments, codes: CountingCodes,
        intake_store: EventStore[IntakeApplication]) -> None:
    portal, command = a_portal(), a_command()
    documents.upload(a_portal().client_id, command.documents[0])  # someone else's upload
    with pytest.raises(SubmissionRejectedError) as refused:
        await intake.submit(command, portal, None)
    assert [(p.field, p.code) for p in refused.value.problems] == [("documents[0]", "document_not_uploaded")]
    assert (codes.taken, documents.attached, await nothing_stored(intake_store)) == ([], [], True)


async def test_a_document_whose_size_differs_from_the_upload_is_refused(
        intake: DossierIntake, documents: FakeDocuments, codes: CountingCodes) -> None:
    portal, command = a_portal(), a_command()
    documents.upload(portal.client_id, {**command.documents[0], "size_bytes": command.documents[0]["size_bytes"] + 1})
    with pytest.raises(SubmissionRejectedError) as refused:
        await intake.submit(command, portal, None)
    assert [(p.field, p.code) for p in refused.value.problems] == [("documents[0]", "document_mismatch")]
    assert codes.taken == []


async def test_document_problems_are_reported_with_the_catalogues(intake: DossierIntake) -> None:
    with pytest.raises(SubmissionRejectedError) as refused:
        await intake.submit(a_command(locality_code="99999"), a_portal(), None)
    assert {p.code for p in refused.value.problems} >= {"document_not_uploaded"}
    assert {p.field for p in refused.value.problems} >= {"documents[0]", "locality_code"}


async def test_documents_over_the_dossier_limit_are_refused_before_a_code_is_taken(
        intake: DossierIntake, documents: FakeDocuments, codes: CountingCodes,
        intake_store: EventStore[IntakeApplication]) -> None:
    documents.too_large = True
    with pytest.raises(DossierTooLargeError):
        await intake.submit(a_command(), a_portal(), None)
    assert (codes.taken, await nothing_stored(intake_store)) == ([], True)


async def test_a_document_removed_between_the_check_and_the_attachment_refuses_the_dossier_unstored(
        intake: DossierIntake, documents: FakeDocuments, intake_store: EventStore[IntakeApplication]) -> None:
    portal, command = a_portal(), a_command()
    documents.upload(portal.client_id, command.documents[0])
    documents.removed.add(command.documents[0]["sha256"])
    with pytest.raises(SubmissionRejectedError) as refused:
        await intake.submit(command, portal, None)
    assert [(p.field, p.code) for p in refused.value.problems] == [("documents[0]", "document_not_uploaded")]
    assert await nothing_stored(intake_store)
