"""The transition: a lead's new state, the timeline events and the effects one decision produced, and
the helpers every rule uses to change a lead (move, emit, hold, dispatch, notify)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Self, TypeVar

from domain.clocks import CLOCKS, SURVIVE_END
from domain.events import Ev, is_event_kind, notified
from domain.lifecycle.clock_engine import ClockEngine
from domain.lifecycle.effects import DispatchEffect, Effect, NotifyEffect
from domain.models import (
    SYSTEM_ACTOR,
    Actor,
    ClockEnd,
    LeadState,
    NotifyRequest,
    RawLead,
    TimelineEvent,
    Touchpoint,
)
from domain.policy import Policy
from domain.stages import END_STAGES, LeadStage, Role, funnel_rank, reached

S = LeadStage
R = Role
RECENT_EVENTS = 50
GRADE_ORDER = {"H": 3, "A": 2, "B": 1, "C": 0}


class Refused(Exception):
    """An action the lead's stage (or the actor's role) does not allow. Nothing was changed."""

    def __init__(self, reason: str, kind: str = "stage", code: str = "", **params: Any):
        super().__init__(reason)
        self.reason = reason  # the English text (logs, older answers)
        self.kind = kind  # stage (409) | forbidden (403) | invalid (422)
        self.code, self.params = code, params  # a domain.messages code people read in their language


T = TypeVar("T")


def required(value: T | None, what: str) -> T:
    """A part of the lead the stage or guard of a rule guarantees (the holding while dispatched, the defeat
    case in review...). Missing, it is a programming error: fails the workflow task, never the lead."""
    if value is None:
        raise ValueError(f"{what} is missing where the rule requires it")
    return value


@dataclass
class Transition(ClockEngine):
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
    def begin(cls, state: LeadState, policy: Policy, now: datetime, actor: Actor = SYSTEM_ACTOR) -> Self:
        return cls(state.model_copy(deep=True), policy, now, actor)

    # -- the timeline, and the clocks that follow it
    def emit(self, kind: str, **data: Any) -> TimelineEvent:
        if not is_event_kind(kind):  # a programming error: fails the workflow task, never the lead
            raise ValueError(f"unknown timeline event kind {kind!r}: name it in domain/events.py")
        kind = str(kind)
        s, now, actor, holding = self.state, self.now, self.actor, self.state.holding
        s.seq += 1
        s.updated_at = now
        event = TimelineEvent(
            seq=s.seq, at=now, kind=kind, stage=s.stage, actor=actor.user_id,
            role=actor.role, dealer_id=holding.dealer_id if holding is not None else None, data=data,
        )
        self.events.append(event)
        recent = s.recent  # (the step's own copy: `begin` copied the state)
        recent.append(event)
        if len(recent) > RECENT_EVENTS:
            del recent[0]
        self._follow_clocks(kind)
        return event

    def move(self, stage: LeadStage) -> None:
        s = self.state
        s.stage = stage
        rank = funnel_rank(stage)
        if rank > funnel_rank(s.furthest_stage):
            s.furthest_stage = stage
        if s.reactivations and reached(stage, S.ENGAGED):
            s.progress_since_reactivation = True
        for name in [n for n in s.clocks if n in _STOP_RANK and rank >= _STOP_RANK[n]]:  # reached its stop stage
            self.end_clock(name, "met")
        if stage in END_STAGES:
            for name in [n for n in s.clocks if n not in SURVIVE_END]:
                self.end_clock(name, "cancelled")

    def step_aside(self, stage: LeadStage) -> None:
        """Into a side stage that goes back where it came from (transfer review, defeat approval, cancellation)."""
        self.state.return_stage = self.state.stage
        self.move(stage)

    def step_back(self, default: LeadStage | None = None) -> None:
        stage = self.state.return_stage or default
        if stage is None:  # a programming error: fails the workflow task, never the lead
            raise ValueError("step_back without a return stage or a default")
        self.move(stage)
        self.state.return_stage = None

    def notify(self, kind: str, roles: tuple[Role, ...], message: str, event: TimelineEvent | None = None,
               **data: Any) -> None:
        s = self.state
        event = event or self.emit(notified(kind), roles=_values(roles), message=message)
        consultant = s.consultant_id
        self.effects.append(NotifyEffect(request=NotifyRequest(
            lead_id=s.lead_id, event_seq=event.seq, kind=kind, message=message,
            roles=list(_recipients(roles, bool(consultant))),
            dealer_id=s.dealer_id, consultant_id=consultant, region=s.region, data=data,
        )))

    def alert(self, kind: str, roles: tuple[Role, ...], message: str, **data: Any) -> None:
        s = self.state
        s.alerts += 1
        event = self.emit(Ev.ALERT_RAISED, alert=kind, roles=_values(roles), message=message, **data)
        self.notify(kind, roles, message, event=event, **data)
        if R.REGIONAL_MANAGER in roles:
            self.emit(Ev.REGIONAL_MANAGER_ALERTED, alert=kind)

    # -- holdings
    def end_holding(self, reason: str) -> None:
        s = self.state
        if s.holding is None:
            return
        s.holding.ended_at = self.now
        s.holding.end_reason = reason
        dealer = s.holding.dealer_id
        self.emit(Ev.HOLDING_ENDED, reason=reason, ended_dealer_id=dealer)
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
        self.emit(Ev.PENALTY_RECORDED, penalty_id=penalty_id, penalized_dealer_id=dealer_id, penalty=kind, note=note)
        return penalty_id

    def go_dormant(self) -> None:
        s = self.state
        if s.reactivations >= self.policy.rules.max_reactivations and not s.progress_since_reactivation:
            self.move(S.CLOSED_LOST)
            self.emit(Ev.CLOSED_LOST, reactivations=s.reactivations)
        else:
            self.move(S.DORMANT)
            self.emit(Ev.WENT_DORMANT)

    def start_nurturing(self, why: str) -> None:
        self.move(S.NURTURING)
        self.emit(Ev.NURTURING_STARTED, reason=why)


def touchpoint(raw: RawLead, now: datetime, outcome: str) -> Touchpoint:
    return Touchpoint(key=raw.touchpoint_key, channel=raw.channel, external_id=raw.external_id, at=now, outcome=outcome,
                      campaign=raw.campaign, acquisition_cost=raw.acquisition_cost)


# A clock that stops at a funnel stage: that stage's rank (`move` asks for every move).
_STOP_RANK = {name: funnel_rank(spec.stop_at_stage) for name, spec in CLOCKS.items() if spec.stop_at_stage}


def _values(roles: tuple[Role, ...]) -> list[str]:
    """The roles' names, for an event's data (a new list each time: events keep theirs)."""
    return list(_names(roles))


@cache
def _names(roles: tuple[Role, ...]) -> tuple[str, ...]:
    return tuple(r.value for r in roles)


@cache
def _recipients(roles: tuple[Role, ...], assigned: bool) -> tuple[Role, ...]:
    """The consultant, or the manager while nobody is assigned (SPEC 4.1); each role once, in order."""
    return tuple(dict.fromkeys(R.DEALER_MANAGER if r == R.CONSULTANT and not assigned else r for r in roles))
