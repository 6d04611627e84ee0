"""Schema migrations (Alembic): `python -m db.migrate` upgrades DATABASE_URL to the newest schema.

    python -m db.migrate revision "what changed"    (autogenerate a new revision after editing db/models.py)
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    with engine.begin() as connection:
        command.upgrade(_config(connection), "head")


def revision(engine: Engine, message: str) -> None:
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)


if __name__ == "__main__":
    from core.settings import get_settings
    from db.engine import make_engine

    engine = make_engine(get_settings().database_url)
    if len(sys.argv) > 2 and sys.argv[1] == "revision":
        upgrade(engine)
        revision(engine, sys.argv[2])
    else:
        upgrade(engine)
        print("database is at the newest schema")
