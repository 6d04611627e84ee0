"""Work queues: what waits for a decision, oldest deadline first.

The OEM's queues are the leads whose review clock is running (cleansing, transfer review, defeat
review, appeal review, a regional manager's follow-through); the dealer's queues are the leads in
a stage that waits for the dealer manager (defeat approval, cancellation) or for a consultant to
claim (public pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import and_, func
from sqlmodel import col, select

from api.access import lead_filter
from api.deps import ActorDep, NowDep, SessionDep
from api.errors import Problem, responses
from api.schemas import LeadSummary, QueueItem, QueueSummary
from db.engine import aware
from db.models import ClockRun, Lead
from domain import visibility
from domain.models import Actor
from domain.stages import LeadStage, Role

R = Role
REVIEWERS = frozenset({R.REVIEW_TEAM, R.REVIEW_TEAM_LEAD, R.HEAD_OF_LEAD_OPS})
OPS = frozenset({R.LEAD_OPS, R.HEAD_OF_LEAD_OPS})


@dataclass(frozen=True)
class Queue:
    title: str
    roles: frozenset[Role]
    clock: str | None = None  # OEM queues: a running review clock
    stage: LeadStage | None = None  # dealer queues: a stage
    request: str | None = None  # the part of the lead being decided (transfer, defeat, appeal)


QUEUES: dict[str, Queue] = {
    "cleansing": Queue("线索清洗 cleansing", frozenset({R.CALL_CENTER}) | OPS, clock="cleansing"),
    "transfer_review": Queue("调单审核 transfer review", OPS, clock="transfer_review", request="transfer"),
    "defeat_review": Queue("战败复核 defeat review", REVIEWERS | OPS, clock="defeat_review", request="defeat"),
    "appeal_review": Queue("申诉复核 appeal review", REVIEWERS, clock="appeal_review", request="appeal"),
    "regional_follow_through": Queue("区域跟进 regional follow-through", frozenset({R.REGIONAL_MANAGER}) | OPS,
                                     clock="regional_follow_through"),
    "defeat_approval": Queue("战败审批 defeat approval", frozenset({R.DEALER_MANAGER}) | OPS,
                             stage=LeadStage.DEFEAT_PENDING_MANAGER, request="defeat"),
    "cancel_approval": Queue("退单审批 order cancellation", frozenset({R.DEALER_MANAGER}) | OPS,
                             stage=LeadStage.CANCEL_PENDING),
    "public_pool": Queue("公海池 public pool", frozenset({R.DEALER_MANAGER, R.CONSULTANT, R.DEALER_OPS_LEAD}) | OPS,
                         stage=LeadStage.PUBLIC_POOL),
}
QueueName = StrEnum("QueueName", {name: name for name in QUEUES})  # type: ignore[misc]  # members built from QUEUES: mypy only reads literal ones

router = APIRouter(prefix="/v1/queues", tags=["queues"])


def _members(queue: Queue, actor: Actor):
    """(select of Lead, since, deadline) for the queue's leads the actor may see."""
    where = [lead_filter(actor)]
    if actor.role == R.REGIONAL_MANAGER and actor.region:
        where.append(col(Lead.region) == actor.region)
    if queue.clock:
        return (select(Lead, col(ClockRun.started_at).label("since"), col(ClockRun.deadline).label("due"))
                .join(ClockRun, and_(col(ClockRun.lead_id) == Lead.lead_id, col(ClockRun.clock) == queue.clock,
                                     col(ClockRun.outcome).is_(None)))
                .where(*where))
    # a queue is either a clock's or a stage's (QUEUES, a table in this file: a programmer's slip, never a person's)
    assert queue.stage is not None, f"queue {queue.title} names neither a clock nor a stage"
    return select(Lead, col(Lead.updated_at).label("since"), col(Lead.next_deadline).label("due")).where(
        Lead.stage == queue.stage.value, *where)


@router.get("", response_model=list[QueueSummary])
def my_queues(actor: ActorDep, session: SessionDep, now: NowDep):
    """The queues the caller works, with how many wait, how many are overdue, and since when the oldest."""
    out = []
    for name, queue in QUEUES.items():
        if actor.role not in queue.roles:
            continue
        members = _members(queue, actor).subquery()
        waiting, overdue, oldest = session.exec(select(
            func.count(), func.count().filter(members.c.due < now),
                                                       func.min(members.c.since)).select_from(members)).one()
        out.append(QueueSummary(queue=name, title=queue.title, waiting=waiting, overdue=overdue, oldest_since=oldest))
    return out


@router.get("/{queue}", response_model=list[QueueItem], responses=responses(403))
def queue_items(queue: QueueName, actor: ActorDep, session: SessionDep, now: NowDep,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0):
    """The leads waiting in one queue, the nearest deadline first, with the request to decide."""
    spec = QUEUES[queue.value]
    if actor.role not in spec.roles:
        raise Problem(403, "error.role_only", what="queue", roles=sorted(r.value for r in spec.roles),
                      role=actor.role.value)
    query = _members(spec, actor)
    due = query.selected_columns.due
    rows = session.exec(query.order_by(due.is_(None), due, Lead.lead_id).offset(offset).limit(limit)).all()
    return [QueueItem(lead=LeadSummary.of(lead), since=since, deadline=due,
                      overdue=due is not None and aware(due) < now,
                      request=visibility.queue_row(actor.role, actor.dealer_id,
                                                   (lead.detail.get(spec.request) or {}) if spec.request else {}))
            for lead, since, due in rows]
