"""Owner care, consent and referrals (issue 17): ownerships, their tasks, DMS events, consent, unsubscribing,
referral codes and rewards, the OEM's owner-care dashboard.

Access is the leads' (api/access.py): the OEM's roles see every ownership; a dealer's people only those of
vehicles their dealer delivered (a consultant: those they sold); one they may not see is answered 404 exactly
like one that does not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import and_, false, true
from sqlmodel import col, func, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.access import LEAD_OPS
from api.deps import ActorDep, ClientDep, LangDep, NowDep, SessionDep
from api.errors import Problem, responses
from db.engine import aware
from db.models import (
    Lead,
    Notification,
    OwnerConsent,
    OwnerEventRow,
    Ownership,
    OwnerTask,
    Referral,
    ReferralCode,
    ReferralReward,
)
from domain import owner_care as oc
from domain.customers import customer_key, normalize_phone
from domain.messages import render
from domain.models import Actor
from domain.stages import DEALER_ROLES, OEM_ROLES, Role
from workflows.gateway import ActionRefused, _refusal
from workflows.owner_care import StopRequest

router = APIRouter(tags=["owner care"], responses=responses(403, 404))
OwnershipId = Annotated[str, Path(min_length=1, max_length=160, pattern=r"^[A-Za-z0-9_.:-]+$")]
PURPOSES = [p.value for p in oc.Purpose]
UNSUBSCRIBE_WORDS = {"TD", "T", "退订", "退", "UNSUBSCRIBE", "STOP", "N"}
EDITORS = frozenset({Role.DEALER_MANAGER, Role.DEALER_OPS_LEAD, Role.CONSULTANT, *LEAD_OPS, Role.SYSTEM})
DMS = frozenset({Role.DEALER_MANAGER, Role.DEALER_OPS_LEAD, *LEAD_OPS, Role.SYSTEM})


# ------------------------------------------------------------------ access


def ownership_filter(actor: Actor):
    if actor.role not in DEALER_ROLES:
        return true()
    if actor.dealer_id is None:
        return false()
    mine = col(Ownership.dealer_id) == actor.dealer_id
    return and_(mine, col(Ownership.consultant_id) == actor.user_id) if actor.role == Role.CONSULTANT else mine


def running_ownership(session, actor: Actor, ownership_id: str) -> Ownership:
    """A visible ownership still in care: a stopped one is a 409 with its reason (its workflow has ended)."""
    row = visible_ownership(session, actor, ownership_id)
    if row.status == "stopped":
        raise ActionRefused(f"owner care stopped: {row.stop_reason}", "stage", "error.owner_care_stopped",
                            {"reason": row.stop_reason})
    return row


def visible_ownership(session, actor: Actor, ownership_id: str) -> Ownership:
    row = session.get(Ownership, ownership_id)
    mine = row is not None and (actor.role not in DEALER_ROLES or (
        row.dealer_id == actor.dealer_id and (actor.role != Role.CONSULTANT or row.consultant_id == actor.user_id)))
    if not mine:
        raise Problem(404, "error.not_found", thing="ownership", id=ownership_id)
    return row


def _require(actor: Actor, roles, what: str) -> None:
    if actor.role not in roles:
        raise Problem(403, "error.role_only", what=what, roles=sorted(r.value for r in roles), role=actor.role.value)


# ------------------------------------------------------------------ views


class TaskView(BaseModel):
    task_id: str
    ownership_id: str
    kind: str
    title: str
    desk: str
    assignee_user_id: str | None
    created_at: datetime
    due_at: datetime
    status: str
    overdue: bool
    seconds_left: float
    message_sent: bool
    message_note: str | None = None
    done_at: datetime | None = None


class ConsentView(BaseModel):
    purpose: str
    granted: bool
    at: datetime | None = None
    source: str | None = None


class OwnershipView(BaseModel):
    ownership_id: str
    lead_id: str
    brand: str
    series: str | None
    dealer_id: str
    consultant_id: str | None
    delivered_at: datetime
    status: str
    stop_reason: str | None
    insurance_expiry: date | None
    birthday: date | None
    mileage_km: int | None
    last_service_at: datetime | None
    next_due_at: datetime | None
    upcoming: list[dict[str, Any]]
    trade_in_lead_id: str | None


class ReferralView(BaseModel):
    lead_id: str | None  # None when the referred lead is not one the caller may see
    attributed_at: datetime
    won: bool


class RewardView(BaseModel):
    reward_id: str
    code: str
    nth: int
    reward: str
    state: str
    earned_at: datetime
    issued_at: datetime | None
    redeemed_at: datetime | None


class OwnerCard(OwnershipView):
    customer_name: str | None
    phone_masked: str | None
    tasks: list[TaskView]
    consent: list[ConsentView]
    referral_code: str | None
    referral_link: str | None
    referral_code_expires_at: datetime | None
    referrals: list[ReferralView]
    rewards: list[RewardView]


def _task_view(t: OwnerTask, now: datetime, lang: str) -> TaskView:
    """A task as people read it: its title from the catalog by its touchpoint (older rows stored "中文 / English"),
    and why no SMS went to the owner in the reader's language."""
    due = aware(t.due_at)
    return TaskView(task_id=t.task_id, ownership_id=t.ownership_id, kind=t.kind,
                    title=render(f"owner.task.{t.kind}", {}, lang), desk=t.desk,
                    assignee_user_id=t.assignee_user_id, created_at=aware(t.created_at), due_at=due, status=t.status,
                    overdue=t.status == "lapsed" or (t.status == "open" and due < now),
                    seconds_left=(due - now).total_seconds(), message_sent=t.message_sent,
                    message_note=message_note(t, lang), done_at=t.done_at)


def message_note(t: OwnerTask, lang: str) -> str | None:
    """Why the owner got no SMS: a code (activities/owner_care.py), or the English of rows written before codes."""
    note = t.message_note
    if note == "owner.no_consent" or (note or "").startswith("no consent for "):
        purpose = t.purpose or (note or "").removeprefix("no consent for ")
        return render("owner.no_consent", {"purpose": purpose}, lang)
    return note


def _ownership_view(row: Ownership) -> dict[str, Any]:
    return OwnershipView.model_validate(row, from_attributes=True).model_dump()


def current_consent(session, key: str) -> list[ConsentView]:
    out = []
    for purpose in PURPOSES:
        row = session.exec(select(OwnerConsent).where(OwnerConsent.customer_key == key, OwnerConsent.purpose == purpose)
                           .order_by(col(OwnerConsent.at).desc(), col(OwnerConsent.id).desc())).first()
        out.append(ConsentView(purpose=purpose, granted=bool(row and row.granted), at=row.at if row else None,
                               source=row.source if row else None))
    return out


# ------------------------------------------------------------------ ownerships


@router.get("/v1/ownerships", response_model=list[OwnershipView], summary="Ownerships (delivered vehicles) I may see")
def list_ownerships(actor: ActorDep, session: SessionDep, status: Literal["active", "stopped"] | None = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[OwnershipView]:
    query = select(Ownership).where(ownership_filter(actor))
    if status:
        query = query.where(Ownership.status == status)
    rows = session.exec(query.order_by(col(Ownership.next_due_at)).limit(limit)).all()
    return [OwnershipView.model_validate(r, from_attributes=True) for r in rows]


@router.get("/v1/ownerships/{ownership_id}", response_model=OwnerCard,
            summary="The owner's card: vehicle, upcoming care, history, consent, referrals")
def owner_card(ownership_id: OwnershipId, actor: ActorDep, session: SessionDep, now: NowDep,
               lang: LangDep) -> OwnerCard:
    row = visible_ownership(session, actor, ownership_id)
    lead = session.get(Lead, row.lead_id)
    tasks = session.exec(select(OwnerTask).where(OwnerTask.ownership_id == ownership_id)
                         .order_by(col(OwnerTask.created_at).desc())).all()
    code = session.exec(select(ReferralCode).where(ReferralCode.ownership_id == ownership_id)).first()
    referrals = session.exec(select(Referral).where(Referral.referrer_customer_key == row.customer_key)
                             .order_by(col(Referral.attributed_at))).all() if code else []
    rewards = session.exec(select(ReferralReward).where(ReferralReward.referrer_customer_key == row.customer_key)
                           .order_by(col(ReferralReward.nth))).all()
    sees_all = actor.role not in DEALER_ROLES

    def referred(r: Referral) -> ReferralView:
        held = session.get(Lead, r.lead_id)
        shown = sees_all or (held is not None and held.dealer_id == actor.dealer_id)
        return ReferralView(lead_id=r.lead_id if shown else None, attributed_at=r.attributed_at,
                            won=r.won_at is not None)

    return OwnerCard(
        **_ownership_view(row), customer_name=lead.customer_name if lead else None,
        phone_masked=(lead.detail or {}).get("phone_masked") if lead else None,
        tasks=[_task_view(t, now, lang) for t in tasks], consent=current_consent(session, row.customer_key),
        referral_code=code.code if code else None, referral_link=f"/?ref={code.code}" if code else None,
        referral_code_expires_at=code.expires_at if code else None,
        referrals=[referred(r) for r in referrals],
        rewards=[RewardView.model_validate(r, from_attributes=True) for r in rewards])


async def _update(client, ownership_id: str, name: str, arg, result_type=None):
    try:
        return await client.get_workflow_handle(ownership_id).execute_update(name, arg, result_type=result_type)
    except WorkflowUpdateFailedError as err:
        raise _refusal(err) from None
    except RPCError as err:  # the row exists (checked), so its workflow has ended: stopped
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ActionRefused("owner care for this vehicle has stopped", "stage",
                                "error.owner_care_stopped_vehicle") from None
        raise


@router.patch("/v1/ownerships/{ownership_id}", response_model=list[oc.Touchpoint], responses=responses(409),
              summary="Edit the insurance expiry or the owner's birthday: the schedule follows")
async def edit_ownership(ownership_id: OwnershipId, body: oc.OwnershipEdit, actor: ActorDep, session: SessionDep,
                         client: ClientDep):
    _require(actor, EDITORS, "edit_ownership")
    running_ownership(session, actor, ownership_id)
    session.close()
    return await _update(client, ownership_id, "edit", body, list[oc.Touchpoint])


class EventAnswer(BaseModel):
    event_id: str
    repeat: bool
    upcoming: list[oc.Touchpoint]


@router.post("/v1/ownerships/{ownership_id}/events", response_model=EventAnswer, responses=responses(409),
             summary="A DMS event (service visit, mileage, renewed insurance); idempotent by event id")
async def post_event(ownership_id: OwnershipId, event: oc.OwnerEvent, actor: ActorDep, session: SessionDep,
                     client: ClientDep, now: NowDep) -> EventAnswer:
    _require(actor, DMS, "dms_event")
    row = running_ownership(session, actor, ownership_id)
    seen = session.get(OwnerEventRow, event.event_id)
    if seen is not None and seen.ownership_id != ownership_id:
        raise ActionRefused(f"event id {event.event_id} was used for another vehicle", "event_id_reused",
                            "error.event_id_reused", {"event": event.event_id})
    upcoming = await _update(client, ownership_id, "dms_event", event, list[oc.Touchpoint])
    if seen is None:
        session.add(OwnerEventRow(event_id=event.event_id, ownership_id=ownership_id, kind=event.kind.value,
                                  at=event.at or now, data=event.model_dump(mode="json"), received_at=now))
        try:
            session.commit()
        except Exception:  # noqa: BLE001 - a concurrent post of the same event: the workflow took it once
            session.rollback()
    del row
    return EventAnswer(event_id=event.event_id, repeat=seen is not None, upcoming=upcoming)


class StopBody(BaseModel):
    reason: str = Field(min_length=1, max_length=200, description="sold, scrapped, moved away, ...")


@router.post("/v1/ownerships/{ownership_id}/stop", response_model=OwnershipView, responses=responses(409),
             summary="Stop owner care for this vehicle, with the reason (open tasks are cancelled)")
async def stop_ownership(ownership_id: OwnershipId, body: StopBody, actor: ActorDep, session: SessionDep,
                         client: ClientDep) -> OwnershipView:
    _require(actor, DMS, "stop_owner_care")
    row = running_ownership(session, actor, ownership_id)
    state = await _update(client, ownership_id, "stop", StopRequest(reason=body.reason), oc.OwnershipState)
    row.status, row.stop_reason, row.stopped_at = "stopped", state.stopped, state.stopped_at  # the projection agrees
    session.add(row)
    session.commit()
    view = OwnershipView.model_validate(row, from_attributes=True)
    return view.model_copy(update={"status": "stopped", "stop_reason": state.stopped, "upcoming": [],
                                   "next_due_at": None})


# ------------------------------------------------------------------ consent (PIPL)


class ConsentBody(BaseModel):
    purpose: oc.Purpose
    granted: bool
    source: str = Field(min_length=1, max_length=64, description="delivery_form, app, phone call, ...")


@router.get("/v1/ownerships/{ownership_id}/consent", response_model=list[ConsentView])
def get_consent(ownership_id: OwnershipId, actor: ActorDep, session: SessionDep) -> list[ConsentView]:
    return current_consent(session, visible_ownership(session, actor, ownership_id).customer_key)


@router.post("/v1/ownerships/{ownership_id}/consent", response_model=list[ConsentView],
             summary="Record the owner's consent (or its withdrawal) for one purpose, with its source")
def post_consent(ownership_id: OwnershipId, body: ConsentBody, actor: ActorDep, session: SessionDep,
                 now: NowDep) -> list[ConsentView]:
    _require(actor, EDITORS, "consent")
    row = visible_ownership(session, actor, ownership_id)
    session.add(OwnerConsent(customer_key=row.customer_key, purpose=body.purpose.value, granted=body.granted, at=now,
                             source=body.source))
    session.commit()
    return current_consent(session, row.customer_key)


def _withdraw_all(session, key: str, source: str, now: datetime) -> None:
    for purpose in PURPOSES:
        session.add(OwnerConsent(customer_key=key, purpose=purpose, granted=False, at=now, source=source))
    session.commit()


class SmsReply(BaseModel):
    phone: str = Field(min_length=5, max_length=32)
    text: str = Field(min_length=1, max_length=500)


class SmsReplyAnswer(BaseModel):
    unsubscribed: bool


@router.post("/v1/owner-care/sms-reply", response_model=SmsReplyAnswer,
             summary="An owner's SMS reply, from the SMS gateway: TD / 退订 unsubscribes at once")
def sms_reply(body: SmsReply, actor: ActorDep, session: SessionDep, now: NowDep) -> SmsReplyAnswer:
    _require(actor, frozenset({Role.SYSTEM, *LEAD_OPS}), "sms_replies")
    key = customer_key(normalize_phone(body.phone))  # InvalidPhone: 422 on `phone`
    if body.text.strip().upper() not in UNSUBSCRIBE_WORDS:
        return SmsReplyAnswer(unsubscribed=False)
    _withdraw_all(session, key, "sms_reply", now)
    return SmsReplyAnswer(unsubscribed=True)


@router.get("/v1/owner-care/unsubscribe/{token}", response_model=SmsReplyAnswer,
            summary="The unsubscribe link in every owner message (no sign-in): honoured at once")
def unsubscribe_link(token: Annotated[str, Path(min_length=1, max_length=64)], session: SessionDep,
                     now: NowDep) -> SmsReplyAnswer:
    row = session.exec(select(Ownership).where(Ownership.unsubscribe_token == token)).first()
    if row is None:
        raise Problem(404, "error.not_found", thing="link", id="")
    _withdraw_all(session, row.customer_key, "link", now)
    return SmsReplyAnswer(unsubscribed=True)


# ------------------------------------------------------------------ tasks


@router.get("/v1/owner-care/tasks", response_model=list[TaskView],
            summary="Owner-care tasks I may see: open and overdue first (with countdowns)")
def list_tasks(actor: ActorDep, session: SessionDep, now: NowDep, lang: LangDep,
               status: Literal["open", "overdue", "done", "lapsed", "cancelled", "all"] = "open",
               limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[TaskView]:
    query = select(OwnerTask).join(Ownership, col(Ownership.ownership_id) == OwnerTask.ownership_id).where(
        ownership_filter(actor))
    if status == "overdue":
        query = query.where((OwnerTask.status == "lapsed") | ((OwnerTask.status == "open") & (OwnerTask.due_at < now)))
    elif status == "open":
        query = query.where(col(OwnerTask.status).in_(["open", "lapsed"]))
    elif status != "all":
        query = query.where(OwnerTask.status == status)
    rows = session.exec(query.order_by(col(OwnerTask.due_at)).limit(limit)).all()
    return [_task_view(t, now, lang) for t in rows]


class UpcomingView(BaseModel):
    ownership_id: str
    key: str
    kind: str
    due_at: datetime


@router.get("/v1/owner-care/upcoming", response_model=list[UpcomingView],
            summary="Touchpoints due in the next days for ownerships I may see")
def list_upcoming(actor: ActorDep, session: SessionDep, now: NowDep,
                  days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[UpcomingView]:
    from datetime import timedelta

    horizon = now + timedelta(days=days)
    rows = session.exec(select(Ownership).where(ownership_filter(actor), Ownership.status == "active",
                                                col(Ownership.next_due_at) <= horizon)).all()
    out = [UpcomingView(ownership_id=r.ownership_id, key=t["key"], kind=t["kind"], due_at=t["due_at"])
           for r in rows for t in r.upcoming if datetime.fromisoformat(t["due_at"]) <= horizon]
    return sorted(out, key=lambda u: u.due_at)


@router.post("/v1/owner-care/tasks/{task_id}/complete", response_model=TaskView, responses=responses(409),
             summary="Mark a task done (before its due time it will not lapse)")
def complete_task(task_id: Annotated[str, Path(min_length=1, max_length=240)], actor: ActorDep, session: SessionDep,
                  now: NowDep, lang: LangDep) -> TaskView:
    _require(actor, EDITORS, "complete_task")
    task = session.get(OwnerTask, task_id)
    if task is None:
        raise Problem(404, "error.not_found", thing="task", id=task_id)
    visible_ownership(session, actor, task.ownership_id)  # 404 like unknown when not theirs
    if task.status in ("done", "cancelled"):
        raise ActionRefused(f"the task is {task.status} already", "stage", "error.task_closed", {"status": task.status})
    task.status, task.done_at, task.done_by = "done", now, actor.user_id
    session.add(task)
    session.commit()
    return _task_view(task, now, lang)


# ------------------------------------------------------------------ referral rewards


@router.get("/v1/rewards", response_model=list[RewardView], summary="Referral rewards of owners I may see")
def list_rewards(actor: ActorDep, session: SessionDep, state: Literal["earned", "issued", "redeemed"] | None = None):
    query = select(ReferralReward)
    if actor.role in DEALER_ROLES:
        query = query.where(ReferralReward.referrer_dealer_id == (actor.dealer_id or ""))
    if state:
        query = query.where(ReferralReward.state == state)
    return [RewardView.model_validate(r, from_attributes=True)
            for r in session.exec(query.order_by(col(ReferralReward.earned_at))).all()]


RewardId = Annotated[str, Path(min_length=1, max_length=200)]


@router.post("/v1/rewards/{reward_id}/issue", response_model=RewardView, responses=responses(409),
             summary="Issue an earned reward (earned -> issued)")
def issue_reward(reward_id: RewardId, actor: ActorDep, session: SessionDep, now: NowDep) -> RewardView:
    return _move_reward(reward_id, "issue", actor, session, now)


@router.post("/v1/rewards/{reward_id}/redeem", response_model=RewardView, responses=responses(409),
             summary="Record an issued reward redeemed (issued -> redeemed)")
def redeem_reward(reward_id: RewardId, actor: ActorDep, session: SessionDep, now: NowDep) -> RewardView:
    return _move_reward(reward_id, "redeem", actor, session, now)


def _move_reward(reward_id: str, step: str, actor: Actor, session, now: datetime) -> RewardView:
    _require(actor, frozenset({Role.DEALER_MANAGER, *LEAD_OPS}), "move_reward")
    row = session.get(ReferralReward, reward_id)
    if row is None or (actor.role in DEALER_ROLES and row.referrer_dealer_id != actor.dealer_id):
        raise Problem(404, "error.not_found", thing="reward", id=reward_id)
    before, after = ("earned", "issued") if step == "issue" else ("issued", "redeemed")
    if row.state != before:
        raise ActionRefused(f"a reward is {step}d from {before}; this one is {row.state}", "stage", "error.reward_step",
                            {"status_before": before, "status": row.state})
    row.state = after
    setattr(row, f"{after}_at", now)
    session.add(row)
    session.commit()
    return RewardView.model_validate(row, from_attributes=True)


# ------------------------------------------------------------------ the OEM's dashboard


class OwnerCareDashboard(BaseModel):
    ownerships_active: int
    ownerships_stopped: int
    tasks_by_status: dict[str, int]
    tasks_due: int  # open, due within 7 days
    tasks_done_on_time: int
    tasks_done_late: int
    trade_in_leads_created: int
    trade_in_leads_won: int
    referrals: int
    referrals_won: int
    rewards_by_state: dict[str, int]
    messages_sent: int


@router.get("/v1/dashboards/owner-care", response_model=OwnerCareDashboard,
            summary="Owner care for the OEM: tasks due and done on time, trade-in leads, referrals, rewards")
def dashboard(actor: ActorDep, session: SessionDep, now: NowDep) -> OwnerCareDashboard:
    from datetime import timedelta

    if actor.role in DEALER_ROLES:
        raise Problem(403, "error.role_only", what="owner_dashboard", role=actor.role.value,
                      roles=sorted(r.value for r in OEM_ROLES - {Role.SYSTEM}))

    def count(query) -> int:
        return session.exec(query).one()

    status = dict(session.exec(select(OwnerTask.status, func.count()).group_by(OwnerTask.status)).all())
    won_stages = ("won", "delivered", "completed")
    return OwnerCareDashboard(
        ownerships_active=count(select(func.count()).select_from(Ownership).where(Ownership.status == "active")),
        ownerships_stopped=count(select(func.count()).select_from(Ownership).where(Ownership.status == "stopped")),
        tasks_by_status=status,
        tasks_due=count(select(func.count()).select_from(OwnerTask).where(
            OwnerTask.status == "open", OwnerTask.due_at <= now + timedelta(days=7))),
        tasks_done_on_time=count(select(func.count()).select_from(OwnerTask).where(
            OwnerTask.status == "done", col(OwnerTask.done_at) <= OwnerTask.due_at)),
        tasks_done_late=count(select(func.count()).select_from(OwnerTask).where(
            OwnerTask.status == "done", col(OwnerTask.done_at) > OwnerTask.due_at)),
        trade_in_leads_created=count(select(func.count()).select_from(Lead).where(Lead.channel == "owner_care")),
        trade_in_leads_won=count(select(func.count()).select_from(Lead).where(
            Lead.channel == "owner_care", col(Lead.furthest_stage).in_(won_stages))),
        referrals=count(select(func.count()).select_from(Referral)),
        referrals_won=count(select(func.count()).select_from(Referral).where(col(Referral.won_at).is_not(None))),
        rewards_by_state=dict(session.exec(select(ReferralReward.state, func.count())
                                           .group_by(ReferralReward.state)).all()),
        messages_sent=count(select(func.count()).select_from(Notification).where(
            Notification.recipient_role == "owner")),
    )
