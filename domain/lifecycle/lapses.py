"""Lapse actions: what happens when a clock runs out, one function per `on_lapse` of domain/clocks.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from domain.clocks import CLOCKS, ClockSpec
from domain.events import Ev
from domain.lifecycle.effects import ScoreEffect
from domain.lifecycle.transition import R, S, Transition, required
from domain.models import (
    DefeatCase,
    LeadState,
)
from domain.policy import Policy


def lapse(state: LeadState, name: str, policy: Policy, now: datetime, sla_penalties: bool = True) -> Transition:
    """A clock ran out. `sla_penalties`: breaches count against the dealer (leads that started before
    this rule replay without it)."""
    t = Transition.begin(state, policy, now)
    spec = CLOCKS[name]
    clock = t.end_clock(name, "lapsed")
    t.emit(Ev.CLOCK_LAPSED, clock=name, title=spec.title,
           deadline=required(clock.deadline, "the lapsed clock's deadline").isoformat())
    if spec.dealer_clock:
        t.state.sla_breached = True
    if spec.penalty and sla_penalties and t.state.dealer_id:
        t.record_penalty(t.state.dealer_id, spec.penalty, f"{spec.title}: deadline passed")
    LAPSE_ACTIONS[spec.on_lapse](t, spec)
    return t


def _lapse_alert(t: Transition, spec: ClockSpec) -> None:
    t.alert(spec.name, spec.alert, f"{spec.title}: deadline passed")


def _lapse_redispatch(t: Transition, spec: ClockSpec) -> None:
    dealer = required(t.state.dealer_id, "the holding dealer of a receipt clock")
    _lapse_alert(t, spec)
    t.record_penalty(dealer, "receipt_not_confirmed", "2 h without acknowledging the lead")
    t.end_holding("receipt_lapsed")
    t.dispatch(f"dealer {dealer} did not confirm receipt in time")


def _lapse_to_public_pool(t: Transition, spec: ClockSpec) -> None:
    t.state.consultant_id = None
    t.move(S.PUBLIC_POOL)
    t.emit(Ev.MOVED_TO_PUBLIC_POOL)
    _lapse_alert(t, spec)


def _lapse_escalate(t: Transition, spec: ClockSpec) -> None:
    t.alert("regional_escalation", spec.alert, "the regional manager has not contacted the dealer within 12 h")


def _lapse_stall(t: Transition, spec: ClockSpec) -> None:
    s = t.state
    s.return_stage = None
    s.defeat = DefeatCase(reason_code="stalled", note="7 days without any follow-up", source="stall",
                          dealer_id=s.dealer_id, applied_by="system", applied_at=t.now)
    t.emit(Ev.STALL_DETECTED)
    t.move(S.DEFEAT_REVIEW)
    t.emit(Ev.DEFEAT_SUBMITTED, source="stall")
    _lapse_alert(t, spec)


def _lapse_close_appeal_window(t: Transition, spec: ClockSpec) -> None:
    if t.state.appeal:
        t.state.appeal.window_open = False
    t.emit(Ev.APPEAL_WINDOW_CLOSED)


def _lapse_nurture_touch(t: Transition, spec: ClockSpec) -> None:
    event = t.emit(Ev.NURTURE_CONTENT_SENT)
    t.notify("nurture_content", (R.CALL_CENTER,), "send the customer nurturing content", event=event)


def _lapse_to_dormant(t: Transition, spec: ClockSpec) -> None:
    t.emit(Ev.NURTURING_ENDED, reason="nurturing period over")
    t.go_dormant()


def _lapse_reactivate(t: Transition, spec: ClockSpec) -> None:
    t.state.reactivations += 1
    t.state.progress_since_reactivation = False
    t.emit(Ev.REACTIVATED, source="six_months_dormant", count=t.state.reactivations)
    t.start_nurturing("reactivated after 6 months")
    t.effects.append(ScoreEffect(then="none"))


def _lapse_revisit_due(t: Transition, spec: ClockSpec) -> None:
    t.state.revisit_due = True
    event = t.emit(Ev.REVISIT_DUE)
    t.notify("revisit_due", (R.CONSULTANT,), "3 months since delivery: revisit the customer", event=event)


def _lapse_complete_without_revisit(t: Transition, spec: ClockSpec) -> None:
    _lapse_alert(t, spec)
    t.move(S.COMPLETED)
    t.emit(Ev.COMPLETED, revisit_logged=False)


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
