"""Shared by the activities: a session on the read-model engine."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Table, text
from sqlmodel import Session

from db.engine import aware  # noqa: F401  (re-exported for the activities)
from db.statements import insert, statement, table_of  # noqa: F401  (re-exported for the activities)


class UsesDatabase:
    def __init__(self, engine: Engine):
        self.engine = engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session


CHANGES_CHANNEL = "leadflow_changes"


def announce_change(session) -> None:
    """PostgreSQL: tell every API process's live-stream listener that the read model moved (delivered when the
    session's transaction commits; api/stream.py). Other databases: nothing, their listeners poll."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_notify('{CHANGES_CHANNEL}', '')"))


def upsert(conn: Connection, table: Table, rows: Iterable[dict[str, Any]], *,
           update: Literal["all"] | None = None) -> None:
    """All `rows` of `table` in one execution of one INSERT, keyed by its primary key: a row already there gets
    every other column set to the new values (`update="all"`, as `session.merge` did), or is left as it is
    (`update` None: ON CONFLICT DO NOTHING). Two rows with one key: the last one counts, as one merge after
    another. No SELECT, no ORM objects (the projection's writes, issue 15). Every row has the same keys."""
    key = [c.name for c in table.primary_key.columns]
    by_key: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        by_key[tuple(row[k] for k in key)] = row
    if not by_key:
        return

    def build() -> Any:
        stmt = insert(conn, table)
        if update is None:
            return stmt.on_conflict_do_nothing(index_elements=key)
        return stmt.on_conflict_do_update(index_elements=key, set_={
            c.name: stmt.excluded[c.name] for c in table.columns if c.name not in key})
    conn.execute(statement(conn, ("upsert", table.name, update), build), list(by_key.values()))
