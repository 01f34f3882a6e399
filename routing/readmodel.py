"""The routing read model: one row per step of every dossier, kept in the same transaction
as the events that changed it (SQL-first; the REST inbox and the deadline timer query it), and
one row per dossier routing could not route (``unroutable_dossiers``, with the reason).
Each step row keeps the dossier's version and the working-calendar revision its due times were
computed under, so the dossiers a calendar change has not reached yet can be found.

:class:`RoutingRecorder` (a :class:`services.readmodel.ReadModelRecorder`) upserts the rows passed to
``save(..., inbox_rows=[...], unroutable_rows=[...])`` in the transaction that stores the events (and
the consumed position), so the read model never disagrees with the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from psycopg.sql import Composed, Identifier

from services.readmodel import ReadModelRecorder, upsert_sql
from shared_events.contracts.values import TERMINAL_STATUSES

CREATE_INBOX = """
CREATE TABLE IF NOT EXISTS {schema}.inbox_steps (
    dossier_code     text        NOT NULL,
    step_key         text        NOT NULL,
    step_name        text        NOT NULL,
    agency_id        text        NOT NULL,
    integration      text        NOT NULL,
    procedure_code   text        NOT NULL,
    state            text        NOT NULL,
    opening          integer     NOT NULL,
    opened_at        timestamptz,
    due_at           timestamptz,
    completed_at     timestamptz,
    timeliness       text,
    due_soon_raised  boolean     NOT NULL,
    overdue_raised   boolean     NOT NULL,
    national_status  integer     NOT NULL,
    appointment_at   timestamptz,
    dossier_version  integer     NOT NULL DEFAULT 0,
    calendar_revision integer    NOT NULL DEFAULT 0,
    PRIMARY KEY (dossier_code, step_key)
)"""
ADD_CALENDAR_COLUMNS = (
    "ALTER TABLE {schema}.inbox_steps ADD COLUMN IF NOT EXISTS dossier_version integer NOT NULL DEFAULT 0, "
    "ADD COLUMN IF NOT EXISTS calendar_revision integer NOT NULL DEFAULT 0")
"""Tables made before rows carried the calendar revision gain the columns (0: the seed's)."""
CREATE_CALENDAR_INDEX = (
    "CREATE INDEX IF NOT EXISTS inbox_steps_calendar_idx ON {schema}.inbox_steps (calendar_revision) "
    "WHERE state IN ('open', 'claimed')")
CREATE_INBOX_INDEX = (
    "CREATE INDEX IF NOT EXISTS inbox_steps_agency_idx ON {schema}.inbox_steps (agency_id, state, due_at)")

CREATE_UNROUTABLE = """
CREATE TABLE IF NOT EXISTS {schema}.unroutable_dossiers (
    dossier_code        text        PRIMARY KEY,
    receiving_agency_id text        NOT NULL,
    procedure_code      text        NOT NULL,
    locality_code       text        NOT NULL,
    received_at         timestamptz NOT NULL,
    reason              text        NOT NULL,
    detected_at         timestamptz NOT NULL,
    national_status     integer     NOT NULL,
    routed              boolean     NOT NULL
)"""
UNROUTABLE_COLUMNS = ("dossier_code", "receiving_agency_id", "procedure_code", "locality_code", "received_at",
                      "reason", "detected_at", "national_status", "routed")

COLUMNS = ("dossier_code", "step_key", "step_name", "agency_id", "integration", "procedure_code", "state",
           "opening", "opened_at", "due_at", "completed_at", "timeliness", "due_soon_raised", "overdue_raised",
           "national_status", "appointment_at", "dossier_version", "calendar_revision")
ACTIVE_STATES = ("open", "claimed")


class RoutingRecorder(ReadModelRecorder):
    """Process recorder that also upserts the rows passed as ``inbox_rows`` and ``unroutable_rows``."""

    def create_statements(self) -> Sequence[str]:
        return (CREATE_INBOX, CREATE_INBOX_INDEX, ADD_CALENDAR_COLUMNS, CREATE_CALENDAR_INDEX, CREATE_UNROUTABLE)

    def row_statements(self, schema: Identifier) -> Mapping[str, Composed]:
        return {"inbox_rows": upsert_sql(schema, "inbox_steps", COLUMNS, ("dossier_code", "step_key")),
                "unroutable_rows": upsert_sql(schema, "unroutable_dossiers", UNROUTABLE_COLUMNS, ("dossier_code",))}


class InboxQueries:
    """Reads of the inbox table (asyncpg; never through the domain model)."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._schema = schema
        self._table = f'"{schema}".inbox_steps'

    async def for_agency(self, agency_id: str, *, states: Sequence[str] | None, due_before: datetime | None,
                         overdue_only: bool, limit: int, offset: int) -> list[dict[str, Any]]:
        clauses, args = ["agency_id = $1"], list[Any]([agency_id])
        if states:
            args.append(list(states))
            clauses.append(f"state = ANY(${len(args)})")
        if due_before is not None:
            args.append(due_before)
            clauses.append(f"due_at <= ${len(args)}")
        if overdue_only:
            clauses.append("overdue_raised")
        args += [limit, offset]
        rows = await self._pool.fetch(
            f"SELECT * FROM {self._table} WHERE {' AND '.join(clauses)} "
            f"ORDER BY due_at NULLS LAST, dossier_code LIMIT ${len(args) - 1} OFFSET ${len(args)}", *args)
        return [dict(r) for r in rows]

    async def unroutable(self, *, receiving_agency_id: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        """Dossiers routing could not route and that are still open, oldest first; only those received
        by ``receiving_agency_id`` unless it is None."""
        clauses, args = ["NOT routed", "national_status <> ALL($1)"], list[Any]([list(TERMINAL_STATUSES)])
        if receiving_agency_id is not None:
            args.append(receiving_agency_id)
            clauses.append(f"receiving_agency_id = ${len(args)}")
        args += [limit, offset]
        rows = await self._pool.fetch(
            f'SELECT * FROM "{self._schema}".unroutable_dossiers WHERE {" AND ".join(clauses)} '
            f"ORDER BY detected_at, dossier_code LIMIT ${len(args) - 1} OFFSET ${len(args)}", *args)
        return [dict(r) for r in rows]

    async def needing_deadline_check(self, now: datetime, horizon: datetime, limit: int = 1000) -> list[str]:
        """Dossiers with an active step that is overdue, or due before ``horizon``, and not yet flagged so."""
        rows = await self._pool.fetch(
            f"SELECT DISTINCT dossier_code FROM {self._table} WHERE state = ANY($1) AND NOT overdue_raised "
            f"AND (due_at <= $2 OR (due_at <= $3 AND NOT due_soon_raised)) LIMIT $4",
            list(ACTIVE_STATES), now, horizon, limit)
        return [r["dossier_code"] for r in rows]

    async def stale_for_calendar(self, revision: int, limit: int = 1000) -> list[str]:
        """Dossiers with an active step whose due times were computed under a calendar revision
        older than ``revision``."""
        rows = await self._pool.fetch(
            f"SELECT DISTINCT dossier_code FROM {self._table} WHERE state = ANY($1) AND calendar_revision < $2 "
            f"LIMIT $3", list(ACTIVE_STATES), revision, limit)
        return [r["dossier_code"] for r in rows]

    async def mark_calendar_revision(self, code: str, version: int, revision: int) -> None:
        """Record that the dossier at ``version`` is up to date with calendar ``revision`` (a
        recomputation that moved nothing). Rows of a later version — the dossier was saved since,
        maybe under the old calendar — are left for the next round; rows written before they carried
        a version (0) are the loaded version's."""
        await self._pool.execute(
            f"UPDATE {self._table} SET calendar_revision = $3 WHERE dossier_code = $1 AND dossier_version <= $2 "
            f"AND calendar_revision < $3", code, version, revision)
