"""The action table: which stage and which role allow each person's command, and what it does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain import commands as c
from domain.events import Ev
from domain.lifecycle.effects import AssignEffect, ScoreEffect
from domain.lifecycle.transition import R, Refused, S, Transition, required
from domain.models import (
    Actor,
    AppealCase,
    DefeatCase,
    LeadState,
    RawLead,
    TransferRequest,
)
from domain.policy import Policy
from domain.stages import END_STAGES, FUNNEL, LeadStage, Role, funnel_rank

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


def _advance(stage: LeadStage, kind: str) -> Callable[[Transition, c.Command], None]:
    def apply(t: Transition, cmd: c.Command) -> None:
        t.move(stage)
        t.emit(kind, **cmd.model_dump(mode="json", exclude={"action"}))
    return apply


def _acknowledge(t: Transition, cmd: c.Acknowledge) -> None:
    t.move(S.ACKNOWLEDGED)
    t.emit(Ev.ACKNOWLEDGED)
    if required(t.state.holding, "the holding of a dispatched lead").auto_assign and t.state.consultant_id is None:
        t.effects.append(AssignEffect())


def _may_decline(s: LeadState, actor: Actor) -> None:
    if not (s.holding and s.holding.choice_right):
        raise Refused("this dealer has no choice-right (线索自主选择权): it cannot decline dispatched leads",
                      "forbidden", code="refused.no_choice_right")


def _decline(t: Transition, cmd: c.Decline) -> None:
    dealer = t.state.dealer_id
    t.emit(Ev.DECLINED, reason=cmd.reason)
    t.end_holding("declined")
    t.dispatch(f"declined by dealer {dealer}")


def _assign(t: Transition, cmd: c.Assign) -> None:
    s = t.state
    previous = s.consultant_id
    s.consultant_id = cmd.consultant_id
    if s.stage in (S.ACKNOWLEDGED, S.PUBLIC_POOL):
        t.move(S.ASSIGNED)
    t.emit(Ev.ASSIGNED, consultant_id=cmd.consultant_id, previous_consultant_id=previous)
    t.notify("lead_assigned", (R.CONSULTANT,), "a lead was assigned to you")


def _claim(t: Transition, cmd: c.Claim) -> None:
    t.state.consultant_id = t.actor.user_id
    t.move(S.ASSIGNED)
    t.emit(Ev.CLAIMED, consultant_id=t.actor.user_id)


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
    t.emit(Ev.FOLLOW_UP_LOGGED, needs_captured=deep,
           **cmd.model_dump(mode="json", exclude={"action", "needs_captured"}))


def _request_transfer(t: Transition, cmd: c.RequestTransfer) -> None:
    s = t.state
    s.transfer = TransferRequest(reason=cmd.reason, text=cmd.text, requested_by=t.actor.user_id,
                                 requested_at=t.now, dealer_id=s.dealer_id)
    t.step_aside(S.TRANSFER_REVIEW)
    t.emit(Ev.TRANSFER_REQUESTED, reason=cmd.reason.value, text=cmd.text)
    t.notify("transfer_review_needed", (R.LEAD_OPS,), f"transfer requested: {cmd.reason.value}",
             reason_code=cmd.reason.value)


def _review_transfer(t: Transition, cmd: c.ReviewTransfer) -> None:
    s = t.state
    if cmd.approve:
        dealer = s.dealer_id
        t.emit(Ev.TRANSFER_APPROVED, explanation=cmd.explanation)
        t.end_holding("transferred")
        t.dispatch(f"transfer from dealer {dealer} approved: {cmd.explanation}")
    else:
        t.step_back()
        s.transfer = None
        event = t.emit(Ev.TRANSFER_REJECTED, explanation=cmd.explanation)
        t.notify("transfer_rejected", (R.DEALER_MANAGER,), f"transfer rejected: {cmd.explanation}", event=event)


def _request_cancel(t: Transition, cmd: c.RequestCancel) -> None:
    t.step_aside(S.CANCEL_PENDING)
    t.emit(Ev.CANCEL_REQUESTED, reason=cmd.reason)
    t.notify("cancel_approval_needed", (R.DEALER_MANAGER,), f"order cancellation requested: {cmd.reason}")


def _review_cancel(t: Transition, cmd: c.ReviewCancel) -> None:
    s = t.state
    if cmd.approve:
        s.return_stage = None
        t.move(S.ENGAGED)
        t.emit(Ev.CANCEL_APPROVED, note=cmd.note)
    else:
        t.step_back(default=S.ORDERED)
        t.emit(Ev.CANCEL_REJECTED, note=cmd.note)


def _log_revisit(t: Transition, cmd: c.LogRevisit) -> None:
    t.emit(Ev.REVISIT_LOGGED, note=cmd.note)
    t.move(S.COMPLETED)
    t.emit(Ev.COMPLETED, revisit_logged=True)


def _may_apply_for_defeat(s: LeadState, actor: Actor) -> None:
    if s.follow_ups < 1:
        raise Refused("a defeat application needs at least one logged follow-up as evidence",
                      code="refused.defeat_needs_follow_up")


def _apply_for_defeat(t: Transition, cmd: c.ApplyForDefeat) -> None:
    s = t.state
    s.defeat = DefeatCase(reason_code=cmd.reason_code.value, note=cmd.note, source="dealer",
                          dealer_id=s.dealer_id, applied_by=t.actor.user_id, applied_at=t.now)
    t.step_aside(S.DEFEAT_PENDING_MANAGER)
    t.emit(Ev.DEFEAT_APPLIED, reason_code=cmd.reason_code.value, note=cmd.note)
    t.notify("defeat_approval_needed", (R.DEALER_MANAGER,), f"defeat application: {cmd.reason_code.value}",
             reason_code=cmd.reason_code.value)


def _review_defeat_application(t: Transition, cmd: c.ReviewDefeatApplication) -> None:
    s = t.state
    if cmd.approve:
        defeat = required(s.defeat, "the defeat case awaiting the manager")
        defeat.manager_approved_by = t.actor.user_id
        s.return_stage = None
        t.move(S.DEFEAT_REVIEW)
        event = t.emit(Ev.DEFEAT_SUBMITTED, source="dealer", note=cmd.note)
        t.notify("defeat_review_needed", (R.REVIEW_TEAM,), f"defeat to review: {defeat.reason_code}", event=event,
                 reason_code=defeat.reason_code)
    else:
        t.step_back()
        s.defeat = None
        t.emit(Ev.DEFEAT_RETURNED, note=cmd.note)


def _decide_defeat(t: Transition, cmd: c.DecideDefeat) -> None:
    s = t.state
    defeat = required(s.defeat, "the defeat case under review")
    defeat.reviewer, defeat.verdict = t.actor.user_id, cmd.verdict.value
    dealer = required(s.dealer_id, "the dealer holding a lead in defeat review")
    t.emit(Ev.DEFEAT_DECIDED, verdict=cmd.verdict.value, note=cmd.note)
    if cmd.verdict == c.DefeatVerdict.TRUE_DEFEAT:
        t.end_holding("true_defeat")
        t.go_dormant()
        return
    penalty_id = t.record_penalty(dealer, "pseudo_defeat", cmd.note)
    s.appeal = AppealCase(dealer_id=dealer, defeat_reviewer=t.actor.user_id, penalty_id=penalty_id)
    t.emit(Ev.PSEUDO_DEFEAT_DECIDED, penalized_dealer_id=dealer)
    t.notify("pseudo_defeat", (R.DEALER_MANAGER, R.DEALER_OPS_LEAD),
             "defeat judged a pseudo-defeat: the lead is reassigned and a penalty recorded; you may appeal within 2 "
             "working days")
    t.end_holding("pseudo_defeat")
    if cmd.reassign_to_call_center:
        t.move(S.CALL_CENTER)
        # a code the timeline words in the reader's language (it said "pseudo-defeat", in English, before)
        t.emit(Ev.SENT_TO_CALL_CENTER, reason_code="pseudo_defeat")
    else:
        t.dispatch(f"pseudo-defeat by dealer {dealer}")


def _may_appeal(s: LeadState, actor: Actor) -> None:
    a = s.appeal
    if a is None or a.outcome is not None or a.filed_at is not None:
        raise Refused("there is no pseudo-defeat verdict open to appeal on this lead",
                      code="refused.no_verdict_to_appeal")
    if not a.window_open:
        raise Refused("the appeal window (2 working days after the verdict) has closed",
                      code="refused.appeal_window_closed")
    if actor.dealer_id != a.dealer_id and actor.role.is_dealer_role:
        raise Refused("only the dealer that was judged may appeal", "forbidden", code="refused.not_the_judged_dealer")


def _appeal(t: Transition, cmd: c.Appeal) -> None:
    a = required(t.state.appeal, "the appeal case (`_may_appeal`)")
    a.evidence, a.filed_by, a.filed_at = cmd.evidence, t.actor.user_id, t.now
    event = t.emit(Ev.APPEAL_FILED, evidence=cmd.evidence, appealing_dealer_id=a.dealer_id)
    t.notify("appeal_review_needed", (R.REVIEW_TEAM,), "a dealer appealed a pseudo-defeat verdict", event=event)


def _may_decide_appeal(s: LeadState, actor: Actor) -> None:
    a = s.appeal
    if a is None or a.filed_at is None or a.outcome is not None:
        raise Refused("there is no appeal waiting for a decision on this lead", code="refused.no_appeal_waiting")
    if actor.user_id == a.defeat_reviewer:
        raise Refused("an appeal is decided by a second reviewer, not the one who gave the verdict", "forbidden",
                      code="refused.second_reviewer")


def _decide_appeal(t: Transition, cmd: c.DecideAppeal) -> None:
    a = required(t.state.appeal, "the appeal case (`_may_decide_appeal`)")
    a.outcome = cmd.outcome.value
    t.emit(Ev.APPEAL_DECIDED, outcome=cmd.outcome.value, note=cmd.note, appealing_dealer_id=a.dealer_id)
    if cmd.outcome == c.AppealOutcome.OVERTURNED:
        t.emit(Ev.PENALTY_REVOKED, penalty_id=a.penalty_id, penalized_dealer_id=a.dealer_id)


def _record_cleansing(t: Transition, cmd: c.RecordCleansing) -> None:
    s = t.state
    corrections = cmd.corrections.model_dump(exclude_none=True)
    if corrections:
        s.profile = s.profile.model_copy(update=corrections)
        s.profile = RawLead.model_validate(s.profile.model_dump())  # corrections obey the raw lead's rules
    t.emit(Ev.CLEANSING_RECORDED, outcome=cmd.outcome.value, corrections=corrections, note=cmd.note)
    if cmd.outcome == c.CleansingOutcome.VERIFIED:
        t.effects.append(ScoreEffect(then="dispatch"))
    elif cmd.outcome == c.CleansingOutcome.NURTURE:
        t.start_nurturing("low intent (call center)")
    else:
        t.move(S.CLOSED_INVALID)
        t.emit(Ev.CLOSED_INVALID, note=cmd.note)


def _reassign(t: Transition, cmd: c.Reassign) -> None:
    s = t.state
    if cmd.dealer_id and cmd.dealer_id in s.held_by:
        raise Refused(f"dealer {cmd.dealer_id} held this lead before: a lead never goes back to a previous holder",
                      code="refused.previous_holder", dealer=cmd.dealer_id)
    if not cmd.dealer_id and not cmd.to_call_center and s.stage in (S.CLEANSING,):
        raise Refused("a lead in cleansing goes to a dealer only after the call center verified it; name a dealer",
                      code="refused.cleansing_name_a_dealer")
    t.emit(Ev.REASSIGNED, to_dealer_id=cmd.dealer_id, to_call_center=cmd.to_call_center, reason=cmd.reason)
    if s.stage == S.NURTURING:
        t.emit(Ev.NURTURING_ENDED, reason="reassigned by lead ops")
    t.end_holding("reassigned")
    if cmd.to_call_center:
        t.move(S.CALL_CENTER)
        t.emit(Ev.SENT_TO_CALL_CENTER, reason=cmd.reason)
    else:
        t.dispatch(f"reassigned by lead ops: {cmd.reason}", forced_dealer_id=cmd.dealer_id)


def _may_log_regional_contact(s: LeadState, actor: Actor) -> None:
    if "regional_follow_through" not in s.clocks:
        raise Refused("there is no open regional alert on this lead to follow through",
                      code="refused.no_regional_alert")


def _log_regional_contact(t: Transition, cmd: c.LogRegionalContact) -> None:
    t.emit(Ev.REGIONAL_CONTACT_LOGGED, note=cmd.note)


ACTIONS: dict[str, ActionRule] = {
    "acknowledge": ActionRule(frozenset({S.DISPATCHED}), frozenset({R.DEALER_MANAGER, R.DEALER_OPS_LEAD}),
                              _acknowledge),
    "decline": ActionRule(frozenset({S.DISPATCHED}), MANAGER, _decline, guard=_may_decline),
    "assign": ActionRule(WORKING | {S.PUBLIC_POOL}, MANAGER, _assign),
    "claim": ActionRule(frozenset({S.PUBLIC_POOL}), frozenset({R.CONSULTANT}), _claim),
    "log_follow_up": ActionRule(WORKING, DEALER, _log_follow_up),
    "request_transfer": ActionRule(PRE_ORDER | {S.DISPATCHED}, MANAGER, _request_transfer),
    "review_transfer": ActionRule(frozenset({S.TRANSFER_REVIEW}), LEAD_OPS, _review_transfer, "oem"),
    "invite": ActionRule(_until(S.INVITED), DEALER, _advance(S.INVITED, Ev.INVITED)),
    "record_visit": ActionRule(_until(S.VISITED), DEALER, _advance(S.VISITED, Ev.VISITED)),
    "record_test_drive": ActionRule(_until(S.TEST_DRIVEN), DEALER, _advance(S.TEST_DRIVEN, Ev.TEST_DRIVEN)),
    "record_quote": ActionRule(_until(S.QUOTED), DEALER, _advance(S.QUOTED, Ev.QUOTED)),
    "record_order": ActionRule(_until(S.ORDERED), DEALER, _advance(S.ORDERED, Ev.ORDERED)),
    "request_cancel": ActionRule(frozenset({S.ORDERED}), DEALER, _request_cancel),
    "review_cancel": ActionRule(frozenset({S.CANCEL_PENDING}), MANAGER, _review_cancel),
    "record_win": ActionRule(frozenset({S.ORDERED}), DEALER, _advance(S.WON, Ev.WON)),
    "record_delivery": ActionRule(frozenset({S.WON}), DEALER, _advance(S.DELIVERED, Ev.DELIVERED)),
    "log_revisit": ActionRule(frozenset({S.DELIVERED}), DEALER, _log_revisit),
    "apply_for_defeat": ActionRule(PRE_ORDER, DEALER, _apply_for_defeat, guard=_may_apply_for_defeat),
    "review_defeat_application": ActionRule(frozenset({S.DEFEAT_PENDING_MANAGER}), MANAGER, _review_defeat_application),
    "decide_defeat": ActionRule(frozenset({S.DEFEAT_REVIEW}), REVIEWERS, _decide_defeat, "oem"),
    "appeal": ActionRule(ANY_OPEN | END_STAGES, MANAGER, _appeal, "original_dealer", _may_appeal),
    "decide_appeal": ActionRule(ANY_OPEN | END_STAGES, REVIEWERS, _decide_appeal, "oem", _may_decide_appeal),
    "record_cleansing": ActionRule(frozenset({S.CLEANSING, S.CALL_CENTER}), frozenset({R.CALL_CENTER}),
                                   _record_cleansing, "oem"),
    "reassign": ActionRule(PRE_ORDER | {S.DISPATCHED, S.PUBLIC_POOL, S.CALL_CENTER, S.NURTURING, S.CLEANSING},
                           LEAD_OPS, _reassign, "oem"),
    "log_regional_contact": ActionRule(ANY_OPEN | END_STAGES, frozenset({R.REGIONAL_MANAGER}),
                                       _log_regional_contact, "oem", _may_log_regional_contact),
}
assert set(ACTIONS) == set(c.COMMAND_TYPES), "every command has exactly one rule"


def _check_actor(rule: ActionRule, state: LeadState, actor: Actor, action: str) -> None:
    if actor.role not in rule.roles:
        allowed = ", ".join(sorted(r.value for r in rule.roles))
        raise Refused(f"{action} is done by {allowed}, not {actor.role.value}", "forbidden", code="refused.wrong_role",
                      action=action, role=actor.role.value)
    if rule.scope == "holder":
        if actor.dealer_id is None or actor.dealer_id != state.dealer_id:
            raise Refused("this lead is not held by your dealer", "forbidden", code="refused.not_your_dealer")
        if actor.role == R.CONSULTANT and action == "claim" and state.stage != S.PUBLIC_POOL:
            if _claimed_by_another(state, actor):  # two consultants claimed at once: the loser is told (409)
                raise Refused("claim refused: another consultant claimed this lead first", "claimed",
                              code="refused.claimed_by_another")
            raise Refused("this lead is not in your dealer's public pool", "forbidden", code="refused.not_in_your_pool")
        if actor.role == R.CONSULTANT and action != "claim" and state.consultant_id != actor.user_id:
            raise Refused("this lead is not assigned to you", "forbidden", code="refused.not_assigned_to_you")
    elif rule.scope == "original_dealer":
        if state.appeal is None or actor.dealer_id != state.appeal.dealer_id:
            raise Refused("only the dealer that was judged may appeal", "forbidden",
                          code="refused.not_the_judged_dealer")
    if rule.scope == "oem" and actor.role == R.REGIONAL_MANAGER and state.region and actor.region not in (None,
                                                                                                          state.region):
        raise Refused("this lead is outside your region", "forbidden", code="refused.outside_region")


def _claimed_by_another(state: LeadState, actor: Actor) -> bool:
    """The lead left the pool by another consultant's claim, and nothing happened to it since."""
    last = next((e for e in reversed(state.recent) if e.kind in ("claimed", "moved_to_public_pool", "assigned",
                                                                 "holding_ended")), None)
    return last is not None and last.kind == "claimed" and state.consultant_id not in (None, actor.user_id)


def decide(state: LeadState, envelope: c.CommandEnvelope, policy: Policy, now: datetime) -> Transition:
    """Apply one person's action, or raise `Refused` saying why the lead does not allow it."""
    cmd, actor = envelope.command, envelope.actor
    rule = ACTIONS[cmd.action]
    _check_actor(rule, state, actor, cmd.action)  # first: whose lead it is, before anything about it is said
    if state.stage not in rule.stages:
        raise Refused(f"{cmd.action} is not allowed while the lead is {state.stage.value}", code="refused.stage",
                  action=cmd.action, stage=state.stage.value)
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


def refuse_signal(state: LeadState, envelope: c.CommandEnvelope, refused: Refused, policy: Policy,
                  now: datetime) -> Transition:
    """A signal the rules refuse: nothing changes but the timeline, and lead ops are alerted."""
    t = Transition.begin(state, policy, now, envelope.actor)
    action = envelope.command.action
    why = {"refusal": refused.code, "refusal_params": refused.params} if refused.code else {}  # the code people read
    t.emit(Ev.SIGNAL_REFUSED, action=action, reason=refused.reason, **why)
    t.alert("signal_refused", (R.LEAD_OPS,), f"{action} signal refused: {refused.reason}", action=action, **why)
    return t
