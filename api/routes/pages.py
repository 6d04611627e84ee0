"""The dealer portal and the OEM console (web/), and what they need beyond the API: who is signed in,
the open clocks of a page of leads, and a live stream of changes (Server-Sent Events).

The pages are static files (no build step) that call the API with the session cookie (api/auth.py); they show what
the API answers and nothing else, so access is the API's, never the page's.
"""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import StringConstraints
from sqlmodel import Session, col, select

from api import auth
from api.access import lead_filter
from api.deps import ActorDep, NowDep, SessionDep, current_actor
from api.lapsed import lapsed_clocks
from api.schemas import ClockView, LeadClocks, MeView
from api.stream import StreamHub
from core.settings import get_settings
from db.models import Lead
from domain.clocks import CLOCKS
from domain.models import Actor

WEB = Path(__file__).resolve().parents[2] / "web"

router = APIRouter(tags=["portal"])

HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 600.0  # then the stream ends and the page reconnects: its token is checked again


class _NoCacheStatic(StaticFiles):
    """The pages' files, revalidated on every load (ETag) so a new version shows at once."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def static_files() -> StaticFiles:
    return _NoCacheStatic(directory=WEB, check_dir=False)


@router.get("/", include_in_schema=False)
def portal() -> FileResponse:
    """The dealer portal and OEM console: one page, hash-routed (web/app.js)."""
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/sw.js", include_in_schema=False)
def service_worker() -> FileResponse:
    """The installable app's service worker, at the root so its scope is the whole portal (web/sw.js)."""
    return FileResponse(WEB / "sw.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/manifest.webmanifest", include_in_schema=False)
def manifest() -> FileResponse:
    """The web app manifest: name, icons, colours; the portal installs as an app from it."""
    return FileResponse(WEB / "manifest.webmanifest", media_type="application/manifest+json",
                        headers={"Cache-Control": "no-cache"})


@router.get("/v1/me", response_model=MeView)
def me(actor: ActorDep, now: NowDep) -> MeView:
    """Who the token belongs to, where the Temporal UI is, and the server's clock (for the countdowns)."""
    settings = get_settings()
    return MeView(user_id=actor.user_id, name=actor.name, role=actor.role.value, dealer_id=actor.dealer_id,
                  region=actor.region, temporal_ui_url=settings.temporal_ui_url.rstrip("/"),
                  temporal_namespace=settings.temporal_namespace, server_time=now)


LeadIdQuery = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


@router.get("/v1/clocks", response_model=list[LeadClocks])
def open_clocks(actor: ActorDep, session: SessionDep,
                lead_id: Annotated[list[LeadIdQuery],
                                   Query(max_length=200, description="the leads (a page of a list)")
                                   ] = []):  # noqa: B006 - FastAPI copies a default per request
    """The open clocks of the named leads the caller may see, for a lead list's countdowns (others are left out,
    as from a list), and before them the lapsed clocks still waiting for their action (`lapsed: true`)."""
    if not lead_id:
        return []
    rows = session.exec(select(Lead).where(col(Lead.lead_id).in_(lead_id), lead_filter(actor))).all()
    lapsed = lapsed_clocks(session, list(rows))  # lapsed and still awaited: they stay, in red (issue 13)
    return [LeadClocks(lead_id=r.lead_id, clocks=lapsed.get(r.lead_id, []) + [_clock_view(c) for c in r.clocks or []])
            for r in rows]


def _clock_view(clock: dict[str, Any]) -> ClockView:
    spec = CLOCKS.get(clock["name"])
    return ClockView(name=clock["name"], title=spec.title if spec else clock["name"], started_at=clock["started_at"],
                     deadline=clock.get("deadline"), paused=clock.get("paused_remaining_s") is not None)


# ------------------------------------------------------------------ live stream
# One shared listener per API process (api/stream.py) reads what changed and fans it out; a stream waits
# on its own queue and costs nothing while nothing changes for it.


def _sse(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _in_session(engine, fn, *args):
    with Session(engine) as session:
        return fn(session, *args)


_stream_bearer = HTTPBearer(auto_error=False)


def stream_hub(app) -> StreamHub:
    """The process's one hub, started with the app (api/app.py); made here for an app started without it."""
    hub = getattr(app.state, "stream_hub", None)
    if hub is None:
        hub = app.state.stream_hub = StreamHub(app.state.engine, exiting=server_exiting)
    return hub


def _stream_actor(session: Session, request: Request, credentials: HTTPAuthorizationCredentials | None) -> Actor:
    """The pages' session cookie (a GET: no CSRF token), else a bearer token as on every endpoint."""
    found = auth.cookie_actor(session, request, datetime.now(UTC)) if credentials is None else None
    return found[0] if found is not None else current_actor(session, credentials)


@router.get("/v1/stream", include_in_schema=False)
async def live_stream(
    request: Request,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_stream_bearer)],
    token: Annotated[str | None, Query(max_length=512,
                                       description="the bearer token (EventSource sends no headers)")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """Server-Sent Events for the portal: `lead` {lead_id, stage, updated_at} when a lead the caller may see
    changes (stage null: it left their sight), `notification` {id, kind, lead_id, message, texts} for a new inbox row
    (`texts`: the notice in zh-CN and en, from the catalog), `inbox` {} when the caller's read state changed,
    a heartbeat comment every 15 s. Every event has an id; a reconnect with `Last-Event-ID` gets the events it
    missed and `ready {resumed: true}` (else `resumed: false`: reload). Ends after 10 minutes (the page
    reconnects). Not in the OpenAPI schema: it never ends on its own within a request."""
    if credentials is None and token:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    engine = request.app.state.engine
    actor = await asyncio.to_thread(_in_session, engine, _stream_actor, request, credentials)  # 401 like every endpoint
    hub = stream_hub(request.app)
    if not hub.started:
        await hub.start()
    return StreamingResponse(_events(request, hub, actor, now, last_event_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def server_exiting() -> bool:
    """Whether uvicorn is shutting down. It tells a response in flight nothing, and waits for it to end: an open
    stream would hold a restart up for minutes. Its signal handler is the server's own bound method."""
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


async def _events(request: Request, hub: StreamHub, actor: Actor, now: datetime, last_event_id: str | None):
    loop = asyncio.get_running_loop()
    await hub.catch_up()  # what changed while no stream was open: read once, before this one starts
    sub, resumed = hub.subscribe(actor, last_event_id)
    try:
        yield "retry: 3000\n" + _sse("ready", {"server_time": now.isoformat(), "resumed": resumed},
                                     None if resumed else hub.event_id(hub.seq))
        ends = loop.time() + STREAM_SECONDS
        while (left := ends - loop.time()) > 0:
            try:
                seq, event, data = await asyncio.wait_for(sub.queue.get(), min(HEARTBEAT_SECONDS, left))
            except TimeoutError:
                if sub.overflowed or server_exiting() or await request.is_disconnected():
                    return
                # nothing waiting for this stream: it has everything up to the hub's latest change
                yield f"id: {hub.event_id(hub.seq)}\n: heartbeat\n\n"
                continue
            if event == "__end__":
                return
            yield _sse(event, data, hub.event_id(seq))
            if sub.overflowed and sub.queue.empty():
                return  # it fell behind and lost events: the page reconnects and reloads
    finally:
        hub.unsubscribe(sub)
