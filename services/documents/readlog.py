"""The read log: every read of a dossier's personal data or documents, as events (who, when, what).

One :class:`ReadLog` aggregate per dossier, beside the dossier in the service's event store but apart
from it, so reads never race the dossier's own changes. Each read (:func:`record_read`) stores a
``Read`` event, which the service's relay publishes as
:class:`~shared_events.contracts.documents.DossierContentRead` (:func:`content_read`) for the audit
ledger. Intake records the reads of a dossier it serves (its applicant), routing those of steps'
views, documents and results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event

from services.eventstore import retry_on_conflict
from shared_events.contracts.documents import DossierContentRead

READ_LOG_NAMESPACE = uuid5(NAMESPACE_URL, "https://lienthong.gov.vn/read-logs")


@dataclass(frozen=True)
class Reader:
    """Who reads: the client, its party kind and its agency (if any)."""

    client_id: str | None
    party: str
    agency_id: str | None


@dataclass(frozen=True)
class ReadOf:
    """What is read: a step's view, a document, or the results; applicant ``fields`` and ``documents``
    (SHA-256 addresses); ``via`` rest, link or stream."""

    purpose: str
    via: str
    step_key: str | None = None
    fields: Sequence[str] = ()
    documents: Sequence[str] = ()


class ReadLog(Aggregate):
    """Every read of one dossier's content, oldest first."""

    if TYPE_CHECKING:  # defined by @event
        Opened: ClassVar[type[Any]]
        Read: ClassVar[type[Any]]

    @staticmethod
    def create_id(dossier_code: str, **_: Any) -> UUID:
        return uuid5(READ_LOG_NAMESPACE, dossier_code)

    @event("Opened")
    def __init__(self, dossier_code: str) -> None:
        self.dossier_code = dossier_code

    def record(self, reader: Reader, what: ReadOf, at: datetime) -> None:
        self._read(dossier_code=self.dossier_code, reader_client_id=reader.client_id, reader_party=reader.party,
                   reader_agency_id=reader.agency_id, step_key=what.step_key, purpose=what.purpose, via=what.via,
                   fields=list(what.fields), documents=list(what.documents), read_at=at)

    @event("Read")
    def _read(self, dossier_code: str, reader_client_id: str | None, reader_party: str, reader_agency_id: str | None,
              step_key: str | None, purpose: str, via: str, fields: list[str], documents: list[str],
              read_at: datetime) -> None:
        """Nothing to keep in memory: the read is the event."""


def record_read(app: Application, dossier_code: str, reader: Reader, what: ReadOf, at: datetime, *,
                attempts: int = 5) -> ReadLog:
    """Store one read in the dossier's read log in ``app``'s event store (a lost version race is
    retried: two reads at once both land)."""
    def attempt() -> ReadLog:
        try:
            log: ReadLog = app.repository.get(ReadLog.create_id(dossier_code))
        except AggregateNotFoundError:
            log = ReadLog(dossier_code=dossier_code)
        log.record(reader, what, at)
        app.save(log)
        return log
    return retry_on_conflict(attempt, attempts=attempts)


def reads(app: Application, dossier_code: str) -> list[Any]:
    """Every read of the dossier's content in ``app``'s store, oldest first."""
    return [e for e in app.events.get(ReadLog.create_id(dossier_code)) if type(e) is ReadLog.Read]


def content_read(e: Any) -> DossierContentRead:
    """The published record of a stored ``ReadLog.Read``."""
    return DossierContentRead(
        dossier_code=e.dossier_code, reader_client_id=e.reader_client_id, reader_party=e.reader_party,
        reader_agency_id=e.reader_agency_id, step_key=e.step_key, purpose=e.purpose, via=e.via,
        fields=tuple(e.fields), documents=tuple(e.documents), read_at=e.read_at)
