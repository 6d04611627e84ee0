"""The one decider: what a lead may do next (SPEC 3, 4).

Pure: no Temporal, no I/O, no clock reads. The workflow, the update validators, the API and
the portal all ask this module. Every entry point takes the current `LeadState` and returns a
`Transition` holding a *new* state, the timeline events it produced and the effects the
workflow must carry out (scoring, dispatch, working-day deadlines, notifications). A refused
action raises `Refused` and leaves the given state untouched, so nothing is ever half-applied.

Split by concern (issue 15); this package re-exports every name, so callers import `domain.lifecycle` as before:
- `effects`: what a decision asks the workflow to do (score, dispatch, a deadline, notify, assign);
- `transition`: `Transition` (the state, events and effects of one decision), `Refused`;
- `clock_engine`: clocks starting, stopping, pausing and resuming on events; which are due;
- `intake`: a new lead, a merged duplicate, behaviour events;
- `results`: the activities' answers (score, dispatch, consultant, deadlines, calendar corrections);
- `lapses`: what each clock's lapse does (`LAPSE_ACTIONS`);
- `actions`: the action table (`ACTIONS`), `decide`, `allowed_actions`, `refuse_signal`.
"""

from __future__ import annotations

from domain.lifecycle.actions import (
    ACTIONS,
    ActionRule,
    allowed_actions,
    decide,
    is_finished,
    refuse_signal,
)
from domain.lifecycle.clock_engine import ClockEngine, due_clocks, earliest_due, is_due, next_deadline
from domain.lifecycle.effects import (
    AssignEffect,
    DeadlineEffect,
    DispatchEffect,
    Effect,
    NotifyEffect,
    ScoreEffect,
)
from domain.lifecycle.intake import (
    duplicate_outcome,
    merge_raw_lead,
    record_behaviour,
    start_lead,
)
from domain.lifecycle.lapses import LAPSE_ACTIONS, lapse
from domain.lifecycle.results import (  # noqa: I001
    DEADLINE_MOVED,
    PROVISIONAL_CALENDAR,
    calendar_notice_key,
    migrate_policy,
    on_consultant_picked,
    on_deadline,
    on_deadline_moved,
    on_dispatched,
    on_scored,
)
from domain.lifecycle.transition import (
    GRADE_ORDER,
    RECENT_EVENTS,
    Refused,
    Transition,
    touchpoint,
)
from domain.models import SYSTEM_ACTOR

__all__ = [
    "ACTIONS",
    "ActionRule",
    "AssignEffect",
    "ClockEngine",
    "DEADLINE_MOVED",
    "DeadlineEffect",
    "DispatchEffect",
    "Effect",
    "GRADE_ORDER",
    "LAPSE_ACTIONS",
    "NotifyEffect",
    "PROVISIONAL_CALENDAR",
    "RECENT_EVENTS",
    "Refused",
    "SYSTEM_ACTOR",
    "ScoreEffect",
    "Transition",
    "allowed_actions",
    "calendar_notice_key",
    "decide",
    "due_clocks",
    "earliest_due",
    "duplicate_outcome",
    "is_due",
    "is_finished",
    "lapse",
    "merge_raw_lead",
    "migrate_policy",
    "next_deadline",
    "on_consultant_picked",
    "on_deadline",
    "on_deadline_moved",
    "on_dispatched",
    "on_scored",
    "record_behaviour",
    "refuse_signal",
    "start_lead",
    "touchpoint",
]
