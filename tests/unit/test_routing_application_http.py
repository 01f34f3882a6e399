"""Routing's HTTP entry points over the in-memory event store: every row of the error table
becomes its status and problem type, reads answer one 404 for "unknown" and "not yours", and
commands reach their use case."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from routing.api.deps import ERRORS, Routing
from routing.api.dossiers import router as dossiers_router
from routing.api.inbox import router as inbox_router
from routing.api.unroutable import router as unroutable_router
from routing.application import RoutedDossierNotFoundError, RoutingApplication
from routing.documents import DocumentsNotUploadedError
from routing.domain import (
    ApologyAlreadyIssuedError,
    ContentNotDeclaredError,
    DossierClosedError,
    InvalidCommandError,
    ResultsNotReadyError,
    RoutingError,
    StepStateError,
    UnknownStepError,
    WrongAgencyError,
)
from services.auth import Principal, current_principal
from services.documents.api import LengthRequiredError
from services.documents.links import LinkRefusedError
from services.documents.store import (
    CorruptDocumentError,
    DocumentNotFoundError,
    DocumentTooLargeError,
    HashMismatchError,
    MediaTypeMismatchError,
    SizeMismatchError,
)
from services.documents.uploads import (
    DossierTooLargeError,
    NotEntitledToUploadError,
    ReferenceProblem,
    UploadConflictError,
)
from services.eventstore import ConcurrentChangeError, EventStore
from services.problems import PROBLEM_BASE, Problem, install_problem_handlers
from tests.random_refs import random_agency_id
from tests.support.builders import LOCALITY, vn

ROWS = [
    (RoutedDossierNotFoundError, 404, "dossier-not-found"),
    (UnknownStepError, 404, "step-not-found"),
    (WrongAgencyError, 403, "not-your-step"),
    (InvalidCommandError, 422, "invalid-command"),
    (ApologyAlreadyIssuedError, 409, "apology-already-issued"),
    (DossierClosedError, 409, "dossier-closed"),
    (StepStateError, 409, "step-state-conflict"),
    (RoutingError, 409, "step-state-conflict"),
    (ConcurrentChangeError, 409, "concurrent-change"),
    (ContentNotDeclaredError, 403, "not-declared"),
    (ResultsNotReadyError, 409, "results-not-ready"),
    (DocumentsNotUploadedError, 422, "documents-not-uploaded"),
    (LinkRefusedError, 403, "link-refused"),
    (CorruptDocumentError, 502, "document-corrupt"),
    (NotEntitledToUploadError, 403, "forbidden"),
    (DocumentNotFoundError, 404, "document-not-found"),
    (UploadConflictError, 409, "upload-conflict"),
    (LengthRequiredError, 411, "length-required"),
    (DocumentTooLargeError, 413, "document-too-large"),
    (DossierTooLargeError, 413, "dossier-too-large"),
    (MediaTypeMismatchError, 415, "document-media-type-mismatch"),
    (HashMismatchError, 422, "document-hash-mismatch"),
    (SizeMismatchError, 422, "document-size-mismatch"),
]
MAKE: dict[type[Exception], Callable[[], Exception]] = {
    DocumentsNotUploadedError: lambda: DocumentsNotUploadedError(
        [ReferenceProblem("documents[0]", "document_not_uploaded", "Tệp chưa được tải lên")]),
    LinkRefusedError: lambda: LinkRefusedError("link-used", "Liên kết đã được dùng"),
}
"""Errors built otherwise than from one message."""


class FakeStore:
    """Runs a use case at once, on the caller's thread."""

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


def failing(error: Exception) -> Callable[[], None]:
    def use_case() -> None:
        raise error
    return use_case


def test_the_table_lists_exactly_the_errors_the_rows_below_check() -> None:
    assert set(ERRORS) == {error for error, _, _ in ROWS}


@pytest.mark.parametrize(("error", "status", "slug"), ROWS, ids=[error.__name__ for error, _, _ in ROWS])
async def test_each_error_of_the_table_becomes_its_status_and_problem_type(
        error: type[Exception], status: int, slug: str) -> None:
    routing = Routing(FakeStore(), RoutingApplication())  # type: ignore[arg-type]

    with pytest.raises(Problem) as raised:
        await routing.run(failing(MAKE.get(error, lambda: error("ABC-250707-0001"))()))

    assert (raised.value.status, raised.value.slug) == (status, slug)


async def test_an_unknown_dossier_is_named_in_the_same_words_whatever_the_error_said() -> None:
    routing = Routing(FakeStore(), RoutingApplication())  # type: ignore[arg-type]

    with pytest.raises(Problem) as raised:
        await routing.run(failing(RoutedDossierNotFoundError("ABC-250707-0001")))

    assert raised.value.detail == "Không có hồ sơ mã ABC-250707-0001 trong luân chuyển"


async def test_an_error_the_table_does_not_list_goes_on_unchanged() -> None:
    routing = Routing(FakeStore(), RoutingApplication())  # type: ignore[arg-type]

    with pytest.raises(KeyError):
        await routing.run(failing(KeyError("not a use-case error")))


# --- over HTTP ------------------------------------------------------------------------------------------


class FakeClock:
    def now(self) -> datetime:
        return vn(7, 7, 10)


class UnreachableReadModel:
    """The read model's queries, which these tests must not reach (no PostgreSQL here)."""

    async def for_agency(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise AssertionError("the inbox was read")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = EventStore(RoutingApplication, workers=2, name="routing-test")
        await store.open()
        app.state.store, app.state.clock, app.state.inbox = store, FakeClock(), UnreachableReadModel()
        yield
        await store.close()

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app)
    for router in (inbox_router, dossiers_router, unroutable_router):
        app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


def calling_as(client: TestClient, party: str, agency_id: str | None, *roles: str) -> None:
    principal = Principal(client_id=f"{party}-{random.randint(1, 10**6)}", party=party, agency_id=agency_id,
                          roles=frozenset(roles))
    client.app.dependency_overrides[current_principal] = lambda: principal  # type: ignore[attr-defined]


def stored_dossier(client: TestClient, receiving: str) -> str:
    app: RoutingApplication = client.app.state.store.app  # type: ignore[attr-defined]
    code = f"{random_agency_id()}-250707-{random.randint(1, 9999):04d}"
    dossier = app.receive(code=code, procedure_code="1.001193", locality_code=LOCALITY,
                          receiving_agency_id=receiving, channel="desk", result_delivery_method="desk",
                          options=[], received_at=vn(7, 7, 9), national_status=2)
    assert dossier is not None
    app.save_dossier(dossier)
    return code


def problem_of(response: Any) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/problem+json"
    return response.status_code, response.json()["type"].removeprefix(PROBLEM_BASE)


def test_the_receiving_desk_reads_the_route_and_the_control_sheet_of_its_dossier(client: TestClient) -> None:
    desk = random_agency_id()
    code = stored_dossier(client, desk)
    calling_as(client, "desk", desk, "dossier:read")

    route = client.get(f"/v1/routing/dossiers/{code}")
    sheet = client.get(f"/v1/routing/dossiers/{code}/control-sheet")

    assert route.status_code == 200 and route.json()["code"] == code
    assert sheet.status_code == 200 and sheet.json() == []


@pytest.mark.parametrize("path", ["/v1/routing/dossiers/{code}", "/v1/routing/dossiers/{code}/control-sheet"])
def test_an_unknown_dossier_and_another_desks_dossier_are_the_same_404(client: TestClient, path: str) -> None:
    code = stored_dossier(client, random_agency_id())
    unknown = f"{random_agency_id()}-250707-0001"
    calling_as(client, "desk", random_agency_id(), "dossier:read")

    theirs = client.get(path.format(code=code))
    missing = client.get(path.format(code=unknown))

    assert problem_of(theirs) == problem_of(missing) == (404, "dossier-not-found")
    assert theirs.json()["detail"] == f"Không có hồ sơ mã {code} trong luân chuyển"
    assert missing.json()["detail"] == f"Không có hồ sơ mã {unknown} trong luân chuyển"


def test_a_reader_without_the_read_role_is_refused_before_the_dossier_is_looked_up(client: TestClient) -> None:
    calling_as(client, "desk", random_agency_id(), "dossier:accept")

    assert problem_of(client.get("/v1/routing/dossiers/UNKNOWN-250707-0001")) == (403, "forbidden")


def test_an_agency_on_the_route_claiming_another_agencys_step_is_told_it_is_not_its_step(
        client: TestClient) -> None:
    code = stored_dossier(client, random_agency_id())
    app: RoutingApplication = client.app.state.store.app  # type: ignore[attr-defined]
    police = app.dossier(code).step("residence_registration").agency_id
    calling_as(client, "agency", police, "inbox:act")

    answer = client.post(f"/v1/inbox/{code}/steps/birth_registration/claim")

    assert problem_of(answer) == (403, "not-your-step")


def test_a_step_the_route_does_not_have_and_a_step_claimed_twice_answer_their_problems(client: TestClient) -> None:
    code = stored_dossier(client, random_agency_id())
    app: RoutingApplication = client.app.state.store.app  # type: ignore[attr-defined]
    civil_status = app.dossier(code).step("birth_registration").agency_id
    calling_as(client, "agency", civil_status, "inbox:act")

    first = client.post(f"/v1/inbox/{code}/steps/birth_registration/claim")
    again = client.post(f"/v1/inbox/{code}/steps/birth_registration/claim")
    unknown = client.post(f"/v1/inbox/{code}/steps/no_such_step/claim")

    assert first.status_code == 200
    assert [s["state"] for s in first.json()["steps"] if s["key"] == "birth_registration"] == ["claimed"]
    assert problem_of(again) == (409, "step-state-conflict")
    assert problem_of(unknown) == (404, "step-not-found")


def test_a_caller_tied_to_no_agency_cannot_work_an_inbox(client: TestClient) -> None:
    calling_as(client, "operator", None, "inbox:act")

    assert problem_of(client.get("/v1/inbox")) == (403, "no-agency")


def test_the_openapi_document_lists_each_operations_problems_from_the_table(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]

    claim = paths["/v1/inbox/{code}/steps/{step_key}/claim"]["post"]["responses"]
    read = paths["/v1/routing/dossiers/{code}"]["get"]["responses"]

    assert {"403", "404", "409", "422"} <= set(claim)
    assert "`not-your-step`" in claim["403"]["description"]
    assert "`dossier-not-found`" in read["404"]["description"] and "409" not in read
