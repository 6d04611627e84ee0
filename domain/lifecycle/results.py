"""What the workflow's activities answered (score, dispatch, consultant, a working-day deadline,
a calendar correction) turned into the lead's next state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.calendar import SHANGHAI
from domain.events import Ev
from domain.lifecycle.effects import NotifyEffect
from domain.lifecycle.transition import GRADE_ORDER, R, S, Transition
from domain.models import (
    Actor,
    ConsultantResult,
    DispatchResult,
    Holding,
    LeadState,
    NotifyRequest,
    ScoreResult,
)
from domain.policy import Policy


def on_scored(state: LeadState, result: ScoreResult, then: str, policy: Policy, now: datetime) -> Transition:
    t = Transition.begin(state, policy, now)
    s = t.state
    before = s.grade
    s.score, s.grade, s.score_items = result.score, result.grade, result.items
    s.region = s.region or result.region
    t.emit(Ev.SCORED, score=result.score, grade=result.grade, previous_grade=before, missing=result.missing)
    hot = GRADE_ORDER.get(result.grade, 0) >= GRADE_ORDER["B"]
    if then == "route":
        if result.grade in policy.rules.cleansing_grades or not result.complete:
            t.move(S.CLEANSING)
            why = f"grade {result.grade}" if result.complete else "missing " + ", ".join(result.missing)
            t.emit(Ev.CLEANSING_STARTED, reason=why)
            t.notify("cleansing_needed", (R.CALL_CENTER,), f"lead needs cleansing ({why})")
        else:
            t.dispatch(f"grade {result.grade} goes straight to dispatch")
    elif then == "dispatch":
        t.dispatch("verified by the call center")
    elif then == "merge":
        if s.stage == S.NURTURING and hot:
            t.emit(Ev.NURTURING_ENDED, reason=f"intent resurgence: grade {result.grade}")
            t.dispatch(f"nurtured lead rose to grade {result.grade}", priority=True)
        elif s.holding and before and GRADE_ORDER.get(result.grade, 0) > GRADE_ORDER.get(before, 0):
            s.priority = True
            t.notify("lead_heated_up", (R.CONSULTANT,), f"customer active again: grade {before} -> {result.grade}",
                     grade_before=before, grade=result.grade)
    return t


def on_dispatched(state: LeadState, result: DispatchResult, policy: Policy, now: datetime) -> Transition:
    t = Transition.begin(state, policy, now)
    s = t.state
    if result.dealer_id is None:
        t.move(S.CALL_CENTER)
        t.emit(Ev.NO_ELIGIBLE_DEALER, reason=result.reason,
               **({"reason_code": result.code, "reason_params": result.params} if result.code else {}))
        t.alert("no_eligible_dealer", (R.LEAD_OPS, R.CALL_CENTER), f"no dealer can take this lead: {result.reason}")
        return t
    s.holding = Holding(
        dealer_id=result.dealer_id, dealer_name=result.dealer_name, region=result.region,
        choice_right=result.choice_right, competitive_region=result.competitive_region,
        auto_assign=result.auto_assign,
        started_at=now, dispatch_reason=result.reason,
    )
    s.region = result.region or s.region
    s.consultant_id = None
    s.follow_ups = 0
    s.sla_breached = False
    t.move(S.DISPATCHED)
    t.emit(Ev.DISPATCHED, dealer_name=result.dealer_name, reason=result.reason, priority=s.priority,
           candidates=[cand.model_dump() for cand in result.candidates[:10]],
           **({"reason_code": result.code, "reason_params": result.params} if result.code else {}))
    t.notify("lead_dispatched", (R.DEALER_MANAGER, R.DEALER_OPS_LEAD),
             f"new {'priority ' if s.priority else ''}lead, grade {s.grade}: confirm receipt")
    s.priority = False
    return t


def on_consultant_picked(state: LeadState, result: ConsultantResult, policy: Policy, now: datetime) -> Transition:
    """The dealer's auto-assign policy answered: assign, or ask the manager when nobody fits."""
    t = Transition.begin(state, policy, now)
    s = t.state
    if s.stage != S.ACKNOWLEDGED or s.consultant_id is not None:
        return t  # someone assigned it meanwhile
    if result.consultant_id is None:
        t.notify("assignment_needed", (R.DEALER_MANAGER,), f"auto-assign found nobody: {result.reason}; assign it")
        return t
    s.consultant_id = result.consultant_id
    t.move(S.ASSIGNED)
    event = t.emit(Ev.ASSIGNED, consultant_id=result.consultant_id, previous_consultant_id=None, auto=True,
                   reason=result.reason)
    t.notify("lead_assigned", (R.CONSULTANT,), "a lead was assigned to you", event=event)
    return t


def on_deadline(state: LeadState, clock: str, started_at: datetime, deadline: datetime, policy: Policy, now: datetime,
                provisional_years: Sequence[int] = ()) -> Transition:
    """A working-day deadline came back from the calendar activity. `provisional_years` (patch `calendar-table`):
    the years of its count whose calendar lead ops have not confirmed yet: the timeline says so, and the head of
    lead ops is alerted once per year (the inbox key is the year's, not the lead's)."""
    t = Transition.begin(state, policy, now)
    running = t.state.clocks.get(clock)
    if running and running.started_at == started_at and running.deadline is None:
        running.deadline = deadline
        t.emit(Ev.DEADLINE_SET, clock=clock, deadline=deadline.isoformat())
        for year in provisional_years:
            message = PROVISIONAL_CALENDAR.format(year=year)
            t.emit(Ev.CALENDAR_PROVISIONAL, clock=clock, year=year, message=message)
            t.effects.append(NotifyEffect(request=NotifyRequest(
                lead_id=calendar_notice_key(year), event_seq=0, kind="calendar_provisional", roles=[R.HEAD_OF_LEAD_OPS],
                message=f"the {year} holiday schedule is not confirmed: deadlines count on the computed calendar; "
                        f"upload and confirm it", data={"year": year})))
    return t


PROVISIONAL_CALENDAR = "{year} 年节假日安排尚未确认，截止时间按推算日历计算"
DEADLINE_MOVED = "截止时间由 {old} 调整为 {new}（{reason}）"


def calendar_notice_key(year: int) -> str:
    """The inbox's 'lead' of a calendar alert: one per year, whichever lead asks first."""
    return f"calendar-{year}"


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def on_deadline_moved(state: LeadState, clock: str, started_at: datetime, deadline: datetime, reason: str,
                      policy: Policy, now: datetime) -> Transition:
    """Lead ops corrected the calendar (patch `calendar-correction`): an open working-day clock counted again."""
    t = Transition.begin(state, policy, now)
    running = t.state.clocks.get(clock)
    if running and running.running and running.started_at == started_at and running.deadline not in (None, deadline):
        old, running.deadline = running.deadline, deadline
        t.emit(Ev.DEADLINE_MOVED, clock=clock, old_deadline=old.isoformat(), deadline=deadline.isoformat(),
               reason=reason, message=DEADLINE_MOVED.format(old=_local(old), new=_local(deadline), reason=reason))
    return t


def migrate_policy(state: LeadState, old: Policy, new: Policy, reason: str, actor: Actor, now: datetime) -> Transition:
    """Lead ops moved this running lead to another policy version (issue 16). Clocks already running keep their
    deadlines; every clock started from now on runs under the new version."""
    t = Transition.begin(state, new, now, actor)
    t.emit(Ev.POLICY_MIGRATED, from_version=old.version, to_version=new.version, reason=reason,
           message=f"线索策略由版本 {old.version} 迁移到版本 {new.version}：{reason}")
    return t
