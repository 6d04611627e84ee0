"""Dashboards (SPEC 8, 考核): the funnel, SLA compliance, dealer scorecards, dispatch match rate,
review backlog and speed, and acquisition cost by channel, counted in SQL on the read model.

Every function takes a session, a `Period` (half-open [start, end)) and typed filters, and returns
a pydantic report. Counting happens in the database (`count`, `sum(case ...)`, `group_by`,
subqueries); Python only divides the counts it gets back and weighs the scorecard. The same
queries run on SQLite and PostgreSQL; the two differ only in date bucketing and time differences
(`_dialect` branches). The definitions are written out in the endpoints' docs
(`api/routes/dashboards.py`); keep both in step.

Local time is Asia/Shanghai (the engine's calendar): period dates and chart buckets follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Date, Label, and_, case, cast, distinct, exists, extract, func, literal, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from db.engine import aware
from db.models import ClockRun, Dealer, HoldingRow, Lead, RawLeadRow, TimelineEntry
from domain.calendar import SHANGHAI
from domain.clocks import CLOCKS
from domain.policy import Scorecard
from domain.stages import END_STAGES, FUNNEL, LeadStage

S = LeadStage
LOCAL_TZ = SHANGHAI
T = TimelineEntry

# --------------------------------------------------------------------------- period and filters


@dataclass(frozen=True)
class Period:
    """Half-open [start, end), aware datetimes."""

    start: datetime
    end: datetime

    def holds(self, column):
        return and_(column >= self.start, column < self.end)


def local(moment: datetime) -> datetime:
    """A naive datetime (or a bare date sent as one) is Asia/Shanghai local time."""
    return moment.replace(tzinfo=LOCAL_TZ) if moment.tzinfo is None else moment


def month_of(now: datetime) -> Period:
    """The calendar month (Asia/Shanghai) holding `now`."""
    first = now.astimezone(LOCAL_TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first.replace(tzinfo=None) + timedelta(days=32)).replace(day=1)
    return Period(first, following.replace(tzinfo=LOCAL_TZ))


class Filters(BaseModel):
    """What the caller narrowed the figures to (None: not narrowed). Each report says which
    column each filter is matched against."""

    region: str | None = None
    dealer_id: str | None = None
    series: str | None = None
    channel: str | None = None
    brand: str | None = None
    grade: str | None = None


def _lead_filters(f: Filters, *, region: bool = True, dealer: bool = True, channel: bool = True,
                  brand: bool = True) -> list:
    """Conditions on the lead row; the flags leave out the ones a report matches elsewhere."""
    conds = []
    for value, column, on in ((f.region, Lead.region, region), (f.dealer_id, Lead.dealer_id, dealer),
                              (f.series, Lead.series, True), (f.channel, Lead.channel, channel),
                              (f.brand, Lead.brand, brand), (f.grade, Lead.grade, True)):
        if on and value is not None:
            conds.append(column == value)
    return conds


def _ratio(numerator: int | float | None, denominator: int | float | None) -> float | None:
    if not denominator:
        return None
    return float(numerator or 0) / float(denominator)


def _n(value: Any) -> int:
    return int(value or 0)


def _sum_if(cond):
    """How many rows meet `cond` (0, not NULL, over no rows)."""
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _hours_between(session: Session, earlier, later):
    if _dialect(session) == "postgresql":
        return extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


Bucket = Literal["day", "week", "month"]


def _bucket_start(session: Session, column, bucket: Bucket):
    """The local (Asia/Shanghai) day, ISO week (Monday) or month a UTC timestamp falls in."""
    if _dialect(session) == "postgresql":
        return cast(func.date_trunc(bucket, func.timezone(str(LOCAL_TZ), column)), Date)
    # SQLite keeps UTC text; China has had no daylight saving since 1991, so a fixed shift is exact
    offset = LOCAL_TZ.utcoffset(datetime(2000, 1, 1))
    assert offset is not None  # a ZoneInfo always has one
    shift = f"{int(offset.total_seconds() // 3600):+d} hours"
    modifiers = {"day": (), "week": ("weekday 0", "-6 days"), "month": ("start of month",)}[bucket]
    return func.date(column, shift, *modifiers)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


FUNNEL_RANK = {s.value: i for i, s in enumerate(FUNNEL)}


def at_or_beyond(stage: LeadStage) -> list[str]:
    """The funnel stages that imply `stage` (SPEC 3: the funnel is monotonic)."""
    return [s.value for s in FUNNEL[FUNNEL.index(stage):]]


def _funnel_rank(column):
    return case(FUNNEL_RANK, value=column, else_=-1)


class _Report(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class PeriodView(_Report):
    start: datetime = Field(alias="from", description="inclusive")
    end: datetime = Field(alias="to", description="exclusive")

    @classmethod
    def of(cls, period: Period) -> PeriodView:
        return cls(start=period.start, end=period.end)


# --------------------------------------------------------------------------- 1. funnel


class FunnelStep(_Report):
    stage: str
    leads: int = Field(description="leads whose furthest stage is this stage or a later funnel stage")
    conversion_from_previous: float | None = Field(description="leads / leads of the previous step (null if 0)")
    conversion_from_top: float | None = Field(description="leads / leads of the first step (null if 0)")


class StageCount(_Report):
    stage: str
    kind: Literal["funnel", "side", "end"]
    leads: int


class FunnelReport(_Report):
    period: PeriodView
    filters: Filters
    leads: int = Field(description="leads created in the period matching the filters")
    steps: list[FunnelStep]
    current_stages: list[StageCount] = Field(description="the same leads by their stage now; every stage listed")


def funnel(session: Session, period: Period, filters: Filters) -> FunnelReport:
    where = [period.holds(Lead.created_at), *_lead_filters(filters)]
    reached = [func.coalesce(func.sum(case((col(Lead.furthest_stage).in_(at_or_beyond(s)), 1), else_=0)), 0)
               for s in FUNNEL]
    # sqlmodel types select() for 1-4 fixed columns, not a list: the row's parts are Any
    row: Any = session.exec(select(func.count(), *reached).where(*where)).one()
    total, *counts = row
    steps, previous, top = [], None, None
    for stage, n in zip(FUNNEL, counts, strict=True):
        n = _n(n)
        top = n if top is None else top
        steps.append(FunnelStep(stage=stage.value, leads=n,
                                conversion_from_previous=None if previous is None else _ratio(n, previous),
                                conversion_from_top=_ratio(n, top)))
        previous = n
    by_stage = dict(session.exec(select(Lead.stage, func.count()).where(*where).group_by(Lead.stage)).all())
    ordered = [*FUNNEL, *(s for s in S if s not in FUNNEL and s not in END_STAGES),
               *(s for s in S if s in END_STAGES and s not in FUNNEL)]
    current = [StageCount(stage=s.value, leads=_n(by_stage.pop(s.value, 0)),
                          kind="end" if s in END_STAGES else "funnel" if s in FUNNEL else "side")
               for s in ordered]
    current += [StageCount(stage=name, kind="side", leads=_n(n)) for name, n in sorted(by_stage.items())]
    return FunnelReport(period=PeriodView.of(period), filters=filters, leads=_n(total), steps=steps,
                        current_stages=current)


# --------------------------------------------------------------------------- 2. SLA compliance


class ClockCompliance(_Report):
    clock: str
    title: str
    dealer_clock: bool | None = Field(description="runs for the holding dealer (null for `overall`)")
    runs: int = Field(description="runs whose deadline falls in the period")
    met: int
    lapsed: int
    cancelled: int
    running: int
    overdue_now: int = Field(description="running, deadline already passed")
    compliance: float | None = Field(description="met / (met + lapsed); null when both are 0")


class CompliancePoint(_Report):
    clock: str
    bucket_start: date = Field(description="local (Asia/Shanghai) day, Monday of the ISO week, or 1st of the month")
    met: int
    lapsed: int
    cancelled: int
    running: int
    compliance: float | None


class SlaReport(_Report):
    period: PeriodView
    filters: Filters
    as_of: datetime = Field(description="the moment `overdue_now` is counted at")
    clocks: list[ClockCompliance]
    overall: ClockCompliance = Field(description="all the listed clocks together")
    bucket: Bucket | None = None
    series: list[CompliancePoint] = Field(default_factory=list, description="by clock, then bucket (by deadline)")


def _outcome_counts(now: datetime):
    running = col(ClockRun.outcome).is_(None)
    return (func.count(), _sum_if(ClockRun.outcome == "met"), _sum_if(ClockRun.outcome == "lapsed"),
            _sum_if(col(ClockRun.outcome) == "cancelled"), _sum_if(running),
            _sum_if(and_(running, col(ClockRun.deadline) < now)))


def sla_compliance(session: Session, period: Period, filters: Filters, now: datetime, clock: str | None = None,
                   bucket: Bucket | None = None) -> SlaReport:
    where = [period.holds(ClockRun.deadline), *_lead_filters(filters, dealer=False)]
    if filters.dealer_id is not None:
        where.append(ClockRun.dealer_id == filters.dealer_id)
    if clock is not None:
        where.append(ClockRun.clock == clock)
    base = select(ClockRun.clock, *_outcome_counts(now)).join(Lead, Lead.lead_id == ClockRun.lead_id).where(*where)
    rows = {r[0]: r[1:] for r in session.exec(base.group_by(ClockRun.clock)).all()}
    overall_row = session.exec(select(literal("all"), *_outcome_counts(now)).select_from(ClockRun)
                               .join(Lead, Lead.lead_id == ClockRun.lead_id).where(*where)).one()

    def view(name: str, counts, title: str, dealer_clock: bool | None) -> ClockCompliance:
        runs, met, lapsed, cancelled, running, overdue = (_n(x) for x in counts)
        return ClockCompliance(clock=name, title=title, dealer_clock=dealer_clock, runs=runs, met=met, lapsed=lapsed,
                               cancelled=cancelled, running=running, overdue_now=overdue,
                               compliance=_ratio(met, met + lapsed))

    names = [clock] if clock else list(CLOCKS)
    clocks = [view(n, rows.get(n, (0,) * 6), CLOCKS[n].title, CLOCKS[n].dealer_clock) for n in names]
    report = SlaReport(period=PeriodView.of(period), filters=filters, as_of=now, clocks=clocks,
                       overall=view("all", overall_row[1:], "all the clocks listed", None),
                       bucket=bucket)
    if bucket:
        start = _bucket_start(session, ClockRun.deadline, bucket).label("bucket_start")
        series = session.exec(
            select(ClockRun.clock, start, *_outcome_counts(now)[1:5]).join(Lead, col(Lead.lead_id) == ClockRun.lead_id)
            .where(*where).group_by(ClockRun.clock, start).order_by(ClockRun.clock, start)).all()
        report.series = [
            CompliancePoint(clock=name, bucket_start=_as_date(at), met=_n(met), lapsed=_n(lapsed),
                            cancelled=_n(cancelled), running=_n(running),
                            compliance=_ratio(_n(met), _n(met) + _n(lapsed)))
            for name, at, met, lapsed, cancelled, running in series]
    return report


# --------------------------------------------------------------------------- 3. dealer scorecard

TIMELINESS_CLOCKS = ("first_response", "public_pool", "first_deep_contact", "store_invitation")
FUNNEL_MEASURES = {"conversion": S.ENGAGED, "store_visit": S.VISITED, "deal": S.WON}
MEASURE_DEFINITIONS = {
    "conversion": "received leads that reached engaged (or later) while held by the dealer / received leads",
    "store_visit": "received leads that reached visited (or later) while held by the dealer / received leads",
    "deal": "received leads that reached won (or later) while held by the dealer / received leads",
    "follow_up_timeliness": "met / (met + lapsed) of the dealer's first_response, public_pool, first_deep_contact "
                            "and store_invitation clock runs with a deadline in the period",
    "status_update_accuracy": "1 - numerator / denominator, floored at 0: numerator = the dealer's lapsed stall "
                              "clock runs (7 days without a follow-up) with a deadline in the period, "
                              "denominator = received leads",
    "defeat_report_compliance": "the dealer's own defeat applications decided by the OEM review in the period "
                                "that stand as real defeats (true_defeat, or pseudo_defeat overturned on appeal) "
                                "/ all of them",
    "cooperation": "met / (met + lapsed) of the dealer's receipt clock runs (confirm a dispatched lead within 2 h) "
                   "with a deadline in the period",
}


class Measure(_Report):
    name: str
    weight: float
    numerator: int
    denominator: int
    value: float | None = Field(description="the measure; null when its denominator is 0")
    counted_as: float = Field(description="the value the total uses: value, or for a null value 0 (funnel "
                                          "measures) or 1 (compliance measures)")
    points: float = Field(description="100 x weight x counted_as")
    definition: str


class DealerScorecard(_Report):
    dealer_id: str
    dealer_name: str
    region: str
    brand: str
    rank: int | None = Field(description="1 = best total among the dealers ranked; equal totals (as shown, 1 "
                                         "decimal) share a rank; null: the dealer received no lead in the period "
                                         "(nothing to judge), listed after the ranked ones")
    ranked_out_of: int
    total: float = Field(description="100 x sum(weight x counted_as), rounded half up to 1 decimal")
    received_leads: int = Field(description="distinct leads with a holding of this dealer started in the period")
    measures: list[Measure]


class ScorecardReport(_Report):
    period: PeriodView
    weights: Scorecard
    ranked_among: str = Field(description="which dealers the ranks are counted among")
    dealers: list[DealerScorecard]


def _by_dealer(session: Session, statement) -> dict[str, tuple]:
    return {row[0]: tuple(_n(x) for x in row[1:]) for row in session.exec(statement).all()}


def scorecards(session: Session, period: Period, weights: Scorecard, region: str | None = None,
               brand: str | None = None) -> list[DealerScorecard]:
    """Every dealer matching `region`/`brand` (master data), ranked by total, best first."""
    dealers = session.exec(select(Dealer).where(*([Dealer.region == region] if region else []),
                                                *([Dealer.brand == brand] if brand else []))
                           .order_by(Dealer.id)).all()
    # received: distinct (dealer, lead) with a holding started in the period; progress: the furthest
    # funnel stage of the lead's timeline events stamped with that dealer (it held the lead then)
    received = (select(HoldingRow.dealer_id, HoldingRow.lead_id).where(period.holds(HoldingRow.started_at))
                .distinct().subquery())
    progress = (select(T.lead_id, T.dealer_id, func.max(_funnel_rank(T.stage)).label("rank"))
                .where(col(T.dealer_id).is_not(None), col(T.lead_id).in_(select(received.c.lead_id)))
                .group_by(col(T.lead_id), col(T.dealer_id)).subquery())
    funnel_counts = _by_dealer(session, select(
        received.c.dealer_id, func.count(),
        *(_sum_if(progress.c.rank >= FUNNEL_RANK[stage.value]) for stage in FUNNEL_MEASURES.values()))
        .select_from(received.outerjoin(progress, and_(progress.c.lead_id == received.c.lead_id,
                                                       progress.c.dealer_id == received.c.dealer_id)))
        .group_by(received.c.dealer_id))

    timely = col(ClockRun.clock).in_(TIMELINESS_CLOCKS)
    met, lapsed = col(ClockRun.outcome) == "met", col(ClockRun.outcome) == "lapsed"
    clock_counts = _by_dealer(session, select(  # type: ignore[call-overload]  # sqlmodel: select() of 1-4 columns
        col(ClockRun.dealer_id), _sum_if(and_(timely, met)), _sum_if(and_(timely, lapsed)),
        _sum_if(and_(col(ClockRun.clock) == "stall", lapsed)),
        _sum_if(and_(col(ClockRun.clock) == "receipt", met)), _sum_if(and_(col(ClockRun.clock) == "receipt", lapsed)))
        .where(period.holds(ClockRun.deadline), col(ClockRun.dealer_id).is_not(None)).group_by(ClockRun.dealer_id))

    # a defeat decision answers the latest defeat_submitted before it: `source` says whether the dealer
    # applied (dealer) or the stall clock sent the lead to review (stall: counted by accuracy instead)
    decided, submitted, appeal = aliased(T), aliased(T), aliased(T)
    source = (select(submitted.data["source"].as_string())
              .where(submitted.lead_id == decided.lead_id, submitted.seq < decided.seq,
                     submitted.kind == "defeat_submitted")
              .order_by(col(submitted.seq).desc()).limit(1).scalar_subquery())
    overturned = exists().where(col(appeal.lead_id) == decided.lead_id, col(appeal.seq) > decided.seq,
                                col(appeal.kind) == "appeal_decided",
                                appeal.data["outcome"].as_string() == "overturned",
                                appeal.data["appealing_dealer_id"].as_string() == decided.dealer_id)
    real = or_(decided.data["verdict"].as_string() == "true_defeat", overturned)
    defeat_counts = _by_dealer(session, select(decided.dealer_id, func.count(), _sum_if(real))
                               .where(decided.kind == "defeat_decided", period.holds(decided.at),
                                      col(decided.dealer_id).is_not(None), source == "dealer")
                               .group_by(decided.dealer_id))

    cards = []
    for dealer in dealers:
        received_n, engaged, visited, won = funnel_counts.get(dealer.id, (0, 0, 0, 0))
        timely_met, timely_lapsed, stalls, receipt_met, receipt_lapsed = clock_counts.get(dealer.id, (0,) * 5)
        defeats, real_defeats = defeat_counts.get(dealer.id, (0, 0))
        accuracy = None if not received_n else max(Fraction(0), 1 - Fraction(stalls, received_n))
        parts = [
            ("conversion", engaged, received_n, None, 0), ("store_visit", visited, received_n, None, 0),
            ("deal", won, received_n, None, 0),
            ("follow_up_timeliness", timely_met, timely_met + timely_lapsed, None, 1),
            ("status_update_accuracy", stalls, received_n, accuracy, 1),
            ("defeat_report_compliance", real_defeats, defeats, None, 1),
            ("cooperation", receipt_met, receipt_met + receipt_lapsed, None, 1),
        ]
        measures, total = [], Fraction(0)
        for name, num, den, exact, if_empty in parts:
            value = exact if exact is not None else (Fraction(num, den) if den else None)
            counted = value if value is not None else Fraction(if_empty)
            weight = Fraction(str(getattr(weights, name)))
            total += 100 * weight * counted
            measures.append(Measure(name=name, weight=float(weight), numerator=num, denominator=den,
                                    value=None if value is None else float(value), counted_as=float(counted),
                                    points=float(100 * weight * counted), definition=MEASURE_DEFINITIONS[name]))
        shown = (Decimal(total.numerator) / Decimal(total.denominator)).quantize(Decimal("0.1"), ROUND_HALF_UP)
        cards.append((shown, DealerScorecard(
            dealer_id=dealer.id, dealer_name=dealer.name, region=dealer.region, brand=dealer.brand, rank=0,
            ranked_out_of=len(dealers), total=float(shown), received_leads=received_n, measures=measures)))
    # ranked on the total as shown (1 decimal), so equal-looking totals share a rank; a dealer that
    # received nothing is not ranked (its compliance measures would count as perfect)
    ranked = sorted((pair for pair in cards if pair[1].received_leads), key=lambda pair: (-pair[0], pair[1].dealer_id))
    idle = sorted((pair for pair in cards if not pair[1].received_leads), key=lambda pair: pair[1].dealer_id)
    for i, (shown, card) in enumerate(ranked):
        card.rank = ranked[i - 1][1].rank if i and ranked[i - 1][0] == shown else i + 1
    for _, card in ranked + idle:
        card.ranked_out_of = len(ranked)
    for _, card in idle:
        card.rank = None
    return [card for _, card in ranked + idle]


# --------------------------------------------------------------------------- 4. dispatch match rate

NOT_MATCHED = ("declined", "transferred", "receipt_lapsed")
END_REASONS = ("receipt_lapsed", "declined", "transferred", "true_defeat", "pseudo_defeat", "reassigned")
OPEN = "open"


class DispatchCounts(_Report):
    key: str | None = Field(default=None, description="the region or dealer id (group_by), null for the total")
    started: int = Field(description="holdings started in the period")
    matched: int = Field(description="of them, not ended by declined, transferred or receipt_lapsed")
    match_rate: float | None = Field(description="matched / started (null if 0)")
    by_end_reason: dict[str, int] = Field(description=f"holdings by how they ended; '{OPEN}': not ended")


class DispatchReport(_Report):
    period: PeriodView
    filters: Filters
    group_by: Literal["region", "dealer"] | None = None
    total: DispatchCounts
    groups: list[DispatchCounts] = Field(default_factory=list)


def dispatch_match(session: Session, period: Period, filters: Filters,
                   group_by: Literal["region", "dealer"] | None = None) -> DispatchReport:
    matched = or_(col(HoldingRow.end_reason).is_(None), col(HoldingRow.end_reason).not_in(NOT_MATCHED))
    reason = func.coalesce(HoldingRow.end_reason, OPEN)
    key: Label[Any] = {"region": col(Dealer.region), "dealer": col(HoldingRow.dealer_id),
                       None: literal(None)}[group_by].label("key")
    where = [period.holds(HoldingRow.started_at), *_lead_filters(filters, region=False, dealer=False)]
    if filters.dealer_id is not None:
        where.append(HoldingRow.dealer_id == filters.dealer_id)
    if filters.region is not None:
        where.append(Dealer.region == filters.region)

    def joined(statement):
        return (statement.select_from(HoldingRow).join(Lead, Lead.lead_id == HoldingRow.lead_id)
                .outerjoin(Dealer, Dealer.id == HoldingRow.dealer_id).where(*where))

    counts = session.exec(joined(select(key, func.count(), _sum_if(matched))).group_by(key).order_by(key)).all()
    reasons: dict[Any, dict[str, int]] = {}
    for k, r, n in session.exec(joined(select(key, reason, func.count())).group_by(key, reason)).all():
        reasons.setdefault(k, {})[r] = _n(n)
    total_started, total_matched = session.exec(joined(select(func.count(), _sum_if(matched)))).one()
    total_reasons = dict(session.exec(joined(select(reason, func.count())).group_by(reason)).all())

    def view(k, started, n_matched, by_reason) -> DispatchCounts:
        every = {r: 0 for r in (*END_REASONS, OPEN)} | {r: _n(n) for r, n in by_reason.items()}
        return DispatchCounts(key=k, started=_n(started), matched=_n(n_matched), match_rate=_ratio(n_matched, started),
                              by_end_reason=every)

    report = DispatchReport(period=PeriodView.of(period), filters=filters, group_by=group_by,
                            total=view(None, total_started, total_matched, total_reasons))
    if group_by:
        report.groups = [view(k, started, n, reasons.get(k, {})) for k, started, n in counts]
    return report


# --------------------------------------------------------------------------- 5. review backlog and speed


@dataclass(frozen=True)
class ReviewQueue:
    name: str
    stage: LeadStage | None  # waiting = the lead is in this stage now; None: an appeal filed and not decided
    requests: tuple[str, ...]
    decisions: tuple[str, ...]


REVIEW_QUEUES = (
    ReviewQueue("cleansing", S.CLEANSING, ("cleansing_started",), ("cleansing_recorded",)),
    ReviewQueue("transfer_review", S.TRANSFER_REVIEW, ("transfer_requested",),
                ("transfer_approved", "transfer_rejected")),
    ReviewQueue("defeat_review", S.DEFEAT_REVIEW, ("defeat_submitted",), ("defeat_decided",)),
    ReviewQueue("appeal_review", None, ("appeal_filed",), ("appeal_decided",)),
)


class QueueStats(_Report):
    queue: str
    open_now: int = Field(description="requests waiting now")
    oldest_waiting_since: datetime | None = Field(description="the oldest waiting request's time")
    oldest_waiting_hours: float | None = Field(description="hours from that request to `as_of`")
    decided: int = Field(description="decisions made in the period that answer a request of this queue")
    avg_hours: float | None = Field(description="mean hours from request to decision")
    max_hours: float | None


class ReviewReport(_Report):
    period: PeriodView
    filters: Filters
    as_of: datetime
    queues: list[QueueStats]


def _request_dealer(event):
    """The dealer a request concerns: the holder when it was made; for an appeal, the appealing dealer."""
    return case((event.kind == "appeal_filed", event.data["appealing_dealer_id"].as_string()), else_=event.dealer_id)


def review_queues(session: Session, period: Period, filters: Filters, now: datetime) -> ReviewReport:
    lead_where = _lead_filters(filters, dealer=False)
    queues = []
    for q in REVIEW_QUEUES:
        request, later, decision, previous = aliased(T), aliased(T), aliased(T), aliased(T)
        dealer_where = [] if filters.dealer_id is None else [_request_dealer(request) == filters.dealer_id]
        if q.stage is not None:  # waiting: the lead is in the queue's stage; since its latest request
            latest = (select(func.max(later.seq)).where(later.lead_id == request.lead_id,
                                                        col(later.kind).in_(q.requests))
                      .scalar_subquery())
            waiting = (select(func.count(), func.min(request.at)).select_from(Lead)
                       .join(request, and_(col(request.lead_id) == Lead.lead_id, col(request.kind).in_(q.requests)))
                       .where(Lead.stage == q.stage.value, request.seq == latest, *lead_where, *dealer_where))
        else:  # waiting: a request with no decision after it
            answered = exists().where(col(later.lead_id) == request.lead_id, col(later.seq) > request.seq,
                                      col(later.kind).in_(q.decisions))
            waiting = (select(func.count(), func.min(request.at)).select_from(request)
                       .join(Lead, col(Lead.lead_id) == request.lead_id)
                       .where(col(request.kind).in_(q.requests), ~answered, *lead_where, *dealer_where))
        open_now, oldest = session.exec(waiting).one()
        # a decision answers the queue's latest request or decision event before it, if that is a request
        before = (select(func.max(previous.seq))
                  .where(previous.lead_id == decision.lead_id, previous.seq < decision.seq,
                         col(previous.kind).in_(q.requests + q.decisions)).scalar_subquery())
        hours = _hours_between(session, request.at, decision.at)
        decided, avg_hours, max_hours = session.exec(
            select(func.count(), func.avg(hours), func.max(hours)).select_from(decision)
            .join(request, and_(col(request.lead_id) == decision.lead_id, col(request.kind).in_(q.requests)))
            .join(Lead, col(Lead.lead_id) == decision.lead_id)
            .where(col(decision.kind).in_(q.decisions), period.holds(decision.at), request.seq == before,
                   *lead_where, *dealer_where)).one()
        oldest = aware(oldest)
        queues.append(QueueStats(
            queue=q.name, open_now=_n(open_now), oldest_waiting_since=oldest,
            oldest_waiting_hours=None if oldest is None else (now - oldest).total_seconds() / 3600,
            decided=_n(decided), avg_hours=None if avg_hours is None else float(avg_hours),
            max_hours=None if max_hours is None else float(max_hours)))
    return ReviewReport(period=PeriodView.of(period), filters=filters, as_of=now, queues=queues)


# --------------------------------------------------------------------------- 6. cost by channel


class ChannelCost(_Report):
    channel: str
    raw_leads: int = Field(description="raw leads received in the period")
    raw_leads_with_cost: int = Field(description="of them, how many carried an acquisition cost")
    acquisition_cost: float = Field(description="sum of the known costs, CNY")
    leads: int = Field(description="distinct leads those raw leads landed in")
    won_leads: int = Field(description="of those leads, the ones whose furthest stage is won or later")
    cost_per_lead: float | None = Field(description="acquisition_cost / leads (null if 0)")
    cost_per_deal: float | None = Field(description="acquisition_cost / won_leads (null if 0)")


class ChannelReport(_Report):
    period: PeriodView
    filters: Filters
    channels: list[ChannelCost]
    total: ChannelCost = Field(description="all channels together (leads counted once)")


def channel_costs(session: Session, period: Period, filters: Filters) -> ChannelReport:
    won = col(Lead.furthest_stage).in_(at_or_beyond(S.WON))
    where = [period.holds(RawLeadRow.received_at), *_lead_filters(filters, channel=False, brand=False)]
    if filters.channel is not None:
        where.append(RawLeadRow.channel == filters.channel)
    if filters.brand is not None:
        where.append(RawLeadRow.brand == filters.brand)
    figures = (func.count(), func.count(col(RawLeadRow.acquisition_cost)),
               func.coalesce(func.sum(RawLeadRow.acquisition_cost), 0.0),
               func.count(distinct(col(RawLeadRow.lead_id))),
               func.count(distinct(case((won, col(RawLeadRow.lead_id))))))
    base = select(col(RawLeadRow.channel), *figures).join(  # type: ignore[call-overload]  # sqlmodel: 1-4 columns
        Lead, col(Lead.lead_id) == col(RawLeadRow.lead_id)).where(*where)

    def view(channel, raw, with_cost, cost, leads, won_leads) -> ChannelCost:
        cost = float(cost or 0)
        return ChannelCost(channel=channel, raw_leads=_n(raw), raw_leads_with_cost=_n(with_cost), acquisition_cost=cost,
                           leads=_n(leads), won_leads=_n(won_leads), cost_per_lead=_ratio(cost, leads),
                           cost_per_deal=_ratio(cost, won_leads))

    rows = session.exec(base.group_by(RawLeadRow.channel).order_by(RawLeadRow.channel)).all()
    total = session.exec(select(literal("all"), *figures).select_from(RawLeadRow)  # type: ignore[call-overload]  # sqlmodel types select() for 1-4 fixed columns, not a list
                         .join(Lead, Lead.lead_id == RawLeadRow.lead_id).where(*where)).one()
    return ChannelReport(period=PeriodView.of(period), filters=filters, channels=[view(*r) for r in rows],
                         total=view(*total))
