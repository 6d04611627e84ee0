"""Shared by the activities: a session on the read-model engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlmodel import Session

from db.engine import aware  # noqa: F401  (re-exported for the activities)


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
