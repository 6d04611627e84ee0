"""Database engine: SQLite for a first run, PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import overload

from sqlalchemy import Engine, event
from sqlmodel import create_engine

import db.models  # noqa: F401  (registers the tables)


def make_engine(url: str) -> Engine:
    """hide_parameters: a database error (an activity's failure message, a log line) never carries the values
    that failed, which are customers' names and phones."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record):  # WAL: the API reads while activities write
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True)


def init_db(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic migrations in db/migrations)."""
    from db.migrate import upgrade

    upgrade(engine)


@lru_cache
def default_engine() -> Engine:
    from core.settings import get_settings

    engine = make_engine(get_settings().database_url)
    init_db(engine)
    return engine


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
@overload
def aware(value: datetime | None) -> datetime | None: ...
def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything in the read model is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
