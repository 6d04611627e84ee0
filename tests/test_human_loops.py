"""The human loops of a lead (SPEC 2, 3, 4.2, 4.3) through the workflow, on the time-skipping server.

Each test takes its own raw_lead numbers (200-399): the test server is shared by the session and
lead ids derive from brand and phone, so numbers never repeat across tests.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import col, select
from temporalio.client import WorkflowExecutionStatus

from db.models import HoldingRow
from domain import commands as c
from domain.customers import InvalidPhone
from domain.models import Channel
from tests.fixtures import (
    CALL_CENTER,
    OPS,
    REVIEWER,
    SECOND_REVIEWER,
    consultant,
    manager,
    raw_lead,
)
from tests.harness import lab
from workflows.gateway import ActionRefused
from workflows.messages import AppealSignal, ReassignSignal

SHANGHAI_DEALERS = {"D-SH-1", "D-SH-2", "D-HZ-1"}


# ------------------------------------------------------------------ helpers


def holdings(L, lead_id: str) -> list[HoldingRow]:
    return L._rows(select(HoldingRow).where(col(HoldingRow.lead_id) == lead_id).order_by(col(HoldingRow.started_at)))


def in_order(timeline: list[str], *kinds: str) -> bool:
    """The kinds appear in the timeline in this order (other events may lie between them)."""
    it = iter(timeline)
    return all(kind in it for kind in kinds)


async def eventually(L, lead_id: str, check, what: str, tries: int = 200):
    """Wait (a few real milliseconds at a time) until the workflow has done what a signal asked."""
    for _ in range(tries):
        state = await L.state(lead_id)
        if check(state):
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not reached; stage {state.stage}")


async def projected(L, lead_id: str):
    """Wait until the read model shows everything the workflow decided so far (after a signal)."""
    state = await L.state(lead_id)
    for _ in range(200):
        row = L.lead_row(lead_id)
        if row is not None and row.last_seq >= state.seq:
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"read model still behind: seq {state.seq}")


async def working_lead(L, n: int, **overrides):
    """A dispatched lead, acknowledged and assigned to consultant 1 of its dealer, with one call logged."""
    r = await L.intake(raw_lead(n, **overrides))
    s = await L.state(r.lead_id)
    dealer = s.dealer_id
    await L.act(r.lead_id, manager(dealer), c.Acknowledge())
    await L.act(r.lead_id, manager(dealer), c.Assign(consultant_id=consultant(dealer).user_id))
    await L.act(r.lead_id, consultant(dealer), c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=5,
                                                               note="wants the A5 Pro"))
    return r.lead_id, dealer


async def ordered_lead(L, n: int):
    lead_id, dealer = await working_lead(L, n)
    who = consultant(dealer)
    await L.act(lead_id, who, c.Invite())
    await L.act(lead_id, who, c.RecordVisit())
    await L.act(lead_id, who, c.RecordTestDrive(model="A5 Pro"))
    await L.act(lead_id, who, c.RecordQuote(amount=215_000))
    await L.act(lead_id, who, c.RecordOrder(deposit=5_000, model="A5 Pro"))
    return lead_id, dealer


async def pseudo_defeated(L, n: int, **decision):
    """A lead whose defeat application the review team judged a pseudo-defeat."""
    lead_id, dealer = await working_lead(L, n)
    await L.act(lead_id, consultant(dealer), c.ApplyForDefeat(reason_code=c.DefeatReason.UNREACHABLE, note="no answer"))
    await L.act(lead_id, manager(dealer), c.ReviewDefeatApplication(approve=True))
    await L.act(lead_id, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.PSEUDO_DEFEAT, note="one call only",
                                                  **decision))
    return lead_id, dealer


async def run_id(L, lead_id: str) -> str:
    return (await L.handle(lead_id).describe()).run_id


# ------------------------------------------------------------------ the funnel


async def test_happy_path_from_dispatch_to_completed_after_the_revisit(env, engine):
    async with lab(env, engine, record="happy-path") as L:
        r = await L.intake(raw_lead(200))
        assert r.outcome == "created" and r.stage == "dispatched"
        s = await L.state(r.lead_id)
        dealer = s.dealer_id
        assert dealer == "D-SH-1" and s.grade in ("H", "A", "B")

        mgr, cons = manager(dealer), consultant(dealer)
        assert (await L.act(r.lead_id, mgr, c.Acknowledge())).stage == "acknowledged"
        done = await L.act(r.lead_id, mgr, c.Assign(consultant_id=cons.user_id))
        assert done.stage == "assigned" and done.consultant_id == cons.user_id
        done = await L.act(r.lead_id, cons, c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=5,
                                                          needs=c.Needs(use="family", budget=220_000)))
        assert done.stage == "engaged"
        steps = [
            (c.Invite(note="Saturday 10:00"), "invited"),
            (c.RecordVisit(), "visited"),
            (c.RecordTestDrive(model="A5 Pro"), "test_driven"),
            (c.RecordQuote(amount=215_000), "quoted"),
            (c.RecordOrder(deposit=5_000, model="A5 Pro"), "ordered"),
            (c.RecordWin(payment=c.PaymentMethod.LOAN, amount=215_000), "won"),
            (c.RecordDelivery(vin="LVXA5000000000200"), "delivered"),
            (c.LogRevisit(note="happy with the car"), "completed"),
        ]
        for command, stage in steps:
            assert (await L.act(r.lead_id, cons, command)).stage == stage

        outcome = await L.handle(r.lead_id).result()
        assert outcome.stage == "completed"

        row = L.lead_row(r.lead_id)
        assert row.stage == "completed" and row.furthest_stage == "completed"
        assert row.dealer_id == dealer and row.consultant_id == cons.user_id
        assert row.clocks == []
        timeline = L.timeline(r.lead_id)
        assert in_order(timeline, "lead_created", "scored", "dispatched", "acknowledged", "assigned",
                        "follow_up_logged", "invited", "visited", "test_driven", "quoted", "ordered", "won",
                        "delivered", "revisit_logged", "completed")
        assert "alert_raised" not in timeline
        [call] = L.events(r.lead_id, "follow_up_logged")
        assert call.data["needs_captured"] is True and call.data["duration_minutes"] == 5
        [held] = holdings(L, r.lead_id)
        assert held.dealer_id == dealer and held.ended_at is None and "D-SH-1" in held.dispatch_reason
        assert L.notifications(r.lead_id, "lead_dispatched")


# ------------------------------------------------------------------ transfer (4.2)


async def test_transfer_approved_redispatches_to_a_dealer_that_never_held_the_lead(env, engine):
    async with lab(env, engine, record="transfer-approved") as L:
        r = await L.intake(raw_lead(210))
        first = (await L.state(r.lead_id)).dealer_id
        await L.act(r.lead_id, manager(first), c.Acknowledge())
        asked = await L.act(r.lead_id, manager(first), c.RequestTransfer(
            reason=c.TransferReason.REGION_MISMATCH, text="customer moved to Hangzhou"))
        assert asked.stage == "transfer_review"
        assert L.notifications(r.lead_id, "transfer_review_needed")

        done = await L.act(r.lead_id, OPS, c.ReviewTransfer(approve=True, explanation="fine, re-dispatch"))
        second = done.dealer_id
        assert done.stage == "dispatched" and second in SHANGHAI_DEALERS - {first}

        # and once more: the third dealer is neither of the two before
        await L.act(r.lead_id, manager(second), c.RequestTransfer(reason=c.TransferReason.OTHER, text="no capacity"))
        done = await L.act(r.lead_id, OPS, c.ReviewTransfer(approve=True, explanation="ok"))
        third = done.dealer_id
        assert done.stage == "dispatched" and third == (SHANGHAI_DEALERS - {first, second}).pop()

        s = await L.state(r.lead_id)
        assert [h.dealer_id for h in s.past_holdings] == [first, second]
        assert [h.end_reason for h in s.past_holdings] == ["transferred", "transferred"]
        rows = holdings(L, r.lead_id)
        assert [(h.dealer_id, h.end_reason) for h in rows] == [(first, "transferred"), (second, "transferred"),
                                                               (third, None)]
        assert L.lead_row(r.lead_id).dealer_id == third
        assert L.timeline(r.lead_id).count("transfer_approved") == 2


async def test_transfer_rejected_goes_back_to_the_stage_with_the_reviewers_explanation(env, engine):
    async with lab(env, engine, record="transfer-rejected") as L:
        lead_id, dealer = await working_lead(L, 211)
        before = await L.state(lead_id)
        assert before.stage == "engaged"
        await L.act(lead_id, manager(dealer), c.RequestTransfer(reason=c.TransferReason.DEMAND_MISMATCH,
                                                                text="wants an SUV"))
        paused = await L.state(lead_id)
        assert paused.clocks["store_invitation"].paused_remaining_s is not None
        await L.sleep(timedelta(hours=5))  # the review takes a while; the dealer's clocks stand still

        explanation = "the A7 is an SUV: keep following up"
        done = await L.act(lead_id, OPS, c.ReviewTransfer(approve=False, explanation=explanation))
        assert done.stage == "engaged" and done.dealer_id == dealer
        s = await L.state(lead_id)
        assert s.transfer is None and s.return_stage is None and s.past_holdings == []
        assert s.clocks["store_invitation"].running
        asked = next(e.at for e in s.recent if e.kind == "transfer_requested")
        answered = next(e.at for e in s.recent if e.kind == "transfer_rejected")
        assert answered - asked >= timedelta(hours=5)
        assert s.clocks["store_invitation"].deadline == before.clocks["store_invitation"].deadline + (answered - asked)
        assert "clock_lapsed" not in L.timeline(lead_id)
        [event] = L.events(lead_id, "transfer_rejected")
        assert event.data["explanation"] == explanation
        notes = L.notifications(lead_id, "transfer_rejected")
        assert notes and all(explanation in n.message for n in notes)
        assert {n.recipient_user_id for n in notes} == {manager(dealer).user_id}


# ------------------------------------------------------------------ choice-right (4.2)


async def test_choice_right_dealer_declines_within_its_quota_and_is_refused_over_it(env, engine):
    async with lab(env, engine, record="decline-quota") as L:
        leads = []
        for n in range(220, 225):  # 5 leads pushed to D-SH-2: 20% of them is one decline
            r = await L.intake(raw_lead(n, preferred_dealer_id="D-SH-2"))
            assert (await L.state(r.lead_id)).dealer_id == "D-SH-2"
            leads.append(r.lead_id)

        done = await L.act(leads[0], manager("D-SH-2"), c.Decline(reason="customer is ours already"))
        assert done.stage == "dispatched" and done.dealer_id in SHANGHAI_DEALERS - {"D-SH-2"}
        assert "declined" in L.timeline(leads[0])
        assert [h.end_reason for h in holdings(L, leads[0]) if h.dealer_id == "D-SH-2"] == ["declined"]

        refused = await L.refusal(leads[1], manager("D-SH-2"), c.Decline(reason="not interested"))
        assert refused.kind == "stage"
        assert "quota" in refused.reason and "1 of 5" in refused.reason
        assert (await L.state(leads[1])).dealer_id == "D-SH-2"
        assert "declined" not in L.timeline(leads[1])


async def test_a_dealer_without_choice_right_cannot_decline(env, engine):
    async with lab(env, engine) as L:
        r = await L.intake(raw_lead(226))
        s = await L.state(r.lead_id)
        assert s.dealer_id == "D-SH-1" and not s.holding.choice_right
        refused = await L.refusal(r.lead_id, manager("D-SH-1"), c.Decline(reason="too far"))
        assert refused.kind == "forbidden" and "choice-right" in refused.reason


# ------------------------------------------------------------------ defeat (4.3)


async def test_defeat_application_needs_a_follow_up_and_the_manager_can_send_it_back(env, engine):
    async with lab(env, engine) as L:
        r = await L.intake(raw_lead(230))
        dealer = (await L.state(r.lead_id)).dealer_id
        await L.act(r.lead_id, manager(dealer), c.Acknowledge())
        apply = c.ApplyForDefeat(reason_code=c.DefeatReason.NO_SHORT_TERM_PLAN, note="next year maybe")
        refused = await L.refusal(r.lead_id, manager(dealer), apply)
        assert refused.kind == "stage" and "follow-up" in refused.reason

        await L.act(r.lead_id, manager(dealer), c.LogFollowUp(channel=c.ContactChannel.WECHAT, note="hello"))
        assert (await L.act(r.lead_id, manager(dealer), apply)).stage == "defeat_pending_manager"
        assert L.notifications(r.lead_id, "defeat_approval_needed")
        done = await L.act(r.lead_id, manager(dealer), c.ReviewDefeatApplication(approve=False, note="call again"))
        assert done.stage == "contacted" and done.dealer_id == dealer
        s = await L.state(r.lead_id)
        assert s.defeat is None and s.return_stage is None
        assert in_order(L.timeline(r.lead_id), "defeat_applied", "defeat_returned")


async def test_true_defeat_sends_the_lead_dormant_and_the_workflow_continues_as_new(env, engine):
    async with lab(env, engine, record="true-defeat-dormant") as L:
        lead_id, dealer = await working_lead(L, 231)
        await L.act(lead_id, consultant(dealer), c.ApplyForDefeat(
            reason_code=c.DefeatReason.BOUGHT_OTHER_BRAND, note="bought a competitor"))
        done = await L.act(lead_id, manager(dealer), c.ReviewDefeatApplication(approve=True, note="confirmed"))
        assert done.stage == "defeat_review"
        s = await L.state(lead_id)
        assert s.clocks["defeat_review"].deadline is not None  # set from the calendar activity
        assert L.notifications(lead_id, "defeat_review_needed")
        first_run = await run_id(L, lead_id)

        done = await L.act(lead_id, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.TRUE_DEFEAT, note="confirmed"))
        assert done.stage == "dormant" and done.dealer_id is None
        for _ in range(100):
            if await run_id(L, lead_id) != first_run:
                break
            await asyncio.sleep(0.02)
        assert await run_id(L, lead_id) != first_run, "going dormant continues the workflow as new"
        s = await L.state(lead_id)
        assert s.stage == "dormant" and set(s.clocks) == {"reactivation"}
        assert [h.end_reason for h in s.past_holdings] == ["true_defeat"]
        assert (await L.handle(lead_id).describe()).status == WorkflowExecutionStatus.RUNNING
        assert L.penalties(dealer) == []
        assert in_order(L.timeline(lead_id), "defeat_submitted", "defeat_decided", "holding_ended", "went_dormant")
        new_run = await run_id(L, lead_id)
        for _ in range(100):  # the new run tells the read model its run id
            if L.lead_row(lead_id).run_id == new_run:
                break
            await asyncio.sleep(0.02)
        assert L.lead_row(lead_id).run_id == new_run


async def test_pseudo_defeat_reassigns_to_another_dealer_and_penalises_the_original(env, engine):
    async with lab(env, engine) as L:
        lead_id, dealer = await pseudo_defeated(L, 232)
        s = await L.state(lead_id)
        assert s.stage == "dispatched" and s.dealer_id in SHANGHAI_DEALERS - {dealer}
        [penalty] = L.penalties(dealer)
        assert penalty.kind == "pseudo_defeat" and penalty.lead_id == lead_id and penalty.revoked_at is None
        assert L.penalties(s.dealer_id) == []
        assert s.appeal.dealer_id == dealer and s.appeal.penalty_id == penalty.penalty_id
        assert s.clocks["appeal_window"].deadline is not None
        assert [h.end_reason for h in s.past_holdings] == ["pseudo_defeat"]
        told = L.notifications(lead_id, "pseudo_defeat")
        assert told and {n.dealer_id for n in told} == {dealer}  # the judged dealer hears of it, not the new one


async def test_pseudo_defeat_can_send_the_lead_to_the_call_center(env, engine):
    async with lab(env, engine, record="pseudo-defeat-call-center") as L:
        lead_id, dealer = await pseudo_defeated(L, 233, reassign_to_call_center=True)
        s = await L.state(lead_id)
        assert s.stage == "call_center" and s.dealer_id is None
        assert len(L.penalties(dealer)) == 1
        assert L.lead_row(lead_id).stage == "call_center"
        assert "sent_to_call_center" in L.timeline(lead_id)


# ------------------------------------------------------------------ appeal (4.3)


async def test_appeal_upheld_keeps_the_penalty(env, engine):
    async with lab(env, engine) as L:
        lead_id, dealer = await pseudo_defeated(L, 240)
        await L.act(lead_id, manager(dealer), c.Appeal(evidence="we called 6 times, recordings attached"))
        s = await L.state(lead_id)
        assert s.appeal.filed_by == manager(dealer).user_id and "appeal_review" in s.clocks
        assert L.notifications(lead_id, "appeal_review_needed")
        await L.act(lead_id, SECOND_REVIEWER, c.DecideAppeal(outcome=c.AppealOutcome.UPHELD, note="calls were 10 s"))
        [penalty] = L.penalties(dealer)
        assert penalty.revoked_at is None
        assert (await L.state(lead_id)).appeal.outcome == "upheld"
        assert "penalty_revoked" not in L.timeline(lead_id)


async def test_appeal_overturned_revokes_the_penalty_and_leaves_the_lead_where_it_is(env, engine):
    async with lab(env, engine, record="appeal-overturned") as L:
        lead_id, dealer = await pseudo_defeated(L, 241)
        now_with = (await L.state(lead_id)).dealer_id
        await L.act(lead_id, manager(dealer), c.Appeal(evidence="the customer asked us to wait"))
        done = await L.act(lead_id, SECOND_REVIEWER, c.DecideAppeal(outcome=c.AppealOutcome.OVERTURNED,
                                                                    note="evidence convincing"))
        assert done.stage == "dispatched" and done.dealer_id == now_with
        [penalty] = L.penalties(dealer)
        assert penalty.revoked_at is not None
        s = await L.state(lead_id)
        assert s.appeal.outcome == "overturned" and s.clocks.keys().isdisjoint({"appeal_window", "appeal_review"})
        assert in_order(L.timeline(lead_id), "appeal_filed", "appeal_decided", "penalty_revoked")


async def test_only_the_judged_dealer_appeals_and_only_a_second_reviewer_decides(env, engine):
    async with lab(env, engine) as L:
        lead_id, dealer = await pseudo_defeated(L, 242)
        holder = (await L.state(lead_id)).dealer_id
        for other in (holder, "D-GZ-1"):
            refused = await L.refusal(lead_id, manager(other), c.Appeal(evidence="not ours to appeal"))
            assert refused.kind == "forbidden" and "judged" in refused.reason

        await L.act(lead_id, manager(dealer), c.Appeal(evidence="recordings"))
        refused = await L.refusal(lead_id, REVIEWER, c.DecideAppeal(outcome=c.AppealOutcome.OVERTURNED, note="me"))
        assert refused.kind == "forbidden" and "second reviewer" in refused.reason
        refused = await L.refusal(lead_id, manager(dealer), c.Appeal(evidence="again"))
        assert refused.kind == "stage"


async def test_an_appeal_entered_through_the_signal_is_filed(env, engine):
    async with lab(env, engine, record="appeal-signal") as L:
        lead_id, dealer = await pseudo_defeated(L, 243)
        await L.handle(lead_id).signal("appeal", AppealSignal(evidence="entered by ops for the dealer",
                                                              dealer_id=dealer, by="ops"))
        s = await eventually(L, lead_id, lambda s: s.appeal.filed_at is not None, "appeal filed")
        assert s.appeal.evidence == "entered by ops for the dealer" and "appeal_review" in s.clocks
        await projected(L, lead_id)
        [filed] = L.events(lead_id, "appeal_filed")
        assert filed.data["appealing_dealer_id"] == dealer
        assert "signal_refused" not in L.timeline(lead_id)


async def test_a_signal_the_rules_refuse_changes_nothing_but_is_recorded_and_alerted(env, engine):
    async with lab(env, engine, record="signal-refused") as L:
        lead_id, dealer = await pseudo_defeated(L, 244)
        before = await L.state(lead_id)
        await L.handle(lead_id).signal("reassign", ReassignSignal(reason="send it back", dealer_id=dealer, by="ops"))
        after = await eventually(L, lead_id, lambda s: s.seq > before.seq, "signal handled")
        assert after.stage == before.stage and after.dealer_id == before.dealer_id
        assert after.holding == before.holding and after.past_holdings == before.past_holdings
        assert after.appeal == before.appeal and after.clocks == before.clocks
        await projected(L, lead_id)
        [refused] = L.events(lead_id, "signal_refused")
        assert refused.data["action"] == "reassign" and "previous holder" in refused.data["reason"]
        assert "signal_refused" in L.alerts(lead_id)
        assert {n.recipient_role for n in L.notifications(lead_id, "signal_refused")} == {"lead_ops"}
        assert L.lead_row(lead_id).dealer_id == before.dealer_id


# ------------------------------------------------------------------ order cancellation (step 10)


async def test_order_cancellation_approved_by_the_manager_goes_back_to_engaged(env, engine):
    async with lab(env, engine, record="cancel-approved") as L:
        lead_id, dealer = await ordered_lead(L, 250)
        asked = await L.act(lead_id, consultant(dealer), c.RequestCancel(reason="loan refused"))
        assert asked.stage == "cancel_pending"
        assert L.notifications(lead_id, "cancel_approval_needed")
        refused = await L.refusal(lead_id, consultant(dealer), c.ReviewCancel(approve=True))
        assert refused.kind == "forbidden"
        done = await L.act(lead_id, manager(dealer), c.ReviewCancel(approve=True, note="refund deposit"))
        assert done.stage == "engaged"
        row = L.lead_row(lead_id)
        assert row.stage == "engaged" and row.furthest_stage == "ordered"
        # back in the funnel, the lead is supervised again: cadence and stall clocks restart
        assert {"grade_cadence", "stall"} <= set((await L.state(lead_id)).clocks)


async def test_order_cancellation_rejected_by_the_manager_stays_ordered(env, engine):
    async with lab(env, engine) as L:
        lead_id, dealer = await ordered_lead(L, 251)
        await L.act(lead_id, consultant(dealer), c.RequestCancel(reason="second thoughts"))
        done = await L.act(lead_id, manager(dealer), c.ReviewCancel(approve=False, note="talk to the customer"))
        assert done.stage == "ordered"
        assert (await L.state(lead_id)).return_stage is None
        assert in_order(L.timeline(lead_id), "ordered", "cancel_requested", "cancel_rejected")


# ------------------------------------------------------------------ cleansing (step 4)


async def test_a_lead_without_a_city_is_cleansed_then_verified_and_dispatched(env, engine):
    async with lab(env, engine, record="cleansing-verified") as L:
        r = await L.intake(raw_lead(260, city=None))
        assert r.stage == "cleansing"
        s = await L.state(r.lead_id)
        assert s.dealer_id is None and "cleansing" in s.clocks
        assert L.notifications(r.lead_id, "cleansing_needed")
        done = await L.act(r.lead_id, CALL_CENTER, c.RecordCleansing(
            outcome=c.CleansingOutcome.VERIFIED, corrections=c.CleansingCorrections(city="Shanghai"), note="called"))
        assert done.stage == "dispatched" and done.dealer_id in SHANGHAI_DEALERS
        s = await L.state(r.lead_id)
        assert s.profile.city == "Shanghai" and "cleansing" not in s.clocks
        assert in_order(L.timeline(r.lead_id), "cleansing_started", "cleansing_recorded", "scored", "dispatched")
        assert L.lead_row(r.lead_id).city == "上海市"  # the read model shows the division's Chinese name


async def test_a_low_intent_lead_from_cleansing_is_nurtured(env, engine):
    async with lab(env, engine) as L:
        r = await L.intake(raw_lead(261, city=None))
        done = await L.act(r.lead_id, CALL_CENTER, c.RecordCleansing(outcome=c.CleansingOutcome.NURTURE,
                                                                     note="buys next year"))
        assert done.stage == "nurturing"
        s = await L.state(r.lead_id)
        assert {"nurture_touch", "nurture_end"} <= set(s.clocks) and "cleansing" not in s.clocks


async def test_an_invalid_lead_from_cleansing_closes_and_the_workflow_completes(env, engine):
    async with lab(env, engine, record="cleansing-invalid") as L:
        r = await L.intake(raw_lead(262, city=None))
        refused = await L.refusal(r.lead_id, OPS, c.RecordCleansing(outcome=c.CleansingOutcome.INVALID))
        assert refused.kind == "forbidden"
        done = await L.act(r.lead_id, CALL_CENTER, c.RecordCleansing(outcome=c.CleansingOutcome.INVALID,
                                                                     note="fake number"))
        assert done.stage == "closed_invalid"
        outcome = await L.handle(r.lead_id).result()
        assert outcome.stage == "closed_invalid"
        assert (await L.handle(r.lead_id).describe()).status == WorkflowExecutionStatus.COMPLETED
        assert L.lead_row(r.lead_id).stage == "closed_invalid"


# ------------------------------------------------------------------ lead ops


async def test_lead_ops_reassigns_to_a_named_dealer(env, engine):
    async with lab(env, engine) as L:
        lead_id, dealer = await working_lead(L, 270)
        refused = await L.refusal(lead_id, OPS, c.Reassign(dealer_id=dealer, reason="same dealer"))
        assert refused.kind == "stage"
        done = await L.act(lead_id, OPS, c.Reassign(dealer_id="D-HZ-1", reason="customer works in Hangzhou"))
        assert done.stage == "dispatched" and done.dealer_id == "D-HZ-1" and done.consultant_id is None
        s = await L.state(lead_id)
        assert s.holding.competitive_region and "named by lead ops" in s.holding.dispatch_reason
        assert [(h.dealer_id, h.end_reason) for h in holdings(L, lead_id)] == [(dealer, "reassigned"), ("D-HZ-1", None)]
        refused = await L.refusal(lead_id, consultant(dealer), c.LogFollowUp(channel=c.ContactChannel.SMS))
        assert refused.kind == "forbidden" and "not held by your dealer" in refused.reason  # no word of its stage


async def test_lead_ops_reassigns_to_the_call_center(env, engine):
    async with lab(env, engine) as L:
        lead_id, dealer = await working_lead(L, 271)
        done = await L.act(lead_id, OPS, c.Reassign(to_call_center=True, reason="customer asked for the OEM"))
        assert done.stage == "call_center" and done.dealer_id is None
        s = await L.state(lead_id)
        assert not any(name in s.clocks for name in ("first_deep_contact", "store_invitation", "grade_cadence"))
        assert L.lead_row(lead_id).stage == "call_center"


# ------------------------------------------------------------------ intake: dedup and merge (SPEC 2)


async def test_concurrent_duplicates_yield_exactly_one_lead(env, engine):
    async with lab(env, engine, record="duplicate-race") as L:
        phone = "13800000280"
        raws = [raw_lead(280 + i, phone=phone, external_id=f"race-{i}") for i in range(10)]
        answers = await asyncio.gather(*(L.intake(raw) for raw in raws))
        assert len({a.lead_id for a in answers}) == 1
        assert sorted(a.outcome for a in answers) == ["created"] + ["merged"] * 9
        lead_id = answers[0].lead_id
        s = await L.state(lead_id)
        assert len(s.touchpoints) == 10
        assert {tp.external_id for tp in s.touchpoints} == {f"race-{i}" for i in range(10)}

        # the same external id from the same channel again: the same answer, nothing added
        first = next(a for a, raw in zip(answers, raws, strict=True) if raw.external_id == "race-3")
        again = await L.intake(raws[3])
        assert (again.lead_id, again.outcome) == (lead_id, first.outcome)
        after = await L.state(lead_id)
        assert after.touchpoints == s.touchpoints and after.seq == s.seq
        assert L.timeline(lead_id).count("raw_lead_merged") == 9
        assert L.timeline(lead_id).count("lead_created") == 1


async def test_an_invalid_phone_is_rejected_at_intake(env, engine):
    async with lab(env, engine) as L:
        for phone in ("12345", "1380000029x", "23800000290"):
            with pytest.raises(InvalidPhone):
                await L.intake(raw_lead(290, phone=phone))


async def test_a_raw_lead_for_an_open_lead_is_merged_and_rescored(env, engine):
    async with lab(env, engine) as L:
        r = await L.intake(raw_lead(295))
        dealer = (await L.state(r.lead_id)).dealer_id
        await L.act(r.lead_id, manager(dealer), c.Acknowledge())
        again = await L.intake(raw_lead(295, external_id="app-295", channel=Channel.APP, trade_in=True))
        assert again.lead_id == r.lead_id and again.outcome == "merged" and again.stage == "acknowledged"
        s = await L.state(r.lead_id)
        assert [tp.outcome for tp in s.touchpoints] == ["created", "merged"]
        assert s.profile.trade_in and s.dealer_id == dealer
        timeline = L.timeline(r.lead_id)
        merged_at = timeline.index("raw_lead_merged")
        assert "scored" in timeline[merged_at:]
        assert len(L.events(r.lead_id, "scored")) == 2


# ------------------------------------------------------------------ refusals through the workflow


async def test_invalid_transitions_are_refused_and_change_nothing(env, engine):
    async with lab(env, engine) as L:
        r = await L.intake(raw_lead(300))
        dealer = (await L.state(r.lead_id)).dealer_id
        refused = await L.refusal(r.lead_id, manager(dealer), c.RecordWin(payment=c.PaymentMethod.CASH, amount=1))
        assert refused.kind == "stage" and "not allowed" in refused.reason and "dispatched" in refused.reason

        await L.act(r.lead_id, manager(dealer), c.Acknowledge())
        refused = await L.refusal(r.lead_id, consultant("D-SH-2"), c.LogFollowUp(channel=c.ContactChannel.CALL))
        assert refused.kind == "forbidden" and "not held by your dealer" in refused.reason
        refused = await L.refusal(r.lead_id, consultant(dealer), c.Acknowledge())
        assert refused.kind == "forbidden" and "dealer_manager" in refused.reason  # who may, before when
        refused = await L.refusal(r.lead_id, manager(dealer), c.Acknowledge())
        assert refused.kind == "stage" and "acknowledged" in refused.reason

        await L.act(r.lead_id, manager(dealer), c.RequestTransfer(reason=c.TransferReason.OTHER, text="busy"))
        refused = await L.refusal(r.lead_id, manager(dealer), c.ReviewTransfer(approve=True, explanation="mine"))
        assert refused.kind == "forbidden" and "lead_ops" in refused.reason
        refused = await L.refusal(r.lead_id, manager(dealer), c.LogFollowUp(channel=c.ContactChannel.CALL))
        assert refused.kind == "stage" and "transfer_review" in refused.reason
        assert L.lead_row(r.lead_id).stage == "transfer_review"


async def test_an_action_on_an_unknown_lead_is_not_found(env, engine):
    from workflows.gateway import LeadNotFound

    async with lab(env, engine) as L:
        with pytest.raises((LeadNotFound, ActionRefused)):
            await L.act("lead-aurora-does-not-exist-399", OPS, c.Reassign(to_call_center=True, reason="x"))


async def test_signals_racing_the_continue_as_new_into_dormant_are_not_lost(env, engine):
    async with lab(env, engine, record="dormant-signal-race") as L:
        lead_id, dealer = await working_lead(L, 290)
        await L.act(lead_id, consultant(dealer), c.ApplyForDefeat(reason_code=c.DefeatReason.NO_SHORT_TERM_PLAN,
                                                                  note="next year"))
        await L.act(lead_id, manager(dealer), c.ReviewDefeatApplication(approve=True))
        first_run = await run_id(L, lead_id)
        handle = L.handle(lead_id)
        # a true defeat (the lead goes dormant and the workflow continues as new) while ops keep signalling
        signals = [handle.signal("reassign", ReassignSignal(reason=f"ops try {i}", dealer_id=dealer)) for i in range(5)]
        decision = L.act(lead_id, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.TRUE_DEFEAT, note="confirmed"))
        await asyncio.gather(decision, *signals)
        state = await eventually(L, lead_id, lambda s: sum(e.kind == "signal_refused" for e in s.recent) == 5,
                                 "five refused signals recorded")
        assert state.stage == "dormant"
        for _ in range(200):  # the signals may all land before the decision: continue-as-new then follows it
            if await run_id(L, lead_id) != first_run:
                break
            await asyncio.sleep(0.02)
        assert await run_id(L, lead_id) != first_run
