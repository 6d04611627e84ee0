"""GET /metrics for Prometheus: the product's figures from the read model (`db.metrics`) and this
API process's own requests.

No user token is needed (Prometheus scrapes it), and nothing in it names a lead, a customer or a
person. With LEADFLOW_METRICS_TOKEN set, it answers only `Authorization: Bearer <that token>`.
It is left out of the OpenAPI schema: it is for the monitoring system, not for integrations.

`leadflow_api_request_duration_seconds{method, route, status}` (histogram) is counted per API
process, from the request to the start of its response (a live stream's hours are not a request's
latency); `route` is the route's template (`/v1/leads/{lead_id}`), never the path as sent.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator

from fastapi import APIRouter, FastAPI, Request, Response, status
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import NowDep, SessionDep, current_time  # noqa: F401 (tests pin current_time)
from api.errors import Problem
from core.settings import get_settings
from db import metrics as product

router = APIRouter(include_in_schema=False)


class RequestMetrics:
    """ASGI middleware: observes each HTTP request's latency to the start of its response."""

    def __init__(self, app: ASGIApp, histogram: Histogram):
        self.app, self.histogram = app, histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        observed = False

        def observe(code: int) -> None:
            nonlocal observed
            if not observed:
                observed = True
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                self.histogram.labels(scope["method"], template, str(code)).observe(time.perf_counter() - started)

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed)
        except Exception:
            observe(500)
            raise


def install(app: FastAPI) -> None:
    """The request histogram (this app's own registry: each app counts its own) and GET /metrics."""
    registry = CollectorRegistry()
    histogram = Histogram("leadflow_api_request_duration_seconds",
                          "API requests, by method, route template and status: seconds to the response's start.",
                          ["method", "route", "status"], registry=registry)
    app.state.metrics_registry = registry
    app.add_middleware(RequestMetrics, histogram=histogram)
    app.include_router(router)


class _Scrape:
    """One scrape: the read model's figures as of `now`, then this process's request metrics."""

    def __init__(self, request: Request, session: SessionDep, now: NowDep):
        self.request, self.session, self.now = request, session, now

    def collect(self) -> Iterator[Metric]:
        yield from product.collect(self.session, self.now)
        yield from self.request.app.state.metrics_registry.collect()


def _authorized(request: Request) -> None:
    token = get_settings().metrics_token
    if token and not hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                         f"Bearer {token.get_secret_value()}".encode()):
        raise Problem(status.HTTP_401_UNAUTHORIZED, "error.metrics_token", {"WWW-Authenticate": "Bearer"})


@router.get("/metrics")
def metrics(request: Request, session: SessionDep, now: NowDep) -> Response:
    """Prometheus exposition (OpenMetrics when the scraper asks for it)."""
    _authorized(request)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(_Scrape(request, session, now)), media_type=content_type)
