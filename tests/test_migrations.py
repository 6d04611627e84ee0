"""The migrations and the models agree: a database migrated from empty has exactly the models' schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from db.engine import init_db, make_engine


def schema_drift(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)


def test_migrating_an_empty_sqlite_database_gives_the_models_schema(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    init_db(engine)
    assert schema_drift(engine) == []
    init_db(engine)  # migrating again is a no-op
    assert schema_drift(engine) == []


@pytest.mark.postgres
def test_migrating_an_empty_postgresql_database_gives_the_models_schema(pg_engine):
    assert schema_drift(pg_engine) == []
