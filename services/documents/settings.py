"""The document store's settings, shared by every service that stores or reads documents.

:class:`DocumentSettings` is a mixin of pydantic-settings fields: a service's settings class
inherits it beside :class:`services.settings.ServiceSettings`, so intake reads
``INTAKE_DOCUMENTS_…`` and routing ``ROUTING_DOCUMENTS_…``. Both services must point at the
same store (same ``documents_schema``, or the same bucket and prefix): documents are
content-addressed and shared, like one bucket.

``async with open_documents(settings, pool, blob_pool=…) as documents:`` opens the store the settings
name, creates its schema and tables (the upload registry's too) when missing, and yields
:class:`Documents` — ``.store``, ``.uploads`` (the use cases of :mod:`services.documents.uploads`)
and ``.limits``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Literal

import asyncpg
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from services.clock import Clock, SystemClock
from services.documents.postgres import PostgresDocumentStore
from services.documents.s3 import S3DocumentStore, S3Settings
from services.documents.store import (
    MAX_DOCUMENT_BYTES_DEFAULT,
    MAX_DOSSIER_BYTES_DEFAULT,
    DocumentStore,
    Limits,
)
from services.documents.uploads import UploadRegistry, Uploads
from services.retrying import retry_while_unavailable

log = logging.getLogger(__name__)

DEV_LINK_SECRET = "lienthong-development-only-document-link-secret"
"""Signs download links in development only; refused in every other environment."""

SCHEMA_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class DocumentSettings(BaseSettings):
    """Where documents are stored, their limits, the clean-up of uploads and download links."""

    documents_backend: Literal["postgres", "s3"] = "postgres"
    documents_schema: str = Field(default="documents", pattern=SCHEMA_PATTERN,
                                  description="PostgreSQL schema of the store (postgres) and of the upload "
                                              "registry (both backends); the same for every service")
    documents_s3_bucket: str | None = None
    documents_s3_endpoint_url: str | None = None
    documents_s3_region: str = "us-east-1"
    documents_s3_access_key_id: str | None = None
    documents_s3_secret_access_key: str | None = None
    documents_s3_prefix: str = "documents/"
    documents_s3_addressing: Literal["auto", "path", "virtual"] = "path"
    documents_max_document_bytes: int = Field(default=MAX_DOCUMENT_BYTES_DEFAULT, gt=0)
    documents_max_dossier_bytes: int = Field(default=MAX_DOSSIER_BYTES_DEFAULT, gt=0)
    documents_upload_ttl_seconds: float = Field(default=86400.0, gt=0,
                                                description="an upload no dossier refers to after this is removed")
    documents_sweep_interval_seconds: float = Field(default=300.0, gt=0)
    documents_link_secret: str = DEV_LINK_SECRET
    documents_link_ttl_seconds: int = Field(default=900, gt=0, le=86400)

    @model_validator(mode="after")
    def _check_documents(self) -> DocumentSettings:
        if self.documents_max_dossier_bytes < self.documents_max_document_bytes:
            raise ValueError("documents_max_dossier_bytes must be at least documents_max_document_bytes")
        if self.documents_backend == "s3" and not self.documents_s3_bucket:
            raise ValueError("documents_backend=s3 needs documents_s3_bucket")
        environment = getattr(self, "environment", "development")
        if environment != "development" and (
                self.documents_link_secret == DEV_LINK_SECRET or len(self.documents_link_secret) < 32):
            raise ValueError(f"{environment}: set a documents_link_secret of at least 32 characters "
                             "(the development secret is refused)")
        return self

    def document_limits(self) -> Limits:
        return Limits(max_document_bytes=self.documents_max_document_bytes,
                      max_dossier_bytes=self.documents_max_dossier_bytes)

    def s3_settings(self) -> S3Settings:
        """The S3 store's settings (an empty endpoint or key means none: AWS and its credential chain)."""
        assert self.documents_s3_bucket is not None
        return S3Settings(
            bucket=self.documents_s3_bucket, endpoint_url=self.documents_s3_endpoint_url or None,
            region=self.documents_s3_region, access_key_id=self.documents_s3_access_key_id or None,
            secret_access_key=self.documents_s3_secret_access_key or None, prefix=self.documents_s3_prefix,
            addressing_style=self.documents_s3_addressing)


@dataclass(frozen=True)
class Documents:
    """An opened document store, its upload use cases and its limits."""

    store: DocumentStore
    uploads: Uploads
    limits: Limits
    clock: Clock
    """The instant uploads are recorded at (the service's clock)."""


@asynccontextmanager
async def open_documents(settings: DocumentSettings, pool: asyncpg.Pool, *, blob_pool: asyncpg.Pool | None = None,
                         clock: Clock | None = None) -> AsyncIterator[Documents]:
    """The store ``settings`` name, its tables created when missing (under an advisory lock, so
    processes starting together take turns), for the ``with`` block.

    ``pool`` carries the upload registry; ``blob_pool`` the PostgreSQL backend's blobs (required
    for that backend). They must be two pools: the registry holds a connection while it asks the
    store (confirming an upload, sweeping a hash), so on one shared pool as many uploads finishing
    at once as it has connections would wait for each other for ever.
    """
    limits = settings.document_limits()
    clock = clock or SystemClock()
    registry = UploadRegistry(pool, settings.documents_schema)
    async with AsyncExitStack() as stack:
        store: DocumentStore
        if settings.documents_backend == "s3":
            store = await stack.enter_async_context(S3DocumentStore(settings.s3_settings(), limits))
        else:
            if blob_pool is None or blob_pool is pool:
                raise ValueError("the PostgreSQL backend needs a blob_pool of its own, apart from the registry's")
            postgres = PostgresDocumentStore(blob_pool, settings.documents_schema, limits, clock=clock)
            await retry_while_unavailable(postgres.create_tables, what="creating the document tables", logger=log)
            store = postgres
        await retry_while_unavailable(partial(registry.create_tables), what="creating the upload registry",
                                      logger=log)
        yield Documents(store=store, limits=limits, clock=clock, uploads=Uploads(
            store, registry, limits, upload_ttl_seconds=settings.documents_upload_ttl_seconds))
