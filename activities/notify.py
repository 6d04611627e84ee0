"""Notifications (SPEC 7): one in-app inbox row per recipient, never twice for one event.

Roles are resolved to people from the users table; a role with nobody in it still gets a row
(addressed to the role) so no alert is lost. The idempotency key is derived from the lead, the
event and the recipient, so a retried or replayed activity inserts nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from temporalio import activity

from activities.db import UsesDatabase, announce_change, insert, statement, table_of
from db.models import Notification, User
from domain.models import NotifyRequest
from domain.stages import Role


def recipients(session, req: NotifyRequest, role: Role) -> list[str | None]:
    """The active users of `role` an alert of this lead reaches (its consultant, its dealer's people, its region's
    managers, or everyone of an OEM role); [None] when nobody: the row is addressed to the role."""
    column, value = None, None
    if role == Role.CONSULTANT:
        column, value = "id", req.consultant_id
    elif role.is_dealer_role:
        column, value = "dealer_id", req.dealer_id
    elif role == Role.REGIONAL_MANAGER:
        column, value = "region", req.region
    conn = session.connection()
    null = value is None  # (a missing value matches NULL, as it always did)
    query = statement(conn, ("recipients", column, null), lambda: _recipients_query(column, null))
    users = list(conn.execute(query, {"role": role.value, "value": value}).scalars())
    return users or [None]


def _recipients_query(column: str | None, null: bool) -> Any:
    t = table_of(User).c
    query = sa.select(t.id).where(t.role == sa.bindparam("role"), t.active)
    if column is not None:
        query = query.where(t[column].is_(None) if null else t[column] == sa.bindparam("value"))
    return query.order_by(t.id)


def write_notifications(session, req: NotifyRequest, *, commit: bool = True) -> int:
    """The inbox rows of one notification, each once (a retried or replayed activity, or a concurrent attempt,
    inserts nothing new): one INSERT ... ON CONFLICT DO NOTHING on the idempotency key, committed with the
    announcement to the live streams (`commit` False: the caller commits, and announces)."""
    at = req.at or datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {f"{req.lead_id}:{req.event_seq}:{role.value}:{user_id or '-'}": dict(
                lead_id=req.lead_id, kind=req.kind, recipient_role=role.value, recipient_user_id=user_id,
                dealer_id=req.dealer_id, region=req.region, message=req.message, data=req.data, created_at=at)
            for role in req.roles for user_id in recipients(session, req, role)}
    conn = session.connection()
    table = table_of(Notification)
    new = statement(conn, ("notification",), lambda: insert(conn, table).on_conflict_do_nothing(
        index_elements=["idempotency_key"]).returning(table.c.id))
    created = len(conn.execute(new, [dict(idempotency_key=key, **row) for key, row in rows.items()]).all()) \
        if rows else 0
    if commit:
        if created:
            announce_change(session)  # the live streams' listener (PostgreSQL)
        session.commit()
    activity.logger.info("notified", extra={"lead_id": req.lead_id, "kind": req.kind, "event_seq": req.event_seq})
    return created


class NotifyActivities(UsesDatabase):
    def __init__(self, engine, push_starter=None):
        super().__init__(engine)
        self.push_starter = push_starter  # channels.delivery.PushStarter: the push channels (None: inbox only)

    @activity.defn
    def notify(self, req: NotifyRequest) -> int:
        with self.session() as session:
            created = write_notifications(session, req)
        if self.push_starter is not None:  # also when nothing was new: a retry after a crash must still start it
            self.push_starter.start(req)
        return created
