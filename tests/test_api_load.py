"""Under load the API answers 503 (retry), never a 500, and no request holds a database connection
while it waits on Temporal."""

from __future__ import annotations

import httpx
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import create_engine
from sqlmodel import Session

from api.app import create_app
from api.deps import current_actor
from tests.conftest import token_for
from tests.test_api import auth


def test_knowing_the_caller_gives_the_connection_back_before_the_route_waits_on_temporal(engine):
    with Session(engine) as session:
        actor = current_actor(session, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token_for("ops")))
        assert actor.user_id == "ops"
        assert engine.pool.checkedout() == 0, "the session still holds a connection through the Temporal wait"


async def test_a_database_with_every_connection_busy_is_a_503_to_retry_not_a_500(env, engine):
    small = create_engine(str(engine.url), pool_size=1, max_overflow=0, pool_timeout=0.2)
    app = create_app(client=env.client, engine=small, task_queue="unused")
    try:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://leadflow") as http:
                assert (await http.get("/v1/leads", headers=auth("ops"))).status_code == 200
                with small.connect():  # someone else holds the only connection
                    answer = await http.get("/v1/leads", headers=auth("ops"))
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "1" and answer.json()["code"] == "error.database_busy"
                assert (await http.get("/v1/leads", headers=auth("ops"))).status_code == 200
    finally:
        small.dispose()
