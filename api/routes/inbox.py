"""The caller's in-app inbox: alerts and notifications addressed to them or to their role."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import and_, func, or_, update
from sqlmodel import col, select

from api import inbox_rows
from api.deps import ActorDep, LangDep, NowDep, SessionDep
from api.errors import Problem, responses
from api.schemas import NotificationView
from db.models import Notification
from domain import visibility
from domain.messages import CATALOG, notice_params, render
from domain.models import Actor
from domain.stages import DEALER_ROLES, Role

router = APIRouter(prefix="/v1/inbox", tags=["inbox"])


def notice_text(row: Notification, lang: str) -> str:
    """The notice in the reader's language: its kind is the message code, its data the parameters (a kind the
    catalog does not know shows the engine's own message rather than its code)."""
    if row.kind not in CATALOG:
        return row.message
    return render(row.kind, notice_params(row.lead_id, row.message, row.data), lang)


def addressed_to(actor: Actor):
    """A WHERE clause: the notifications in this actor's inbox (also what the portal's live stream sends)."""
    addressed_to_role = and_(col(Notification.recipient_user_id).is_(None),
                             col(Notification.recipient_role) == actor.role.value)
    if actor.role in DEALER_ROLES:
        addressed_to_role = and_(addressed_to_role, col(Notification.dealer_id) == actor.dealer_id)
    elif actor.role == Role.REGIONAL_MANAGER:
        addressed_to_role = and_(addressed_to_role, col(Notification.region) == actor.region)
    return or_(col(Notification.recipient_user_id) == actor.user_id, addressed_to_role)


@router.get("", response_model=list[NotificationView])
def my_inbox(actor: ActorDep, session: SessionDep, lang: LangDep, limit: int = 100):
    query = select(Notification).where(addressed_to(actor))
    rows = session.exec(query.order_by(col(Notification.id).desc()).limit(max(1, min(limit, 500)))).all()
    texts = [r.model_dump() | {"text": notice_text(r, lang)} for r in rows]
    shown = [n for row in texts if (n := visibility.notification(actor.role, actor.dealer_id, row)) is not None]
    # issue 13: one row per alert and lead (its repeats counted), with the customer's name, grade and stage;
    # `text` in the reader's language (rendered before the dealer view drops the data)
    return [NotificationView.model_validate(n) for n in inbox_rows.with_customers(session, actor,
                                                                                  inbox_rows.collapse(shown))]


class ReadState(BaseModel):
    id: int
    read_at: datetime


class Count(BaseModel):
    unread: int


def _unread(session, actor: Actor) -> int:
    """Unread rows as the inbox shows them: the repeats of one alert for one lead are one row; a dealer's person
    counts no row naming another dealer (the inbox does not show those)."""
    query = select(Notification.lead_id, Notification.kind).where(addressed_to(actor),
                                                                 col(Notification.read_at).is_(None))
    if not visibility.sees_everything(actor.role):
        query = query.where(or_(col(Notification.dealer_id).is_(None), col(Notification.dealer_id) == actor.dealer_id))
    return session.exec(select(func.count()).select_from(query.distinct().subquery())).one()


def _told(request: Request, actor: Actor, session) -> None:
    """The read state changed: the caller's other pages (and the people sharing its role-addressed rows) recount
    their badge now, through the live streams of this API process and of every other (api/stream.py)."""
    hub = getattr(request.app.state, "stream_hub", None)
    if hub is not None:
        hub.tell_read(actor, session)


@router.get("/unread-count", response_model=Count)
def unread_count(actor: ActorDep, session: SessionDep):
    """How many rows of the caller's inbox are unread (the pages' badge, the same on every device)."""
    return Count(unread=_unread(session, actor))


@router.post("/{notification_id}/read", response_model=ReadState, responses=responses(404))
def mark_read(notification_id: str, actor: ActorDep, session: SessionDep, now: NowDep, request: Request):
    """Mark one notification read (idempotent: the first time stays). An unread SLA alert is escalated to the
    person's next push channel after `[notify] escalate_unread_minutes`; reading it stops that. A notification
    addressed to a role (nobody in it) is read for the whole role."""
    if not notification_id.isdigit() or len(notification_id) > 18:  # answered like an unknown one
        raise Problem(404, "error.not_found", thing="notification", id=notification_id)
    row = session.exec(select(Notification).where(col(Notification.id) == int(notification_id),
                                                  addressed_to(actor))).first()
    if row is None or visibility.notification(actor.role, actor.dealer_id, row.model_dump()) is None:
        raise Problem(404, "error.not_found", thing="notification", id=notification_id)
    if row.read_at is None:  # with the older repeats of the same alert for the same lead (the inbox shows one row)
        session.exec(update(Notification).where(addressed_to(actor), col(Notification.lead_id) == row.lead_id,
                                                col(Notification.kind) == row.kind, col(Notification.id) <= row.id,
                                                col(Notification.read_at).is_(None)).values(read_at=now))
        session.commit()
        session.refresh(row)
        _told(request, actor, session)
    return ReadState(id=row.id, read_at=row.read_at)


@router.post("/read-all", response_model=Count)
def mark_all_read(actor: ActorDep, session: SessionDep, now: NowDep, request: Request):
    """Mark every unread notification of the caller's inbox read; answers how many inbox rows that was."""
    marked = _unread(session, actor)
    session.exec(update(Notification).where(addressed_to(actor), col(Notification.read_at).is_(None))
                 .values(read_at=now))
    session.commit()
    if marked:
        _told(request, actor, session)
    return Count(unread=marked)
