"""The postal read model: one row per leg (``shipments``) and one per fee collected (``postal_fees``),
upserted in the transaction that stores the events (:class:`PostalRecorder`, a
:class:`services.readmodel.ReadModelRecorder`), so they never disagree with the log.

The dispatcher owns three more columns of ``shipments`` that no event writes: how often the pending
action has failed (``action_tries``), when it may be tried again (``action_not_before``, the
database's time) and when the carrier was last asked for the shipment's tracking (``checked_at``,
the service's clock). A new pending action (another key) starts with no tries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from psycopg.sql import Composed, Identifier

from services.clock import VIETNAM
from services.readmodel import ReadModelRecorder, insert_once_sql, upsert_sql

if TYPE_CHECKING:
    from postal.domain import PostalDossier

CREATE_SHIPMENTS = """
CREATE TABLE IF NOT EXISTS {schema}.shipments (
    dossier_code      text        NOT NULL,
    leg               text        NOT NULL,
    partner_id        text        NOT NULL,
    agency_id         text        NOT NULL,
    state             text        NOT NULL,
    order_id          text,
    tracking_number   text,
    status            text,
    attempt           integer     NOT NULL,
    status_at         timestamptz,
    opened_at         timestamptz NOT NULL,
    last_news_at      timestamptz NOT NULL,
    pending_action    text,
    pending_key       text,
    action_tries      integer     NOT NULL DEFAULT 0,
    action_not_before timestamptz,
    checked_at        timestamptz,
    PRIMARY KEY (dossier_code, leg)
)"""
CREATE_PENDING_INDEX = ("CREATE INDEX IF NOT EXISTS shipments_pending_idx ON {schema}.shipments "
                        "(action_not_before) WHERE pending_action IS NOT NULL")
CREATE_OPEN_INDEX = ("CREATE INDEX IF NOT EXISTS shipments_open_idx ON {schema}.shipments (partner_id, last_news_at) "
                     "WHERE state = 'open'")
CREATE_FEES = """
CREATE TABLE IF NOT EXISTS {schema}.postal_fees (
    dossier_code  text        NOT NULL,
    leg           text        NOT NULL,
    agency_id     text        NOT NULL,
    partner_id    text        NOT NULL,
    fee_vnd       bigint      NOT NULL,
    postage_vnd   bigint      NOT NULL,
    collected_at  timestamptz NOT NULL,
    day           date        NOT NULL,
    PRIMARY KEY (dossier_code, leg)
)"""

SHIPMENT_COLUMNS = ("dossier_code", "leg", "partner_id", "agency_id", "state", "order_id", "tracking_number", "status",
                    "attempt", "status_at", "opened_at", "last_news_at", "pending_action", "pending_key")
FEE_COLUMNS = ("dossier_code", "leg", "agency_id", "partner_id", "fee_vnd", "postage_vnd", "collected_at", "day")


def shipment_rows(dossier: PostalDossier) -> list[dict[str, Any]]:
    rows = []
    for leg in dossier.legs.values():
        pending = leg["pending"] or {}
        rows.append({
            "dossier_code": dossier.dossier_code, "leg": leg["leg"], "partner_id": leg["partner_id"],
            "agency_id": dossier.receiving_agency_id, "state": leg["state"], "order_id": leg["order_id"],
            "tracking_number": leg["tracking_number"], "status": leg["status"], "attempt": leg["attempt"],
            "status_at": leg["status_at"], "opened_at": leg["opened_at"], "last_news_at": leg["last_news_at"],
            "pending_action": pending.get("action"), "pending_key": pending.get("key")})
    return rows


def fee_rows(dossier: PostalDossier) -> list[dict[str, Any]]:
    return [{"dossier_code": dossier.dossier_code, "leg": leg["leg"], "agency_id": dossier.receiving_agency_id,
             "partner_id": leg["partner_id"], "fee_vnd": leg["fee_vnd"], "postage_vnd": leg["postage_vnd"],
             "collected_at": leg["fee_collected_at"], "day": leg["fee_collected_at"].astimezone(VIETNAM).date()}
            for leg in dossier.legs.values() if leg["fee_collected"]]


class PostalRecorder(ReadModelRecorder):
    """Process recorder that also writes the rows passed as ``shipment_rows`` and ``fee_rows``."""

    def create_statements(self) -> Sequence[str]:
        return (CREATE_SHIPMENTS, CREATE_PENDING_INDEX, CREATE_OPEN_INDEX, CREATE_FEES)

    def row_statements(self, schema: Identifier) -> Mapping[str, Composed]:
        keep_tries = ("action_tries = CASE WHEN shipments.pending_key IS DISTINCT FROM EXCLUDED.pending_key "
                      "THEN 0 ELSE shipments.action_tries END, "
                      "action_not_before = CASE WHEN shipments.pending_key IS DISTINCT FROM EXCLUDED.pending_key "
                      "THEN NULL ELSE shipments.action_not_before END")
        return {"shipment_rows": upsert_sql(schema, "shipments", SHIPMENT_COLUMNS, ("dossier_code", "leg"),
                                            keep=keep_tries),
                "fee_rows": insert_once_sql(schema, "postal_fees", FEE_COLUMNS, ("dossier_code", "leg"))}


class PostalQueries:
    """Reads and the dispatcher's bookkeeping on the read model (asyncpg; never through the domain model)."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._schema = schema

    @property
    def _shipments(self) -> str:
        return f'"{self._schema}".shipments'

    async def due_actions(self, limit: int) -> list[asyncpg.Record]:
        """Legs with a carrier call waiting whose time has come, oldest first."""
        return await self._pool.fetch(
            f"SELECT dossier_code, leg, partner_id, order_id, pending_action, pending_key, action_tries "
            f"FROM {self._shipments} WHERE pending_action IS NOT NULL "
            f"AND (action_not_before IS NULL OR action_not_before <= now()) "
            f"ORDER BY action_not_before NULLS FIRST, last_news_at LIMIT $1", limit)

    async def defer_action(self, code: str, leg: str, key: str, seconds: float) -> int:
        """A call that failed for now: try again in ``seconds``; its number of tries so far."""
        tries = await self._pool.fetchval(
            f"UPDATE {self._shipments} SET action_tries = action_tries + 1, "
            f"action_not_before = now() + make_interval(secs => $4) "
            f"WHERE dossier_code = $1 AND leg = $2 AND pending_key = $3 RETURNING action_tries",
            code, leg, key, seconds)
        return int(tries or 0)

    async def quiet_shipments(self, now: datetime, quiet_seconds: float, limit: int) -> list[asyncpg.Record]:
        """Open shipments with no news and not asked about for ``quiet_seconds`` (by the service's clock)."""
        return await self._pool.fetch(
            f"SELECT dossier_code, leg, partner_id, order_id FROM {self._shipments} "
            f"WHERE state = 'open' AND order_id IS NOT NULL "
            f"AND last_news_at < $1::timestamptz - make_interval(secs => $2) "
            f"AND (checked_at IS NULL OR checked_at < $1::timestamptz - make_interval(secs => $2)) "
            f"ORDER BY last_news_at LIMIT $3", now, quiet_seconds, limit)

    async def mark_checked(self, code: str, leg: str, at: datetime) -> None:
        await self._pool.execute(f"UPDATE {self._shipments} SET checked_at = $3 WHERE dossier_code = $1 AND leg = $2",
                                 code, leg, at)

    async def open_shipments(self, partner_id: str, limit: int, after: tuple[str, str] | None) -> list[asyncpg.Record]:
        """A partner's shipments still on their way, by dossier code and leg (keyset pages)."""
        code, leg = after or ("", "")
        return await self._pool.fetch(
            f"SELECT dossier_code, leg, order_id, tracking_number, status, attempt, status_at, agency_id "
            f"FROM {self._shipments} WHERE partner_id = $1 AND state IN ('ordering', 'open') "
            f"AND (dossier_code, leg) > ($2, $3) ORDER BY dossier_code, leg LIMIT $4", partner_id, code, leg, limit)

    async def fees_by_agency_and_day(self, agency_id: str | None, since: date, until: date) -> list[asyncpg.Record]:
        """The fees and postage collected per receiving agency and (Vietnamese) day, ``since``..``until``."""
        return await self._pool.fetch(
            f'SELECT agency_id, day, count(*) AS legs, sum(fee_vnd) AS fee_vnd, sum(postage_vnd) AS postage_vnd '
            f'FROM "{self._schema}".postal_fees WHERE day BETWEEN $2 AND $3 AND ($1::text IS NULL OR agency_id = $1) '
            f'GROUP BY agency_id, day ORDER BY day, agency_id', agency_id, since, until)

    async def fees_of(self, code: str) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            f'SELECT leg, agency_id, partner_id, fee_vnd, postage_vnd, collected_at FROM "{self._schema}".postal_fees '
            f'WHERE dossier_code = $1 ORDER BY collected_at', code)
