"""The content use cases that move bytes: a step's view, its documents, the download links of stream
agencies, and the results handed over.

Each one authorises on the event store's threads (:class:`routing.application.RoutingApplication`'s
``step_view``, ``step_document``, ``results`` …), opens the document's stream — which the store
verifies against its address before the first chunk (a blob whose bytes were altered is refused,
:class:`services.documents.store.CorruptDocumentError`, and logged) — then records the read in the
dossier's read log, and only then hands the bytes on: no byte leaves without its read recorded.
The HTTP routes (``/v1/inbox``, ``/v1/document-links``, ``/v1/routing/dossiers/{code}/results``)
only translate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from routing.application import Actor, RoutingApplication
from services.clock import Clock
from services.documents.links import LinkRedemptions, LinkSigner
from services.documents.readlog import ReadOf
from services.documents.store import DocumentStore
from services.eventstore import EventStore

T = TypeVar("T")


@dataclass(frozen=True)
class Download:
    """One document on its way out: its reference (name, media type, size, SHA-256) and its verified bytes."""

    document: dict[str, Any]
    chunks: AsyncIterator[bytes]


async def _after(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


class DossierContent:
    """Built once per API process, over its event store, the document store and the link keys."""

    def __init__(self, store: EventStore[RoutingApplication], documents: DocumentStore, links: LinkSigner,
                 redemptions: LinkRedemptions, clock: Clock) -> None:
        self._store = store
        self._documents = documents
        self._links = links
        self._redemptions = redemptions
        self._clock = clock

    @property
    def _app(self) -> RoutingApplication:
        assert self._store.app is not None  # opened in the lifespan, before any request
        return self._store.app

    async def _call(self, use_case: Callable[..., T], *args: Any) -> T:
        return await self._store.call(use_case, *args)

    async def step_view(self, actor: Actor, code: str, step_key: str) -> dict[str, Any]:
        """The step's view for its agency; the applicant's fields it shows are recorded as read."""
        content = await self._call(self._app.step_view, actor, code, step_key)
        await self._call(self._app.record_read, code, actor.reader, ReadOf(
            purpose="step_view", via="rest", step_key=step_key, fields=list(content["applicant"])), self._clock.now())
        return content

    async def step_document(self, actor: Actor, code: str, step_key: str, sha256: str) -> Download:
        """One document of the step's view, for the agency holding (or having handled) the step."""
        entry = await self._call(self._app.step_document, actor, code, step_key, sha256)
        return await self._deliver(actor, code, entry, ReadOf(purpose="document", via="rest", step_key=step_key,
                                                              documents=[sha256]))

    async def by_link(self, actor: Actor, token: str) -> Download:
        """The document a stream agency's link names: the link genuine, unexpired, the caller's agency's,
        not used before (it is used up now), and the step's view still holding the document."""
        claims = self._links.verify(token, agency_id=actor.agency_id, now=self._clock.now())
        entry = await self._call(self._app.step_document, actor, claims.dossier_code, claims.step_key, claims.sha256)
        await self._redemptions.redeem(claims, self._clock.now())
        return await self._deliver(actor, claims.dossier_code, entry, ReadOf(
            purpose="document", via="link", step_key=claims.step_key, documents=[claims.sha256]))

    async def results(self, actor: Actor, code: str) -> list[dict[str, Any]]:
        """The results handed over, for the receiving desk, the submitter and auditors (references only)."""
        return await self._call(self._app.results, actor, code)

    async def result_document(self, actor: Actor, code: str, sha256: str) -> Download:
        entry = await self._call(self._app.result_document, actor, code, sha256)
        return await self._deliver(actor, code, entry, ReadOf(purpose="results", via="rest", documents=[sha256]))

    async def _deliver(self, actor: Actor, code: str, entry: dict[str, Any], what: ReadOf) -> Download:
        document = entry["document"]
        chunks = self._documents.read(document["sha256"])
        first = await anext(chunks)  # the store has verified the bytes against their address by now
        try:
            await self._call(self._app.record_read, code, actor.reader, what, self._clock.now())
        except BaseException:
            await chunks.aclose()  # type: ignore[attr-defined]  # the store's read is an async generator
            raise
        return Download(document=document, chunks=_after(first, chunks))
