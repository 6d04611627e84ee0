"""The caller's in-app inbox: alerts and notifications addressed to them or to their role."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import and_, or_
from sqlmodel import col, select

from api import inbox_rows
from api.deps import ActorDep, SessionDep
from api.schemas import NotificationView
from db.models import Notification
from domain import visibility
from domain.models import Actor
from domain.stages import DEALER_ROLES, Role

router = APIRouter(prefix="/v1/inbox", tags=["inbox"])


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
def my_inbox(actor: ActorDep, session: SessionDep, limit: int = 100):
    query = select(Notification).where(addressed_to(actor))
    rows = session.exec(query.order_by(col(Notification.id).desc()).limit(max(1, min(limit, 500)))).all()
    shown = [n for r in rows if (n := visibility.notification(actor.role, actor.dealer_id, r.model_dump())) is not None]
    # issue 13: one row per alert and lead (its repeats counted), with the customer's name, grade and stage
    return [NotificationView.model_validate(n) for n in inbox_rows.with_customers(session, actor,
                                                                                  inbox_rows.collapse(shown))]
