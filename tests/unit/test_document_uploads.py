"""The document settings (services/documents/settings.py) and the refusals of the upload use cases
that need no database (services/documents/uploads.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from intake.settings import IntakeSettings
from services.auth import Principal
from services.documents.settings import DEV_LINK_SECRET, DocumentSettings
from services.documents.store import DocumentTooLargeError, HashMismatchError, Limits
from services.documents.uploads import DossierTooLargeError, NotEntitledToUploadError, Uploads
from tests.support.documents import a_file, declared_for

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SECRET = "a-link-secret-of-more-than-thirty-two-characters"


class Untouchable:
    """A store and a registry that fail the test when used: the refusal comes first."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} used")


def uploads(limits: Limits = Limits()) -> Uploads:
    return Uploads(Untouchable(), Untouchable(), limits, upload_ttl_seconds=60)  # type: ignore[arg-type]


def a_principal(*roles: str) -> Principal:
    return Principal(client_id="portal-x", party="portal", agency_id=None, roles=frozenset(roles))


async def never() -> AsyncIterator[bytes]:
    raise AssertionError("the body was read")
    yield b""


def test_the_documents_settings_default_to_the_postgres_store_with_the_issues_limits() -> None:
    settings = DocumentSettings()
    assert (settings.documents_backend, settings.documents_schema) == ("postgres", "documents")
    assert settings.document_limits() == Limits(20 * 1024 * 1024, 100 * 1024 * 1024)
    assert (settings.documents_upload_ttl_seconds, settings.documents_sweep_interval_seconds) == (86400, 300)


def test_a_service_reads_the_documents_settings_under_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_DOCUMENTS_SCHEMA", "documents_elsewhere")
    monkeypatch.setenv("INTAKE_DOCUMENTS_MAX_DOCUMENT_BYTES", "1000")
    settings = IntakeSettings()
    assert (settings.documents_schema, settings.documents_max_document_bytes) == ("documents_elsewhere", 1000)


def test_the_development_link_secret_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="documents_link_secret"):
        IntakeSettings(environment="test", documents_link_secret=DEV_LINK_SECRET)
    with pytest.raises(ValidationError, match="documents_link_secret"):
        IntakeSettings(environment="production", documents_link_secret="short")
    assert IntakeSettings(environment="development").documents_link_secret == DEV_LINK_SECRET


def test_the_s3_backend_needs_a_bucket_and_builds_the_stores_settings() -> None:
    with pytest.raises(ValidationError, match="bucket"):
        DocumentSettings(documents_backend="s3")
    settings = DocumentSettings(documents_backend="s3", documents_s3_bucket="b", documents_s3_prefix="p/",
                                documents_s3_endpoint_url="http://127.0.0.1:9000")
    s3 = settings.s3_settings()
    assert (s3.bucket, s3.prefix, s3.endpoint_url, s3.addressing_style) == ("b", "p/", "http://127.0.0.1:9000", "path")


def test_a_dossier_limit_below_the_document_limit_is_refused() -> None:
    with pytest.raises(ValidationError):
        DocumentSettings(documents_max_document_bytes=10, documents_max_dossier_bytes=9)


def test_a_schema_name_that_is_no_identifier_is_refused() -> None:
    with pytest.raises(ValidationError):
        DocumentSettings(documents_schema='x"; DROP')


async def test_a_caller_without_an_upload_role_is_refused_before_anything_is_recorded() -> None:
    data = a_file()
    with pytest.raises(NotEntitledToUploadError):
        await uploads().upload(a_principal("dossier:read"), declared_for(data), never(), NOW)


@pytest.mark.parametrize("role", ["dossier:submit", "inbox:act"])
async def test_a_declaration_the_checks_rule_out_is_refused_before_anything_is_recorded(role: str) -> None:
    data = a_file(size=5000)
    with pytest.raises(DocumentTooLargeError):
        await uploads(Limits(max_document_bytes=4000)).upload(a_principal(role), declared_for(data), never(), NOW)
    with pytest.raises(HashMismatchError):
        await uploads().upload(a_principal(role), declared_for(data, sha256="ABC"), never(), NOW)


async def test_references_adding_up_to_more_than_the_dossier_limit_are_refused_before_any_lookup() -> None:
    documents = [{"name": f"d{i}", "media_type": "application/pdf", "size_bytes": 600, "sha256": f"{i:064x}"}
                 for i in range(2)]
    with pytest.raises(DossierTooLargeError):
        await uploads(Limits(max_document_bytes=1000, max_dossier_bytes=1000)).check_references("portal-x", documents)


async def test_one_document_referred_to_twice_counts_once_against_the_dossier_limit() -> None:
    documents = [{"name": f"d{i}", "media_type": "application/pdf", "size_bytes": 600, "sha256": "a" * 64}
                 for i in range(2)]
    with pytest.raises(AssertionError, match="used"):  # past the limit check, on to the registry
        await uploads(Limits(max_document_bytes=1000, max_dossier_bytes=1000)).check_references("portal-x", documents)
