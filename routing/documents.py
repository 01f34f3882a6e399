"""Routing's side of the document store: the references a step's result or a supplement makes are
checked against the upload registry and attached to the dossier, from the use cases themselves.

Routing's use cases run on the event store's threads (the ``eventsourcing`` library is
synchronous), the registry is asynchronous: :class:`DocumentReferenceCheck` runs the registry's
coroutines on the process's event loop and waits for them (the loop is free meanwhile: it is only
awaiting the thread). An infrastructure failure is raised as it is, so the consumer retries and the
API answers 503; a reference that is not acceptable raises :class:`DocumentsNotUploadedError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from routing.domain.errors import RoutingError
from services.documents.uploads import DocumentReferences, ReferenceProblem

T = TypeVar("T")


class DocumentsNotUploadedError(RoutingError):
    """Documents referred to that the acting party did not upload, or that differ from what it
    uploaded (422); ``problems`` names each."""

    def __init__(self, problems: Sequence[ReferenceProblem]) -> None:
        super().__init__("; ".join(p.message_vi for p in problems))
        self.problems = list(problems)


class DocumentReferenceCheck:
    """Checks and attaches document references for the synchronous use cases."""

    def __init__(self, references: DocumentReferences, loop: asyncio.AbstractEventLoop, *,
                 timeout_seconds: float = 30.0) -> None:
        self._references = references
        self._loop = loop
        self._timeout = timeout_seconds

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self._timeout)

    def accept(self, documents: Sequence[Mapping[str, Any]], *, uploaders: Sequence[str], dossier_code: str,
               at: datetime, field: str = "documents") -> None:
        """Accept ``documents`` when one of ``uploaders`` (client ids) uploaded them all, and record that
        ``dossier_code`` refers to them (before the dossier is saved). Nothing to check for none."""
        if not documents:
            return
        problems: list[ReferenceProblem] = []
        for client_id in uploaders:
            problems = self._run(self._references.check_references(client_id, documents, field=field))
            if not problems:
                missing = self._run(self._references.attach(
                    client_id, [str(d["sha256"]) for d in documents], dossier_code, at))
                if not missing:
                    return
                problems = [ReferenceProblem(field, "document_not_uploaded",
                                             f"Tệp {sha256} không còn trong kho") for sha256 in missing]
        raise DocumentsNotUploadedError(problems or [ReferenceProblem(
            field, "document_not_uploaded", "Không có bên gọi nào của cơ quan đã tải các tệp này lên")])
