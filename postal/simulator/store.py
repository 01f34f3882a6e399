"""Durable shipments for a simulator that is restarted (SQLite, standard library).

One row per shipment, its whole state as JSON, written after every change. Synchronous: the app
calls it through ``asyncio.to_thread`` under its own lock, one call at a time. Webhooks still
queued and issued tokens are not kept: after a restart, postal takes a new token and reconciles.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from postal.simulator.carrier import Shipment

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shipments (
    order_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL
)
"""


class ShipmentStore:
    """Shipments kept in the SQLite file ``path`` (created if missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def load(self) -> list[Shipment]:
        rows = self._db.execute("SELECT state FROM shipments ORDER BY rowid").fetchall()
        return [Shipment.model_validate_json(state) for (state,) in rows]

    def save(self, shipments: Iterable[Shipment]) -> None:
        """Write these shipments' current state in one transaction."""
        rows = [(s.order_id, s.idempotency_key, s.model_dump_json()) for s in shipments]
        if not rows:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO shipments (order_id, idempotency_key, state) VALUES (?, ?, ?) "
                "ON CONFLICT (order_id) DO UPDATE SET state = excluded.state", rows)

    def close(self) -> None:
        self._db.close()
