"""The lead's clocks as data (SPEC 4): a name, the events that start and stop it, what a lapse does.

Durations come from the policy (`[clocks]`, `[working_days]`); adding a clock is a row here,
plus a lapse action in `domain.lifecycle.LAPSE_ACTIONS` if none of the existing ones fits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.models import LeadState
from domain.policy import Policy
from domain.stages import LeadStage, Role

R = Role


@dataclass(frozen=True)
class ClockSpec:
    name: str
    starts_on: frozenset[str]
    stops_on: frozenset[str] = frozenset()
    on_lapse: str = "alert"
    alert: tuple[Role, ...] = ()
    stop_at_stage: LeadStage | None = None  # reaching this funnel stage stops the clock
    dealer_clock: bool = False  # runs for the holding dealer: ends with the holding, pauses in review
    working_days: str | None = None  # counted in working days (`[working_days]` key)
    start_if: Callable[[LeadState], bool] | None = None
    penalty: str | None = None  # a lapse counts against the holding dealer (dispatch ranks it lower)
    title: str = ""


def _spec(name: str, starts_on: Iterable[str], stops_on: Iterable[str] = frozenset(), **kw: Any) -> ClockSpec:
    return ClockSpec(name, frozenset(starts_on), frozenset(stops_on), **kw)


DEALER_ALERT = (R.DEALER_OPS_LEAD, R.REGIONAL_MANAGER)

CLOCKS: dict[str, ClockSpec] = {
    c.name: c
    for c in (
        # 4.1 follow-up supervision
        _spec("receipt", {"dispatched"}, {"acknowledged"}, on_lapse="redispatch",
              alert=DEALER_ALERT, dealer_clock=True, title="接收确认 receipt confirmation"),
        _spec("first_response", {"dispatched"}, {"follow_up_logged"},
              alert=(R.CONSULTANT, *DEALER_ALERT), dealer_clock=True, penalty="first_response_late",
              title="首次响应 first response"),
        _spec("public_pool", {"assigned", "claimed"}, {"follow_up_logged"}, on_lapse="to_public_pool",
              alert=(R.DEALER_MANAGER,), dealer_clock=True, start_if=lambda s: s.follow_ups == 0,
              penalty="not_followed_up",
              title="公海池 first follow-up after assignment"),
        _spec("first_deep_contact", {"dispatched"}, alert=DEALER_ALERT, dealer_clock=True,
              stop_at_stage=LeadStage.ENGAGED, penalty="deep_contact_late", title="首次深度沟通 first deep contact"),
        _spec("store_invitation", {"dispatched"}, alert=DEALER_ALERT, dealer_clock=True,
              stop_at_stage=LeadStage.INVITED, penalty="invitation_late", title="邀约到店 store invitation"),
        _spec("regional_follow_through", {"regional_manager_alerted"}, {"regional_contact_logged"},
              on_lapse="escalate", alert=(R.LEAD_OPS,),
              start_if=lambda s: "regional_follow_through" not in s.clocks,
              title="区域经理跟进 regional follow-through"),
        _spec("grade_cadence", {"follow_up_logged", "cancel_approved"}, alert=(R.CONSULTANT, R.DEALER_MANAGER),
              dealer_clock=True, stop_at_stage=LeadStage.ORDERED, title="跟进频次 grade cadence"),
        _spec("stall", {"follow_up_logged", "cancel_approved"}, on_lapse="stall_to_review",
              alert=(R.DEALER_OPS_LEAD, R.REVIEW_TEAM), dealer_clock=True,
              stop_at_stage=LeadStage.ORDERED, penalty="stalled", title="连续 7 天未跟进 stall"),
        # section 3 step 4: cleansing at the call center
        _spec("cleansing", {"cleansing_started"}, {"cleansing_recorded", "reassigned"},
              alert=(R.LEAD_OPS,), title="线索清洗 cleansing"),
        # 4.2 transfer review: a lapse alerts and keeps waiting
        _spec("transfer_review", {"transfer_requested"}, {"transfer_approved", "transfer_rejected"},
              alert=(R.HEAD_OF_LEAD_OPS,), title="调单审核 transfer review"),
        # 4.3 defeat review and appeal, in working days
        _spec("defeat_review", {"defeat_submitted"}, {"defeat_decided"}, alert=(R.REVIEW_TEAM_LEAD,),
              working_days="defeat_review", title="战败复核 defeat review"),
        _spec("appeal_window", {"pseudo_defeat_decided"}, {"appeal_filed"},
              on_lapse="close_appeal_window", working_days="appeal_window", title="申诉期 appeal window"),
        _spec("appeal_review", {"appeal_filed"}, {"appeal_decided"}, alert=(R.REVIEW_TEAM_LEAD,),
              working_days="appeal_review", title="申诉复核 appeal review"),
        # section 3 step 12: nurturing, dormant, reactivation
        _spec("nurture_touch", {"nurturing_started", "nurture_content_sent"}, {"nurturing_ended"},
              on_lapse="nurture_touch", title="培育内容 nurture content"),
        _spec("nurture_end", {"nurturing_started"}, {"nurturing_ended"}, on_lapse="to_dormant",
              title="培育期满 end of nurturing"),
        _spec("reactivation", {"went_dormant"}, {"reactivated"}, on_lapse="reactivate",
              title="沉淀激活 reactivation"),
        # section 3 step 9: the post-sale revisit
        _spec("revisit", {"delivered"}, {"revisit_logged"}, on_lapse="revisit_due",
              title="购车 3 个月后回访 revisit"),
        _spec("revisit_overdue", {"revisit_due"}, {"revisit_logged"}, on_lapse="complete_without_revisit",
              alert=(R.DEALER_MANAGER,), title="回访逾期 revisit overdue"),
    )
}

# A dealer's clocks pause while the OEM (or the dealer's manager) looks at the dealer's request,
# and resume where they stopped when the request goes back to the dealer.
PAUSE_ON = frozenset({"transfer_requested", "defeat_applied", "stall_detected"})
RESUME_ON = frozenset({"transfer_rejected", "defeat_returned"})
# Clocks that outlive the lead's stage: an open appeal or a regional follow-through.
SURVIVE_END = frozenset({"appeal_window", "appeal_review", "regional_follow_through"})


def duration_of(spec: ClockSpec, state: LeadState, policy: Policy) -> timedelta:
    """The clock's length under the policy (before the time scale)."""
    clocks = policy.clocks
    if spec.name == "grade_cadence":
        cadence: timedelta = getattr(clocks.grade_cadence, state.grade or "C")
        return cadence
    if spec.name == "transfer_review" and state.holding and state.holding.competitive_region:
        return clocks.transfer_review_competitive
    length: timedelta = getattr(clocks, spec.name)
    return length
