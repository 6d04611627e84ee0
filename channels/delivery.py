"""Push delivery (issue 14 section 2), the push workflow's activities (registered by the worker): plans a notice's
deliveries into the ledger, sends them within each target's limits (merging what waits into one digest), retries,
breaks and reports failing targets, escalates unread SLA alerts. Runs in the worker (the push workflow's
activities), never in the API process.

At most once per (notice, target, person): a row is claimed (`sending`, committed) before its request leaves
and marked `sent` after the provider's answer. A worker killed between the two leaves the row `sending`; the
next attempt finds it stale and marks it `uncertain` instead of sending again (none of the five providers takes
an idempotency key: a channel with `idempotent = True` would be sent again with the same key). That window,
from the claim to the recorded answer (at most the 5 s request timeout), is where the ledger cannot say
whether the person got it: docs/operations.md#push-channels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from channels import DeliveryError, Outgoing, channel
from channels.secrets import seal, unseal
from core.settings import get_settings
from db.models import (
    Customer,
    Notification,
    Ownership,
    PushDelivery,
    PushPreference,
    PushRequest,
    PushTarget,
    User,
)
from db.statements import table_of
from domain.messages import SLA_ALERTS, notice_params, render
from domain.models import NotifyRequest
from domain.push import (
    BREAK_AFTER,
    SENDING_STALE,
    EscalateRequest,
    FlushInput,
    FlushRequest,
    FlushResult,
    PlanRequest,
    PushInput,
    PushPlan,
    backoff,
    compose,
    next_slot,
    notice_key,
    quiet_until,
)
from domain.stages import DEALER_ROLES, OEM_ROLES, Role

log = logging.getLogger(__name__)
ROBOTS = ("wecom", "dingtalk", "feishu")


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _inbox_rows(session, req: NotifyRequest) -> list[Notification]:
    prefix = f"{req.lead_id}:{req.event_seq}:"
    return list(session.exec(select(Notification).where(
        Notification.lead_id == req.lead_id, Notification.kind == req.kind,
        col(Notification.idempotency_key).startswith(prefix)).order_by(col(Notification.id))).all())


def robots_for(session, dealer_id: str | None, roles: set[str]) -> list[PushTarget]:
    """The active group robots whose scope and roles cover any of these recipient roles."""
    found = []
    for t in session.exec(select(PushTarget).where(col(PushTarget.kind).in_(ROBOTS), PushTarget.status == "active",
                                                   col(PushTarget.scope).in_(["oem", "dealer"]))).all():
        scope_roles = {r.value for r in (DEALER_ROLES if t.scope == "dealer" else OEM_ROLES)}
        wanted = (set(t.roles) or scope_roles) & scope_roles
        if t.scope == "dealer" and t.dealer_id != dealer_id:
            continue
        if wanted & roles:
            found.append(t)
    return found


OWNERS = "owner"  # a PushTarget's roles ["owner"]: the SMS gateway that carries owner care's messages to owners


def _sms_gateways(session, *, owners: bool) -> list[PushTarget]:
    """The OEM's active SMS gateways, for the staff or (owners) for the owners: separate gateways, since an
    owner's messages go out under their own approved templates and signature."""
    rows = session.exec(select(PushTarget).where(PushTarget.kind == "sms", PushTarget.scope == "oem",
                                                 PushTarget.status == "active").order_by(col(PushTarget.created_at)))
    return [t for t in rows.all() if (OWNERS in t.roles) == owners]


def personal_targets(session, user_id: str, kinds: list[str]) -> list[PushTarget]:
    """A person's own targets of these kinds: their Web Push subscriptions; SMS through the OEM's gateway."""
    found: list[PushTarget] = []
    if "webpush" in kinds:
        found += session.exec(select(PushTarget).where(PushTarget.kind == "webpush", PushTarget.user_id == user_id,
                                                       PushTarget.status == "active")).all()
    if "sms" in kinds:
        found += _sms_gateways(session, owners=False)[:1]
    return found


def queue_owner_message(session, row: Notification, due: datetime) -> tuple[str, list[str]]:
    """An owner's message (owner care's row, consent already checked) queued on the owners' SMS gateway, not
    before `due` (the owners' quiet hours); idempotent by the row. The ledger's notice and the targets queued on
    (none configured: the message stays in the read model only)."""
    notice = f"owner:{row.idempotency_key}"[:200]
    targets = []
    for target in _sms_gateways(session, owners=True)[:1]:
        key = f"{notice}:{target.id}"
        if session.exec(select(PushDelivery.id).where(PushDelivery.key == key)).first() is None:
            session.add(PushDelivery(key=key, notice=notice, notification_id=row.id, target_id=target.id,
                                     user_id=None, kind=row.kind, text=row.message, title=row.message[:40],
                                     due_at=due, queued_at=_utc(row.created_at)))
        targets.append(target.id)
    return notice, targets


def _recipient(row: PushDelivery) -> str:
    """Who a personal channel's row goes to: its person, or (an owner's message, no user) its owner."""
    return row.user_id if row.user_id is not None else f"owner-message:{row.notification_id}"


_TARGETS = table_of(PushTarget).c
_ANY_ACTIVE_TARGET = sa.select(_TARGETS.id).where(_TARGETS.status == "active").limit(1)  # built once (issue 15)


class PushActivities:
    def __init__(self, engine, http: httpx.Client | None = None):
        self.engine = engine
        self.http = http or httpx.Client()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    # -- planning ------------------------------------------------------------------------------------------
    @activity.defn
    def push_plan(self, plan_req: PlanRequest) -> PushPlan:
        """Write the notice's ledger rows (idempotent: the row key), one per robot of the recipients' scope and
        one per person and personal channel they chose; quiet hours hold a person's rows unless it is an SLA
        alert. Then the first flush (one activity where there were two: the latency from alert to request)."""
        plan = self._plan(plan_req.request)
        flushed = self.push_flush(FlushRequest(notice=notice_key(plan_req.request), target_ids=plan.targets,
                                               now=plan_req.now)) if plan.targets else FlushResult()
        return plan.model_copy(update={"sent": flushed.sent, "pending_until": flushed.pending_until})

    def _plan(self, req: NotifyRequest) -> PushPlan:
        now = _utc(req.at or datetime.now(UTC))
        urgent = req.kind in SLA_ALERTS
        text = render(req.kind, notice_params(req.lead_id, req.message, req.data))
        targets: set[str] = set()
        with self.session() as session:
            planned, escalate = self._planned(session, req, now)
            for target, row, due in planned:
                targets |= self._queue(session, req, target, row, text, due, urgent, level=0)
        return PushPlan(targets=sorted(targets), escalate=escalate)

    def _planned(self, session, req: NotifyRequest,
                 now: datetime) -> tuple[list[tuple[PushTarget, Any, datetime]], bool]:
        """Who gets the notice where and when (target, inbox row or None for a robot, due), and whether an unread
        SLA alert escalates; reads only."""
        urgent = req.kind in SLA_ALERTS
        planned: list[tuple[PushTarget, Any, datetime]] = []
        escalate = False
        rows = _inbox_rows(session, req)
        roles = {r.recipient_role for r in rows} or {r.value for r in req.roles}
        for robot in robots_for(session, req.dealer_id, roles):
            planned.append((robot, None, now))
        for row in rows:
            if not row.recipient_user_id:
                continue
            pref = session.get(PushPreference, row.recipient_user_id)
            kinds = pref.channels if pref and pref.channels else ["webpush"]
            due = now if urgent or not pref else (quiet_until(now, pref.quiet_start, pref.quiet_end) or now)
            for target in personal_targets(session, row.recipient_user_id, kinds):
                if target.kind == "sms" and not (pref and pref.mobile):
                    continue
                planned.append((target, row, due))
            escalate = escalate or (urgent and bool(self._escalation_targets(session, row.recipient_user_id)))
        return planned, escalate

    def has_work(self, session, req: NotifyRequest, escalates: bool) -> bool:
        """Whether the notice's push workflow would send anything: a target to queue now, or (`escalates`: its
        escalation timer is on) an escalation to wait for. Reads in the caller's session (the projection's
        transaction, which holds the notice's inbox rows); one query when no push target is configured at all."""
        if session.connection().execute(_ANY_ACTIVE_TARGET).first() is None:
            return False
        planned, escalate = self._planned(session, req, _utc(req.at or datetime.now(UTC)))
        return bool(planned) or (escalate and escalates)

    def _queue(self, session, req, target, row, text, due, urgent, *, level: int) -> set[str]:
        user_id = row.recipient_user_id if row is not None else None
        key = f"{notice_key(req)}:{target.id}:{user_id or '-'}:{level}"
        if session.exec(select(PushDelivery.id).where(PushDelivery.key == key)).first():
            return {target.id}
        session.add(PushDelivery(key=key, notice=notice_key(req), notification_id=row.id if row is not None else None,
                                 target_id=target.id, user_id=user_id, kind=req.kind, text=text,
                                 title=text[:40], urgent=urgent, level=level, due_at=due,
                                 queued_at=_utc(req.at or datetime.now(UTC)) if level == 0 else due))
        try:
            session.commit()
        except IntegrityError:  # a concurrent attempt wrote it
            session.rollback()
        return {target.id}

    def _escalation_targets(self, session, user_id: str) -> list[PushTarget]:
        pref = session.get(PushPreference, user_id)
        kind = pref.escalate_to if pref else None
        if not kind:
            return []
        if kind == "sms" and not pref.mobile:
            return []
        return personal_targets(session, user_id, [kind])

    # -- escalation ----------------------------------------------------------------------------------------
    @activity.defn
    def push_escalate(self, req: EscalateRequest) -> list[str]:
        """The SLA alert's inbox rows still unread: queue it on each such person's escalation channel."""
        now = _utc(req.now)
        base = render(req.request.kind, notice_params(req.request.lead_id, req.request.message, req.request.data))
        text = render("push.escalated", {"minutes": req.minutes}) + base
        targets: set[str] = set()
        with self.session() as session:
            for row in _inbox_rows(session, req.request):
                if row.read_at is not None or not row.recipient_user_id:
                    continue
                for target in self._escalation_targets(session, row.recipient_user_id):
                    targets |= self._queue(session, req.request, target, row, text, now, True, level=1)
        return sorted(targets)

    # -- sending -------------------------------------------------------------------------------------------
    @activity.defn
    def push_flush(self, req: FlushRequest) -> FlushResult:
        """Send what is due on each target within its limits; report when this notice's rows may go next."""
        now = _utc(req.now)
        result = FlushResult()
        for target_id in req.target_ids:
            while self._send_one(target_id, now):
                result.sent += 1
        with self.session() as session:
            waiting = session.exec(select(PushDelivery).where(PushDelivery.notice == req.notice,
                                                              PushDelivery.status == "queued")).all()
            times = []
            for row in waiting:
                target = session.get(PushTarget, row.target_id)
                if target is None:  # deleted since (a browser unsubscribed): nothing of it is sent, as _send_one
                    continue
                history = self._history(session, row.target_id, now)
                times.append(max(_utc(row.due_at), next_slot(history, channel(target.kind).limits, now)))
            # a claim a dead attempt left: come back when it is stale and settle it (uncertain), never resend
            claimed = session.exec(select(PushDelivery.sending_at).where(PushDelivery.notice == req.notice,
                                                                         PushDelivery.status == "sending")).all()
            times += [_utc(t) + SENDING_STALE for t in claimed if t is not None]
            result.pending_until = min(times) if times else None
        return result

    def _history(self, session, target_id: str, now: datetime) -> list[datetime]:
        since = now - timedelta(minutes=2)
        return [_utc(t) for t in session.exec(select(PushRequest.at).where(PushRequest.target_id == target_id,
                                                                           PushRequest.at > since)).all()]

    def _send_one(self, target_id: str, now: datetime) -> bool:
        """Claim the due rows that fit one message and send it. False when nothing is due or the limiter says
        wait."""
        with self.session() as session:
            target = session.exec(select(PushTarget).where(PushTarget.id == target_id).with_for_update()).first()
            if target is None:
                return False
            ch = channel(target.kind)
            self._settle_stale(session, target_id, now)
            due = list(session.exec(select(PushDelivery).where(
                PushDelivery.target_id == target_id, PushDelivery.status == "queued",
                PushDelivery.due_at <= now).order_by(col(PushDelivery.id))).all())
            if target.status != "active":
                for row in due:
                    row.status, row.failed_at, row.error = "failed", now, "target broken"
                    session.add(row)
                session.commit()
                return False
            if not due:
                session.commit()
                return False
            if next_slot(self._history(session, target_id, now), ch.limits, now) > now:
                session.commit()
                return False
            if ch.per_person:  # one recipient per request
                due = [r for r in due if _recipient(r) == _recipient(due[0])]
            owner_phone = None
            if ch.per_person and due[0].user_id is None and target.kind == "sms":  # an owner's message
                owner_phone = _owner_phone(session, due[0].notification_id)
                if owner_phone is None:  # the owner's row is gone: nothing to send to, and not the gateway's fault
                    for row in due:
                        row.status, row.failed_at, row.error = "failed", now, "no phone for this owner"
                        session.add(row)
                    session.commit()
                    return True
            text, n = compose([r.text for r in due], ch.max_bytes)
            claimed = due[:n]
            request = PushRequest(target_id=target_id, at=now, items=n)
            session.add(request)
            session.flush()
            for row in claimed:
                row.status, row.sending_at, row.request_id = "sending", now, request.id
                row.attempts += 1
                session.add(row)
            session.commit()  # the claim: from here a crash means "uncertain", never a second send
            config = unseal(target.secret)
            mentions = self._mentions(session, claimed) if not ch.per_person else []
            if ch.per_person:
                config = self._personal_config(session, target, claimed[0].user_id, config, owner_phone)
            message = Outgoing(title=claimed[0].title if n == 1 else text.split("\n", 1)[0], text=text,
                               mentions=mentions, key=claimed[0].key, urgent=any(r.urgent for r in claimed))
            try:
                sent = ch.send(self.http, config, message, now_ms=int(now.timestamp() * 1000))
            except DeliveryError as exc:
                self._failed(session, target, request, claimed, exc, now)
                return not exc.retryable and target.status == "active"
            except Exception as exc:  # noqa: BLE001 - a bug or bad config: recorded, not retried forever
                self._failed(session, target, request, claimed, DeliveryError(type(exc).__name__, retryable=False), now)
                return False
            for row in claimed:
                row.status, row.sent_at, row.provider_message_id = "sent", now, sent.provider_message_id
                session.add(row)
            request.status, request.provider_message_id = "sent", sent.provider_message_id
            target.failures = 0
            session.add_all([request, target])
            session.commit()
            log.info("push sent", extra={"target_id": target_id, "kind": target.kind, "items": n})
            return True

    def _settle_stale(self, session, target_id: str, now: datetime) -> None:
        stale = session.exec(select(PushDelivery).where(PushDelivery.target_id == target_id,
                                                        PushDelivery.status == "sending")).all()
        for row in stale:
            if row.sending_at and _utc(row.sending_at) <= now - SENDING_STALE or row.sending_at is None:
                row.status, row.failed_at, row.error = "uncertain", now, "worker died while sending: not resent"
                session.add(row)
                if row.request_id and (req := session.get(PushRequest, row.request_id)) and req.status == "sending":
                    req.status = "uncertain"
                    session.add(req)

    def _mentions(self, session, rows: list[PushDelivery]) -> list[str]:
        mobiles: list[str] = []
        for notice in dict.fromkeys(r.notice for r in rows):
            lead_id, seq, kind = notice.rsplit(":", 2)
            users = session.exec(select(Notification.recipient_user_id).where(
                Notification.lead_id == lead_id, Notification.kind == kind,
                col(Notification.idempotency_key).startswith(f"{lead_id}:{seq}:"))).all()
            for user_id in users:
                pref = session.get(PushPreference, user_id) if user_id else None
                if pref and pref.mobile and (mobile := unseal(pref.mobile)) not in mobiles:
                    mobiles.append(mobile)
        return mobiles

    def _personal_config(self, session, target: PushTarget, user_id: str | None, config: dict[str, Any],
                         owner_phone: str | None = None) -> dict:
        if target.kind == "sms" and owner_phone is not None:  # an owner's message: the owner's phone
            return {**config, "phone": owner_phone}
        if target.kind == "sms":
            pref = session.get(PushPreference, user_id)
            return {**config, "phone": unseal(pref.mobile) if pref and pref.mobile else ""}
        settings = get_settings()
        key = config.get("vapid_private_key") or (settings.vapid_private_key.get_secret_value()
                                                 if settings.vapid_private_key else "")
        return {**config, "vapid_private_key": key,
                "vapid_subject": config.get("vapid_subject", settings.vapid_subject)}

    def _failed(self, session, target, request, rows, exc: DeliveryError, now: datetime) -> None:
        request.status = "failed"
        target.failures += 1
        broke = exc.gone or target.failures >= BREAK_AFTER
        for row in rows:
            row.error = str(exc)[:200]
            if exc.retryable and not broke:
                row.status, row.due_at = "queued", now + backoff(row.attempts, exc.retry_after)
            else:
                row.status, row.failed_at = "failed", now
            session.add(row)
        if broke and target.status == "active":
            target.status, target.broken_at = "broken", now
            self._alert_owner(session, target, now)
        session.add_all([request, target])
        session.commit()
        log.warning("push failed", extra={"target_id": target.id, "kind": target.kind, "error": str(exc)[:80],
                                          "retryable": exc.retryable, "broken": target.status == "broken"})

    def _alert_owner(self, session, target: PushTarget, now: datetime) -> None:
        """The owner's inbox: the dealer's manager for a dealer robot, lead ops for the OEM's, the person
        for their own subscription."""
        text = render("push.target_broken", {"name": target.name, "failures": target.failures})
        if target.scope == "user":
            role, user_id = (session.get(User, target.user_id).role if session.get(User, target.user_id)
                             else Role.CONSULTANT.value), target.user_id
        else:
            role, user_id = (Role.DEALER_MANAGER if target.scope == "dealer" else Role.LEAD_OPS).value, None
        session.add(Notification(idempotency_key=f"push-target:{target.id}:broken:{now.isoformat()}",
                                 lead_id=f"push-target-{target.id}", kind="push_target_broken",
                                 recipient_role=role, recipient_user_id=user_id, dealer_id=target.dealer_id,
                                 message=text, data={"target_id": target.id, "name": target.name,
                                                     "failures": target.failures}, created_at=now))

    # -- a test message (the configuration pages' button) --------------------------------------------------
    @activity.defn
    def push_test(self, target_id: str) -> str:
        """Send the catalog's test message to one target now (outside the limiter's digest, but counted)."""
        now = datetime.now(UTC)
        with self.session() as session:
            target = session.get(PushTarget, target_id)
            if target is None:
                return "unknown target"
            ch = channel(target.kind)
            if next_slot(self._history(session, target_id, now), ch.limits, now) > now:
                return "rate limited: try again in a minute"
            config = unseal(target.secret)
            if ch.per_person:
                config = self._personal_config(session, target, target.user_id, config)
            request = PushRequest(target_id=target_id, at=now, items=1)
            session.add(request)
            session.commit()
            text = render("push.test", {"name": target.name})
            try:
                ch.send(self.http, config, Outgoing(title="Leadflow", text=text, key=f"test:{request.id}"),
                        now_ms=int(now.timestamp() * 1000))
            except DeliveryError as exc:
                request.status = "failed"
                session.add(request)
                session.commit()
                return f"failed: {exc}"
            request.status = "sent"
            session.add(request)
            session.commit()
            return "sent"


def _owner_phone(session, notification_id: int | None) -> str | None:
    """The phone of the owner an owner-care message is for: the message's ownership, its customer (OneID), read
    when it is sent (the ledger keeps no phone)."""
    row = session.get(Notification, notification_id) if notification_id is not None else None
    ownership = session.get(Ownership, row.lead_id) if row is not None else None
    customer = session.get(Customer, ownership.customer_key) if ownership is not None else None
    return customer.phone if customer is not None else None


def seal_config(config: dict[str, Any]) -> str:
    return seal(config)


class PushStarter:
    """Starts a notice's push workflow from the (threaded) notify activity, on the worker's event loop and task
    queue. The escalation delay is the worker's policy (`[notify] escalate_unread_minutes`, time-scaled)."""

    def __init__(self, client, task_queue: str, loop, policy=None, engine=None):
        self.client, self.task_queue, self.loop = client, task_queue, loop
        self.policy = policy
        # with the read model: a notice with nothing to push starts no workflow (issue 15: at intake, with no push
        # target configured, every alert's PushWorkflow planned nothing and ended, at the cost of a workflow)
        self.planner = PushActivities(engine) if engine is not None else None

    def escalate_after_s(self, req: NotifyRequest) -> float:
        from domain.policy import load_policy

        policy = self.policy = self.policy or load_policy()
        minutes = policy.notify.escalate_unread_minutes
        return minutes * 60 / policy.time_scale if req.kind in SLA_ALERTS and minutes else 0.0

    def wanted(self, session, req: NotifyRequest) -> bool:
        """Whether the notice has anything to push (False: `start` would start a workflow that plans nothing)."""
        return self.planner is None or self.planner.has_work(session, req, self.escalate_after_s(req) > 0)

    def start(self, req: NotifyRequest, *, planned: bool = False) -> None:
        """The notice's push workflow, unless it has nothing to push (`planned`: the caller asked `wanted`)."""
        if not planned and self.planner is not None:
            with self.planner.session() as session:
                if not self.wanted(session, req):
                    return
        future = asyncio.run_coroutine_threadsafe(self._start(req), self.loop)
        future.result(timeout=20)

    def queue_owner_message(self, session, row: Notification, due: datetime) -> tuple[str, list[str]]:
        """Owner care's touchpoint activity: its owner message on the owners' SMS gateway (channels room)."""
        return queue_owner_message(session, row, due)

    def flush(self, notice: str, targets: list[str]) -> None:
        """Send rows already queued (an owner's message) from a PushFlushWorkflow: durable, so quiet hours and the
        limiter hold them on a timer; its id `push:<notice>` makes a retried activity start nothing new."""
        future = asyncio.run_coroutine_threadsafe(self._start_flush(notice, targets), self.loop)
        future.result(timeout=20)

    async def _start_flush(self, notice: str, targets: list[str]) -> None:
        try:
            await self.client.start_workflow("PushFlushWorkflow", FlushInput(notice=notice, target_ids=targets),
                                             id=f"push:{notice}", task_queue=self.task_queue,
                                             id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            pass

    async def _start(self, req: NotifyRequest) -> None:
        try:
            await self.client.start_workflow(
                "PushWorkflow", PushInput(request=req, escalate_after_s=self.escalate_after_s(req)),
                id=f"push:{notice_key(req)}", task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            pass  # a retried notify activity: the first start delivers it


def push_activities(engine) -> list:
    """The push workflow's activities, for the worker (beside activities.all_activities)."""
    push = PushActivities(engine)
    return [push.push_plan, push.push_flush, push.push_escalate, push.push_test]
