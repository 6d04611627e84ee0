"""The one decider: what a lead may do next (SPEC 3, 4).

Pure: no Temporal, no I/O, no clock reads. The workflow, the update validators, the API and
the portal all ask this module. Every entry point takes the current `LeadState` and returns a
`Transition` holding a *new* state, the timeline events it produced and the effects the
workflow must carry out (scoring, dispatch, working-day deadlines, notifications). A refused
action raises `Refused` and leaves the given state untouched, so nothing is ever half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from domain.calendar import SHANGHAI
from domain import commands as c
from domain.clocks import CLOCKS, PAUSE_ON, RESUME_ON, SURVIVE_END, ClockSpec, duration_of
from domain.models import (
    SYSTEM_ACTOR,
    Actor,
    AppealCase,
    BEHAVIOUR_COUNTERS,
    BehaviourEvent,
    ClockEnd,
    ConsultantResult,
    ClockState,
    DefeatCase,
    DispatchResult,
    Holding,
    LeadState,
    Model,
    NotifyRequest,
    RawLead,
    ScoreResult,
    TimelineEvent,
    Touchpoint,
    TransferRequest,
)
from domain.policy import Policy
from domain.stages import END_STAGES, FUNNEL, LeadStage, Role, funnel_rank, reached

S = LeadStage
R = Role
RECENT_EVENTS = 50
GRADE_ORDER = {"H": 3, "A": 2, "B": 1, "C": 0}


class Refused(Exception):
    """An action the lead's stage (or the actor's role) does not allow. Nothing was changed."""

    def __init__(self, reason: str, kind: str = "stage"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # stage (409) | forbidden (403) | invalid (422)


# --------------------------------------------------------------------------- effects


class ScoreEffect(Model):
    then: str  # route | dispatch | merge | none


class DispatchEffect(Model):
    reason: str
    priority: bool = False
    forced_dealer_id: str | None = None


class DeadlineEffect(Model):
    clock: str
    started_at: datetime
    working_days: int


class NotifyEffect(Model):
    request: NotifyRequest


class AssignEffect(Model):
    """The dealer's auto-assign policy picks the consultant (SPEC 3 step 6)."""


Effect = ScoreEffect | DispatchEffect | DeadlineEffect | NotifyEffect | AssignEffect


@dataclass
class Transition:
    """A step being decided: a working copy of the state plus what the step produced."""

    state: LeadState
    policy: Policy
    now: datetime
    actor: Actor = field(default_factory=lambda: SYSTEM_ACTOR)
    events: list[TimelineEvent] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    clock_ends: list[ClockEnd] = field(default_factory=list)
    message: str = ""

    @classmethod
    def begin(cls, state: LeadState, policy: Policy, now: datetime, actor: Actor = SYSTEM_ACTOR):
        return cls(state.model_copy(deep=True), policy, now, actor)

    # -- the timeline, and the clocks that follow it
    def emit(self, kind: str, **data: Any) -> TimelineEvent:
        s = self.state
        s.seq += 1
        s.updated_at = self.now
        event = TimelineEvent(
            seq=s.seq, at=self.now, kind=kind, stage=s.stage, actor=self.actor.user_id,
            role=self.actor.role, dealer_id=s.dealer_id, data=data,
        )
        self.events.append(event)
        s.recent = (s.recent + [event])[-RECENT_EVENTS:]
        self._follow_clocks(kind)
        return event

    def move(self, stage: LeadStage) -> None:
        s = self.state
        s.stage = stage
        if funnel_rank(stage) > funnel_rank(s.furthest_stage):
            s.furthest_stage = stage
        if s.reactivations and reached(stage, S.ENGAGED):
            s.progress_since_reactivation = True
        for name in [n for n, spec in _running_specs(s) if spec.stop_at_stage and reached(stage, spec.stop_at_stage)]:
            self.end_clock(name, "met")
        if stage in END_STAGES:
            for name in [n for n in s.clocks if n not in SURVIVE_END]:
                self.end_clock(name, "cancelled")

    def step_aside(self, stage: LeadStage) -> None:
        """Into a side stage that goes back where it came from (transfer review, defeat approval, cancellation)."""
        self.state.return_stage = self.state.stage
        self.move(stage)

    def step_back(self, default: LeadStage | None = None) -> None:
        self.move(self.state.return_stage or default)
        self.state.return_stage = None

    def _follow_clocks(self, kind: str) -> None:
        s = self.state
        if kind in PAUSE_ON or kind in RESUME_ON:
            for clock in s.clocks.values():
                if not CLOCKS[clock.name].dealer_clock:
                    continue
                if kind in PAUSE_ON and clock.running:
                    clock.paused_remaining_s = max(0.0, (clock.deadline - self.now).total_seconds())
                elif kind in RESUME_ON and clock.paused_remaining_s is not None:
                    clock.deadline = self.now + timedelta(seconds=clock.paused_remaining_s)
                    clock.paused_remaining_s = None
        for spec in CLOCKS.values():
            if spec.name in s.clocks and kind in spec.stops_on:
                self.end_clock(spec.name, "met")
            elif spec.name in s.clocks and kind == "holding_ended" and spec.dealer_clock:
                self.end_clock(spec.name, "cancelled")
        for spec in CLOCKS.values():
            if kind in spec.starts_on and self._may_start(spec):
                self.start_clock(spec)

    def _may_start(self, spec: ClockSpec) -> bool:
        s = self.state
        if spec.dealer_clock and s.holding is None:
            return False
        if spec.stop_at_stage and reached(s.stage, spec.stop_at_stage):
            return False
        return spec.start_if is None or spec.start_if(s)

    def end_clock(self, name: str, outcome: str) -> ClockState:
        s = self.state
        clock = s.clocks.pop(name)
        dealer = (s.holding.dealer_id if s.holding else None) if CLOCKS[name].dealer_clock else None
        self.clock_ends.append(ClockEnd(name=name, started_at=clock.started_at, deadline=clock.deadline,
                                        ended_at=self.now, outcome=outcome, dealer_id=dealer))
        return clock

    def start_clock(self, spec: ClockSpec) -> None:
        if spec.name in self.state.clocks:  # started again by what it waited for (a cadence clock)
            self.end_clock(spec.name, "met")
        if spec.working_days:
            days = getattr(self.policy.working_days, spec.working_days)
            self.state.clocks[spec.name] = ClockState(name=spec.name, started_at=self.now, deadline=None)
            self.effects.append(DeadlineEffect(clock=spec.name, started_at=self.now, working_days=days))
        else:
            deadline = self.now + self.policy.scaled(duration_of(spec, self.state, self.policy))
            self.state.clocks[spec.name] = ClockState(name=spec.name, started_at=self.now, deadline=deadline)

    # -- people
    def notify(self, kind: str, roles: tuple[Role, ...], message: str, event: TimelineEvent | None = None, **data):
        s = self.state
        event = event or self.emit(f"notified_{kind}", roles=[r.value for r in roles], message=message)
        consultant = s.consultant_id
        # the consultant, or the manager while nobody is assigned (SPEC 4.1)
        resolved = tuple(dict.fromkeys(R.DEALER_MANAGER if r == R.CONSULTANT and not consultant else r for r in roles))
        self.effects.append(NotifyEffect(request=NotifyRequest(
            lead_id=s.lead_id, event_seq=event.seq, kind=kind, message=message, roles=list(resolved),
            dealer_id=s.dealer_id, consultant_id=consultant, region=s.region, data=data,
        )))

    def alert(self, kind: str, roles: tuple[Role, ...], message: str, **data) -> None:
        s = self.state
        s.alerts += 1
        event = self.emit("alert_raised", alert=kind, roles=[r.value for r in roles], message=message, **data)
        self.notify(kind, roles, message, event=event, **data)
        if R.REGIONAL_MANAGER in roles:
            self.emit("regional_manager_alerted", alert=kind)

    # -- holdings
    def end_holding(self, reason: str) -> None:
        s = self.state
        if s.holding is None:
            return
        s.holding.ended_at = self.now
        s.holding.end_reason = reason
        dealer = s.holding.dealer_id
        self.emit("holding_ended", reason=reason, ended_dealer_id=dealer)
        s.past_holdings.append(s.holding)
        s.holding = None
        s.consultant_id = None
        s.follow_ups = 0
        s.return_stage = None
        s.transfer = None

    def dispatch(self, reason: str, priority: bool = False, forced_dealer_id: str | None = None) -> None:
        self.state.priority = self.state.priority or priority
        self.effects.append(DispatchEffect(reason=reason, priority=priority, forced_dealer_id=forced_dealer_id))

    def record_penalty(self, dealer_id: str, kind: str, note: str) -> str:
        penalty_id = f"{self.state.lead_id}:{self.state.seq + 1}"
        self.emit("penalty_recorded", penalty_id=penalty_id, penalized_dealer_id=dealer_id, penalty=kind, note=note)
        return penalty_id

    def go_dormant(self) -> None:
        s = self.state
        if s.reactivations >= self.policy.rules.max_reactivations and not s.progress_since_reactivation:
            self.move(S.CLOSED_LOST)
            self.emit("closed_lost", reactivations=s.reactivations)
        else:
            self.move(S.DORMANT)
            self.emit("went_dormant")

    def start_nurturing(self, why: str) -> None:
        self.move(S.NURTURING)
        self.emit("nurturing_started", reason=why)


def touchpoint(raw: RawLead, now: datetime, outcome: str) -> Touchpoint:
    return Touchpoint(key=raw.touchpoint_key, channel=raw.channel, external_id=raw.external_id, at=now, outcome=outcome,
                      campaign=raw.campaign, acquisition_cost=raw.acquisition_cost)


def _running_specs(s: LeadState):
    return [(name, CLOCKS[name]) for name in list(s.clocks)]


# --------------------------------------------------------------------------- intake


def start_lead(lead_id: str, customer_key: str, raw: RawLead, policy: Policy, now: datetime, actor: Actor,
               previous_lead_id: str | None = None) -> Transition:
    """A raw lead for a customer with no open lead of this brand: a new lead (唯一线索), linked to the
    customer's previous lead of the brand if there is one (e.g. a repurchase)."""
    state = LeadState(
        lead_id=lead_id, brand=raw.brand, customer_key=customer_key, profile=raw,
        created_at=now, updated_at=now, previous_lead_id=previous_lead_id,
        touchpoints=[touchpoint(raw, now, "created")],
    )
    t = Transition(state, policy, now, actor)
    t.emit("lead_created", channel=raw.channel.value, external_id=raw.external_id, campaign=raw.campaign,
           acquisition_cost=raw.acquisition_cost, previous_lead_id=previous_lead_id)
    t.effects.append(ScoreEffect(then="route"))
    t.message = "lead created"
    return t


def duplicate_outcome(state: LeadState, raw: RawLead) -> str | None:
    """The answer given to this raw lead before, if the same channel sent the same external id."""
    for tp in state.touchpoints:
        if tp.key == raw.touchpoint_key:
            return tp.outcome
    return None


def merge_raw_lead(state: LeadState, raw: RawLead, policy: Policy, now: datetime, actor: Actor) -> Transition:
    """Another raw lead of the same customer and brand: a new touchpoint, rescored (SPEC 2)."""
    t = Transition.begin(state, policy, now, actor)
    s = t.state
    if s.stage in END_STAGES:  # the customer's next raw lead makes a new lead (see workflows.gateway)
        raise Refused(f"lead {s.lead_id} is {s.stage}: it takes no new raw leads", "closed")
    outcome = "reactivated" if s.stage == S.DORMANT else "merged"
    s.touchpoints.append(touchpoint(raw, now, outcome))
    s.profile = _merge_profile(s.profile, raw)
    t.emit("raw_lead_merged", channel=raw.channel.value, external_id=raw.external_id, campaign=raw.campaign,
           acquisition_cost=raw.acquisition_cost)
    _intent_resurgence(t, "raw_lead")
    t.message = outcome
    return t


def _intent_resurgence(t: Transition, source: str) -> None:
    """New intent wakes a dormant lead and rescores any open one; B or better is dispatched (SPEC 3.12)."""
    if t.state.stage == S.DORMANT:
        t.emit("reactivated", source=source)
        t.start_nurturing("intent resurgence")
    t.effects.append(ScoreEffect(then="merge"))


def record_behaviour(state: LeadState, event: BehaviourEvent, policy: Policy, now: datetime, actor: Actor) -> Transition | None:
    """A behaviour signal (page view, config view, live stream, test-drive booking...): counted, rescored.
    Returns None for an event id already taken (a repeat changes nothing)."""
    if event.event_id in state.behaviour_event_ids:
        return None
    if state.stage in END_STAGES:
        raise Refused(f"lead {state.lead_id} is {state.stage}: behaviour no longer counts", "closed")
    t = Transition.begin(state, policy, now, actor)
    s = t.state
    counter = BEHAVIOUR_COUNTERS[event.kind]
    setattr(s.behaviour, counter, getattr(s.behaviour, counter) + event.count)
    s.behaviour_event_ids = (s.behaviour_event_ids + [event.event_id])[-500:]
    t.emit("behaviour_recorded", behaviour=event.kind.value, count=event.count, source=event.source, event_id=event.event_id)
    _intent_resurgence(t, f"behaviour:{event.kind.value}")
    t.message = "recorded"
    return t


def _merge_profile(old: RawLead, new: RawLead) -> RawLead:
    keep = {"external_id", "channel", "brand", "phone", "submitted_at", "campaign", "acquisition_cost", "consent"}
    updates = {
        k: v for k, v in new.model_dump(exclude_unset=True).items()
        if k not in keep and v not in (None, "") and not (k == "timeframe" and v == "unknown")
    }
    return old.model_copy(update=updates)


# --------------------------------------------------------------------------- activity results


def on_scored(state: LeadState, result: ScoreResult, then: str, policy: Policy, now: datetime) -> Transition:
    t = Transition.begin(state, policy, now)
    s = t.state
    before = s.grade
    s.score, s.grade, s.score_items = result.score, result.grade, result.items
    s.region = s.region or result.region
    t.emit("scored", score=result.score, grade=result.grade, previous_grade=before, missing=result.missing)
    hot = GRADE_ORDER.get(result.grade, 0) >= GRADE_ORDER["B"]
    if then == "route":
        if result.grade in policy.rules.cleansing_grades or not result.complete:
            t.move(S.CLEANSING)
            why = f"grade {result.grade}" if result.complete else "missing " + ", ".join(result.missing)
            t.emit("cleansing_started", reason=why)
            t.notify("cleansing_needed", (R.CALL_CENTER,), f"lead needs cleansing ({why})")
        else:
            t.dispatch(f"grade {result.grade} goes straight to dispatch")
    elif then == "dispatch":
        t.dispatch("verified by the call center")
    elif then == "merge":
        if s.stage == S.NURTURING and hot:
            t.emit("nurturing_ended", reason=f"intent resurgence: grade {result.grade}")
            t.dispatch(f"nurtured lead rose to grade {result.grade}", priority=True)
        elif s.holding and before and GRADE_ORDER.get(result.grade, 0) > GRADE_ORDER.get(before, 0):
            s.priority = True
            t.notify("lead_heated_up", (R.CONSULTANT,), f"customer active again: grade {before} -> {result.grade}")
    return t


def on_dispatched(state: LeadState, result: DispatchResult, policy: Policy, now: datetime) -> Transition:
    t = Transition.begin(state, policy, now)
    s = t.state
    if result.dealer_id is None:
        t.move(S.CALL_CENTER)
        t.emit("no_eligible_dealer", reason=result.reason)
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
    t.emit("dispatched", dealer_name=result.dealer_name, reason=result.reason, priority=s.priority,
           candidates=[cand.model_dump() for cand in result.candidates[:10]])
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
    event = t.emit("assigned", consultant_id=result.consultant_id, previous_consultant_id=None, auto=True,
                   reason=result.reason)
    t.notify("lead_assigned", (R.CONSULTANT,), "a lead was assigned to you", event=event)
    return t


def on_deadline(state: LeadState, clock: str, started_at: datetime, deadline: datetime, policy: Policy, now: datetime,
                provisional_years: list[int] = ()) -> Transition:
    """A working-day deadline came back from the calendar activity. `provisional_years` (patch `calendar-table`):
    the years of its count whose calendar lead ops have not confirmed yet: the timeline says so, and the head of
    lead ops is alerted once per year (the inbox key is the year's, not the lead's)."""
    t = Transition.begin(state, policy, now)
    running = t.state.clocks.get(clock)
    if running and running.started_at == started_at and running.deadline is None:
        running.deadline = deadline
        t.emit("deadline_set", clock=clock, deadline=deadline.isoformat())
        for year in provisional_years:
            message = PROVISIONAL_CALENDAR.format(year=year)
            t.emit("calendar_provisional", clock=clock, year=year, message=message)
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
        t.emit("deadline_moved", clock=clock, old_deadline=old.isoformat(), deadline=deadline.isoformat(),
               reason=reason, message=DEADLINE_MOVED.format(old=_local(old), new=_local(deadline), reason=reason))
    return t


# --------------------------------------------------------------------------- clocks lapsing


def is_due(state: LeadState, name: str, now: datetime) -> bool:
    """Still due: an earlier lapse in the same pass may have stopped, paused or restarted it."""
    clock = state.clocks.get(name)
    return clock is not None and clock.running and clock.deadline <= now


def due_clocks(state: LeadState, now: datetime) -> list[str]:
    due = [c for c in state.clocks.values() if c.running and c.deadline <= now]
    return [c.name for c in sorted(due, key=lambda c: (c.deadline, c.name))]


def next_deadline(state: LeadState) -> datetime | None:
    deadlines = [c.deadline for c in state.clocks.values() if c.running]
    return min(deadlines) if deadlines else None


def lapse(state: LeadState, name: str, policy: Policy, now: datetime, sla_penalties: bool = True) -> Transition:
    """A clock ran out. `sla_penalties`: breaches count against the dealer (leads that started before
    this rule replay without it)."""
    t = Transition.begin(state, policy, now)
    spec = CLOCKS[name]
    clock = t.end_clock(name, "lapsed")
    t.emit("clock_lapsed", clock=name, title=spec.title, deadline=clock.deadline.isoformat())
    if spec.dealer_clock:
        t.state.sla_breached = True
    if spec.penalty and sla_penalties and t.state.dealer_id:
        t.record_penalty(t.state.dealer_id, spec.penalty, f"{spec.title}: deadline passed")
    LAPSE_ACTIONS[spec.on_lapse](t, spec)
    return t


def _lapse_alert(t: Transition, spec: ClockSpec) -> None:
    t.alert(spec.name, spec.alert, f"{spec.title}: deadline passed")


def _lapse_redispatch(t: Transition, spec: ClockSpec) -> None:
    dealer = t.state.dealer_id
    _lapse_alert(t, spec)
    t.record_penalty(dealer, "receipt_not_confirmed", "2 h without acknowledging the lead")
    t.end_holding("receipt_lapsed")
    t.dispatch(f"dealer {dealer} did not confirm receipt in time")


def _lapse_to_public_pool(t: Transition, spec: ClockSpec) -> None:
    t.state.consultant_id = None
    t.move(S.PUBLIC_POOL)
    t.emit("moved_to_public_pool")
    _lapse_alert(t, spec)


def _lapse_escalate(t: Transition, spec: ClockSpec) -> None:
    t.alert("regional_escalation", spec.alert, "the regional manager has not contacted the dealer within 12 h")


def _lapse_stall(t: Transition, spec: ClockSpec) -> None:
    s = t.state
    s.return_stage = None
    s.defeat = DefeatCase(reason_code="stalled", note="7 days without any follow-up", source="stall",
                          dealer_id=s.dealer_id, applied_by="system", applied_at=t.now)
    t.emit("stall_detected")
    t.move(S.DEFEAT_REVIEW)
    t.emit("defeat_submitted", source="stall")
    _lapse_alert(t, spec)


def _lapse_close_appeal_window(t: Transition, spec: ClockSpec) -> None:
    if t.state.appeal:
        t.state.appeal.window_open = False
    t.emit("appeal_window_closed")


def _lapse_nurture_touch(t: Transition, spec: ClockSpec) -> None:
    event = t.emit("nurture_content_sent")
    t.notify("nurture_content", (R.CALL_CENTER,), "send the customer nurturing content", event=event)


def _lapse_to_dormant(t: Transition, spec: ClockSpec) -> None:
    t.emit("nurturing_ended", reason="nurturing period over")
    t.go_dormant()


def _lapse_reactivate(t: Transition, spec: ClockSpec) -> None:
    t.state.reactivations += 1
    t.state.progress_since_reactivation = False
    t.emit("reactivated", source="six_months_dormant", count=t.state.reactivations)
    t.start_nurturing("reactivated after 6 months")
    t.effects.append(ScoreEffect(then="none"))


def _lapse_revisit_due(t: Transition, spec: ClockSpec) -> None:
    t.state.revisit_due = True
    event = t.emit("revisit_due")
    t.notify("revisit_due", (R.CONSULTANT,), "3 months since delivery: revisit the customer", event=event)


def _lapse_complete_without_revisit(t: Transition, spec: ClockSpec) -> None:
    _lapse_alert(t, spec)
    t.move(S.COMPLETED)
    t.emit("completed", revisit_logged=False)


LAPSE_ACTIONS: dict[str, Callable[[Transition, ClockSpec], None]] = {
    "alert": _lapse_alert,
    "redispatch": _lapse_redispatch,
    "to_public_pool": _lapse_to_public_pool,
    "escalate": _lapse_escalate,
    "stall_to_review": _lapse_stall,
    "close_appeal_window": _lapse_close_appeal_window,
    "nurture_touch": _lapse_nurture_touch,
    "to_dormant": _lapse_to_dormant,
    "reactivate": _lapse_reactivate,
    "revisit_due": _lapse_revisit_due,
    "complete_without_revisit": _lapse_complete_without_revisit,
}
assert {spec.on_lapse for spec in CLOCKS.values()} <= set(LAPSE_ACTIONS)


# --------------------------------------------------------------------------- people's actions

PRE_ORDER = frozenset(FUNNEL[FUNNEL.index(S.ACKNOWLEDGED): FUNNEL.index(S.ORDERED)])
WORKING = PRE_ORDER | {S.ORDERED, S.WON}
CONTACTED_ON = frozenset(FUNNEL[FUNNEL.index(S.CONTACTED): FUNNEL.index(S.ORDERED)])
ANY_OPEN = frozenset(set(S) - END_STAGES)
DEALER = frozenset({R.DEALER_MANAGER, R.CONSULTANT})
MANAGER = frozenset({R.DEALER_MANAGER})
LEAD_OPS = frozenset({R.LEAD_OPS, R.HEAD_OF_LEAD_OPS})
REVIEWERS = frozenset({R.REVIEW_TEAM, R.REVIEW_TEAM_LEAD})


@dataclass(frozen=True)
class ActionRule:
    stages: frozenset[LeadStage]
    roles: frozenset[Role]
    apply: Callable[[Transition, Any], None]
    scope: str = "holder"  # holder: the holding dealer only | oem | original_dealer | any_stage_oem
    guard: Callable[[LeadState, Actor], None] | None = None  # what the lead must hold, whatever the command


def _until(stage: LeadStage, start: LeadStage = S.CONTACTED) -> frozenset[LeadStage]:
    return frozenset(FUNNEL[FUNNEL.index(start): FUNNEL.index(stage)])


def _advance(stage: LeadStage, kind: str):
    def apply(t: Transition, cmd) -> None:
        t.move(stage)
        t.emit(kind, **cmd.model_dump(mode="json", exclude={"action"}))
    return apply


def _acknowledge(t: Transition, cmd: c.Acknowledge) -> None:
    t.move(S.ACKNOWLEDGED)
    t.emit("acknowledged")
    if t.state.holding.auto_assign and t.state.consultant_id is None:
        t.effects.append(AssignEffect())


def _may_decline(s: LeadState, actor: Actor) -> None:
    if not (s.holding and s.holding.choice_right):
        raise Refused("this dealer has no choice-right (线索自主选择权): it cannot decline dispatched leads", "forbidden")


def _decline(t: Transition, cmd: c.Decline) -> None:
    dealer = t.state.dealer_id
    t.emit("declined", reason=cmd.reason)
    t.end_holding("declined")
    t.dispatch(f"declined by dealer {dealer}")


def _assign(t: Transition, cmd: c.Assign) -> None:
    s = t.state
    previous = s.consultant_id
    s.consultant_id = cmd.consultant_id
    if s.stage in (S.ACKNOWLEDGED, S.PUBLIC_POOL):
        t.move(S.ASSIGNED)
    t.emit("assigned", consultant_id=cmd.consultant_id, previous_consultant_id=previous)
    t.notify("lead_assigned", (R.CONSULTANT,), "a lead was assigned to you")


def _claim(t: Transition, cmd: c.Claim) -> None:
    t.state.consultant_id = t.actor.user_id
    t.move(S.ASSIGNED)
    t.emit("claimed", consultant_id=t.actor.user_id)


def _log_follow_up(t: Transition, cmd: c.LogFollowUp) -> None:
    s = t.state
    deep = cmd.needs_captured or (
        cmd.channel == c.ContactChannel.CALL and (cmd.duration_minutes or 0) >= t.policy.rules.engaged_call_minutes
    )
    s.follow_ups += 1
    s.follow_ups_total += 1
    s.last_follow_up_at = t.now
    if s.stage in (S.ACKNOWLEDGED, S.ASSIGNED):
        t.move(S.CONTACTED)
    if deep and funnel_rank(s.stage) < funnel_rank(S.ENGAGED) and s.stage == S.CONTACTED:
        t.move(S.ENGAGED)
    t.emit("follow_up_logged", needs_captured=deep, **cmd.model_dump(mode="json", exclude={"action", "needs_captured"}))


def _request_transfer(t: Transition, cmd: c.RequestTransfer) -> None:
    s = t.state
    s.transfer = TransferRequest(reason=cmd.reason, text=cmd.text, requested_by=t.actor.user_id,
                                 requested_at=t.now, dealer_id=s.dealer_id)
    t.step_aside(S.TRANSFER_REVIEW)
    t.emit("transfer_requested", reason=cmd.reason.value, text=cmd.text)
    t.notify("transfer_review_needed", (R.LEAD_OPS,), f"transfer requested: {cmd.reason.value}")


def _review_transfer(t: Transition, cmd: c.ReviewTransfer) -> None:
    s = t.state
    if cmd.approve:
        dealer = s.dealer_id
        t.emit("transfer_approved", explanation=cmd.explanation)
        t.end_holding("transferred")
        t.dispatch(f"transfer from dealer {dealer} approved: {cmd.explanation}")
    else:
        t.step_back()
        s.transfer = None
        event = t.emit("transfer_rejected", explanation=cmd.explanation)
        t.notify("transfer_rejected", (R.DEALER_MANAGER,), f"transfer rejected: {cmd.explanation}", event=event)


def _request_cancel(t: Transition, cmd: c.RequestCancel) -> None:
    t.step_aside(S.CANCEL_PENDING)
    t.emit("cancel_requested", reason=cmd.reason)
    t.notify("cancel_approval_needed", (R.DEALER_MANAGER,), f"order cancellation requested: {cmd.reason}")


def _review_cancel(t: Transition, cmd: c.ReviewCancel) -> None:
    s = t.state
    if cmd.approve:
        s.return_stage = None
        t.move(S.ENGAGED)
        t.emit("cancel_approved", note=cmd.note)
    else:
        t.step_back(default=S.ORDERED)
        t.emit("cancel_rejected", note=cmd.note)


def _log_revisit(t: Transition, cmd: c.LogRevisit) -> None:
    t.emit("revisit_logged", note=cmd.note)
    t.move(S.COMPLETED)
    t.emit("completed", revisit_logged=True)


def _may_apply_for_defeat(s: LeadState, actor: Actor) -> None:
    if s.follow_ups < 1:
        raise Refused("a defeat application needs at least one logged follow-up as evidence")


def _apply_for_defeat(t: Transition, cmd: c.ApplyForDefeat) -> None:
    s = t.state
    s.defeat = DefeatCase(reason_code=cmd.reason_code.value, note=cmd.note, source="dealer",
                          dealer_id=s.dealer_id, applied_by=t.actor.user_id, applied_at=t.now)
    t.step_aside(S.DEFEAT_PENDING_MANAGER)
    t.emit("defeat_applied", reason_code=cmd.reason_code.value, note=cmd.note)
    t.notify("defeat_approval_needed", (R.DEALER_MANAGER,), f"defeat application: {cmd.reason_code.value}")


def _review_defeat_application(t: Transition, cmd: c.ReviewDefeatApplication) -> None:
    s = t.state
    if cmd.approve:
        s.defeat.manager_approved_by = t.actor.user_id
        s.return_stage = None
        t.move(S.DEFEAT_REVIEW)
        event = t.emit("defeat_submitted", source="dealer", note=cmd.note)
        t.notify("defeat_review_needed", (R.REVIEW_TEAM,), f"defeat to review: {s.defeat.reason_code}", event=event)
    else:
        t.step_back()
        s.defeat = None
        t.emit("defeat_returned", note=cmd.note)


def _decide_defeat(t: Transition, cmd: c.DecideDefeat) -> None:
    s = t.state
    s.defeat.reviewer, s.defeat.verdict = t.actor.user_id, cmd.verdict.value
    dealer = s.dealer_id
    t.emit("defeat_decided", verdict=cmd.verdict.value, note=cmd.note)
    if cmd.verdict == c.DefeatVerdict.TRUE_DEFEAT:
        t.end_holding("true_defeat")
        t.go_dormant()
        return
    penalty_id = t.record_penalty(dealer, "pseudo_defeat", cmd.note)
    s.appeal = AppealCase(dealer_id=dealer, defeat_reviewer=t.actor.user_id, penalty_id=penalty_id)
    t.emit("pseudo_defeat_decided", penalized_dealer_id=dealer)
    t.notify("pseudo_defeat", (R.DEALER_MANAGER, R.DEALER_OPS_LEAD),
             "defeat judged a pseudo-defeat: the lead is reassigned and a penalty recorded; you may appeal within 2 working days")
    t.end_holding("pseudo_defeat")
    if cmd.reassign_to_call_center:
        t.move(S.CALL_CENTER)
        t.emit("sent_to_call_center", reason="pseudo-defeat")
    else:
        t.dispatch(f"pseudo-defeat by dealer {dealer}")


def _may_appeal(s: LeadState, actor: Actor) -> None:
    a = s.appeal
    if a is None or a.outcome is not None or a.filed_at is not None:
        raise Refused("there is no pseudo-defeat verdict open to appeal on this lead")
    if not a.window_open:
        raise Refused("the appeal window (2 working days after the verdict) has closed")
    if actor.dealer_id != a.dealer_id and actor.role.is_dealer_role:
        raise Refused("only the dealer that was judged may appeal", "forbidden")


def _appeal(t: Transition, cmd: c.Appeal) -> None:
    a = t.state.appeal
    a.evidence, a.filed_by, a.filed_at = cmd.evidence, t.actor.user_id, t.now
    event = t.emit("appeal_filed", evidence=cmd.evidence, appealing_dealer_id=a.dealer_id)
    t.notify("appeal_review_needed", (R.REVIEW_TEAM,), "a dealer appealed a pseudo-defeat verdict", event=event)


def _may_decide_appeal(s: LeadState, actor: Actor) -> None:
    a = s.appeal
    if a is None or a.filed_at is None or a.outcome is not None:
        raise Refused("there is no appeal waiting for a decision on this lead")
    if actor.user_id == a.defeat_reviewer:
        raise Refused("an appeal is decided by a second reviewer, not the one who gave the verdict", "forbidden")


def _decide_appeal(t: Transition, cmd: c.DecideAppeal) -> None:
    a = t.state.appeal
    a.outcome = cmd.outcome.value
    t.emit("appeal_decided", outcome=cmd.outcome.value, note=cmd.note, appealing_dealer_id=a.dealer_id)
    if cmd.outcome == c.AppealOutcome.OVERTURNED:
        t.emit("penalty_revoked", penalty_id=a.penalty_id, penalized_dealer_id=a.dealer_id)


def _record_cleansing(t: Transition, cmd: c.RecordCleansing) -> None:
    s = t.state
    corrections = cmd.corrections.model_dump(exclude_none=True)
    if corrections:
        s.profile = s.profile.model_copy(update=corrections)
        s.profile = RawLead.model_validate(s.profile.model_dump())  # corrections obey the raw lead's rules
    t.emit("cleansing_recorded", outcome=cmd.outcome.value, corrections=corrections, note=cmd.note)
    if cmd.outcome == c.CleansingOutcome.VERIFIED:
        t.effects.append(ScoreEffect(then="dispatch"))
    elif cmd.outcome == c.CleansingOutcome.NURTURE:
        t.start_nurturing("low intent (call center)")
    else:
        t.move(S.CLOSED_INVALID)
        t.emit("closed_invalid", note=cmd.note)


def _reassign(t: Transition, cmd: c.Reassign) -> None:
    s = t.state
    if cmd.dealer_id and cmd.dealer_id in s.held_by:
        raise Refused(f"dealer {cmd.dealer_id} held this lead before: a lead never goes back to a previous holder")
    if not cmd.dealer_id and not cmd.to_call_center and s.stage in (S.CLEANSING,):
        raise Refused("a lead in cleansing goes to a dealer only after the call center verified it; name a dealer")
    t.emit("reassigned", to_dealer_id=cmd.dealer_id, to_call_center=cmd.to_call_center, reason=cmd.reason)
    if s.stage == S.NURTURING:
        t.emit("nurturing_ended", reason="reassigned by lead ops")
    t.end_holding("reassigned")
    if cmd.to_call_center:
        t.move(S.CALL_CENTER)
        t.emit("sent_to_call_center", reason=cmd.reason)
    else:
        t.dispatch(f"reassigned by lead ops: {cmd.reason}", forced_dealer_id=cmd.dealer_id)


def _may_log_regional_contact(s: LeadState, actor: Actor) -> None:
    if "regional_follow_through" not in s.clocks:
        raise Refused("there is no open regional alert on this lead to follow through")


def _log_regional_contact(t: Transition, cmd: c.LogRegionalContact) -> None:
    t.emit("regional_contact_logged", note=cmd.note)


ACTIONS: dict[str, ActionRule] = {
    "acknowledge": ActionRule(frozenset({S.DISPATCHED}), frozenset({R.DEALER_MANAGER, R.DEALER_OPS_LEAD}), _acknowledge),
    "decline": ActionRule(frozenset({S.DISPATCHED}), MANAGER, _decline, guard=_may_decline),
    "assign": ActionRule(WORKING | {S.PUBLIC_POOL}, MANAGER, _assign),
    "claim": ActionRule(frozenset({S.PUBLIC_POOL}), frozenset({R.CONSULTANT}), _claim),
    "log_follow_up": ActionRule(WORKING, DEALER, _log_follow_up),
    "request_transfer": ActionRule(PRE_ORDER | {S.DISPATCHED}, MANAGER, _request_transfer),
    "review_transfer": ActionRule(frozenset({S.TRANSFER_REVIEW}), LEAD_OPS, _review_transfer, "oem"),
    "invite": ActionRule(_until(S.INVITED), DEALER, _advance(S.INVITED, "invited")),
    "record_visit": ActionRule(_until(S.VISITED), DEALER, _advance(S.VISITED, "visited")),
    "record_test_drive": ActionRule(_until(S.TEST_DRIVEN), DEALER, _advance(S.TEST_DRIVEN, "test_driven")),
    "record_quote": ActionRule(_until(S.QUOTED), DEALER, _advance(S.QUOTED, "quoted")),
    "record_order": ActionRule(_until(S.ORDERED), DEALER, _advance(S.ORDERED, "ordered")),
    "request_cancel": ActionRule(frozenset({S.ORDERED}), DEALER, _request_cancel),
    "review_cancel": ActionRule(frozenset({S.CANCEL_PENDING}), MANAGER, _review_cancel),
    "record_win": ActionRule(frozenset({S.ORDERED}), DEALER, _advance(S.WON, "won")),
    "record_delivery": ActionRule(frozenset({S.WON}), DEALER, _advance(S.DELIVERED, "delivered")),
    "log_revisit": ActionRule(frozenset({S.DELIVERED}), DEALER, _log_revisit),
    "apply_for_defeat": ActionRule(PRE_ORDER, DEALER, _apply_for_defeat, guard=_may_apply_for_defeat),
    "review_defeat_application": ActionRule(frozenset({S.DEFEAT_PENDING_MANAGER}), MANAGER, _review_defeat_application),
    "decide_defeat": ActionRule(frozenset({S.DEFEAT_REVIEW}), REVIEWERS, _decide_defeat, "oem"),
    "appeal": ActionRule(ANY_OPEN | END_STAGES, MANAGER, _appeal, "original_dealer", _may_appeal),
    "decide_appeal": ActionRule(ANY_OPEN | END_STAGES, REVIEWERS, _decide_appeal, "oem", _may_decide_appeal),
    "record_cleansing": ActionRule(frozenset({S.CLEANSING, S.CALL_CENTER}), frozenset({R.CALL_CENTER}), _record_cleansing, "oem"),
    "reassign": ActionRule(PRE_ORDER | {S.DISPATCHED, S.PUBLIC_POOL, S.CALL_CENTER, S.NURTURING, S.CLEANSING},
                           LEAD_OPS, _reassign, "oem"),
    "log_regional_contact": ActionRule(ANY_OPEN | END_STAGES, frozenset({R.REGIONAL_MANAGER}), _log_regional_contact, "oem",
                                       _may_log_regional_contact),
}
assert set(ACTIONS) == set(c.COMMAND_TYPES), "every command has exactly one rule"


def _check_actor(rule: ActionRule, state: LeadState, actor: Actor, action: str) -> None:
    if actor.role not in rule.roles:
        allowed = ", ".join(sorted(r.value for r in rule.roles))
        raise Refused(f"{action} is done by {allowed}, not {actor.role.value}", "forbidden")
    if rule.scope == "holder":
        if actor.dealer_id is None or actor.dealer_id != state.dealer_id:
            raise Refused("this lead is not held by your dealer", "forbidden")
        if actor.role == R.CONSULTANT and action == "claim" and state.stage != S.PUBLIC_POOL:
            raise Refused("this lead is not in your dealer's public pool", "forbidden")
        if actor.role == R.CONSULTANT and action != "claim" and state.consultant_id != actor.user_id:
            raise Refused("this lead is not assigned to you", "forbidden")
    elif rule.scope == "original_dealer":
        if state.appeal is None or actor.dealer_id != state.appeal.dealer_id:
            raise Refused("only the dealer that was judged may appeal", "forbidden")
    if rule.scope == "oem" and actor.role == R.REGIONAL_MANAGER and state.region and actor.region not in (None, state.region):
        raise Refused("this lead is outside your region", "forbidden")


def decide(state: LeadState, envelope: c.CommandEnvelope, policy: Policy, now: datetime) -> Transition:
    """Apply one person's action, or raise `Refused` saying why the lead does not allow it."""
    cmd, actor = envelope.command, envelope.actor
    rule = ACTIONS[cmd.action]
    _check_actor(rule, state, actor, cmd.action)  # first: whose lead it is, before anything about it is said
    if state.stage not in rule.stages:
        raise Refused(f"{cmd.action} is not allowed while the lead is {state.stage.value}")
    if rule.guard is not None:
        rule.guard(state, actor)
    t = Transition.begin(state, policy, now, actor)
    rule.apply(t, cmd)
    t.message = f"{cmd.action} done; lead is {t.state.stage.value}"
    return t


def allowed_actions(state: LeadState, actor: Actor) -> list[str]:
    """The actions this actor may take on the lead now (for the portal's forms)."""
    out = []
    for name, rule in ACTIONS.items():
        if state.stage not in rule.stages:
            continue
        try:
            _check_actor(rule, state, actor, name)
            if rule.guard is not None:
                rule.guard(state, actor)
        except Refused:
            continue
        out.append(name)
    return out


def is_finished(state: LeadState) -> bool:
    """The workflow may end: the lead is closed, no appeal or regional clock is still open and no
    filed appeal waits for its decision (a lapsed review keeps waiting, SPEC 4.3)."""
    a = state.appeal
    appeal_undecided = a is not None and a.filed_at is not None and a.outcome is None
    return state.stage in END_STAGES and not state.clocks and not appeal_undecided


def refuse_signal(state: LeadState, envelope: c.CommandEnvelope, refused: Refused, policy: Policy, now: datetime) -> Transition:
    """A signal the rules refuse: nothing changes but the timeline, and lead ops are alerted."""
    t = Transition.begin(state, policy, now, envelope.actor)
    action = envelope.command.action
    t.emit("signal_refused", action=action, reason=refused.reason)
    t.alert("signal_refused", (R.LEAD_OPS,), f"{action} signal refused: {refused.reason}", action=action)
    return t


def migrate_policy(state: LeadState, old: Policy, new: Policy, reason: str, actor: Actor, now: datetime) -> Transition:
    """Lead ops moved this running lead to another policy version (issue 16). Clocks already running keep their
    deadlines; every clock started from now on runs under the new version."""
    t = Transition.begin(state, new, now, actor)
    t.emit("policy_migrated", from_version=old.version, to_version=new.version, reason=reason,
           message=f"线索策略由版本 {old.version} 迁移到版本 {new.version}：{reason}")
    return t
