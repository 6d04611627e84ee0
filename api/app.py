"""The Leadflow HTTP API (FastAPI).  uvicorn api.app:app"""

from __future__ import annotations

import re
import time
import uuid
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from sqlalchemy import Engine
from temporalio.client import Client

from api import edge, errors, headers
from api.routes import (
    auth,
    behaviour,
    calendar,
    codec,
    dashboards,
    inbox,
    leads,
    masterdata,
    messages,
    metrics,
    owners,
    pages,
    policies,
    push,
    queues,
    webhooks,
)
from api.stream import StreamHub
from core.logging import configure_logging, get_logger
from core.settings import get_settings
from core.temporal_client import connect
from db.engine import default_engine
from domain.policy import Policy, load_policy


def create_app(client: Client | None = None, engine: Engine | None = None, policy: Policy | None = None,
               task_queue: str | None = None) -> FastAPI:
    """The app; tests pass their own client, engine and task queue."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings = get_settings()
        configure_logging(settings.log_level)
        app.state.temporal = client or await connect(settings)
        app.state.engine = engine or default_engine()
        app.state.policy = policy or load_policy(settings.policy_path, settings.time_scale)
        app.state.task_queue = task_queue or settings.task_queue
        hub = app.state.stream_hub = StreamHub(app.state.engine, exiting=pages.server_exiting)  # the live stream's
        await hub.start()  # one listener per process (api/stream.py)
        yield
        await hub.stop()

    app = FastAPI(
        title="Leadflow",
        version="0.1.0",
        summary="Lead lifecycle engine: every lead a durable Temporal workflow",
        lifespan=lifespan,
        dependencies=[Depends(edge.check_input)],  # 422: NUL or a lone surrogate anywhere, a body not typed as JSON
    )
    app.add_middleware(edge.BodyLimit)  # 413 over edge.MAX_BODY_BYTES
    errors.install(app)
    log = get_logger("api")

    app.add_middleware(RequestLog, log=log)
    app.include_router(leads.router)
    app.include_router(inbox.router)
    app.include_router(push.router)
    app.include_router(behaviour.router)
    app.include_router(webhooks.router)
    app.include_router(calendar.router)
    app.include_router(policies.router)  # issue 16: policy versions, migrations, what-if simulations
    app.include_router(queues.router)
    app.include_router(masterdata.router)
    app.include_router(dashboards.router)
    app.include_router(messages.router)  # GET /v1/messages: the catalog the pages render engine codes with
    app.include_router(owners.router)  # owner care, consent, referrals (issue 17)
    app.include_router(pages.router)  # the portal: GET /, /v1/me, /v1/clocks, /v1/stream
    metrics.install(app)  # GET /metrics for Prometheus, and the request latency histogram
    codec.install(app)  # POST /codec/decode, /codec/encode for the Temporal UI and CLI (lead ops only), CORS
    app.include_router(auth.router)  # sign-in: passwords, sessions, invites and resets, API tokens (api/auth.py)
    app.include_router(auth.oidc_router)  # the company account (api/oidc.py)
    app.mount("/web", pages.static_files(), name="web")
    app.add_middleware(headers.SecurityHeaders, docs=_docs_policies(app))  # CSP, frame-ancestors, HSTS over https

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


_LEAD_PATH = re.compile(r"^/v1/leads/([^/]+)")


class RequestLog:
    """One JSON line per request, with the lead id when the path names one, logged as the response starts.

    A plain ASGI middleware: `@app.middleware("http")` (Starlette's BaseHTTPMiddleware) ran every request in a task
    and memory streams of its own, a share of the API's CPU at intake (issue 15, py-spy)."""

    def __init__(self, app, log) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        structlog.contextvars.clear_contextvars()
        lead = _LEAD_PATH.match(path)
        request_id = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        structlog.contextvars.bind_contextvars(
            request_id=request_id or uuid.uuid4().hex[:16],
            **({"lead_id": lead.group(1), "workflow_id": lead.group(1)} if lead else {}))
        started = time.perf_counter()

        async def logged(message) -> None:
            if message["type"] == "http.response.start":
                self.log.info("request", method=scope["method"], path=path, status=message["status"],
                              ms=round((time.perf_counter() - started) * 1000, 1))
            await send(message)

        await self.app(scope, receive, logged)


def _docs_policies(app: FastAPI) -> dict[str, str]:
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    openapi_url, docs_url, redoc_url = app.openapi_url, app.docs_url, app.redoc_url
    if openapi_url is None or docs_url is None or redoc_url is None:  # create_app keeps FastAPI's docs: not met
        return {}
    swagger = get_swagger_ui_html(openapi_url=openapi_url, title=app.title + " - Swagger UI",
                                  oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
                                  init_oauth=app.swagger_ui_init_oauth, swagger_ui_parameters=app.swagger_ui_parameters)
    redoc = get_redoc_html(openapi_url=openapi_url, title=app.title + " - ReDoc")
    return {docs_url: headers.docs_policy(bytes(swagger.body).decode()),
            redoc_url: headers.docs_policy(bytes(redoc.body).decode())}


app = create_app()
