"""Dashboards as API (SPEC 8, 考核): funnel, SLA compliance, dealer scorecards, dispatch match rate,
review backlog and speed, cost per lead and per deal by channel.

The figures are counted in SQL by `db.analytics`; each endpoint's description below is the exact
definition (the OEM re-counts them on its own fixture). Who sees what: the OEM roles see every
dealer; a dealer manager or dealer ops lead sees only their own dealer (the `dealer_id` filter is
forced to it; naming another dealer answers 404, as for another dealer's lead); consultants get 403.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session, select

from api.access import own_dealer
from api.deps import ActorDep, NowDep, PolicyDep, SessionDep, current_time  # noqa: F401 (tests pin current_time)
from api.edge import Moment
from api.errors import Invalid, Problem, responses
from api.routes.masterdata import DealerId
from db import analytics
from db.analytics import (
    ChannelReport,
    DealerScorecard,
    DispatchReport,
    Filters,
    FunnelReport,
    Period,
    ReviewReport,
    ScorecardReport,
    SlaReport,
)
from db.models import Dealer
from domain.clocks import CLOCKS
from domain.lifecycle import GRADE_ORDER
from domain.models import Actor, Channel
from domain.stages import DEALER_ROLES, Role

# 403: consultants; 404: a dealer user naming another dealer
router = APIRouter(prefix="/v1/dashboards", tags=["dashboards"], responses=responses(403, 404))

ClockName = StrEnum("ClockName", {name: name for name in CLOCKS})  # type: ignore[misc]  # members built from CLOCKS: mypy only reads literal ones
Grade = StrEnum("Grade", {g: g for g in GRADE_ORDER})  # type: ignore[misc]  # members built from GRADE_ORDER: mypy only reads literal ones


class Bucket(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class GroupBy(StrEnum):
    REGION = "region"
    DEALER = "dealer"




def _invalid(field: str, code: str, /, **params: object) -> Invalid:
    """422 in FastAPI's own shape, naming the query parameter at fault."""
    return Invalid(("query", field), code, **params)


def viewer(actor: ActorDep) -> Actor:
    if actor.role == Role.CONSULTANT:
        raise Problem(403, "error.role_only", what="dashboards", role=actor.role.value,
                      roles=sorted(r.value for r in set(Role) - {Role.CONSULTANT, Role.SYSTEM}))
    return actor


ViewerDep = Annotated[Actor, Depends(viewer)]

PERIOD_DOC = ("Half-open period [from, to). A date (2026-11-01) means 00:00 that day; dates and datetimes "
              "without an offset are Asia/Shanghai local time; between 1900 and 2999. Default: the current calendar "
              "month; a missing `from` is the 1st of the current month, a missing `to` the 1st of the next month.")


def period(now: NowDep,
           from_: Annotated[Moment | None, Query(alias="from", description=PERIOD_DOC)] = None,
           to: Annotated[Moment | None, Query(description="End of the period, exclusive (see `from`).")] = None,
           ) -> Period:
    month = analytics.month_of(now)
    resolved = Period(analytics.local(from_) if from_ else month.start, analytics.local(to) if to else month.end)
    if resolved.end <= resolved.start:
        raise _invalid("to", "invalid.to_after_from", end=resolved.end.isoformat(), start=resolved.start.isoformat())
    return resolved


PeriodDep = Annotated[Period, Depends(period)]
Text = Annotated[str | None, Query(min_length=1, max_length=64)]


def _check_master_data(session: Session, region: str | None, brand: str | None) -> None:
    for field, value, column in (("region", region, Dealer.region), ("brand", brand, Dealer.brand)):
        if value is not None and session.exec(select(column).where(column == value).limit(1)).first() is None:
            known = ", ".join(sorted(set(session.exec(select(column)).all())))
            raise _invalid(field, "invalid.unknown_value", field=field, value=value, known=known)


def _dealer_for(actor: Actor, session: Session, dealer_id: str | None) -> str | None:
    """The dealer the figures are narrowed to: forced to a dealer user's own; checked for the OEM."""
    if actor.role in DEALER_ROLES:
        own_dealer(actor, dealer_id or actor.dealer_id)
        return actor.dealer_id
    if dealer_id is not None and session.get(Dealer, dealer_id) is None:
        raise _invalid("dealer_id", "invalid.no_dealer", dealer=dealer_id)
    return dealer_id


def lead_filters(
    actor: ViewerDep, session: SessionDep,
    region: Annotated[Text, Query(description="A region of the dealer network (e.g. East).")] = None,
    dealer_id: Annotated[Text, Query(
        description="One dealer. Forced to the caller's own dealer for dealer roles.")] = None,
    series: Annotated[Text, Query(description="The intended series (e.g. A5).")] = None,
    channel: Annotated[Channel | None, Query(description="The channel.")] = None,
    brand: Annotated[Text, Query(description="The brand.")] = None,
    grade: Annotated[Grade | None, Query(description="The lead's grade now.")] = None,
) -> Filters:
    _check_master_data(session, region, brand)
    return Filters(region=region, dealer_id=_dealer_for(actor, session, dealer_id), series=series,
                   channel=channel.value if channel else None, brand=brand, grade=grade.value if grade else None)


FiltersDep = Annotated[Filters, Depends(lead_filters)]


@router.get("/funnel", response_model=FunnelReport)
def funnel(session: SessionDep, period: PeriodDep, filters: FiltersDep) -> FunnelReport:
    """**Funnel by stage.**

    - Leads: the leads **created** in the period (`lead.created_at`) matching the filters, all matched on the
      lead row as it is now: `region` = the lead's region, `dealer_id` = the dealer **holding the lead now**,
      `series`, `channel` (the channel of the raw lead that created the lead), `brand`, `grade` (grade now).
    - `steps`: for each funnel stage in order (new, cleansing, dispatched, acknowledged, assigned, contacted,
      engaged, invited, visited, test_driven, quoted, ordered, won, delivered, completed), the number of those
      leads whose **furthest stage ever reached** is that stage or a later one (monotonic: a later stage implies
      the earlier ones, so a lead ordered without a recorded visit counts as visited). Cleansing is optional
      (grades H/A/B skip it), so its step counts every lead that got past intake.
      `conversion_from_previous` = step / previous step; `conversion_from_top` = step / first step
      (= all the leads); null when the divisor is 0.
    - `current_stages`: the same leads by their stage **now**, every stage listed with its `kind`: the funnel
      stages in order, then the side stages, then closed_invalid and closed_lost (`completed` comes in funnel
      order, with kind `end`).
    - Progress is counted up to now, not cut at `to`.
    """
    return analytics.funnel(session, period, filters)


@router.get("/sla", response_model=SlaReport)
def sla(session: SessionDep, period: PeriodDep, filters: FiltersDep, now: NowDep,
        clock: Annotated[ClockName | None, Query(description="Only this clock.")] = None,
        bucket: Annotated[Bucket | None, Query(description="Also a series of compliance per clock per "
                                                          "day | week | month (by deadline).")] = None,
        ) -> SlaReport:
    """**SLA compliance per clock** (SPEC 4).

    - Runs: the runs of each SLA clock (`clock_run`) whose **deadline** falls in the period. A run that never
      got a deadline (a working-day clock before its calendar answer) is not counted.
    - Filters match the lead row now (`region`, `series`, `channel`, `brand`, `grade`), except `dealer_id`,
      which matches the dealer **the clock ran for** (the holding dealer when it started): a dealer filter
      leaves out the OEM's clocks (cleansing, transfer review, defeat and appeal review, ...).
    - `met`: stopped by the action it waited for; `lapsed`: its deadline passed; `cancelled`: stopped for
      another reason (the holding ended, the lead closed); `running`: not ended yet; `overdue_now`: running with
      a deadline before `as_of` (now). A dealer clock paused while the dealer's request is looked at (transfer
      request, defeat application, stall review) counts as running, with the deadline it had before the pause.
      The stall and grade_cadence clocks restart at every follow-up: the run a follow-up replaces counts as met.
    - `compliance` = met / (met + lapsed); null when both are 0. Cancelled and running runs are left out.
    - `clocks` lists every clock (or only `clock`), zeros included; `overall` adds them up.
    - With `bucket`: `series` gives met / lapsed / cancelled / running and compliance per clock per bucket of the
      deadline, in Asia/Shanghai local time: the day, the ISO week (starting Monday) or the month.
    """
    return analytics.sla_compliance(session, period, filters, now, clock.value if clock else None,
                                    bucket.value if bucket else None)


SCORECARD_DOC = """
- Weights: the policy's `[scorecard]` table (default: conversion 30%, store visit 20%, deal 20%, follow-up
  timeliness 10%, status-update accuracy 10%, defeat-report compliance 5%, cooperation 5%); returned in `weights`.
- **Received leads** (the base): distinct leads with a holding of the dealer **started** in the period.
- **conversion**: received leads that reached `engaged` **while held by this dealer** (the lead has a timeline
  event stamped with this dealer whose stage is engaged or a later funnel stage) / received leads.
  **store_visit**: the same with `visited`; **deal**: the same with `won`. Progress is counted up to now.
- **follow_up_timeliness**: the dealer's runs of the first_response, public_pool, first_deep_contact and
  store_invitation clocks with a deadline in the period: met / (met + lapsed).
- **status_update_accuracy**: 1 - (the dealer's **lapsed** `stall` clock runs (7 days without a follow-up) with a
  deadline in the period / received leads), floored at 0. Its `numerator` is the stall lapses.
- **defeat_report_compliance**: the dealer's **own defeat applications** (manager-approved, `source` dealer; a
  lead sent to review by the stall clock is not an application) decided by the OEM review team in the period
  (`defeat_decided` while the dealer held the lead): the share that stand as real defeats: verdict true_defeat,
  or a pseudo_defeat verdict later **overturned on appeal** (its penalty is removed, SPEC 4.3).
- **cooperation**: the dealer's `receipt` clock runs (confirm a dispatched lead within 2 h) with a deadline in
  the period: met / (met + lapsed). Runs cancelled by a decline or a transfer are left out.
- A measure with a denominator of 0 has `value` null; the total then counts it as 0 for conversion, store_visit
  and deal (the dealer received nothing) and as 1 for the four compliance measures (nothing went wrong).
- **total** = 100 x sum(weight x counted_as), rounded half up to 1 decimal; each measure returns its numerator,
  denominator, value, counted_as, weight and points so it can be re-counted.
- Ranked by total (as shown, 1 decimal), best first; equal totals share a rank (1, 2, 2, 4), listed by dealer id.
"""


SCORECARDS_DOC = """**Dealer scorecards, ranked** (SPEC 8, monthly by default).

Every dealer of the master data matching `region`/`brand` is ranked (a dealer with no activity gets its
scorecard too); `dealer_id` only narrows the rows returned. A dealer manager or dealer ops lead gets **only
their own scorecard**, with its rank and `ranked_out_of` among the dealers ranked, and never another dealer's
name or figures.
""" + SCORECARD_DOC


@router.get("/scorecards", response_model=ScorecardReport, description=SCORECARDS_DOC)
def scorecards(
    actor: ViewerDep, session: SessionDep, period: PeriodDep, policy: PolicyDep,
    region: Annotated[Text, Query(description="Rank the dealers of this region (dealer master data).")] = None,
    brand: Annotated[Text, Query(description="Rank the dealers of this brand (dealer master data).")] = None,
    dealer_id: Annotated[Text, Query(description="Return only this dealer's scorecard (ranks unchanged).")] = None,
) -> ScorecardReport:
    _check_master_data(session, region, brand)
    dealer_id = _dealer_for(actor, session, dealer_id)
    cards = analytics.scorecards(session, period, policy.scorecard, region=region, brand=brand)
    among = " and ".join(f"{k} {v}" for k, v in (("region", region), ("brand", brand)) if v)
    return ScorecardReport(period=analytics.PeriodView.of(period), weights=policy.scorecard,
                           ranked_among=f"dealers of {among}" if among else "all dealers",
                           dealers=[c for c in cards if dealer_id is None or c.dealer_id == dealer_id])


SCORECARD_ONE_DOC = """**One dealer's scorecard**, ranked among all dealers. 404 for an unknown dealer, and for a
dealer user asking for another dealer.
""" + SCORECARD_DOC


@router.get("/scorecards/{dealer_id}", response_model=DealerScorecard, description=SCORECARD_ONE_DOC)
def scorecard(actor: ViewerDep, session: SessionDep, period: PeriodDep, policy: PolicyDep,
              dealer_id: DealerId) -> DealerScorecard:
    own_dealer(actor, dealer_id)
    if session.get(Dealer, dealer_id) is None:
        raise Problem(404, "error.not_found", thing="dealer", id=dealer_id)
    return next(c for c in analytics.scorecards(session, period, policy.scorecard) if c.dealer_id == dealer_id)


@router.get("/dispatch", response_model=DispatchReport)
def dispatch(session: SessionDep, period: PeriodDep, filters: FiltersDep,
             group_by: Annotated[GroupBy | None, Query(description="Also per region or per dealer.")] = None,
             ) -> DispatchReport:
    """**Dispatch match rate** (SPEC 8: leads not transferred or declined).

    - Holdings: every holding (one dealer holding one lead) **started** in the period; a lead dispatched three
      times counts three holdings.
    - `matched`: the holding did **not** end by `declined` (choice-right decline), `transferred` (transfer
      approved) or `receipt_lapsed` (not confirmed within 2 h, re-dispatched). Holdings still open or ended
      otherwise (true_defeat, pseudo_defeat, reassigned) are matched. `match_rate` = matched / started.
    - `by_end_reason`: holdings by end reason; `open` = not ended.
    - Filters: `dealer_id` = the holding's dealer, `region` = that dealer's region (master data); `series`,
      `channel`, `brand`, `grade` match the lead row now.
    - `group_by=region|dealer`: the same figures per region of the holding's dealer or per dealer.
    """
    return analytics.dispatch_match(session, period, filters, group_by.value if group_by else None)


@router.get("/reviews", response_model=ReviewReport)
def reviews(session: SessionDep, period: PeriodDep, filters: FiltersDep, now: NowDep) -> ReviewReport:
    """**Review backlog and speed** per queue.

    | queue | request event | decision events | waiting now |
    | --- | --- | --- | --- |
    | cleansing | cleansing_started | cleansing_recorded | lead in stage `cleansing` |
    | transfer_review | transfer_requested | transfer_approved, transfer_rejected | lead in stage `transfer_review` |
    | defeat_review (OEM) | defeat_submitted | defeat_decided | lead in stage `defeat_review` |
    | appeal_review | appeal_filed | appeal_decided | an appeal_filed with no appeal_decided after it |

    - `open_now`: requests waiting now (not limited to the period); `oldest_waiting_since`: the time of the
      oldest waiting request (for a stage queue, the lead's latest request event); `oldest_waiting_hours`: from
      then to `as_of` (now).
    - Decisions made in the period: each decision event is paired with the latest request event of the same
      lead before it, provided no other decision of the queue came in between (a cleansing recorded for a lead
      at the call center without a cleansing request is not counted). `decided` = the number of such pairs;
      `avg_hours` / `max_hours` = mean / maximum hours from request to decision.
    - Filters: `region`, `series`, `channel`, `brand`, `grade` match the lead row now; `dealer_id` matches the
      dealer the request concerns: the dealer holding the lead when the request was made, for an appeal the
      appealing dealer (cleansing requests have no dealer).
    """
    return analytics.review_queues(session, period, filters, now)


@router.get("/channels", response_model=ChannelReport)
def channels(session: SessionDep, period: PeriodDep, filters: FiltersDep) -> ChannelReport:
    """**Cost per lead and per deal by channel.**

    - Raw leads: the raw leads (submissions) **received** in the period (`raw_lead.received_at`), whatever they
      became (created, merged into or reactivated a lead), grouped by their own channel.
    - `acquisition_cost`: the sum of their costs in CNY (raw leads without a cost add nothing;
      `raw_leads_with_cost` says how many had one). `leads`: distinct leads they landed in. `won_leads`: those of
      the leads whose furthest stage is `won` or later (counted up to now).
    - `cost_per_lead` = acquisition_cost / leads; `cost_per_deal` = acquisition_cost / won_leads; null when 0.
    - A lead reached by two channels counts once in each channel; `total` counts it once.
    - Filters: `channel` and `brand` match the raw lead; `region`, `dealer_id` (the dealer holding the lead
      now), `series`, `grade` match the lead row now.
    """
    return analytics.channel_costs(session, period, filters)
