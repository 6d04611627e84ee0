"""Dependencies: the Temporal client, a database session, the policy, and who is calling."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from temporalio.client import Client

from api import auth
from api.errors import Problem
from domain.messages import negotiate
from domain.models import Actor
from domain.policy import Policy


def get_client(request: Request) -> Client:
    return request.app.state.temporal


def get_session(request: Request):
    with Session(request.app.state.engine) as session:
        yield session


def get_policy(request: Request) -> Policy:
    """The policy new leads take: the active version in the read model (issue 16), else the one the app started
    with (no version recorded yet). Read per call (one indexed row, a statement built once), kept parsed per
    version."""
    from db.models import PolicyVersion
    from db.policies import policy_of
    shipped: Policy = request.app.state.policy
    with request.app.state.engine.connect() as conn:
        version = conn.execute(_active_version()).scalar()
        if version is None:
            return shipped
        cache = request.app.state.__dict__.setdefault("policy_versions", {})
        if version not in cache:
            with Session(bind=conn) as session:
                row = session.get(PolicyVersion, version)
            if row is None:  # (the row was just read on this connection)
                return shipped
            cache[version] = policy_of(row, shipped.time_scale)
        return cache[version]


@lru_cache(maxsize=1)
def _active_version() -> Any:
    from db.models import PolicyVersion
    from db.statements import table_of
    t = table_of(PolicyVersion).c
    return sa.select(t.version).where(t.status == "active")


def get_task_queue(request: Request) -> str:
    return request.app.state.task_queue


def current_time() -> datetime:
    """"Now" for the API (overdue, waiting, the countdowns' reference, the default period); tests give it the
    Temporal test server's clock, which is where the leads' deadlines live."""
    return datetime.now(UTC)


def reader_lang(request: Request) -> str:
    """The language an answer's texts render in: `?lang=` wins, then Accept-Language, else zh-CN."""
    return negotiate(request.query_params.get("lang"), request.headers.get("accept-language"))


ClientDep = Annotated[Client, Depends(get_client)]
NowDep = Annotated[datetime, Depends(current_time)]
SessionDep = Annotated[Session, Depends(get_session)]
PolicyDep = Annotated[Policy, Depends(get_policy)]
TaskQueueDep = Annotated[str, Depends(get_task_queue)]
LangDep = Annotated[str, Depends(reader_lang)]

_bearer = HTTPBearer(auto_error=False, description="A machine's token: an API token (POST /v1/auth/tokens) or a "
                     "user's (`python -m ops.users`). The pages sign in with a session cookie instead (docs/api.md).")


def current_actor(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Actor:
    """The caller by its bearer token (a user's or an API token): 401 without a valid one."""
    if credentials is None:
        raise Problem(status.HTTP_401_UNAUTHORIZED, "error.missing_token", {"WWW-Authenticate": "Bearer"})
    actor = auth.bearer_actor(session, credentials.credentials)
    if actor is None:
        raise Problem(status.HTTP_401_UNAUTHORIZED, "error.bad_token", {"WWW-Authenticate": "Bearer"})
    # Give the connection back to the pool now: an intake or an action then waits on Temporal for up to
    # seconds, and holding a connection through that wait ran the pool dry under load (pool timeouts).
    # A route that reads the database later simply takes one again.
    session.close()
    return actor


def caller(request: Request, session: SessionDep,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    """The caller: a bearer token if one is sent, else the session cookie (a write also needs its CSRF token)."""
    if credentials is None:
        found = auth.cookie_actor(session, request, datetime.now(UTC))  # sessions live by the wall clock
        if found is not None:
            session.close()
            return found[0]
    return current_actor(session, credentials)


def _wall(now: datetime) -> datetime:
    """Login limits and links expire by the wall clock; a test's clock (NowDep) only ever moves forward from it."""
    return max(now, datetime.now(UTC))


ActorDep = Annotated[Actor, Depends(caller)]
