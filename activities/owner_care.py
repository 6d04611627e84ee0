"""Owner care's activities (issue 17): the ownership's row, a touchpoint's task and messages, a task's lapse,
and the trade-in review's lead through the normal intake.

Messages to the owner go through one function, `send_owner_message`: it checks the owner's consent for the
message's purpose, then records the message as a notification addressed to the owner (`recipient_role`
"owner", `data.to_owner`, `data.purpose`, `data.channel`, its catalog code and parameters). The touchpoint's
activity then queues it on the owners' SMS gateway (channels/delivery.py, given by the worker as `push`: an OEM
SMS target for owners, its own approved templates) not before the end of the owners' quiet hours, and starts a
PushFlushWorkflow that sends it within the gateway's limits. Idempotent: every row is keyed by the ownership and
the touchpoint, the ledger row by the message, the workflow id by the ledger's notice, so a retried activity
writes and sends nothing twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio import activity

from activities.db import UsesDatabase, aware
from core.settings import get_settings
from db.models import Dealer, Lead, Notification, OwnerConsent, Ownership, OwnerTask, ReferralCode, User
from domain.messages import render
from domain.models import Actor, Channel, Model, RawLead
from domain.owner_care import (
    KINDS,
    OWNER_QUIET_HOURS,
    OwnershipState,
    Purpose,
    Touchpoint,
    TouchpointKind,
    message_for,
)
from domain.push import quiet_until
from domain.stages import Role

OWNER_ROLE = "owner"


class OwnershipProjection(Model):
    state: OwnershipState
    upcoming: list[Touchpoint]
    workflow_id: str
    run_id: str
    code_valid_days: float = 730


class TouchRequest(Model):
    state: OwnershipState
    touchpoint: Touchpoint
    at: datetime
    task_due_at: datetime


class TouchResult(Model):
    task_id: str
    message_sent: bool
    note: str | None = None


class LapseRequest(Model):
    state: OwnershipState
    key: str
    at: datetime


class TradeInResult(Model):
    lead_id: str | None
    outcome: str
    dealer_id: str | None = None


def consent_given(session: Session, customer_key: str, purpose: Purpose | str) -> bool:
    """The newest consent row for this customer and purpose says yes (no row: no consent)."""
    row = session.exec(select(OwnerConsent).where(OwnerConsent.customer_key == customer_key,
                                                  OwnerConsent.purpose == str(purpose))
                       .order_by(col(OwnerConsent.at).desc(), col(OwnerConsent.id).desc())).first()
    return bool(row and row.granted)


def send_owner_message(session: Session, *, ownership: Ownership | OwnershipState, purpose: Purpose, kind: str,
                       key: str, text: str, at: datetime, channel: str = "sms",
                       said: dict[str, Any] | None = None) -> tuple[Notification | None, str | None]:
    """The one way a message reaches an owner: recorded if consented. (the row, or None and why not); `said`: its
    catalog code and parameters."""
    if not consent_given(session, ownership.customer_key, purpose):
        return None, "owner.no_consent"  # a message code: the API says it with the task's purpose (api/routes/owners)
    idem = f"{ownership.ownership_id}:{key}:{OWNER_ROLE}:{channel}"
    if (seen := session.exec(select(Notification).where(Notification.idempotency_key == idem)).first()) is not None:
        return seen, None
    row = Notification(idempotency_key=idem, lead_id=ownership.ownership_id, kind=f"owner_{kind}",
                       recipient_role=OWNER_ROLE, recipient_user_id=None, dealer_id=ownership.dealer_id,
                       message=text, created_at=at,
                       data={"to_owner": True, "purpose": str(purpose), "channel": channel, "touchpoint": key,
                             **(said or {})})
    session.add(row)
    session.flush()
    return row, None


def _notify(session: Session, *, key: str, ownership_id: str, kind: str, role: Role, user_id: str | None,
            dealer_id: str, region: str | None, message: str, data: dict, at: datetime) -> None:
    idem = f"{key}:{role.value}:{user_id or '-'}"
    if session.exec(select(Notification.id).where(Notification.idempotency_key == idem)).first():
        return
    session.add(Notification(idempotency_key=idem, lead_id=ownership_id, kind=kind, recipient_role=role.value,
                             recipient_user_id=user_id, dealer_id=dealer_id, region=region, message=message,
                             data=data, created_at=at))


def _people(session: Session, role: Role, dealer_id: str) -> list[str | None]:
    users: list[str | None] = list(session.exec(select(User.id).where(User.role == role.value, User.active,
                                                                      User.dealer_id == dealer_id)
                                               .order_by(col(User.id))).all())
    return users or [None]


def new_referral_code(session: Session) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        if session.get(ReferralCode, code) is None:
            return code


class OwnerCareActivities(UsesDatabase):
    def __init__(self, engine, push=None):
        super().__init__(engine)
        # channels.delivery.PushStarter (given by the worker): queues an owner's message on the owners' SMS gateway
        # and starts its sending; None: messages are recorded in the read model only
        self.push = push

    @activity.defn
    def record_ownership(self, req: OwnershipProjection) -> None:
        """The ownership's row (its first write also makes the owner's referral code and unsubscribe token)."""
        s = req.state
        with self.session() as session:
            row = session.get(Ownership, s.ownership_id)
            if row is None:
                row = Ownership(ownership_id=s.ownership_id, lead_id=s.lead_id, customer_key=s.customer_key,
                                brand=s.brand, dealer_id=s.dealer_id, delivered_at=s.delivered_at,
                                unsubscribe_token=secrets.token_urlsafe(24), workflow_id=req.workflow_id,
                                run_id=req.run_id, updated_at=s.delivered_at)
                session.add(ReferralCode(code=new_referral_code(session), ownership_id=s.ownership_id,
                                         customer_key=s.customer_key, dealer_id=s.dealer_id, created_at=s.delivered_at,
                                         expires_at=s.delivered_at + _days(req.code_valid_days)))
            row.consultant_id, row.region, row.series = s.consultant_id, s.region, s.series
            row.status = "stopped" if s.stopped else "active"
            row.stop_reason, row.stopped_at = s.stopped, s.stopped_at
            row.insurance_expiry, row.birthday = s.insurance_expiry, s.birthday
            row.mileage_km, row.last_service_at = s.mileage_km, s.last_service_at
            row.upcoming = [t.model_dump(mode="json") for t in req.upcoming]
            row.next_due_at = req.upcoming[0].due_at if req.upcoming else None
            row.trade_in_lead_id = s.trade_in_lead_id
            row.workflow_id, row.run_id = req.workflow_id, req.run_id
            row.updated_at = max(aware(row.updated_at), s.stopped_at or s.delivered_at, *s.fired.values())
            session.add(row)
            if s.stopped:
                for task in session.exec(select(OwnerTask).where(OwnerTask.ownership_id == s.ownership_id,
                                                                 OwnerTask.status == "open")).all():
                    task.status = "cancelled"
                    session.add(task)
            try:
                session.commit()
            except IntegrityError:  # a concurrent attempt wrote it first: the next projection updates it
                session.rollback()

    @activity.defn
    def record_new_ownership(self, req: OwnershipProjection) -> datetime:
        """A new ownership's first row, run as a local activity in its first workflow task (patch
        owner-care-local-start): `record_ownership`, then the time it was written. The workflow counts its first
        timer from that time instead of its task's start, since the server starts the timer only when the task
        completes, after this write: counted from the task's start, the first reminder came as late as the write
        took (bench.owner_care: p50 0.1 s, up to 0.3 s)."""
        self.record_ownership(req)
        return datetime.now(UTC)

    @activity.defn
    def touch(self, req: TouchRequest) -> TouchResult:
        """One touchpoint: the task for the dealer's people (inbox), and the owner's message if consented."""
        s, t = req.state, req.touchpoint
        purpose, desk = KINDS[t.kind]
        zh, en = message_for(t.kind)
        task_id = f"{s.ownership_id}:{t.key}"
        assignee = s.consultant_id if desk == "sales" else None
        with self.session() as session:
            task = session.get(OwnerTask, task_id)
            if task is None:
                task = OwnerTask(task_id=task_id, ownership_id=s.ownership_id, dealer_id=s.dealer_id, kind=t.kind.value,
                                 touchpoint_key=t.key, desk=desk, assignee_user_id=assignee, title=zh,
                                 created_at=req.at, due_at=req.task_due_at, purpose=purpose.value)
            roles = ([(Role.CONSULTANT, [assignee])] if assignee
                     else [(Role.DEALER_MANAGER, _people(session, Role.DEALER_MANAGER, s.dealer_id))])
            for role, users in roles:
                for user_id in users:
                    _notify(session, key=f"{task_id}:task", ownership_id=s.ownership_id, kind="owner_care_task",
                            role=role, user_id=user_id, dealer_id=s.dealer_id, region=s.region,
                            message=f"{zh}: {en} (due {req.task_due_at:%Y-%m-%d %H:%M} UTC)",
                            data={"task_id": task_id, "touchpoint": t.kind.value,
                                  "due_at": req.task_due_at.isoformat()},
                            at=req.at)
            code, params = owner_sms(session, s, t.kind)
            message, note = send_owner_message(session, ownership=s, purpose=purpose, kind=t.kind.value, key=t.key,
                                               text=render(code, params), at=req.at,
                                               said={"code": code, "params": params})
            sent = message is not None
            notice, targets = "", []
            if message is not None and self.push is not None:  # no message to an owner at night (Beijing time)
                due = quiet_until(req.at, *OWNER_QUIET_HOURS) or req.at
                notice, targets = self.push.queue_owner_message(session, message, due)
            task.message_sent, task.message_note = sent, note
            session.add(task)
            session.commit()
            if targets:  # after the commit: the flush reads the ledger's rows
                self.push.flush(notice, targets)
        activity.logger.info("owner touchpoint", extra={"ownership_id": s.ownership_id, "kind": t.kind.value,
                                                        "message_sent": sent})
        return TouchResult(task_id=task_id, message_sent=sent, note=note)

    @activity.defn
    def lapse_task(self, req: LapseRequest) -> bool:
        """The task's due time passed: still open -> lapsed, alerted to the dealer ops lead and manager (as a lead's
        clock lapse is). Done (or cancelled) in time -> nothing. True when it lapsed."""
        s = req.state
        task_id = f"{s.ownership_id}:{req.key}"
        with self.session() as session:
            task = session.get(OwnerTask, task_id)
            if task is None or task.status != "open":
                return False
            task.status, task.lapsed_at = "lapsed", req.at
            session.add(task)
            for role in (Role.DEALER_OPS_LEAD, Role.DEALER_MANAGER):
                for user_id in _people(session, role, s.dealer_id):
                    _notify(session, key=f"{task_id}:lapsed", ownership_id=s.ownership_id,
                            kind="owner_care_task_lapsed", role=role, user_id=user_id, dealer_id=s.dealer_id,
                            region=s.region, message=f"owner-care task overdue: {task.title}",
                            data={"task_id": task_id, "touchpoint": task.kind, "alert": "owner_care_task"}, at=req.at)
            session.commit()
        return True


def owner_sms(session: Session, state: OwnershipState, kind: TouchpointKind) -> tuple[str, dict[str, Any]]:
    """The owner's SMS for a touchpoint, as a catalog code and its parameters: the delivering dealer's name, and how
    to unsubscribe (a reply, and the link when the portal's public address is set)."""
    dealer = session.get(Dealer, state.dealer_id)
    row = session.get(Ownership, state.ownership_id)
    base = get_settings().public_url
    link = f" {base.rstrip('/')}/v1/owner-care/unsubscribe/{row.unsubscribe_token}" if base and row else ""
    return f"owner.sms.{kind.value}", {"dealer": dealer.name if dealer else "", "link": link}


def _days(days: float):
    from datetime import timedelta

    return timedelta(days=days)


class TradeInActivities:
    """The trade-in review's lead: a raw lead through the normal intake (dedup, scoring, dispatch, clocks).
    `submit(raw, actor)` is the gateway's intake, given by the worker (activities do not import workflows)."""

    def __init__(self, engine, submit: Callable):
        self.engine, self.submit = engine, submit

    @activity.defn
    async def create_trade_in_lead(self, state: OwnershipState) -> TradeInResult:
        with Session(self.engine) as session:
            lead = session.get(Lead, state.lead_id)
            if lead is None:
                return TradeInResult(lead_id=None, outcome="no lead row")
            raw = RawLead(external_id=f"trade-in-{state.ownership_id}", channel=Channel.OWNER_CARE, brand=lead.brand,
                          customer_name=lead.customer_name, phone=lead.phone, city=lead.city, series=lead.series,
                          trade_in=True, preferred_dealer_id=state.dealer_id, campaign="owner_care_trade_in")
        actor = Actor(user_id="owner-care", role=Role.SYSTEM)
        try:
            result = await self.submit(raw, actor)
        except Exception as err:  # noqa: BLE001 - the gateway's refusal (ActionRefused): recorded, not retried
            if not hasattr(err, "reason"):
                raise
            return TradeInResult(lead_id=None, outcome=f"refused: {err.reason}")
        return TradeInResult(lead_id=result.lead_id, outcome=result.outcome, dealer_id=result.dealer_id)


def owner_care_activities(engine, submit: Callable | None = None, push=None) -> list:
    care = OwnerCareActivities(engine, push)
    out = [care.record_ownership, care.record_new_ownership, care.touch, care.lapse_task]
    if submit is not None:
        out.append(TradeInActivities(engine, submit).create_trade_in_lead)
    return out
