"""The clock engine: clocks start and stop on the timeline events that name them (domain/clocks.py),
dealer clocks pause and resume with the holding, and which clocks are due when."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.clocks import CLOCKS, PAUSE_ON, RESUME_ON, ClockSpec, duration_of
from domain.events import Ev
from domain.lifecycle.effects import DeadlineEffect, Effect
from domain.models import (
    ClockEnd,
    ClockState,
    LeadState,
)
from domain.policy import Policy
from domain.stages import reached


def _index() -> tuple[dict[str, tuple[tuple[str, str], ...]], dict[str, tuple[ClockSpec, ...]]]:
    """Which clocks an event kind ends (and how) and starts, in the order of `CLOCKS`: `_follow_clocks` runs for
    every emitted event, and most kinds touch no clock. The same rule as reading every spec: a clock ends "met" on
    a kind in its `stops_on`, else "cancelled" on `holding_ended` if it is a dealer clock; it starts on a kind in
    its `starts_on`."""
    ends: dict[str, list[tuple[str, str]]] = {}
    starts: dict[str, list[ClockSpec]] = {}
    for spec in CLOCKS.values():
        for kind in spec.stops_on | {Ev.HOLDING_ENDED.value}:
            if kind in spec.stops_on:
                ends.setdefault(kind, []).append((spec.name, "met"))
            elif spec.dealer_clock:
                ends.setdefault(kind, []).append((spec.name, "cancelled"))
        for kind in spec.starts_on:
            starts.setdefault(kind, []).append(spec)
    return {k: tuple(v) for k, v in ends.items()}, {k: tuple(v) for k, v in starts.items()}


_ENDS, _STARTS = _index()
_CLOCK_KINDS = frozenset(_ENDS) | frozenset(_STARTS) | PAUSE_ON | RESUME_ON  # the kinds that touch any clock


class ClockEngine:
    """Mixed into `Transition`: every emitted event passes through `_follow_clocks`."""

    state: LeadState
    now: datetime
    effects: list[Effect]
    clock_ends: list[ClockEnd]
    policy: Policy

    def _follow_clocks(self, kind: str) -> None:
        if kind not in _CLOCK_KINDS:  # (most events: alerts, notifications, penalties, lapses)
            return
        s = self.state
        if kind in PAUSE_ON or kind in RESUME_ON:
            for clock in s.clocks.values():
                if not CLOCKS[clock.name].dealer_clock:
                    continue
                if kind in PAUSE_ON and clock.running and clock.deadline is not None:
                    clock.paused_remaining_s = max(0.0, (clock.deadline - self.now).total_seconds())
                elif kind in RESUME_ON and clock.paused_remaining_s is not None:
                    clock.deadline = self.now + timedelta(seconds=clock.paused_remaining_s)
                    clock.paused_remaining_s = None
        for name, outcome in _ENDS.get(kind, ()):
            if name in s.clocks:
                self.end_clock(name, outcome)
        for spec in _STARTS.get(kind, ()):
            if self._may_start(spec):
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


def is_due(state: LeadState, name: str, now: datetime) -> bool:
    """Still due: an earlier lapse in the same pass may have stopped, paused or restarted it."""
    clock = state.clocks.get(name)
    return clock is not None and clock.running and clock.deadline is not None and clock.deadline <= now


def due_clocks(state: LeadState, now: datetime) -> list[str]:
    due = sorted((c.deadline, c.name) for c in state.clocks.values()
                 if c.running and c.deadline is not None and c.deadline <= now)
    return [name for _, name in due]


def earliest_due(state: LeadState, now: datetime) -> tuple[datetime, list[str]] | None:
    """`next_deadline` and `due_clocks` of it in one pass, when that deadline is by `now`: the earliest deadline
    passed and the clocks due at it, by name (the what-if simulator asks this before every recorded fact)."""
    due = [(c.deadline, c.name) for c in state.clocks.values()
           if c.deadline is not None and c.deadline <= now and c.paused_remaining_s is None]  # (running and due)
    if not due:
        return None
    deadline = min(due)[0]
    return deadline, sorted(name for at, name in due if at == deadline)


def next_deadline(state: LeadState) -> datetime | None:
    deadlines = [c.deadline for c in state.clocks.values() if c.running and c.deadline is not None]
    return min(deadlines) if deadlines else None
