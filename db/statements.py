"""Plain statements on the read model: a table model's Table, the dialect's INSERT, and statements built once.

Shared by the activities (activities/db.py re-exports them) and the rest of `db/`: an ORM query or a
statement built afresh per call costs more CPU than running it (issue 15; bench/README.md has the figures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def table_of(model: Any) -> Table:
    """A table model's Table (for plain statements)."""
    return model.__table__


def insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT (PostgreSQL's or SQLite's: both have ON CONFLICT and RETURNING)."""
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


_STATEMENTS: dict[tuple, Any] = {}  # built once per dialect and shape: SQLAlchemy's compiled cache then serves them


def statement(conn: Connection, key: tuple, build: Callable[[], Any]) -> Any:
    """A statement built once per dialect and `key` (its values come as parameters at execution): building an
    INSERT ... ON CONFLICT afresh per call cost more than running it (the `excluded` alias of every column)."""
    full = (conn.dialect.name, *key)
    found = _STATEMENTS.get(full)
    if found is None:
        found = _STATEMENTS[full] = build()
    return found
