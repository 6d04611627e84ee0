"""The SQL read model: a projection of the lead workflows, plus the master data they read.

Lead rows, timeline events, holdings, penalties and notifications are written only by
activities (idempotently); dealers and users are master data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class Dealer(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str
    brand: str = Field(index=True)
    region: str = Field(index=True)
    city: str = Field(index=True)
    latitude: float | None = None
    longitude: float | None = None
    service_cities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    service_radius_km: float | None = None
    series: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    stock: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    conversion_90d: float = 0.0
    rating: float = 0.0
    capacity: int = 50
    active: bool = True
    choice_right: bool = False  # 线索自主选择权
    competitive_region: bool = False
    auto_assign: bool = False  # leads go to the least-loaded consultant who sells the series


class MasterDataVersion(SQLModel, table=True):
    """How many times a master-data table has changed: database triggers (migration 0015) count every insert,
    update and delete of `dealer`, whoever writes it (the API, a seed, plain SQL). A worker's cache of the
    dealers (activities/dispatch.DealerProfiles) reads this one row per decision and the dealers only when it
    moved (issue 15: 220 rows read per scoring and per dispatch)."""

    __tablename__ = "master_data_version"
    name: str = Field(primary_key=True, max_length=32)  # the table: dealer
    version: int = 0


class User(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str
    role: str = Field(index=True)
    dealer_id: str | None = Field(default=None, index=True, foreign_key="dealer.id")
    region: str | None = Field(default=None, index=True)
    token_hash: str | None = Field(default=None, unique=True)
    active: bool = True


class Consultant(SQLModel, table=True):
    """A dealer's sales consultant (销售顾问): what they sell and how many open leads they can carry."""

    user_id: str = Field(primary_key=True, max_length=64, foreign_key="user.id")
    dealer_id: str = Field(index=True, foreign_key="dealer.id")
    series: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # empty: sells all
    max_open_leads: int = 40
    on_duty: bool = True


class Customer(SQLModel, table=True):
    """OneID: one row per normalized phone number."""

    customer_key: str = Field(primary_key=True, max_length=64)
    phone: str
    name: str
    city: str | None = None
    first_seen_at: datetime
    last_seen_at: datetime


class RawLeadRow(SQLModel, table=True):
    """One submission from one channel (原始线索), and what it became."""

    __tablename__ = "raw_lead"
    lead_id: str = Field(primary_key=True, max_length=128)
    touchpoint_key: str = Field(primary_key=True, max_length=200)  # channel:external id
    channel: str = Field(index=True)
    external_id: str
    brand: str = Field(index=True)
    customer_key: str = Field(index=True)
    campaign: str | None = None
    acquisition_cost: float | None = None
    received_at: datetime = Field(index=True)
    outcome: str  # created | merged | reactivated


class ClockRun(SQLModel, table=True):
    """One run of one SLA clock on one lead: when it started, its deadline, and how it ended."""

    __tablename__ = "clock_run"
    lead_id: str = Field(primary_key=True, max_length=128)
    clock: str = Field(primary_key=True, max_length=64)
    started_at: datetime = Field(primary_key=True)
    deadline: datetime | None = None
    dealer_id: str | None = Field(default=None, index=True)
    ended_at: datetime | None = None
    outcome: str | None = Field(default=None, index=True)  # None while running | met | lapsed | cancelled


class Lead(SQLModel, table=True):
    lead_id: str = Field(primary_key=True, max_length=128)
    brand: str = Field(index=True)
    customer_key: str = Field(index=True)
    customer_name: str
    phone: str
    city: str | None = Field(default=None, index=True)
    series: str | None = Field(default=None, index=True)
    channel: str = Field(index=True)
    stage: str = Field(index=True)
    furthest_stage: str
    grade: str | None = Field(default=None, index=True)
    score: float | None = None
    region: str | None = Field(default=None, index=True)
    dealer_id: str | None = Field(default=None, index=True)
    consultant_id: str | None = Field(default=None, index=True)
    sla_breached: bool = False
    alerts: int = 0
    next_deadline: datetime | None = Field(default=None, index=True)  # the earliest running clock's
    created_at: datetime = Field(index=True)
    updated_at: datetime = Field(index=True)  # lists sort on it; the live stream polls it
    last_seq: int = 0
    previous_lead_id: str | None = Field(default=None, index=True)
    workflow_id: str
    run_id: str
    clocks: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    score_items: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TimelineEntry(SQLModel, table=True):
    __tablename__ = "timeline_event"
    lead_id: str = Field(primary_key=True, max_length=128)
    seq: int = Field(primary_key=True)
    at: datetime = Field(index=True)
    kind: str = Field(index=True)
    stage: str
    actor: str
    role: str
    dealer_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class HoldingRow(SQLModel, table=True):
    """Who held the lead when, and why it moved."""

    __tablename__ = "holding"
    lead_id: str = Field(primary_key=True, max_length=128)
    dealer_id: str = Field(primary_key=True, max_length=64)
    started_at: datetime = Field(primary_key=True)
    ended_at: datetime | None = None
    end_reason: str | None = Field(default=None, index=True)
    dispatch_reason: str | None = None


class DealerPenalty(SQLModel, table=True):
    penalty_id: str = Field(primary_key=True, max_length=160)
    dealer_id: str = Field(index=True)
    lead_id: str = Field(index=True)
    kind: str
    note: str = ""
    created_at: datetime
    revoked_at: datetime | None = None


class Notification(SQLModel, table=True):
    """An in-app inbox row. The idempotency key makes a retried activity notify once."""

    __table_args__ = (UniqueConstraint("idempotency_key"),)
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=300)
    lead_id: str = Field(index=True)
    kind: str = Field(index=True)
    recipient_role: str = Field(index=True)
    recipient_user_id: str | None = Field(default=None, index=True)
    dealer_id: str | None = Field(default=None, index=True)
    region: str | None = None
    message: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    read_at: datetime | None = None


class WebhookSubscription(SQLModel, table=True):
    """An outbound webhook subscriber (SPEC 7): lead events are POSTed to its URL, signed with its secret.

    Master data, written by the API (lead ops); empty `event_types` means every type."""

    __tablename__ = "webhook_subscription"
    id: str = Field(primary_key=True, max_length=64)
    name: str
    url: str = Field(max_length=2000)
    secret: str  # kept to sign each delivery; shown once, at creation and on rotation
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    brand: str | None = Field(default=None, index=True)
    dealer_id: str | None = Field(default=None, index=True)  # only leads this dealer holds
    active: bool = Field(default=True, index=True)
    created_by: str | None = None
    created_at: datetime


class WebhookDelivery(SQLModel, table=True):
    """One event to one subscriber, written by the delivery activity: once delivered, never sent again."""

    __tablename__ = "webhook_delivery"
    event_id: str = Field(primary_key=True, max_length=200)
    subscription_id: str = Field(primary_key=True, max_length=64, index=True, foreign_key="webhook_subscription.id")
    event_type: str = Field(index=True)
    lead_id: str = Field(index=True, max_length=128)
    status: str = Field(index=True)  # retrying | delivered | failed
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    updated_at: datetime = Field(index=True)


class CalendarDay(SQLModel, table=True):
    """One special day of the working-day calendar (法定节假日 or 调休 make-up workday); every other day is
    a working day Monday to Friday. Written by `db/calendar.py` (seeding) and by lead ops through the API."""

    __tablename__ = "calendar_day"
    day: date = Field(primary_key=True)
    year: int = Field(index=True)
    kind: str  # holiday | workday
    name: str = ""
    source: str  # package (chinese-calendar) | computed (holidays package, provisional) | lead_ops


class CalendarYear(SQLModel, table=True):
    """A seeded year of the calendar: `confirmed` (the State Council's schedule) or `provisional` (computed)."""

    __tablename__ = "calendar_year"
    year: int = Field(primary_key=True)
    state: str = Field(index=True)  # confirmed | provisional
    seeded_from: str  # package | computed
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    updated_at: datetime


class CalendarAudit(SQLModel, table=True):
    """Every change lead ops make to the calendar: who, when, what, before and after."""

    __tablename__ = "calendar_audit"
    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    at: datetime = Field(index=True)
    actor: str
    action: str  # upload | set_day | delete_day | confirm
    reason: str | None = None
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class IntakeKey(SQLModel, table=True):
    """One source id = one submission (SPEC 2): the first raw lead that came with a channel's external id
    claims it, with a fingerprint of its content. The same content again is the idempotent repeat; other
    content under the same id is refused (409) and creates nothing. Claimed by an insert the primary key
    makes atomic, so two concurrent submissions cannot both win."""

    __tablename__ = "intake_key"
    channel: str = Field(primary_key=True, max_length=32)
    external_id: str = Field(primary_key=True, max_length=128)
    fingerprint: str = Field(max_length=64)  # sha256 of the normalized raw lead: no customer data in clear
    claimed_at: datetime


# --------------------------------------------------------------------------- issue 12.2: limits shared by many leads


class LimitCounter(SQLModel, table=True):
    """How much of a dealer's or consultant's limit is spent now: `open` leads held (scope `dealer`) or
    carried (scope `consultant`). Maintained by the same transaction that writes a `limit_reservation`, under
    this row's lock (SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite): the per-dealer lock every
    limit decision takes. Dispatch reads its load from here, not by counting open leads."""

    __tablename__ = "limit_counter"
    scope: str = Field(primary_key=True, max_length=16)  # dealer | consultant
    subject: str = Field(primary_key=True, max_length=64)  # the dealer's or the consultant's id
    open: int = 0
    last_reserved_at: datetime | None = None  # the latest dispatch to the dealer (round-robin ties)
    updated_at: datetime | None = None


class LimitReservation(SQLModel, table=True):
    """One spending of a shared limit by one lead: unique by (lead, holding, kind), so a retried activity or a
    replayed workflow task never spends twice. kind: `dealer` (a slot of the dealer's capacity, while it holds
    the lead), `consultant` (a slot of the consultant's max_open_leads), `decline` (a choice-right decline,
    counted at `counted_at`: when the declined lead was pushed). `released_at` is set when the lead gives the
    slot back (it left the dealer or consultant, or closed); `answer` is what the activity answered."""

    __tablename__ = "limit_reservation"
    lead_id: str = Field(primary_key=True, max_length=128)
    holding: int = Field(primary_key=True)  # the lead's holding number: 0 for the first dealer, 1 for the next ...
    kind: str = Field(primary_key=True, max_length=16)
    scope: str = Field(max_length=16)  # the counter it spends: dealer | consultant
    subject: str = Field(index=True, max_length=64)
    counted_at: datetime = Field(index=True)
    since_seq: int = 0  # the lead's event number when reserved: a projection of an older state never releases it
    created_at: datetime
    released_at: datetime | None = None
    answer: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# ---- issue 13, find a customer: what a search matches, so no phone is ever scanned in the clear ----
class LeadLookup(SQLModel, table=True):
    """Search keys of a lead, written by the projection: `name` (the customer's name, case-folded, matched
    by prefix) and `phone4` (the phone's last 4 digits). A full phone is matched on `lead.customer_key` (a
    hash of the E.164 number), a lead id on the key, an external id on `raw_lead.external_id`."""

    __tablename__ = "lead_lookup"
    __table_args__ = (Index("ix_lead_lookup_kind_value", "kind", "value", "lead_id",
                            postgresql_ops={"value": "varchar_pattern_ops"}),)
    lead_id: str = Field(primary_key=True, max_length=128)
    kind: str = Field(primary_key=True, max_length=16)  # name | phone4
    value: str = Field(primary_key=True, max_length=128)


Index("ix_raw_lead_external_id", RawLeadRow.__table__.c.external_id)  # type: ignore[attr-defined]  # set by SQLModel's metaclass
# ------------------------------------------------------------------ sign-in (issue 14 section 1)
# Passwords, browser sessions, invite/reset links and OIDC logins in flight, login limits, API tokens.
# Only hashes of secrets are stored: a session cookie, a link's ticket, an API token are never kept in clear.


class UserLogin(SQLModel, table=True):
    """How a user signs in: an argon2 password hash, and/or the company account (OIDC subject or email)."""

    __tablename__ = "user_login"
    user_id: str = Field(primary_key=True, max_length=64, foreign_key="user.id")
    password_hash: str | None = None
    password_changed_at: datetime | None = None
    email: str | None = Field(default=None, unique=True, max_length=254)
    oidc_subject: str | None = Field(default=None, unique=True, max_length=255)


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random id, this row its hash. Ended on sign-out."""

    __tablename__ = "web_session"
    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(index=True, max_length=64, foreign_key="user.id")
    csrf_token: str = Field(max_length=64)
    via: str = Field(max_length=16)  # password | oidc | invite | reset
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None = None


class AuthTicket(SQLModel, table=True):
    """A single-use, expiring secret: an invite or a reset link (set a password), or an OIDC login in flight
    (its state; `data` keeps the PKCE verifier and the nonce)."""

    __tablename__ = "auth_ticket"
    id_hash: str = Field(primary_key=True, max_length=64)
    kind: str = Field(index=True, max_length=16)  # invite | reset | oidc
    user_id: str | None = Field(default=None, index=True, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class LoginLimit(SQLModel, table=True):
    """Failed sign-ins per key (`account:<id>` or `address:<ip>`) in the current window, and the lock."""

    __tablename__ = "login_limit"
    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    window_started_at: datetime
    locked_until: datetime | None = None


class ApiToken(SQLModel, table=True):
    """A machine's bearer token (an integration, an ops script): acts with its own role and dealer, shown once,
    revocable, its last use recorded."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=100)
    role: str = Field(max_length=32)
    dealer_id: str | None = Field(default=None, index=True, foreign_key="dealer.id")
    region: str | None = Field(default=None, max_length=64)
    created_by: str = Field(max_length=64)
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


# -- push channels (issue 14 section 2): targets, people's preferences, the delivery ledger ------------------


class PushTarget(SQLModel, table=True):
    """Where pushes go: a group robot (WeCom, DingTalk, Feishu) of the OEM or of one dealer's team, the OEM's
    SMS gateway, or one person's Web Push subscription. `secret` is the Fernet-encrypted JSON of everything
    secret (robot URL with its key, signing secret, provider credentials, the subscription); never logged.
    `roles`: whose notices it carries (empty: every role of its scope)."""

    __tablename__ = "push_target"
    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=16)  # wecom | dingtalk | feishu | sms | webpush
    name: str = Field(max_length=100)
    scope: str = Field(max_length=8)  # oem | dealer | user
    dealer_id: str | None = Field(default=None, index=True, max_length=64)
    user_id: str | None = Field(default=None, index=True, max_length=64)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str
    status: str = Field(default="active", max_length=8)  # active | broken
    failures: int = 0  # consecutive failed requests; reset by a success
    created_by: str = Field(max_length=64)
    created_at: datetime
    broken_at: datetime | None = None


class PushPreference(SQLModel, table=True):
    """A person's choice: the channels their notices reach at once (kinds; empty: every group robot of their
    scope and their Web Push), the channel an unread SLA alert escalates to, quiet hours (Asia/Shanghai,
    "22:00"-"08:00": other notices wait; SLA alerts do not) and their mobile (for @mention and SMS), encrypted."""

    __tablename__ = "push_preference"
    user_id: str = Field(primary_key=True, max_length=64)
    channels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    escalate_to: str | None = Field(default="sms", max_length=16)
    quiet_start: str | None = Field(default=None, max_length=5)
    quiet_end: str | None = Field(default=None, max_length=5)
    mobile: str | None = None  # Fernet-encrypted
    updated_at: datetime


class PushRequest(SQLModel, table=True):
    """One request to a provider (one message or one digest): what the per-target limiter counts."""

    __tablename__ = "push_request"
    id: int | None = Field(default=None, primary_key=True)
    target_id: str = Field(index=True, max_length=40)
    at: datetime = Field(index=True)
    items: int = 1
    status: str = Field(default="sending", max_length=10)  # sending | sent | failed | uncertain
    provider_message_id: str | None = None


class PushDelivery(SQLModel, table=True):
    """The delivery ledger: one row per (notice, target, person). status: queued -> sending -> sent, or
    failed (not retryable, or the target broke), or uncertain (a worker died between claiming and the
    provider's answer: not sent again). `due_at`: not before (quiet hours, back-off, the limiter)."""

    __tablename__ = "push_delivery"
    __table_args__ = (UniqueConstraint("key"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300)  # lead:event:kind:target:user:level
    notice: str = Field(index=True, max_length=200)  # lead:event:kind
    notification_id: int | None = Field(default=None, index=True)
    target_id: str = Field(index=True, max_length=40)
    user_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=64)
    text: str
    title: str
    urgent: bool = False
    level: int = 0  # 0: the first send; 1: the escalation
    status: str = Field(default="queued", index=True, max_length=10)
    attempts: int = 0
    error: str | None = None
    request_id: int | None = None
    provider_message_id: str | None = None
    due_at: datetime = Field(index=True)
    queued_at: datetime
    sending_at: datetime | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None


# --- issue 16: policies as versioned data, and the simulator's recorded facts -------------------------------


class PolicyVersion(SQLModel, table=True):
    """One version of the policy (issue 16). Version 1 is seeded from the shipped TOML. A draft (by lead ops) becomes
    active when the head of lead ops approves it (never its own author); the version it replaces is superseded."""

    __tablename__ = "policy_version"
    version: int = Field(primary_key=True)
    status: str = Field(index=True)  # draft | active | superseded | rejected
    document: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    diff: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    base_version: int | None = None  # the version the diff is against
    author: str
    reason: str
    created_at: datetime
    effective_from: datetime | None = None  # when it became active
    approved_by: str | None = None


class PolicyAudit(SQLModel, table=True):
    """Every step on a policy version: drafted, approved, rejected, leads migrated."""

    __tablename__ = "policy_audit"
    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(index=True)
    at: datetime = Field(index=True)
    actor: str
    action: str  # seeded | drafted | approved | rejected | migrated
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class PolicySimulation(SQLModel, table=True):
    """A what-if run (issue 16): its progress while it runs and its report once done, kept in the read model so every
    API process answers for it and it outlives the process that ran it (one that died mid-run reads as failed)."""

    __tablename__ = "policy_simulation"
    id: str = Field(primary_key=True, max_length=32)
    version: int = Field(index=True)
    status: str = Field(max_length=8)  # running | done | failed
    done: int = 0
    total: int = 0
    started_at: datetime = Field(index=True)
    period_start: datetime
    period_end: datetime
    by: str = Field(max_length=64)
    heartbeat_at: datetime  # the running process's last sign of life (progress, or every few seconds)
    error: str | None = None  # an error code (error.simulation_*)
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class LeadFact(SQLModel, table=True):
    """What the decider was given for a lead, in order (the simulator's input): intakes, behaviour, people's
    actions with their times, and the answers of the lead's reads (score, dispatch, consultant, working-day deadline).
    Written by the projection activity with the lead's timeline; `data` is lean JSON (see domain/simulate.py)."""

    __tablename__ = "lead_fact"
    lead_id: str = Field(primary_key=True, max_length=128)
    seq: int = Field(primary_key=True)
    at: datetime = Field(index=True)
    kind: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# -- owner care, referrals and consent (issue 17) ----------------------------------------------------------
class Ownership(SQLModel, table=True):
    """One delivered vehicle and its owner-care workflow (`owner-<lead id>`), as the workflow last projected it."""

    ownership_id: str = Field(primary_key=True, max_length=160)
    lead_id: str = Field(index=True, max_length=128)
    customer_key: str = Field(index=True, max_length=64)
    brand: str = Field(index=True)
    dealer_id: str = Field(index=True, max_length=64)
    consultant_id: str | None = Field(default=None, index=True)
    region: str | None = Field(default=None, index=True)
    series: str | None = None
    delivered_at: datetime = Field(index=True)
    status: str = Field(default="active", index=True)  # active | stopped
    stop_reason: str | None = None
    stopped_at: datetime | None = None
    insurance_expiry: date | None = None
    birthday: date | None = None
    mileage_km: int | None = None
    last_service_at: datetime | None = None
    upcoming: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    next_due_at: datetime | None = Field(default=None, index=True)
    trade_in_lead_id: str | None = Field(default=None, index=True)
    unsubscribe_token: str = Field(max_length=64, unique=True)
    workflow_id: str
    run_id: str
    updated_at: datetime


class OwnerTask(SQLModel, table=True):
    """A touchpoint's task for the dealer's after-sales or sales person; it lapses like a lead's clock."""

    __tablename__ = "owner_task"
    task_id: str = Field(primary_key=True, max_length=240)  # <ownership id>:<touchpoint key>
    ownership_id: str = Field(index=True, max_length=160)
    dealer_id: str = Field(index=True, max_length=64)
    kind: str = Field(index=True)
    touchpoint_key: str = Field(max_length=64)
    desk: str  # after_sales | sales
    assignee_user_id: str | None = Field(default=None, index=True)
    title: str
    created_at: datetime
    due_at: datetime = Field(index=True)
    status: str = Field(default="open", index=True)  # open | done | lapsed | cancelled
    done_at: datetime | None = None
    done_by: str | None = None
    lapsed_at: datetime | None = None
    purpose: str
    message_sent: bool = False
    message_note: str | None = None  # why no message went out (no consent, ...)
    lead_created: str | None = None  # the trade-in review's lead


class OwnerEventRow(SQLModel, table=True):
    """A DMS event, once per event id."""

    __tablename__ = "owner_event"
    event_id: str = Field(primary_key=True, max_length=128)
    ownership_id: str = Field(index=True, max_length=160)
    kind: str
    at: datetime
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime


class OwnerConsent(SQLModel, table=True):
    """Each consent given or withdrawn (PIPL), per customer and purpose, with time and source; the newest wins."""

    __tablename__ = "owner_consent"
    id: int | None = Field(default=None, primary_key=True)
    customer_key: str = Field(index=True, max_length=64)
    purpose: str = Field(index=True)  # service | marketing | referral
    granted: bool
    at: datetime = Field(index=True)
    source: str = Field(max_length=64)  # delivery_form | app | sms_reply | link | dealer | ...


class ReferralCode(SQLModel, table=True):
    __tablename__ = "referral_code"
    code: str = Field(primary_key=True, max_length=32)
    ownership_id: str = Field(index=True, max_length=160)
    customer_key: str = Field(index=True, max_length=64)
    dealer_id: str = Field(index=True, max_length=64)
    created_at: datetime
    expires_at: datetime


class Referral(SQLModel, table=True):
    """A lead attributed to a referrer (one per lead)."""

    lead_id: str = Field(primary_key=True, max_length=128)
    code: str = Field(index=True, max_length=32)
    referrer_customer_key: str = Field(index=True, max_length=64)
    referrer_dealer_id: str = Field(index=True, max_length=64)
    referred_customer_key: str = Field(max_length=64)
    attributed_at: datetime
    won_at: datetime | None = None


class ReferralReward(SQLModel, table=True):
    """A referrer's reward for one won referral, recorded once (the lead is unique): earned -> issued -> redeemed."""

    __tablename__ = "referral_reward"
    reward_id: str = Field(primary_key=True, max_length=200)
    lead_id: str = Field(unique=True, max_length=128)
    code: str = Field(index=True, max_length=32)
    referrer_customer_key: str = Field(index=True, max_length=64)
    referrer_dealer_id: str = Field(index=True, max_length=64)
    nth: int
    reward: str
    state: str = Field(default="earned", index=True)  # earned | issued | redeemed
    earned_at: datetime
    issued_at: datetime | None = None
    redeemed_at: datetime | None = None
