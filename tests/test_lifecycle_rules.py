"""The pure decider (SPEC 3, 4.1-4.3): which stage allows which action, who may act, and the clocks.

No server, no database: a `LeadState` built by hand, the default policy and a fixed clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain import commands as c
from domain import lifecycle as lc
from domain.clocks import CLOCKS
from domain.lifecycle import ACTIONS, Refused, allowed_actions, decide
from domain.models import (
    Actor,
    AppealCase,
    ClockState,
    DefeatCase,
    DispatchResult,
    Holding,
    LeadState,
    Model,
)
from domain.policy import load_policy
from domain.stages import END_STAGES, LeadStage, Role
from tests.fixtures import CALL_CENTER, HEAD, OPS, REVIEWER, RM_EAST, SECOND_REVIEWER, consultant, manager, raw_lead

S = LeadStage
POLICY = load_policy(time_scale=1)
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
DEALER = "D-SH-1"
DEALER_CLOCKS = {"receipt", "first_response", "first_deep_contact", "store_invitation"}

# one valid command per action: the exhaustive tables below are only exhaustive if this is
COMMANDS: dict[str, Model] = {
    "acknowledge": c.Acknowledge(),
    "decline": c.Decline(reason="not our customer"),
    "assign": c.Assign(consultant_id="d-sh-1-c1"),
    "claim": c.Claim(),
    "log_follow_up": c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=5),
    "request_transfer": c.RequestTransfer(reason=c.TransferReason.REGION_MISMATCH, text="lives in Hangzhou"),
    "review_transfer": c.ReviewTransfer(approve=True, explanation="ok"),
    "invite": c.Invite(),
    "record_visit": c.RecordVisit(),
    "record_test_drive": c.RecordTestDrive(model="A5 Pro"),
    "record_quote": c.RecordQuote(amount=210_000),
    "record_order": c.RecordOrder(deposit=5_000),
    "request_cancel": c.RequestCancel(reason="changed mind"),
    "review_cancel": c.ReviewCancel(approve=True),
    "record_win": c.RecordWin(payment=c.PaymentMethod.CASH, amount=210_000),
    "record_delivery": c.RecordDelivery(vin="LVX123"),
    "log_revisit": c.LogRevisit(note="happy customer"),
    "apply_for_defeat": c.ApplyForDefeat(reason_code=c.DefeatReason.UNREACHABLE, note="no answer"),
    "review_defeat_application": c.ReviewDefeatApplication(approve=True),
    "decide_defeat": c.DecideDefeat(verdict=c.DefeatVerdict.TRUE_DEFEAT, note="confirmed"),
    "appeal": c.Appeal(evidence="call recordings"),
    "decide_appeal": c.DecideAppeal(outcome=c.AppealOutcome.UPHELD, note="recordings too short"),
    "record_cleansing": c.RecordCleansing(outcome=c.CleansingOutcome.NURTURE),
    "reassign": c.Reassign(to_call_center=True, reason="ops decision"),
    "log_regional_contact": c.LogRegionalContact(note="called the dealer"),
}

# a permitted actor per action (the holding dealer's people, or the OEM role the rule names)
PERMITTED: dict[str, Actor] = {
    "claim": consultant(DEALER),
    "review_transfer": OPS,
    "decide_defeat": REVIEWER,
    "decide_appeal": SECOND_REVIEWER,  # not the reviewer who gave the verdict
    "record_cleansing": CALL_CENTER,
    "reassign": OPS,
    "log_regional_contact": RM_EAST,
}


def permitted_actor(action: str) -> Actor:
    return PERMITTED.get(action, manager(DEALER))


def base_state(stage: LeadStage = S.DISPATCHED, **overrides) -> LeadState:
    fields = dict(
        lead_id="lead-aurora-test", brand="Aurora", customer_key="k-test", profile=raw_lead(1, phone="+8613800000001"),
        stage=stage, created_at=NOW - timedelta(days=1), updated_at=NOW - timedelta(days=1), score=50.0, grade="A",
        region="East",
        holding=Holding(dealer_id=DEALER, dealer_name="Aurora Pudong", region="East", choice_right=True,
                        started_at=NOW - timedelta(hours=1)),
    )
    # what a lead in a side stage always carries
    if stage in (S.DEFEAT_PENDING_MANAGER, S.DEFEAT_REVIEW):
        fields["defeat"] = defeat_case()
    if stage in (S.TRANSFER_REVIEW, S.DEFEAT_PENDING_MANAGER):
        fields["return_stage"] = S.CONTACTED
    if stage == S.CANCEL_PENDING:
        fields["return_stage"] = S.ORDERED
    fields.update(overrides)
    return LeadState(**fields)


def defeat_case() -> DefeatCase:
    return DefeatCase(reason_code="unreachable", note="no answer", source="dealer", dealer_id=DEALER,
                      applied_by="d-sh-1-c1", applied_at=NOW - timedelta(hours=2))


def prepared_state(stage: LeadStage, action: str) -> LeadState:
    """A lead in `stage` with whatever else the action needs (evidence, an open appeal, ...)."""
    s = base_state(stage)
    if action == "apply_for_defeat":
        s.follow_ups = s.follow_ups_total = 1
    if action in ("decide_defeat", "review_defeat_application"):
        s.defeat = defeat_case()
    if action == "appeal":
        s.appeal = AppealCase(dealer_id=DEALER, defeat_reviewer=REVIEWER.user_id, penalty_id="lead-aurora-test:9")
    if action == "decide_appeal":
        s.appeal = AppealCase(dealer_id=DEALER, defeat_reviewer=REVIEWER.user_id, penalty_id="lead-aurora-test:9",
                              evidence="recordings", filed_by="d-sh-1-mgr", filed_at=NOW - timedelta(hours=1))
    if action == "log_regional_contact":
        s.clocks = {"regional_follow_through": ClockState(name="regional_follow_through", started_at=NOW,
                                                          deadline=NOW + timedelta(hours=12))}
    return s


def envelope(actor: Actor, command) -> c.CommandEnvelope:
    return c.CommandEnvelope(actor=actor, command=command)


def test_the_tables_cover_every_action():
    assert set(COMMANDS) == set(ACTIONS) == set(c.COMMAND_TYPES)
    for action, rule in ACTIONS.items():
        assert permitted_actor(action).role in rule.roles, action


# ------------------------------------------------------------------ stage x action, exhaustively


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("stage", list(LeadStage), ids=lambda s: s.value)
def test_every_action_in_every_stage_is_done_or_refused_for_the_stage(stage: LeadStage, action: str):
    rule = ACTIONS[action]
    state = prepared_state(stage, action)
    before = state.model_dump()
    env = envelope(permitted_actor(action), COMMANDS[action])
    if stage in rule.stages:
        t = decide(state, env, POLICY, NOW)
        assert t.state is not state
        assert t.events, "a decided action leaves a trace in the timeline"
        assert [e.seq for e in t.events] == list(range(state.seq + 1, state.seq + 1 + len(t.events)))
        assert action in t.message
    else:
        with pytest.raises(Refused) as refused:
            decide(state, env, POLICY, NOW)
        if action == "claim":  # only a lead in its dealer's pool is a consultant's to claim: nothing else is said
            assert refused.value.kind == "forbidden" and "public pool" in refused.value.reason
            assert stage.value not in refused.value.reason
        else:
            assert refused.value.kind == "stage"
            assert stage.value in refused.value.reason and action in refused.value.reason
    assert state.model_dump() == before, "decide never touches the state it was given"


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_actor_of_another_role_is_forbidden_in_every_allowed_stage(action: str):
    rule = ACTIONS[action]
    outsiders = [a for a in (manager(DEALER), consultant(DEALER), OPS, HEAD, REVIEWER, CALL_CENTER, RM_EAST)
                 if a.role not in rule.roles]
    assert outsiders
    for stage in rule.stages:
        state = prepared_state(stage, action)
        before = state.model_dump()
        for actor in outsiders:
            with pytest.raises(Refused) as refused:
                decide(state, envelope(actor, COMMANDS[action]), POLICY, NOW)
            assert refused.value.kind == "forbidden", (stage, actor.role)
            assert actor.role.value in refused.value.reason
        assert state.model_dump() == before


@pytest.mark.parametrize("action", sorted(a for a, r in ACTIONS.items() if r.scope == "holder"))
def test_people_of_a_dealer_not_holding_the_lead_are_forbidden(action: str):
    rule = ACTIONS[action]
    stage = sorted(rule.stages)[0]
    state = prepared_state(stage, action)
    other = consultant("D-SH-2") if action == "claim" else manager("D-SH-2")
    with pytest.raises(Refused) as refused:
        decide(state, envelope(other, COMMANDS[action]), POLICY, NOW)
    assert refused.value.kind == "forbidden" and "not held by your dealer" in refused.value.reason


def test_a_consultant_cannot_act_on_a_lead_assigned_to_a_colleague():
    state = base_state(S.CONTACTED, consultant_id="d-sh-1-c1")
    with pytest.raises(Refused) as refused:
        decide(state, envelope(consultant(DEALER, 2), COMMANDS["invite"]), POLICY, NOW)
    assert refused.value.kind == "forbidden" and "not assigned to you" in refused.value.reason
    with pytest.raises(Refused) as refused:  # nor on one nobody has been assigned yet: the manager assigns
        decide(state.model_copy(update={"consultant_id": None}), envelope(consultant(DEALER, 1), COMMANDS["invite"]),
               POLICY, NOW)
    assert refused.value.kind == "forbidden"
    t = decide(state, envelope(consultant(DEALER, 1), COMMANDS["invite"]), POLICY, NOW)
    assert t.state.stage == S.INVITED


def test_refusals_inside_an_action_change_nothing_either():
    cases = [
        (base_state(S.ACKNOWLEDGED), manager(DEALER), COMMANDS["apply_for_defeat"], "stage", "follow-up"),
        (base_state(S.DISPATCHED, holding=Holding(dealer_id=DEALER, started_at=NOW)), manager(DEALER),
         COMMANDS["decline"], "forbidden", "choice-right"),
        (base_state(S.ACKNOWLEDGED, past_holdings=[Holding(dealer_id="D-SH-2", started_at=NOW, ended_at=NOW)]), OPS,
         c.Reassign(dealer_id="D-SH-2", reason="x"), "stage", "previous holder"),
        (base_state(S.CLEANSING, holding=None), OPS, c.Reassign(reason="x"), "stage", "cleansing"),
        (base_state(S.DISPATCHED), RM_EAST, COMMANDS["log_regional_contact"], "stage", "no open regional alert"),
        (base_state(S.DISPATCHED), manager(DEALER), COMMANDS["appeal"], "forbidden", "dealer that was judged"),
        (prepared_state(S.DISPATCHED, "decide_appeal"), REVIEWER, COMMANDS["decide_appeal"], "forbidden",
         "second reviewer"),
        (prepared_state(S.DISPATCHED, "appeal"), SECOND_REVIEWER, COMMANDS["decide_appeal"], "stage",
         "no appeal waiting"),
    ]
    for state, actor, command, kind, words in cases:
        before = state.model_dump()
        with pytest.raises(Refused) as refused:
            decide(state, envelope(actor, command), POLICY, NOW)
        assert refused.value.kind == kind, (command.action, refused.value.reason)
        assert words in refused.value.reason
        assert state.model_dump() == before


def test_an_appeal_window_that_closed_refuses_the_appeal():
    state = prepared_state(S.DISPATCHED, "appeal")
    state.appeal.window_open = False
    with pytest.raises(Refused, match="window"):
        decide(state, envelope(manager(DEALER), COMMANDS["appeal"]), POLICY, NOW)


def test_a_regional_manager_of_another_region_is_forbidden():
    state = prepared_state(S.DISPATCHED, "log_regional_contact")
    south = Actor(user_id="rm-south", role=Role.REGIONAL_MANAGER, region="South")
    with pytest.raises(Refused) as refused:
        decide(state, envelope(south, COMMANDS["log_regional_contact"]), POLICY, NOW)
    assert refused.value.kind == "forbidden"


# ------------------------------------------------------------------ allowed_actions


ACTORS = {
    "manager": manager(DEALER), "consultant": consultant(DEALER), "other_manager": manager("D-SH-2"),
    "ops": OPS, "head": HEAD, "reviewer": REVIEWER, "second_reviewer": SECOND_REVIEWER,
    "call_center": CALL_CENTER, "rm": RM_EAST,
}


def test_allowed_actions_lists_exactly_what_decide_accepts():
    """The portal shows what allowed_actions lists: every listed action must go through, every other be refused."""
    mismatches = []
    for stage in LeadStage:
        for name, actor in ACTORS.items():
            for action in ACTIONS:
                # a lead with what the action needs (evidence, an open appeal, ...) and a plain one
                for prepared, state in (("prepared", prepared_state(stage, action)), ("plain", base_state(stage))):
                    listed = action in allowed_actions(state, actor)
                    try:
                        decide(state, envelope(actor, COMMANDS[action]), POLICY, NOW)
                        accepted = True
                    except Refused:
                        accepted = False
                    if listed != accepted:
                        mismatches.append((stage.value, prepared, name, action, "listed" if listed else "not listed"))
    assert mismatches == []


def test_reviewers_are_not_offered_an_appeal_decision_on_a_lead_without_an_appeal():
    state = base_state(S.DISPATCHED)
    with pytest.raises(Refused, match="no appeal waiting"):
        decide(state, envelope(SECOND_REVIEWER, COMMANDS["decide_appeal"]), POLICY, NOW)
    assert allowed_actions(state, SECOND_REVIEWER) == []


def test_allowed_actions_does_not_offer_the_appeal_decision_to_the_reviewer_who_gave_the_verdict():
    state = prepared_state(S.DISPATCHED, "decide_appeal")
    assert "decide_appeal" in allowed_actions(state, SECOND_REVIEWER)
    with pytest.raises(Refused) as refused:
        decide(state, envelope(REVIEWER, COMMANDS["decide_appeal"]), POLICY, NOW)
    assert refused.value.kind == "forbidden"
    assert "decide_appeal" not in allowed_actions(state, REVIEWER)


def test_allowed_actions_does_not_offer_decline_to_a_dealer_without_choice_right():
    state = base_state(S.DISPATCHED, holding=Holding(dealer_id=DEALER, started_at=NOW, choice_right=False))
    with pytest.raises(Refused) as refused:
        decide(state, envelope(manager(DEALER), COMMANDS["decline"]), POLICY, NOW)
    assert refused.value.kind == "forbidden"
    assert allowed_actions(state, manager(DEALER)) == ["acknowledge", "request_transfer"]


def test_allowed_actions_for_key_stages():
    dispatched = base_state(S.DISPATCHED)
    assert allowed_actions(dispatched, manager(DEALER)) == ["acknowledge", "decline", "request_transfer"]
    assert allowed_actions(dispatched, consultant(DEALER)) == []
    assert allowed_actions(dispatched, manager("D-SH-2")) == []
    assert allowed_actions(dispatched, OPS) == ["reassign"]
    ordered = base_state(S.ORDERED, consultant_id="d-sh-1-c1")
    assert allowed_actions(ordered, consultant(DEALER)) == ["log_follow_up", "request_cancel", "record_win"]
    assert allowed_actions(ordered, consultant(DEALER, 2)) == []
    assert allowed_actions(base_state(S.CLEANSING, holding=None), CALL_CENTER) == ["record_cleansing"]
    assert allowed_actions(base_state(S.TRANSFER_REVIEW), OPS) == ["review_transfer"]
    assert allowed_actions(base_state(S.TRANSFER_REVIEW), manager(DEALER)) == []
    assert allowed_actions(base_state(S.COMPLETED), manager(DEALER)) == []


# ------------------------------------------------------------------ clocks


def dispatched_state(at: datetime = NOW, **holding) -> LeadState:
    fresh = base_state(S.NEW, holding=None, region=None)
    result = DispatchResult(dealer_id=DEALER, dealer_name="Aurora Pudong", region="East", reason="top score",
                            **holding)
    return lc.on_dispatched(fresh, result, POLICY, at).state


def act(state: LeadState, actor: Actor, command, at: datetime) -> LeadState:
    return decide(state, envelope(actor, command), POLICY, at).state


def deadlines(state: LeadState) -> dict[str, datetime | None]:
    return {name: clock.deadline for name, clock in state.clocks.items()}


def test_dispatch_starts_the_dealer_clocks():
    s = dispatched_state()
    assert s.stage == S.DISPATCHED and s.dealer_id == DEALER
    assert deadlines(s) == {
        "receipt": NOW + timedelta(hours=2),
        "first_response": NOW + timedelta(minutes=15),
        "first_deep_contact": NOW + timedelta(hours=24),
        "store_invitation": NOW + timedelta(days=7),
    }
    assert lc.next_deadline(s) == NOW + timedelta(minutes=15)
    assert lc.due_clocks(s, NOW + timedelta(hours=2)) == ["first_response", "receipt"]


def test_the_time_scale_compresses_every_clock():
    fresh = base_state(S.NEW, holding=None)
    result = DispatchResult(dealer_id=DEALER, reason="top score")
    s = lc.on_dispatched(fresh, result, load_policy(time_scale=60), NOW).state
    assert s.clocks["receipt"].deadline == NOW + timedelta(minutes=2)


def test_acknowledge_stops_only_the_receipt_clock():
    s = act(dispatched_state(), manager(DEALER), c.Acknowledge(), NOW + timedelta(minutes=5))
    assert set(s.clocks) == DEALER_CLOCKS - {"receipt"}


def test_follow_ups_stop_first_response_and_reaching_a_stage_stops_its_clock():
    s = act(dispatched_state(), manager(DEALER), c.Acknowledge(), NOW)
    s = act(s, manager(DEALER), c.Assign(consultant_id="d-sh-1-c1"), NOW)
    assert "public_pool" in s.clocks
    s = act(s, consultant(DEALER), c.LogFollowUp(channel=c.ContactChannel.WECHAT), NOW + timedelta(minutes=10))
    assert s.stage == S.CONTACTED
    assert {"first_response", "public_pool"}.isdisjoint(s.clocks)
    assert {"first_deep_contact", "store_invitation", "grade_cadence", "stall"} <= set(s.clocks)
    assert s.clocks["grade_cadence"].deadline == NOW + timedelta(minutes=10) + POLICY.clocks.grade_cadence.A
    s = act(s, consultant(DEALER), c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=3),
            NOW + timedelta(hours=1))
    assert s.stage == S.ENGAGED and "first_deep_contact" not in s.clocks
    assert s.clocks["grade_cadence"].deadline == NOW + timedelta(hours=1) + POLICY.clocks.grade_cadence.A
    s = act(s, consultant(DEALER), c.Invite(), NOW + timedelta(hours=2))
    assert "store_invitation" not in s.clocks


def test_a_short_call_is_a_contact_not_engagement():
    s = act(dispatched_state(), manager(DEALER), c.Acknowledge(), NOW)
    s = act(s, manager(DEALER), c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=2), NOW)
    assert s.stage == S.CONTACTED
    s = act(s, manager(DEALER), c.LogFollowUp(channel=c.ContactChannel.SMS, needs_captured=True), NOW)
    assert s.stage == S.ENGAGED


def test_holding_ended_stops_every_dealer_clock_but_not_the_regional_one():
    s = act(dispatched_state(), manager(DEALER), c.Acknowledge(), NOW)
    s = act(s, manager(DEALER), c.Assign(consultant_id="d-sh-1-c1"), NOW)
    s.clocks["regional_follow_through"] = ClockState(name="regional_follow_through", started_at=NOW,
                                                     deadline=NOW + timedelta(hours=12))
    s = act(s, manager(DEALER), COMMANDS["request_transfer"], NOW + timedelta(minutes=1))
    assert {"first_response", "public_pool", "first_deep_contact", "store_invitation"} <= set(s.clocks)
    t = decide(s, envelope(OPS, c.ReviewTransfer(approve=True, explanation="fits Hangzhou")), POLICY,
               NOW + timedelta(hours=1))
    assert [e.kind for e in t.events][:2] == ["transfer_approved", "holding_ended"]
    assert t.state.holding is None and t.state.past_holdings[-1].end_reason == "transferred"
    assert set(t.state.clocks) == {"regional_follow_through"}
    assert not any(CLOCKS[name].dealer_clock for name in t.state.clocks)
    assert [type(e) for e in t.effects if isinstance(e, lc.DispatchEffect)] == [lc.DispatchEffect]


def test_a_transfer_request_pauses_the_dealer_clocks_and_a_rejection_resumes_them_where_they_stopped():
    s = act(dispatched_state(), manager(DEALER), c.Acknowledge(), NOW)
    asked = NOW + timedelta(minutes=5)
    s = act(s, manager(DEALER), COMMANDS["request_transfer"], asked)
    assert s.stage == S.TRANSFER_REVIEW and s.return_stage == S.ACKNOWLEDGED
    remaining = {n: s.clocks[n].paused_remaining_s for n in ("first_response", "first_deep_contact",
                                                             "store_invitation")}
    assert remaining == {
        "first_response": timedelta(minutes=10).total_seconds(),
        "first_deep_contact": timedelta(hours=23, minutes=55).total_seconds(),
        "store_invitation": (timedelta(days=7) - timedelta(minutes=5)).total_seconds(),
    }
    assert not any(s.clocks[n].running for n in remaining)
    # the review clock runs meanwhile, and a paused clock never lapses
    assert s.clocks["transfer_review"].deadline == asked + timedelta(hours=24)
    assert lc.next_deadline(s) == asked + timedelta(hours=24)
    assert lc.due_clocks(s, asked + timedelta(hours=20)) == []

    rejected = asked + timedelta(hours=20)
    t = decide(s, envelope(OPS, c.ReviewTransfer(approve=False, explanation="the customer is in Pudong")),
               POLICY, rejected)
    s = t.state
    assert s.stage == S.ACKNOWLEDGED and s.return_stage is None and s.transfer is None
    assert "transfer_review" not in s.clocks
    for name, seconds in remaining.items():
        assert s.clocks[name].running
        assert s.clocks[name].deadline == rejected + timedelta(seconds=seconds)
    notes = [e for e in t.effects if isinstance(e, lc.NotifyEffect)]
    assert notes and "the customer is in Pudong" in notes[0].request.message


def test_a_competitive_region_gets_the_shorter_transfer_review():
    s = dispatched_state(competitive_region=True)
    s = act(s, manager(DEALER), COMMANDS["request_transfer"], NOW)
    assert s.clocks["transfer_review"].deadline == NOW + timedelta(hours=12)


def test_a_defeat_application_pauses_the_clocks_and_sending_it_back_resumes_them():
    s = act(dispatched_state(), manager(DEALER), c.Acknowledge(), NOW)
    s = act(s, manager(DEALER), c.LogFollowUp(channel=c.ContactChannel.WECHAT), NOW)
    cadence_left = (s.clocks["grade_cadence"].deadline - (NOW + timedelta(hours=1))).total_seconds()
    s = act(s, manager(DEALER), COMMANDS["apply_for_defeat"], NOW + timedelta(hours=1))
    assert s.stage == S.DEFEAT_PENDING_MANAGER
    assert s.clocks["grade_cadence"].paused_remaining_s == cadence_left
    later = NOW + timedelta(hours=30)
    s = act(s, manager(DEALER), c.ReviewDefeatApplication(approve=False, note="call again"), later)
    assert s.stage == S.CONTACTED and s.defeat is None
    assert s.clocks["grade_cadence"].deadline == later + timedelta(seconds=cadence_left)


def test_a_defeat_sent_to_review_starts_a_working_day_clock_set_by_the_calendar():
    s = act(dispatched_state(), manager(DEALER), c.Acknowledge(), NOW)
    s = act(s, manager(DEALER), c.LogFollowUp(channel=c.ContactChannel.WECHAT), NOW)
    s = act(s, manager(DEALER), COMMANDS["apply_for_defeat"], NOW)
    t = decide(s, envelope(manager(DEALER), c.ReviewDefeatApplication(approve=True)), POLICY, NOW)
    assert t.state.stage == S.DEFEAT_REVIEW
    assert t.state.clocks["defeat_review"].deadline is None  # waiting for the calendar
    effects = [e for e in t.effects if isinstance(e, lc.DeadlineEffect)]
    assert [(e.clock, e.working_days) for e in effects] == [("defeat_review", POLICY.working_days.defeat_review)]
    s = lc.on_deadline(t.state, "defeat_review", NOW, NOW + timedelta(days=3), POLICY, NOW).state
    assert s.clocks["defeat_review"].deadline == NOW + timedelta(days=3)
    s = act(s, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.TRUE_DEFEAT, note="bought elsewhere"),
            NOW + timedelta(days=1))
    assert s.stage == S.DORMANT and "defeat_review" not in s.clocks and "reactivation" in s.clocks
    assert s.holding is None and s.past_holdings[-1].end_reason == "true_defeat"


def test_a_pseudo_defeat_penalises_the_dealer_and_opens_the_appeal_window():
    s = prepared_state(S.DEFEAT_REVIEW, "decide_defeat")
    t = decide(s, envelope(REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.PSEUDO_DEFEAT, note="2 calls only")),
               POLICY, NOW)
    kinds = [e.kind for e in t.events]
    assert kinds.index("penalty_recorded") < kinds.index("holding_ended")
    penalty = next(e for e in t.events if e.kind == "penalty_recorded")
    assert penalty.data["penalized_dealer_id"] == DEALER
    assert t.state.appeal.penalty_id == penalty.data["penalty_id"] and t.state.appeal.dealer_id == DEALER
    assert "appeal_window" in t.state.clocks and t.state.holding is None
    assert any(isinstance(e, lc.DispatchEffect) for e in t.effects)
    to_cc = decide(s, envelope(REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.PSEUDO_DEFEAT, note="x",
                                                        reassign_to_call_center=True)), POLICY, NOW)
    assert to_cc.state.stage == S.CALL_CENTER
    assert not any(isinstance(e, lc.DispatchEffect) for e in to_cc.effects)


def test_end_stages_drop_every_clock_but_an_open_appeal():
    s = base_state(S.CLEANSING, holding=None, appeal=AppealCase(dealer_id=DEALER, defeat_reviewer="rev-1",
                                                                 penalty_id="p"))
    s.clocks = {
        "cleansing": ClockState(name="cleansing", started_at=NOW, deadline=NOW + timedelta(hours=24)),
        "appeal_window": ClockState(name="appeal_window", started_at=NOW, deadline=NOW + timedelta(days=2)),
    }
    s = act(s, CALL_CENTER, c.RecordCleansing(outcome=c.CleansingOutcome.INVALID, note="fake"), NOW)
    assert s.stage == S.CLOSED_INVALID and s.stage in END_STAGES
    assert set(s.clocks) == {"appeal_window"}
    assert not lc.is_finished(s)


def test_a_clock_paused_by_an_earlier_lapse_in_the_same_pass_does_not_lapse():
    """After a late wake-up both stall (7 d) and a C lead's cadence (15 d) are past due; the stall
    lapse pauses the dealer's clocks (the lead goes to defeat review), so the cadence must not fire."""
    s = dispatched_state()
    s = act(s.model_copy(update={"grade": "C"}), manager(DEALER), c.Acknowledge(), NOW)
    s = act(s, manager(DEALER), c.LogFollowUp(channel=c.ContactChannel.WECHAT), NOW)
    late = NOW + timedelta(days=16)
    assert {"stall", "grade_cadence", "store_invitation"} <= set(lc.due_clocks(s, late))
    for name in lc.due_clocks(s, late):
        if lc.is_due(s, name, late):
            s = lc.lapse(s, name, POLICY, late).state
    kinds = [e.kind for e in s.recent]
    assert "stall_detected" in kinds and s.stage == S.DEFEAT_REVIEW
    lapsed = {e.data["clock"] for e in s.recent if e.kind == "clock_lapsed"}
    assert "grade_cadence" not in lapsed and "store_invitation" not in lapsed  # both were paused by the stall
    assert s.clocks["grade_cadence"].paused_remaining_s is not None
