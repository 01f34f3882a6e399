"""Dossier codes: ``<receiving agency id>-<yyMMdd>-<NNNN>``, counted per agency per day.

The counter is one row per (agency, day) incremented atomically in PostgreSQL, so
concurrent submissions never share a number.  The day is the calendar day in Vietnam.
A number is taken only after the submission passed validation; if storing the dossier
then fails, that number stays unused (codes may skip, never repeat).
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from services.clock import VIETNAM

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.dossier_code_counters (
    agency_id   text    NOT NULL,
    day         date    NOT NULL,
    last_number integer NOT NULL,
    PRIMARY KEY (agency_id, day)
)"""

NEXT_NUMBER = """
INSERT INTO {schema}.dossier_code_counters AS c (agency_id, day, last_number)
VALUES ($1, $2, 1)
ON CONFLICT (agency_id, day) DO UPDATE SET last_number = c.last_number + 1
RETURNING last_number"""


def format_code(agency_id: str, day: date, number: int) -> str:
    """``000.00.01.H40`` + 28 Nov 2025 + 7 → ``000.00.01.H40-251128-0007``."""
    return f"{agency_id}-{day:%y%m%d}-{number:04d}"


class DossierCodes:
    """Allocates dossier codes from the intake schema."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._schema = schema

    async def create_table(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            await conn.execute(CREATE_TABLE.format(schema=f'"{self._schema}"'))

    async def next_code(self, agency_id: str, received_at: datetime) -> str:
        day = received_at.astimezone(VIETNAM).date()
        async with self._pool.acquire() as conn:
            number = await conn.fetchval(NEXT_NUMBER.format(schema=f'"{self._schema}"'), agency_id, day)
        return format_code(agency_id, day, number)
