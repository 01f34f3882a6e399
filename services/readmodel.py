"""Read models kept in the transaction that stores the events (SQL-first, never behind the log).

:class:`ReadModelRecorder` is the event store's PostgreSQL process recorder with one addition: a
service's use case saves with ``save_tracked(tracking, *aggregates, <name>=[rows…])``, and the rows
named by each of the recorder's :attr:`~ReadModelRecorder.row_statements` are written with that
statement in the same transaction as the events (and the consumed position). A subclass names its
tables' ``CREATE`` statements and its row statements; :func:`upsert_sql` writes the usual upsert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier


def upsert_sql(schema: Identifier, table: str, columns: Sequence[str], key: Sequence[str],
               keep: str | None = None) -> Composed:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` every other column from the row (``%(column)s``);
    ``keep`` is SQL put first in the ``SET`` list (the table is aliased by its own name)."""
    updates = ", ".join([*([keep] if keep else []), *(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)])
    return SQL(
        "INSERT INTO {schema}." + table + " AS " + table + " (" + ", ".join(columns) + ") VALUES ("
        + ", ".join(f"%({c})s" for c in columns) + ") ON CONFLICT (" + ", ".join(key) + ") DO UPDATE SET "
        + updates).format(schema=schema)


def insert_once_sql(schema: Identifier, table: str, columns: Sequence[str], key: Sequence[str]) -> Composed:
    """``INSERT … ON CONFLICT (key) DO NOTHING``: a row written once, never changed."""
    return SQL(
        "INSERT INTO {schema}." + table + " (" + ", ".join(columns) + ") VALUES ("
        + ", ".join(f"%({c})s" for c in columns) + ") ON CONFLICT (" + ", ".join(key) + ") DO NOTHING"
    ).format(schema=schema)


class ReadModelRecorder(PostgresProcessRecorder):
    """Process recorder that also writes the read-model rows passed to ``save`` by name."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = Identifier(self.datastore.schema)
        self.sql_create_statements.extend(SQL(statement).format(schema=schema)
                                          for statement in self.create_statements())
        self._row_statements = self.row_statements(schema)

    def create_statements(self) -> Sequence[str]:
        """The read model's ``CREATE … IF NOT EXISTS`` (and ``ALTER``) statements, ``{schema}`` to fill."""
        return ()

    def row_statements(self, schema: Identifier) -> Mapping[str, Composed]:
        """``save`` keyword → the statement each of its rows is written with."""
        return {}

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        for name, statement in self._row_statements.items():
            rows = kwargs.get(name) or ()
            if rows:
                curs.executemany(statement, list(rows))
