"""The product's metrics for Prometheus, counted in SQL on the read model at scrape time.

Every API replica reports the same figures (nothing is kept in a process), and nothing needs the
worker. No label names a lead, a customer or a person; see README.md ("Metrics") for the list.

- `leadflow_leads{brand, stage}` (gauge): leads in each stage now; every stage of every brand that
  has a lead is reported, 0 included.
- `leadflow_clocks_lapsed_total{clock}` (counter): clock runs that ended `lapsed`, ever (every clock
  reported, 0 included). It only grows, as clock runs are never reopened.
- `leadflow_alert_lateness_seconds{clock}` (gauge histogram over the last WINDOW): for each clock run
  that lapsed in the window and raised an alert (`ALERT_KIND`), the seconds from the clock's deadline
  to the alert's first inbox row (`notification.created_at`: the workflow's time when it sent the
  alert). A healthy engine alerts within a second or two; a backlog or a stopped worker fleet shows
  here.
- `leadflow_dispatch_latency_seconds` (gauge histogram over the last WINDOW): for each lead first
  dispatched in the window, the seconds from the lead's creation (its first raw lead received) to
  its first holding's start. Scoring and the dispatch activity are the fast part; cleansing at the
  call center and waiting for an eligible dealer are the long tail.
- `leadflow_calendar_year_confirmed{year}` (gauge): 1 when the year's working-day calendar is confirmed,
  0 while provisional (computed holidays, no make-up workdays), for every seeded year and always for this
  year and the next (a year not seeded yet reports what seeding would give: 1 if chinese-calendar knows it).
- `leadflow_calendar_provisional_deadlines_total{year}` (counter): working-day deadlines set on a year
  that was provisional (the leads' `calendar_provisional` timeline entries), ever.

The two histograms are over a sliding window rather than since the beginning, so a scrape stays
cheap however large the read model grows: both are found through `lead.updated_at` (indexed), as
every lapse and dispatch moves it, then the lead's clock runs, notifications and holdings (by
lead id). Being windowed they are gauge histograms: use `histogram_quantile` on the buckets as they
are, without `rate()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from sqlalchemy import and_, case, func
from sqlmodel import Session, col, select

from db.analytics import _hours_between, _sum_if
from db.models import CalendarYear, ClockRun, HoldingRow, Lead, Notification, TimelineEntry
from domain.calendar import SHANGHAI, calendar_covers
from domain.clocks import CLOCKS
from domain.stages import LeadStage

WINDOW = timedelta(hours=1)
LATENESS_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0, 86400.0)
DISPATCH_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0)

# The alert a clock's lapse raises (domain.lifecycle.LAPSE_ACTIONS): named after the clock, but the
# regional follow-through escalates; clocks whose lapse raises no alert are not here.
_ALERTING_LAPSES = {"alert", "redispatch", "to_public_pool", "stall_to_review", "complete_without_revisit"}
ALERT_KIND: dict[str, str] = {
    name: ("regional_escalation" if spec.on_lapse == "escalate" else name)
    for name, spec in CLOCKS.items() if spec.on_lapse in _ALERTING_LAPSES | {"escalate"}
}


def collect(session: Session, now: datetime) -> Iterator[Metric]:
    """Every product metric as of `now` (aware)."""
    yield _leads_by_stage(session)
    yield _clocks_lapsed(session)
    yield _alert_lateness(session, now)
    yield _dispatch_latency(session, now)
    yield _calendar_confirmed(session, now)
    yield _provisional_deadlines(session)


def _calendar_confirmed(session: Session, now: datetime) -> Metric:
    states = {row.year: row.state == "confirmed" for row in session.exec(select(CalendarYear)).all()}
    this_year = now.astimezone(SHANGHAI).year
    for year in (this_year, this_year + 1):
        states.setdefault(year, calendar_covers(year))
    metric = GaugeMetricFamily("leadflow_calendar_year_confirmed",
                               "1 when the year's working-day calendar is confirmed, 0 while provisional.",
                               labels=["year"])
    for year in sorted(states):
        metric.add_metric([str(year)], int(states[year]))
    return metric


def _provisional_deadlines(session: Session) -> Metric:
    counts: dict[str, int] = {}
    for data in session.exec(select(TimelineEntry.data).where(TimelineEntry.kind == "calendar_provisional")).all():
        year = str(data.get("year"))
        counts[year] = counts.get(year, 0) + 1
    metric = CounterMetricFamily("leadflow_calendar_provisional_deadlines",
                                 "Working-day deadlines set on a provisional calendar year, ever.", labels=["year"])
    for year in sorted(counts):
        metric.add_metric([year], counts[year])
    return metric


def _leads_by_stage(session: Session) -> Metric:
    counts = {(brand, stage): n for brand, stage, n in session.exec(
        select(Lead.brand, Lead.stage, func.count()).group_by(Lead.brand, Lead.stage)).all()}
    metric = GaugeMetricFamily("leadflow_leads", "Leads in each stage now.", labels=["brand", "stage"])
    stages = [s.value for s in LeadStage] + sorted({stage for _, stage in counts} - {s.value for s in LeadStage})
    for brand in sorted({brand for brand, _ in counts}):
        for stage in stages:
            metric.add_metric([brand, stage], counts.get((brand, stage), 0))
    return metric


def _clocks_lapsed(session: Session) -> Metric:
    counts = dict(session.exec(select(ClockRun.clock, func.count()).where(ClockRun.outcome == "lapsed")
                               .group_by(ClockRun.clock)).all())
    metric = CounterMetricFamily("leadflow_clocks_lapsed", "SLA clock runs that lapsed (deadline passed), ever.",
                                 labels=["clock"])
    for clock in sorted(set(CLOCKS) | set(counts)):
        metric.add_metric([clock], counts.get(clock, 0))
    return metric


def _seconds(session: Session, earlier, later):
    return _hours_between(session, earlier, later) * 3600.0


def _distribution(session: Session, observations, buckets: tuple[float, ...], *group):
    """(group values..., count, sum, cumulative count at each bucket) from a subquery with a `seconds` column."""
    seconds = observations.c.seconds
    return session.exec(select(*group, func.count(), func.coalesce(func.sum(seconds), 0.0),  # type: ignore[call-overload]  # sqlmodel: 1-4 columns
                               *[_sum_if(seconds <= bound) for bound in buckets]).group_by(*group)).all()


def _add(metric: GaugeHistogramMetricFamily, labels: list[str], buckets: tuple[float, ...], row) -> None:
    count, total, *cumulative = row
    metric.add_metric(labels, [(floatToGoString(b), int(n)) for b, n in zip(buckets, cumulative, strict=True)]
                      + [("+Inf", int(count))], float(total))


def _alert_lateness(session: Session, now: datetime) -> Metric:
    since = now - WINDOW
    alert_kind = case(ALERT_KIND, value=ClockRun.clock, else_=None)
    alerted = func.min(Notification.created_at)
    runs = (
        select(col(ClockRun.clock).label("clock"), _seconds(session, ClockRun.deadline, alerted).label("seconds"))
        .join(Lead, col(Lead.lead_id) == ClockRun.lead_id)
        .join(Notification, and_(col(Notification.lead_id) == ClockRun.lead_id, col(Notification.kind) == alert_kind,
                                 col(Notification.created_at) >= ClockRun.ended_at))
        .where(col(Lead.updated_at) >= since, col(ClockRun.outcome) == "lapsed", col(ClockRun.ended_at) >= since,
               col(ClockRun.ended_at) <= now, col(ClockRun.deadline).is_not(None))
        .group_by(col(ClockRun.lead_id), col(ClockRun.clock), col(ClockRun.started_at), col(ClockRun.deadline))
    ).subquery()
    rows = {clock: rest for clock, *rest in _distribution(session, runs, LATENESS_BUCKETS, runs.c.clock)}
    metric = GaugeHistogramMetricFamily(
        "leadflow_alert_lateness_seconds",
        f"Seconds from a clock's deadline to its alert, for clocks that lapsed in the last {_span(WINDOW)}.",
        labels=["clock"])
    for clock in sorted(ALERT_KIND):
        _add(metric, [clock], LATENESS_BUCKETS, rows.get(clock, [0, 0.0, *[0] * len(LATENESS_BUCKETS)]))
    return metric


def _dispatch_latency(session: Session, now: datetime) -> Metric:
    since = now - WINDOW
    dispatched = func.min(HoldingRow.started_at)
    leads = (
        select(_seconds(session, Lead.created_at, dispatched).label("seconds"))
        .join(HoldingRow, col(HoldingRow.lead_id) == Lead.lead_id)
        .where(Lead.updated_at >= since)
        .group_by(col(Lead.lead_id), col(Lead.created_at))
        .having(and_(dispatched >= since, dispatched <= now))
    ).subquery()
    [row] = _distribution(session, leads, DISPATCH_BUCKETS)
    metric = GaugeHistogramMetricFamily(
        "leadflow_dispatch_latency_seconds",
        "Seconds from a lead's creation to its first dispatch, "
        f"for leads first dispatched in the last {_span(WINDOW)}.")
    _add(metric, [], DISPATCH_BUCKETS, row)
    return metric


def _span(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} h"
