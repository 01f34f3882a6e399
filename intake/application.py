"""The intake application: use cases over the event-sourced dossier log.

Synchronous (the ``eventsourcing`` library is); entry points call it through
:class:`services.eventstore.EventStore`.  One use case, one method: load, act, save.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from intake.domain import Dossier, SubmissionKey
from services.eventstore import TrackingApplication


class DossierNotFoundError(Exception):
    """No dossier has this code."""


class IdempotencyKeyReusedError(Exception):
    """The Idempotency-Key was used before for a different request."""


class IntakeApplication(TrackingApplication):
    """Receives dossiers and keeps their intake history."""

    name = "IntakeDossiers"

    def submit(self, dossier: Dossier, key: SubmissionKey | None) -> Dossier:
        """Store a new dossier (and its idempotency key) in one transaction.

        When the same key was stored concurrently, the dossier it created is returned.
        """
        try:
            self.save(dossier, key)
            return dossier
        except IntegrityError:
            if key is None:
                raise
            existing = self.submission_key(key.client_id, key.key)
            if existing is None:
                raise
            return self.replay(existing, key.fingerprint)

    def replay(self, key: SubmissionKey, fingerprint: str) -> Dossier:
        """The dossier an earlier request with the same key created."""
        if key.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError(key.key)
        return self.dossier(key.dossier_code)

    def submission_key(self, client_id: str, key: str) -> SubmissionKey | None:
        try:
            return self.repository.get(SubmissionKey.create_id(client_id=client_id, key=key))
        except AggregateNotFoundError:
            return None

    def dossier(self, code: str) -> Dossier:
        try:
            return self.repository.get(Dossier.create_id(code=code))
        except AggregateNotFoundError:
            raise DossierNotFoundError(code) from None

    def history(self, code: str) -> list[Any]:
        """Every stored event of the dossier, oldest first."""
        return list(self.events.get(Dossier.create_id(code=code)))

    def accept(self, code: str, *, by: str, at: datetime, correlation_id: str | None) -> Dossier:
        dossier = self.dossier(code)
        dossier.accept(by=by, at=at, correlation_id=correlation_id)
        self.save(dossier)
        return dossier

    def refuse(self, code: str, *, by: str, reason: str, at: datetime, correlation_id: str | None) -> Dossier:
        dossier = self.dossier(code)
        dossier.refuse(by=by, reason=reason, at=at, correlation_id=correlation_id)
        self.save(dossier)
        return dossier

    def withdraw(self, code: str, *, by: str, reason: str, at: datetime, correlation_id: str | None) -> Dossier:
        dossier = self.dossier(code)
        dossier.withdraw(by=by, reason=reason, at=at, correlation_id=correlation_id)
        self.save(dossier)
        return dossier
