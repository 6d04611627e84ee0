"""Notifications (SPEC 7): one in-app inbox row per recipient, never twice for one event.

Roles are resolved to people from the users table; a role with nobody in it still gets a row
(addressed to the role) so no alert is lost. The idempotency key is derived from the lead, the
event and the recipient, so a retried or replayed activity inserts nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from activities.db import UsesDatabase, announce_change
from db.models import Notification, User
from domain.models import NotifyRequest
from domain.stages import Role


def recipients(session, req: NotifyRequest, role: Role) -> list[str | None]:
    query = select(User.id).where(User.role == role.value, User.active)
    if role == Role.CONSULTANT:
        query = query.where(User.id == req.consultant_id)
    elif role.is_dealer_role:
        query = query.where(User.dealer_id == req.dealer_id)
    elif role == Role.REGIONAL_MANAGER:
        query = query.where(User.region == req.region)
    users = list(session.exec(query.order_by(User.id)).all())
    return users or [None]


class NotifyActivities(UsesDatabase):
    @activity.defn
    def notify(self, req: NotifyRequest) -> int:
        created = 0
        at = req.at or datetime.now(UTC)
        with self.session() as session:
            for role in req.roles:
                for user_id in recipients(session, req, role):
                    key = f"{req.lead_id}:{req.event_seq}:{role.value}:{user_id or '-'}"
                    if session.exec(select(Notification.id).where(Notification.idempotency_key == key)).first():
                        continue
                    session.add(Notification(
                        idempotency_key=key, lead_id=req.lead_id, kind=req.kind, recipient_role=role.value,
                        recipient_user_id=user_id, dealer_id=req.dealer_id, region=req.region,
                        message=req.message, data=req.data, created_at=at,
                    ))
                    try:
                        session.commit()
                        created += 1
                    except IntegrityError:  # a concurrent attempt inserted it first
                        session.rollback()
            if created:
                announce_change(session)  # the live streams' listener (PostgreSQL)
                session.commit()
        activity.logger.info("notified", extra={"lead_id": req.lead_id, "kind": req.kind, "event_seq": req.event_seq})
        return created
