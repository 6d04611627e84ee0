"""The dealer portal and the OEM console (web/), and what they need beyond the API: who is signed in,
the open clocks of a page of leads, and a live stream of changes (Server-Sent Events).

The pages are static files (no build step) that call the API with the user's token; they show what
the API answers and nothing else, so access is the API's, never the page's.
"""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import StringConstraints
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.access import lead_filter
from api.deps import ActorDep, NowDep, SessionDep, current_actor
from api.routes.inbox import addressed_to
from api.schemas import ClockView, LeadClocks, MeView
from db.engine import aware
from db.models import Lead, Notification
from domain import visibility
from domain.clocks import CLOCKS
from domain.models import Actor
from domain.stages import DEALER_ROLES
from core.settings import get_settings

WEB = Path(__file__).resolve().parents[2] / "web"

router = APIRouter(tags=["portal"])

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 600.0  # then the stream ends and the page reconnects: its token is checked again
LOOKBACK = timedelta(minutes=2)  # a projection written late (a retried activity) is still noticed
NOTIFICATION_LOOKBACK = 200  # ids: a notification committed out of order is still noticed


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
    as from a list)."""
    if not lead_id:
        return []
    rows = session.exec(select(Lead.lead_id, Lead.clocks).where(col(Lead.lead_id).in_(lead_id),
                                                                lead_filter(actor))).all()
    return [LeadClocks(lead_id=lid, clocks=[_clock_view(c) for c in clocks or []]) for lid, clocks in rows]


def _clock_view(clock: dict[str, Any]) -> ClockView:
    spec = CLOCKS.get(clock["name"])
    return ClockView(name=clock["name"], title=spec.title if spec else clock["name"], started_at=clock["started_at"],
                     deadline=clock.get("deadline"), paused=clock.get("paused_remaining_s") is not None)


# ------------------------------------------------------------------ live stream

@dataclass
class Watch:
    """What one live stream has seen of the read model, so each poll sends only what changed."""

    actor: Actor
    lead_cursor: datetime | None = None  # the newest lead update seen
    seen_leads: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # lead -> (last_seq, updated_at)
    visible: set[str] | None = None  # dealer roles: the leads they could see at the last poll
    notification_cursor: int = 0
    seen_notifications: set[int] = field(default_factory=set)


def _changed_leads(session: Session, watch: Watch):
    query = select(Lead.lead_id, Lead.stage, Lead.updated_at, Lead.last_seq).where(lead_filter(watch.actor))
    if watch.lead_cursor is not None:
        query = query.where(Lead.updated_at >= watch.lead_cursor - LOOKBACK)
    return session.exec(query).all()


def _visible_ids(session: Session, actor: Actor) -> set[str] | None:
    if actor.role not in DEALER_ROLES:
        return None  # the OEM sees every lead: none ever leaves its sight
    return set(session.exec(select(Lead.lead_id).where(lead_filter(actor))).all())


def _new_notifications(session: Session, watch: Watch):
    return session.exec(select(Notification).where(
        addressed_to(watch.actor), col(Notification.id) > watch.notification_cursor - NOTIFICATION_LOOKBACK)
        .order_by(col(Notification.id))).all()


def start_watch(session: Session, actor: Actor) -> Watch:
    """A watch that has seen everything up to now: only later changes become events."""
    watch = Watch(actor=actor)
    watch.lead_cursor = session.exec(select(func.max(Lead.updated_at)).where(lead_filter(actor))).one()
    if watch.lead_cursor is not None:
        watch.seen_leads = {lid: (seq, at) for lid, _, at, seq in _changed_leads(session, watch)}
    watch.visible = _visible_ids(session, actor)
    watch.notification_cursor = session.exec(select(func.max(Notification.id))).one() or 0
    watch.seen_notifications = {n.id for n in _new_notifications(session, watch)}
    return watch


def poll(session: Session, watch: Watch) -> list[tuple[str, dict[str, Any]]]:
    """The events since the last poll: `lead` for every lead the actor may see whose read model moved (or that
    left their sight: stage null), `notification` for every new row of their inbox."""
    events: list[tuple[str, dict[str, Any]]] = []
    for lead_id, stage, updated_at, seq in _changed_leads(session, watch):
        if watch.seen_leads.get(lead_id, (None,))[0] != seq:
            events.append(("lead", {"lead_id": lead_id, "stage": stage, "updated_at": _iso(updated_at)}))
        watch.seen_leads[lead_id] = (seq, updated_at)
        if watch.lead_cursor is None or updated_at > watch.lead_cursor:
            watch.lead_cursor = updated_at
    if watch.lead_cursor is not None:
        horizon = watch.lead_cursor - LOOKBACK
        watch.seen_leads = {k: v for k, v in watch.seen_leads.items() if v[1] >= horizon}
    if watch.visible is not None:
        now_visible = _visible_ids(session, watch.actor) or set()  # (a dealer role: never None)
        events += [("lead", {"lead_id": gone, "stage": None, "updated_at": None})
                   for gone in sorted(watch.visible - now_visible)]
        watch.visible = now_visible
    for note in _new_notifications(session, watch):
        if note.id in watch.seen_notifications:
            continue
        watch.seen_notifications.add(note.id)
        shown = visibility.notification(watch.actor.role, watch.actor.dealer_id, note.model_dump())
        if shown is not None:
            events.append(("notification", {k: shown[k] for k in ("id", "kind", "lead_id", "message")}))
        watch.notification_cursor = max(watch.notification_cursor, note.id)
    horizon_id = watch.notification_cursor - NOTIFICATION_LOOKBACK
    watch.seen_notifications = {i for i in watch.seen_notifications if i > horizon_id}
    return events


def _iso(moment: datetime) -> str:
    return aware(moment).isoformat()


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _in_session(engine, fn, *args):
    with Session(engine) as session:
        return fn(session, *args)


_stream_bearer = HTTPBearer(auto_error=False)


@router.get("/v1/stream", include_in_schema=False)
async def live_stream(
    request: Request,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_stream_bearer)],
    token: Annotated[str | None, Query(max_length=512,
                                       description="the bearer token (EventSource sends no headers)")] = None,
) -> StreamingResponse:
    """Server-Sent Events for the portal: `lead` {lead_id, stage, updated_at} when a lead the caller may see
    changes, `notification` {id, kind, lead_id, message} for a new inbox row, a comment every 15 s. Ends after
    10 minutes (the page reconnects). Not in the OpenAPI schema: it never ends on its own within a request."""
    if credentials is None and token:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    engine = request.app.state.engine
    actor = await asyncio.to_thread(_in_session, engine, current_actor, credentials)  # 401 like every endpoint
    return StreamingResponse(_events(request, engine, actor, now), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _server_exiting() -> bool:
    """Whether uvicorn is shutting down. It tells a response in flight nothing, and waits for it to end: an open
    stream would hold a restart up for minutes. Its signal handler is the server's own bound method."""
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


async def _events(request: Request, engine, actor: Actor, now: datetime):
    loop = asyncio.get_running_loop()
    watch = await asyncio.to_thread(_in_session, engine, start_watch, actor)
    yield "retry: 3000\n" + _sse("ready", {"server_time": now.isoformat()})
    started = last_beat = loop.time()
    while loop.time() - started < STREAM_SECONDS:
        await asyncio.sleep(POLL_SECONDS)
        if _server_exiting() or await request.is_disconnected():
            return
        for event, data in await asyncio.to_thread(_in_session, engine, poll, watch):
            yield _sse(event, data)
        if loop.time() - last_beat >= HEARTBEAT_SECONDS:
            last_beat = loop.time()
            yield ": heartbeat\n\n"
