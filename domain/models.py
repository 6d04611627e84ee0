"""Typed messages shared by the API, the workflow and the activities (one data converter: pydantic)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.stages import LeadStage, Role


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Channel(StrEnum):
    WEBSITE = "website"
    APP = "app"
    MINI_PROGRAM = "mini_program"
    DOUYIN = "douyin"
    AUTOHOME = "autohome"
    YICHE = "yiche"
    LIVE_STREAM = "live_stream"
    HOTLINE = "hotline"  # 400 热线
    AUTO_SHOW = "auto_show"
    REFERRAL = "referral"
    WALK_IN = "walk_in"
    CSV_IMPORT = "csv_import"
    OWNER_CARE = "owner_care"  # the trade-in review of owner care (issue 17)


class Timeframe(StrEnum):
    """Purchase timeframe as the customer stated it."""

    WITHIN_7_DAYS = "within_7_days"
    WITHIN_15_DAYS = "within_15_days"
    WITHIN_30_DAYS = "within_30_days"
    WITHIN_90_DAYS = "within_90_days"
    LATER = "later"
    UNKNOWN = "unknown"


class RawLead(Model):
    """One submission from one channel (原始线索)."""

    external_id: str = Field(min_length=1, max_length=128)
    channel: Channel
    brand: str = Field(min_length=1, max_length=64)
    customer_name: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=5, max_length=32, description="Normalized to E.164 at intake")
    city: str | None = Field(default=None, max_length=64,
                             description="a Chinese or pinyin/English name or the GB/T 2260 code; intake stores the "
                                         "city's Chinese name (上海 and Shanghai are one city)")
    city_code: str | None = Field(default=None, pattern=r"^\d{6}$",
                                  description="GB/T 2260 code of the city (set by intake from `city`)")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    series: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=64)
    budget: int | None = Field(default=None, ge=0, le=100_000_000, description="CNY")
    timeframe: Timeframe = Timeframe.UNKNOWN
    financing_interest: bool = False
    trade_in: bool = False
    preferred_dealer_id: str | None = Field(default=None, max_length=64)
    campaign: str | None = Field(default=None, max_length=128)
    acquisition_cost: float | None = Field(default=None, ge=0, le=1_000_000, description="CNY")
    note: str | None = Field(default=None, max_length=2000)
    consent: bool = True
    submitted_at: datetime | None = None
    # issue 13: the customer's WeChat id when the channel knows it (the lead page copies it in one tap)
    wechat_id: str | None = Field(default=None, min_length=1, max_length=64)
    referral_code: str | None = Field(default=None, max_length=32,
                                      description="An owner's referral code (转介绍): the lead is attributed to them")

    @property
    def touchpoint_key(self) -> str:
        return f"{self.channel}:{self.external_id}"


class Actor(Model):
    """Who performs an action: a signed-in user, or the engine/an integration (role system)."""

    user_id: str
    role: Role
    dealer_id: str | None = None
    region: str | None = None
    name: str | None = None


SYSTEM_ACTOR = Actor(user_id="system", role=Role.SYSTEM)


class ScoreItem(Model):
    name: str
    dimension: str  # customer | key_info | behaviour | key_action
    points: float
    max_points: float
    reason: str  # the English text (older leads have only this); `code` + `params` render in any language
    code: str = ""  # a domain.messages code (issue 13), "" on leads scored before codes existed
    params: dict[str, Any] = Field(default_factory=dict)


class ScoreResult(Model):
    score: float = Field(ge=0, le=100)
    grade: str  # H | A | B | C
    items: list[ScoreItem]
    region: str | None = None  # the OEM sales region of the customer's city, if served
    complete: bool = True  # the raw data is enough to dispatch (else: cleansing)
    missing: list[str] = []


class BehaviourCounts(Model):
    """Interaction signals accumulated on the lead (SPEC 6 'interaction behaviour', 'key actions')."""

    site_visits: int = 0
    config_views: int = 0
    app_sessions: int = 0
    live_stream_joins: int = 0
    test_drive_bookings: int = 0
    quote_requests: int = 0
    store_visits: int = 0
    deposit_intents: int = 0


class ScoreRequest(Model):
    lead_id: str
    customer_key: str | None = None  # to find earlier purchases (repeat customer)
    raw: RawLead  # the lead's current merged profile
    touchpoint_channels: list[Channel]
    behaviour: BehaviourCounts
    repeat_customer: bool = False
    policy_items: dict[str, float]
    thresholds: dict[str, float]


class DispatchCandidate(Model):
    dealer_id: str
    dealer_name: str
    total: float
    factors: dict[str, float]
    distance_km: float | None = None


class DispatchRequest(Model):
    lead_id: str
    brand: str
    series: str | None
    city: str | None
    latitude: float | None = None
    longitude: float | None = None
    preferred_dealer_id: str | None = None
    exclude_dealer_ids: list[str] = []
    weights: dict[str, float]
    penalty_window_days: float
    max_penalties: int
    default_radius_km: float
    as_of: datetime | None = None  # workflow time: windows (penalties) are counted back from it
    forced_dealer_id: str | None = None  # lead ops named the dealer
    holding: int | None = None  # patch atomic-limits: the holding number to reserve the dealer's slot for
    since_seq: int = 0  # the lead's event number when asked (limit reservations)


class DispatchResult(Model):
    dealer_id: str | None
    dealer_name: str | None = None
    region: str | None = None
    choice_right: bool = False
    competitive_region: bool = False
    auto_assign: bool = False
    reason: str  # the English explanation (older leads have only this)
    candidates: list[DispatchCandidate] = []
    code: str = ""  # the explanation as a domain.messages code + parameters (issue 13); "" before codes existed
    params: dict[str, Any] = Field(default_factory=dict)


class ConsultantRequest(Model):
    lead_id: str
    dealer_id: str
    series: str | None
    holding: int | None = None  # patch atomic-limits: reserve the consultant's slot for this holding
    since_seq: int = 0


class ConsultantResult(Model):
    consultant_id: str | None
    reason: str


class BehaviourKind(StrEnum):
    """Interaction signals from the OEM's sites, apps and events (SPEC 6)."""

    PAGE_VIEW = "page_view"
    CONFIG_VIEW = "config_view"
    APP_SESSION = "app_session"
    LIVE_STREAM_JOIN = "live_stream_join"
    TEST_DRIVE_BOOKING = "test_drive_booking"
    QUOTE_REQUEST = "quote_request"
    STORE_VISIT = "store_visit"
    DEPOSIT_INTENT = "deposit_intent"


BEHAVIOUR_COUNTERS = {
    BehaviourKind.PAGE_VIEW: "site_visits",
    BehaviourKind.CONFIG_VIEW: "config_views",
    BehaviourKind.APP_SESSION: "app_sessions",
    BehaviourKind.LIVE_STREAM_JOIN: "live_stream_joins",
    BehaviourKind.TEST_DRIVE_BOOKING: "test_drive_bookings",
    BehaviourKind.QUOTE_REQUEST: "quote_requests",
    BehaviourKind.STORE_VISIT: "store_visits",
    BehaviourKind.DEPOSIT_INTENT: "deposit_intents",
}


class BehaviourEvent(Model):
    event_id: str = Field(min_length=1, max_length=128, description="Unique per source: a repeat is ignored")
    kind: BehaviourKind
    count: int = Field(default=1, ge=1, le=1000)
    at: datetime | None = None
    source: str | None = Field(default=None, max_length=64)


# --------------------------------------------------------------------------- lead state


class Holding(Model):
    """The period during which one dealer holds the lead."""

    dealer_id: str
    dealer_name: str | None = None
    region: str | None = None
    choice_right: bool = False
    competitive_region: bool = False
    auto_assign: bool = False
    started_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None
    dispatch_reason: str | None = None


class ClockState(Model):
    name: str
    started_at: datetime
    deadline: datetime | None  # None while a working-day deadline is being computed
    paused_remaining_s: float | None = None  # set while the dealer's clocks are paused

    @property
    def running(self) -> bool:
        return self.deadline is not None and self.paused_remaining_s is None


class ClockEnd(Model):
    """How one run of a clock ended (the read model's SLA compliance counts these)."""

    name: str
    started_at: datetime
    deadline: datetime | None
    ended_at: datetime
    outcome: str  # met (what it waited for happened) | lapsed | cancelled (the holding ended, the lead closed)
    dealer_id: str | None = None  # the holding dealer, for dealer clocks


class TransferRequest(Model):
    reason: str
    text: str
    requested_by: str
    requested_at: datetime
    dealer_id: str


class DefeatCase(Model):
    reason_code: str
    note: str
    source: str  # dealer (application) | stall (7 days without follow-up)
    dealer_id: str | None
    applied_by: str
    applied_at: datetime
    manager_approved_by: str | None = None
    reviewer: str | None = None
    verdict: str | None = None


class AppealCase(Model):
    dealer_id: str
    defeat_reviewer: str | None
    window_open: bool = True
    evidence: str | None = None
    filed_by: str | None = None
    filed_at: datetime | None = None
    outcome: str | None = None
    penalty_id: str


class Touchpoint(Model):
    key: str
    channel: Channel
    external_id: str
    at: datetime
    outcome: str  # created | merged | reactivated
    campaign: str | None = None
    acquisition_cost: float | None = None


class TimelineEvent(Model):
    seq: int
    at: datetime
    kind: str
    stage: LeadStage
    actor: str
    role: str
    dealer_id: str | None = None
    data: dict[str, Any] = {}


class LeadState(Model):
    lead_id: str
    brand: str
    customer_key: str
    profile: RawLead  # the merged customer/interest profile
    stage: LeadStage = LeadStage.NEW
    return_stage: LeadStage | None = None  # where a returnable side stage goes back to
    furthest_stage: LeadStage = LeadStage.NEW
    created_at: datetime
    updated_at: datetime
    score: float | None = None
    grade: str | None = None
    score_items: list[ScoreItem] = []
    region: str | None = None
    holding: Holding | None = None
    past_holdings: list[Holding] = []
    consultant_id: str | None = None
    follow_ups: int = 0  # in the current holding
    follow_ups_total: int = 0
    last_follow_up_at: datetime | None = None
    clocks: dict[str, ClockState] = {}
    transfer: TransferRequest | None = None
    defeat: DefeatCase | None = None
    appeal: AppealCase | None = None
    touchpoints: list[Touchpoint] = []
    behaviour: BehaviourCounts = BehaviourCounts()
    reactivations: int = 0
    progress_since_reactivation: bool = False
    sla_breached: bool = False
    priority: bool = False
    revisit_due: bool = False
    alerts: int = 0
    previous_lead_id: str | None = None  # this customer's earlier lead of the brand (e.g. a repurchase)
    behaviour_event_ids: list[str] = []  # recent behaviour events taken (a repeat is ignored)
    seq: int = 0  # last timeline event number (carried over continue-as-new)
    recent: list[TimelineEvent] = []  # the newest events, bounded (full timeline: read model)

    @property
    def dealer_id(self) -> str | None:
        return self.holding.dealer_id if self.holding else None

    @property
    def held_by(self) -> list[str]:
        ids = [h.dealer_id for h in self.past_holdings]
        if self.holding:
            ids.append(self.holding.dealer_id)
        return ids


class NotifyRequest(Model):
    lead_id: str
    event_seq: int
    kind: str
    message: str
    roles: list[Role]
    dealer_id: str | None = None
    consultant_id: str | None = None
    region: str | None = None
    at: datetime | None = None
    data: dict[str, Any] = {}


class DeclineQuotaRequest(Model):
    dealer_id: str
    lead_id: str
    as_of: datetime
    window_days: float
    quota: float
    holding: int | None = None  # patch atomic-limits: reserve the decline for this holding (reserve_decline)
    pushed_at: datetime | None = None  # when this holding began: the decline counts then
    since_seq: int = 0


class DeclineQuotaResult(Model):
    allowed: bool
    pushed: int
    declined: int
    reason: str


class DeadlineRequest(Model):
    start: datetime
    working_days: int
    extra_holidays: list[date] = []
    extra_workdays: list[date] = []
    time_scale: float = 1.0


class DeadlineResult(Model):
    deadline: datetime
    calendar_known: bool  # histories before the calendar table: False when the package lacked the year
    # since the calendar table (issue 12): the years the count went through, and those still provisional
    years: list[int] = []
    provisional_years: list[int] = []

    @property
    def year_confirmed(self) -> bool:
        return not self.provisional_years


class CalendarChange(Model):
    """Lead ops changed the calendar: the days whose kind changed, and why (the audit's action)."""

    year: int
    dates: list[date]
    reason: str
    by: str = "lead_ops"


class CalendarCheck(Model):
    """The daily check of next year's calendar (the schedule's workflow); `as_of` None: the workflow's now."""

    as_of: datetime | None = None


class CalendarCheckResult(Model):
    year: int
    state: str
    alerted: int = 0  # inbox rows written (0: confirmed, before 1 November, or already alerted today)


class ProjectionRequest(Model):
    state: LeadState
    events: list[TimelineEvent]
    clock_ends: list[ClockEnd] = []
    workflow_id: str
    run_id: str
    webhook_event_types: list[str] = []  # the batch's webhook event types: record_lead answers who wants them
    notifications: list[NotifyRequest] = []  # since patch notify-in-projection: the batch's inbox rows, written here
    facts: list[dict[str, Any]] = []  # the decider's inputs since the last batch (issue 16, the what-if simulator)


# --------------------------------------------------------------------------- issue 12.2: limits shared by many leads


class ClaimRequest(Model):
    """A consultant claims a lead from the dealer's public pool: a slot of the consultant's max_open_leads."""

    lead_id: str
    dealer_id: str
    consultant_id: str
    holding: int
    since_seq: int
    as_of: datetime


class ClaimResult(Model):
    allowed: bool
    reason: str
    code: str = ""  # a refusal's message code (domain/messages.py) and its parameters
    params: dict[str, Any] = Field(default_factory=dict)
