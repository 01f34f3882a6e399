"""Routing's content use cases over the in-memory event store: who may read a step's view and the
results, supplements from the desk or the submitter, the read log, and results refused (nothing
saved) when they were not uploaded by the acting party."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest

from routing.application import Actor, RoutedDossierNotFoundError, RoutingApplication, StepAction, Trace
from routing.documents import DocumentReferenceCheck, DocumentsNotUploadedError
from routing.domain import ContentNotDeclaredError, ResultsNotReadyError
from services.documents.readlog import ReadOf
from services.documents.uploads import ReferenceProblem
from tests.random_refs import random_agency_id, random_sha256
from tests.support.builders import CIVIL_STATUS, LOCALITY, POLICE, SOCIAL_INSURANCE, an_applicant, vn

DESK = random_agency_id()


def a_document(name: str) -> dict[str, Any]:
    return {"name": name, "media_type": "application/pdf", "size_bytes": 10, "sha256": random_sha256()}


def received(app: RoutingApplication, *, submitted_by: str = "portal-1") -> tuple[str, dict[str, Any]]:
    code = f"{DESK}-250707-{random.randint(1, 9999):04d}"
    declaration = a_document("to_khai_khai_sinh")
    dossier = app.receive(code=code, procedure_code="1.001193", locality_code=LOCALITY, receiving_agency_id=DESK,
                          channel="online", result_delivery_method="desk", options=[], received_at=vn(7, 7, 9),
                          national_status=2, applicant=an_applicant(), documents=[declaration],
                          submitted_by=submitted_by)
    assert dossier is not None
    app.save_dossier(dossier)
    return code, declaration


def agency(agency_id: str) -> Actor:
    return Actor(party="agency", agency_id=agency_id, client_id=f"client-{agency_id}")


def complete(app: RoutingApplication, code: str, step_key: str, agency_id: str, at: datetime,
             uploaders: Sequence[str] = ("client",)) -> None:
    app.act_on_step(agency(agency_id), StepAction(code=code, step_key=step_key, agency_id=agency_id,
                                                  action="complete", at=at, documents=[a_document("ket_qua")],
                                                  uploaders=uploaders), Trace())


def test_an_agency_off_the_route_is_not_told_the_dossier_exists_and_one_on_it_reads_only_its_own_step() -> None:
    app = RoutingApplication()
    code, declaration = received(app)

    with pytest.raises(RoutedDossierNotFoundError):
        app.step_view(agency(random_agency_id()), code, "birth_registration")
    with pytest.raises(ContentNotDeclaredError):
        app.step_view(agency(POLICE), code, "birth_registration")
    view = app.step_view(agency(CIVIL_STATUS), code, "birth_registration")
    assert view["documents"] == [{"document": declaration, "from_step": None}]
    assert app.step_document(agency(CIVIL_STATUS), code, "birth_registration", declaration["sha256"])["document"] \
        == declaration
    with pytest.raises(ContentNotDeclaredError):
        app.step_document(agency(CIVIL_STATUS), code, "birth_registration", random_sha256())


def test_the_results_go_to_the_receiving_desk_the_submitter_and_auditors_once_ready_and_to_nobody_else() -> None:
    app = RoutingApplication()
    code, _ = received(app, submitted_by="portal-1")
    desk = Actor(party="desk", agency_id=DESK, client_id="desk-1")
    with pytest.raises(ResultsNotReadyError):
        app.results(desk, code)
    complete(app, code, "birth_registration", CIVIL_STATUS, vn(7, 7, 10))
    complete(app, code, "residence_registration", POLICE, vn(7, 7, 11))
    complete(app, code, "health_insurance_card", SOCIAL_INSURANCE, vn(7, 7, 11))

    for reader in (desk, Actor(party="portal", agency_id=None, client_id="portal-1"),
                   Actor(party="auditor", agency_id=None, client_id="inspector")):
        assert [r["from_step"] for r in app.results(reader, code)] == [
            "birth_registration", "residence_registration", "health_insurance_card"]
    for stranger in (Actor(party="portal", agency_id=None, client_id="portal-2"), agency(POLICE),
                     Actor(party="desk", agency_id=random_agency_id(), client_id="desk-2")):
        with pytest.raises(RoutedDossierNotFoundError):
            app.results(stranger, code)


def test_a_supplement_comes_from_the_receiving_desk_or_the_submitter_and_joins_the_documents() -> None:
    app = RoutingApplication()
    code, _ = received(app, submitted_by="portal-1")
    app.act_on_step(agency(CIVIL_STATUS), StepAction(code=code, step_key="birth_registration", agency_id=CIVIL_STATUS,
                                                     action="request_supplement", at=vn(7, 7, 10),
                                                     reason="Bổ sung giấy chứng sinh"), Trace())
    other = Actor(party="portal", agency_id=None, client_id="portal-2")
    certificate = a_document("giay_chung_sinh")
    with pytest.raises(RoutedDossierNotFoundError):
        app.supplement(other, code, vn(7, 7, 11), [certificate], Trace())

    dossier = app.supplement(Actor(party="portal", agency_id=None, client_id="portal-1"), code, vn(7, 7, 11),
                             [certificate], Trace())

    assert dossier.national_status == 4 and dossier.documents[-1] == certificate


def test_every_read_is_kept_in_the_dossiers_read_log_in_order() -> None:
    app = RoutingApplication()
    code, declaration = received(app)
    reader = agency(CIVIL_STATUS).reader

    app.record_read(code, reader, ReadOf(purpose="step_view", via="rest", step_key="birth_registration",
                                         fields=["full_name"]), vn(7, 7, 10))
    app.record_read(code, reader, ReadOf(purpose="document", via="rest", step_key="birth_registration",
                                         documents=[declaration["sha256"]]), vn(7, 7, 11))

    reads = app.reads(code)
    assert [(r.purpose, r.fields, r.documents, r.reader_agency_id) for r in reads] == [
        ("step_view", ["full_name"], [], CIVIL_STATUS), ("document", [], [declaration["sha256"]], CIVIL_STATUS)]
    assert app.history(code)[-1].__class__.__name__ == "StepOpened"  # reads are not the dossier's events


# --- the reference check, on an event loop of its own ------------------------------------------------


class Registry:
    """The upload registry as the check sees it: ``uploads`` maps client → hashes it uploaded."""

    def __init__(self, uploads: Mapping[str, set[str]]) -> None:
        self.uploads = uploads
        self.attached: list[tuple[str, str]] = []

    async def check_references(self, client_id: str, documents: Sequence[Mapping[str, Any]], *,
                               field: str = "documents") -> list[ReferenceProblem]:
        return [ReferenceProblem(f"{field}[{i}]", "document_not_uploaded", "chưa tải lên")
                for i, d in enumerate(documents) if d["sha256"] not in self.uploads.get(client_id, set())]

    async def attach(self, client_id: str, hashes: Sequence[str], dossier_code: str, at: datetime) -> list[str]:
        self.attached += [(client_id, h) for h in hashes]
        return []


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def test_a_result_not_uploaded_by_the_acting_party_is_refused_and_nothing_is_saved(loop) -> None:
    app = RoutingApplication()
    code, _ = received(app)
    result = a_document("trich_luc")
    registry = Registry({"commune-system": {result["sha256"]}})
    app.document_references = DocumentReferenceCheck(registry, loop)
    before = len(app.history(code))
    command = StepAction(code=code, step_key="birth_registration", agency_id=CIVIL_STATUS, action="complete",
                         at=vn(7, 7, 10), documents=[result], uploaders=("someone-else",))

    with pytest.raises(DocumentsNotUploadedError) as refused:
        app.act_on_step(agency(CIVIL_STATUS), command, Trace())

    assert [(p.field, p.code) for p in refused.value.problems] == [("documents[0]", "document_not_uploaded")]
    assert len(app.history(code)) == before and registry.attached == []
    app.act_on_step(agency(CIVIL_STATUS), StepAction(**{**command.__dict__,
                                                        "uploaders": ("other", "commune-system")}), Trace())
    assert registry.attached == [("commune-system", result["sha256"])]
    assert app.dossier(code).step("birth_registration").state == "done"
