"""The lead's SLA clocks (SPEC 4, domain/clocks.py): every clock lapses, and every clock is stopped in time.

Each clock in `domain.clocks.CLOCKS` has one story where nobody does the awaited thing (the
lapse action happens: alert to the right people, re-dispatch, public pool, escalation, defeat
review, ...) and one where somebody does it in time (we sleep past the original deadline and
nothing lapses). Time moves only through `L.sleep` on the time-skipping test server.

The test server is shared by the whole session and its clock only moves forward, so every test
uses its own `raw_lead(n)` (lead ids derive from brand + phone) and reads "now" from the server.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import cache

import pytest
from temporalio.client import WorkflowExecutionStatus

from db.calendar import seed_days
from domain import commands as c
from domain.calendar import SHANGHAI, add_working_days_on
from domain.clocks import CLOCKS
from domain.models import Channel, LeadState, Timeframe
from domain.policy import CalendarOverrides, load_policy
from tests.fixtures import (
    CALL_CENTER,
    HEAD,
    OPS,
    REVIEWER,
    RM_EAST,
    SECOND_REVIEWER,
    actor,
    consultant,
    manager,
    raw_lead,
)
from tests.harness import Lab, lab

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SHANGHAI_DEALERS = {"D-SH-1", "D-SH-2", "D-HZ-1"}  # the dealers that serve a Shanghai customer


# --------------------------------------------------------------------------- helpers


@cache
def _special_days(year: int) -> dict:
    return {d.day: d.kind for d in seed_days(year)[1]}


def is_working_day(day, overrides: CalendarOverrides) -> bool:
    """As the calendar activity counts on a freshly seeded table (db/calendar.py): the shared server's clock
    runs into years chinese-calendar does not know, which the table seeds from the computed holidays."""
    if day in overrides.extra_holidays:
        return False
    if day in overrides.extra_workdays:
        return True
    kind = _special_days(day.year).get(day)
    return kind == "workday" if kind else day.weekday() < 5


def add_working_days(start, days: int, overrides: CalendarOverrides):
    return add_working_days_on(start, days, lambda d: is_working_day(d, overrides))

def recipients(L: Lab, lead_id: str, kind: str) -> set[tuple[str, str | None]]:
    """(role, user) of every inbox row of this notification kind."""
    return {(n.recipient_role, n.recipient_user_id) for n in L.notifications(lead_id, kind=kind)}


def last_event(s: LeadState, kind: str):
    return next(e for e in reversed(s.recent) if e.kind == kind)


def lapsed(L: Lab, lead_id: str) -> list[str]:
    return [e.data["clock"] for e in L.events(lead_id, "clock_lapsed")]


async def now(L: Lab) -> datetime:
    return await L.env.get_current_time()


async def sleep_until(L: Lab, moment: datetime, extra: timedelta = MIN) -> None:
    await L.sleep(moment - await now(L) + extra)


async def sleep_until_local(L: Lab, weekday: int, hour: int) -> datetime:
    """Sleep to the next `weekday` (0 = Monday) at `hour`:00 Shanghai time, at least a day ahead."""
    today = (await now(L)).astimezone(SHANGHAI).date() + DAY
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    target = datetime.combine(day, time(hour), tzinfo=SHANGHAI)
    await L.sleep(target - await now(L))
    return target


async def dispatched(L: Lab, n: int, **overrides) -> tuple[str, LeadState]:
    r = await L.intake(raw_lead(n, **overrides))
    s = await L.state(r.lead_id)
    assert s.stage == "dispatched", s.stage
    return r.lead_id, s


async def acknowledged(L: Lab, n: int, **overrides) -> tuple[str, LeadState]:
    lead_id, s = await dispatched(L, n, **overrides)
    await L.act(lead_id, manager(s.dealer_id), c.Acknowledge())
    return lead_id, await L.state(lead_id)


async def assigned(L: Lab, n: int, **overrides) -> tuple[str, LeadState]:
    lead_id, s = await acknowledged(L, n, **overrides)
    await L.act(lead_id, manager(s.dealer_id), c.Assign(consultant_id=consultant(s.dealer_id).user_id))
    return lead_id, await L.state(lead_id)


def call(minutes: float = 1, **kw) -> c.LogFollowUp:
    return c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=minutes, **kw)


async def contacted(L: Lab, n: int, minutes: float = 1, **overrides) -> tuple[str, LeadState]:
    """Assigned to consultant 1 of the dealer, who logged one call (of 3 minutes or more: engaged)."""
    lead_id, s = await assigned(L, n, **overrides)
    await L.act(lead_id, consultant(s.dealer_id), call(minutes))
    return lead_id, await L.state(lead_id)


async def in_defeat_review(L: Lab, n: int, **overrides) -> tuple[str, LeadState]:
    """A defeat application by the consultant, approved by the manager: waiting for the OEM review."""
    lead_id, s = await contacted(L, n, **overrides)
    await L.act(lead_id, consultant(s.dealer_id), c.ApplyForDefeat(
        reason_code=c.DefeatReason.NO_SHORT_TERM_PLAN, note="no purchase this year"))
    await L.act(lead_id, manager(s.dealer_id), c.ReviewDefeatApplication(approve=True, note="agreed"))
    s = await L.settle(lead_id)
    assert s.stage == "defeat_review"
    assert s.clocks["defeat_review"].deadline is not None, "the calendar activity set the deadline"
    return lead_id, s


async def pseudo_defeated(L: Lab, n: int, **overrides) -> tuple[str, LeadState]:
    """The review judged the defeat a pseudo-defeat: D-SH-1 penalized, the lead moved on."""
    lead_id, s = await in_defeat_review(L, n, **overrides)
    assert s.dealer_id == "D-SH-1"
    await L.act(lead_id, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.PSEUDO_DEFEAT, note="barely followed up"))
    s = await L.settle(lead_id)
    assert s.appeal is not None and s.appeal.dealer_id == "D-SH-1"
    assert s.clocks["appeal_window"].deadline is not None
    return lead_id, s


async def dormant(L: Lab, n: int) -> tuple[str, LeadState]:
    """A true defeat: the lead goes to the dormant pool (沉淀池)."""
    lead_id, s = await in_defeat_review(L, n)
    await L.act(lead_id, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.TRUE_DEFEAT, note="bought elsewhere"))
    s = await L.settle(lead_id)
    assert s.stage == "dormant"
    return lead_id, s


async def in_cleansing(L: Lab, n: int) -> tuple[str, LeadState]:
    r = await L.intake(raw_lead(n, city=None))
    s = await L.state(r.lead_id)
    assert s.stage == "cleansing"
    return r.lead_id, s


async def nurturing(L: Lab, n: int) -> tuple[str, LeadState]:
    """The call center found a low-intent lead: nurturing (线索培育)."""
    lead_id, _ = await in_cleansing(L, n)
    await L.act(lead_id, CALL_CENTER, c.RecordCleansing(outcome=c.CleansingOutcome.NURTURE, note="not this year"))
    s = await L.settle(lead_id)
    assert s.stage == "nurturing"
    return lead_id, s


async def delivered(L: Lab, n: int) -> tuple[str, LeadState]:
    lead_id, s = await contacted(L, n)
    who = consultant(s.dealer_id)
    await L.act(lead_id, who, c.RecordOrder(deposit=5_000))
    await L.act(lead_id, who, c.RecordWin(payment=c.PaymentMethod.CASH, amount=200_000))
    await L.act(lead_id, who, c.RecordDelivery(vin="LAURORA0000000001"))
    s = await L.settle(lead_id)
    assert s.stage == "delivered"
    return lead_id, s


async def run_id(L: Lab, lead_id: str) -> str:
    return (await L.handle(lead_id).describe()).run_id


def test_every_clock_in_the_table_is_covered_here():
    covered = {
        "receipt", "first_response", "public_pool", "first_deep_contact", "store_invitation",
        "regional_follow_through", "grade_cadence", "stall", "cleansing", "transfer_review",
        "defeat_review", "appeal_window", "appeal_review", "nurture_touch", "nurture_end",
        "reactivation", "revisit", "revisit_overdue",
    }
    assert set(CLOCKS) == covered, "a clock was added or removed: give it a lapse and an in-time test here"


# --------------------------------------------------------------------------- receipt (接收确认, 2 h)


async def test_unacknowledged_lead_is_redispatched_after_two_hours(env, engine):
    async with lab(env, engine, record="clock-receipt-redispatch") as L:
        lead_id, s = await dispatched(L, 101)
        assert s.dealer_id == "D-SH-1"
        receipt = s.clocks["receipt"]
        assert receipt.started_at == s.holding.started_at
        assert receipt.deadline - receipt.started_at == timedelta(hours=2)

        await L.sleep(timedelta(hours=1, minutes=58))
        s = await L.settle(lead_id)
        assert s.dealer_id == "D-SH-1" and "receipt" not in L.alerts(lead_id)

        await sleep_until(L, receipt.deadline)
        s = await L.settle(lead_id)
        assert s.stage == "dispatched"
        assert s.dealer_id in SHANGHAI_DEALERS - {"D-SH-1"}
        assert [(h.dealer_id, h.end_reason) for h in s.past_holdings] == [("D-SH-1", "receipt_lapsed")]
        assert "receipt" in L.alerts(lead_id)
        assert recipients(L, lead_id, "receipt") == {
            ("dealer_ops_lead", "d-sh-1-opslead"), ("regional_manager", "rm-east")}
        penalties = L.penalties("D-SH-1")
        # the missed 15-minute first response and the missed receipt both count against D-SH-1
        assert [(p.lead_id, p.kind, p.revoked_at) for p in penalties] == [
            (lead_id, "first_response_late", None), (lead_id, "receipt_not_confirmed", None)]
        assert L.penalties(s.dealer_id) == []
        # the new dealer gets its own, fresh two hours
        fresh = s.clocks["receipt"]
        assert fresh.started_at == s.holding.started_at > receipt.deadline
        assert fresh.deadline - fresh.started_at == timedelta(hours=2)
        assert s.sla_breached is False, "the breach was the previous dealer's"


async def test_lead_nobody_acknowledges_visits_each_dealer_once_then_goes_to_the_call_center(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await dispatched(L, 102)
        for _ in range(3):
            await sleep_until(L, s.clocks["receipt"].deadline)
            s = await L.settle(lead_id)
        held = [h.dealer_id for h in s.past_holdings]
        assert sorted(held) == sorted(SHANGHAI_DEALERS), "never dispatched twice to the same dealer"
        assert s.holding is None and s.stage == "call_center"
        assert L.alerts(lead_id).count("receipt") == 3
        assert "no_eligible_dealer" in L.alerts(lead_id)
        for dealer in SHANGHAI_DEALERS:
            assert [p.kind for p in L.penalties(dealer)] == ["first_response_late", "receipt_not_confirmed"]


async def test_acknowledged_lead_is_not_redispatched(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await dispatched(L, 103)
        deadline = s.clocks["receipt"].deadline
        await L.sleep(timedelta(hours=1, minutes=50))
        await L.act(lead_id, manager("D-SH-1"), c.Acknowledge())
        s = await L.state(lead_id)
        assert "receipt" not in s.clocks
        await sleep_until(L, deadline, extra=HOUR)
        s = await L.settle(lead_id)
        assert s.dealer_id == "D-SH-1" and s.past_holdings == []
        assert "receipt" not in L.alerts(lead_id) and "receipt" not in lapsed(L, lead_id)
        assert [p.kind for p in L.penalties("D-SH-1")] == ["first_response_late"]  # no contact yet, but received


# --------------------------------------------------------------------------- first response (首次响应, 15 min)


async def test_no_contact_within_fifteen_minutes_alerts_manager_ops_lead_and_regional_manager(env, engine):
    async with lab(env, engine, record="clock-first-response") as L:
        lead_id, s = await acknowledged(L, 104)
        clock = s.clocks["first_response"]
        assert clock.deadline - clock.started_at == timedelta(minutes=15)
        await L.sleep(timedelta(minutes=14))
        await L.settle(lead_id)
        assert "first_response" not in L.alerts(lead_id)

        await sleep_until(L, clock.deadline)
        s = await L.settle(lead_id)
        assert L.alerts(lead_id) == ["first_response"]
        # nobody is assigned yet: the consultant's alert goes to the manager
        assert recipients(L, lead_id, "first_response") == {
            ("dealer_manager", "d-sh-1-mgr"), ("dealer_ops_lead", "d-sh-1-opslead"), ("regional_manager", "rm-east")}
        assert "first_response" not in s.clocks and s.sla_breached
        assert "regional_follow_through" in s.clocks, "an alert to the regional manager starts their 12 h"


async def test_first_response_alert_goes_to_the_assigned_consultant(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await assigned(L, 105)
        await sleep_until(L, s.clocks["first_response"].deadline)
        await L.settle(lead_id)
        assert recipients(L, lead_id, "first_response") == {
            ("consultant", "d-sh-1-c1"), ("dealer_ops_lead", "d-sh-1-opslead"), ("regional_manager", "rm-east")}


async def test_contact_within_fifteen_minutes_stops_the_first_response_clock(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await assigned(L, 106)
        deadline = s.clocks["first_response"].deadline
        await L.sleep(timedelta(minutes=10))
        await L.act(lead_id, consultant("D-SH-1"), c.LogFollowUp(channel=c.ContactChannel.WECHAT, note="hello"))
        s = await L.state(lead_id)
        assert "first_response" not in s.clocks
        await sleep_until(L, deadline, extra=timedelta(minutes=30))
        s = await L.settle(lead_id)
        assert L.alerts(lead_id) == [] and "first_response" not in lapsed(L, lead_id)
        assert s.sla_breached is False


# --------------------------------------------------------------------------- public pool (公海池, 2 h)


async def test_assigned_lead_without_follow_up_goes_to_the_public_pool_and_can_be_claimed(env, engine):
    async with lab(env, engine, record="clock-public-pool-claim") as L:
        lead_id, s = await assigned(L, 107)
        pool = s.clocks["public_pool"]
        assert pool.deadline - pool.started_at == timedelta(hours=2)
        await L.sleep(timedelta(hours=1, minutes=55))
        s = await L.settle(lead_id)
        assert s.stage == "assigned" and s.consultant_id == "d-sh-1-c1"

        await sleep_until(L, pool.deadline)
        s = await L.settle(lead_id)
        assert s.stage == "public_pool" and s.consultant_id is None and s.dealer_id == "D-SH-1"
        assert "moved_to_public_pool" in L.timeline(lead_id)
        assert "public_pool" in L.alerts(lead_id)
        assert recipients(L, lead_id, "public_pool") == {("dealer_manager", "d-sh-1-mgr")}

        # a consultant of another dealer may not take it; any consultant of this dealer may
        refused = await L.refusal(lead_id, consultant("D-SH-2"), c.Claim())
        assert refused.kind == "forbidden"
        await L.act(lead_id, consultant("D-SH-1", 2), c.Claim())
        s = await L.state(lead_id)
        assert s.stage == "assigned" and s.consultant_id == "d-sh-1-c2"
        again = s.clocks["public_pool"]
        assert again.started_at > pool.deadline and again.deadline - again.started_at == timedelta(hours=2)


async def test_followed_up_lead_stays_with_its_consultant(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await assigned(L, 108)
        deadline = s.clocks["public_pool"].deadline
        await L.sleep(HOUR)
        await L.act(lead_id, consultant("D-SH-1"), call(2))
        assert "public_pool" not in (await L.state(lead_id)).clocks
        await sleep_until(L, deadline, extra=HOUR)
        s = await L.settle(lead_id)
        assert s.stage == "contacted" and s.consultant_id == "d-sh-1-c1"
        assert "public_pool" not in L.alerts(lead_id) and "moved_to_public_pool" not in L.timeline(lead_id)


# --------------------------------------------------------------------------- first deep contact (首次深度沟通, 24 h)


async def test_lead_not_engaged_within_24_hours_alerts_ops_lead_and_regional_manager(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await contacted(L, 109, minutes=2.9)  # a short call is contact, not deep contact
        assert s.stage == "contacted"
        clock = s.clocks["first_deep_contact"]
        assert clock.started_at == s.holding.started_at
        assert clock.deadline - clock.started_at == timedelta(hours=24)
        await sleep_until(L, clock.deadline)
        s = await L.settle(lead_id)
        assert "first_deep_contact" in L.alerts(lead_id)
        assert recipients(L, lead_id, "first_deep_contact") == {
            ("dealer_ops_lead", "d-sh-1-opslead"), ("regional_manager", "rm-east")}
        assert s.stage == "contacted" and "first_deep_contact" not in s.clocks


@pytest.mark.parametrize("n, follow_up", [
    (110, call(3)),  # a call of at least 3 minutes
    (111, c.LogFollowUp(channel=c.ContactChannel.WECHAT, needs_captured=True, needs=c.Needs(use="family car"))),
], ids=["three_minute_call", "needs_captured"])
async def test_deep_contact_engages_the_lead_and_stops_the_first_deep_contact_clock(env, engine, n, follow_up):
    async with lab(env, engine) as L:
        lead_id, s = await acknowledged(L, n)
        deadline = s.clocks["first_deep_contact"].deadline
        await L.sleep(timedelta(hours=20))
        await L.act(lead_id, manager("D-SH-1"), follow_up)
        s = await L.state(lead_id)
        assert s.stage == "engaged" and "first_deep_contact" not in s.clocks
        await sleep_until(L, deadline, extra=HOUR)
        s = await L.settle(lead_id)
        assert s.stage == "engaged"
        assert "first_deep_contact" not in L.alerts(lead_id)


# --------------------------------------------------------------------------- store invitation (邀约到店, 7 d)


async def test_lead_not_invited_within_seven_days_alerts_ops_lead_and_regional_manager(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await contacted(L, 112, minutes=5)
        assert s.stage == "engaged"
        clock = s.clocks["store_invitation"]
        assert clock.deadline - clock.started_at == timedelta(days=7)
        await L.sleep(3 * DAY)
        await L.act(lead_id, consultant("D-SH-1"), call(5))  # keeps the stall and cadence clocks away
        await sleep_until(L, clock.deadline)
        s = await L.settle(lead_id)
        assert L.alerts(lead_id).count("store_invitation") == 1
        assert recipients(L, lead_id, "store_invitation") == {
            ("dealer_ops_lead", "d-sh-1-opslead"), ("regional_manager", "rm-east")}
        assert s.stage == "engaged" and "store_invitation" not in s.clocks


async def test_invited_lead_stops_the_store_invitation_clock(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await contacted(L, 113, minutes=5)
        deadline = s.clocks["store_invitation"].deadline
        await L.sleep(DAY)
        await L.act(lead_id, consultant("D-SH-1"), c.Invite(note="Saturday 10:00"))
        s = await L.state(lead_id)
        assert s.stage == "invited" and "store_invitation" not in s.clocks
        await L.sleep(2 * DAY)
        await L.act(lead_id, consultant("D-SH-1"), call(5))  # keeps the stall clock away
        await sleep_until(L, deadline, extra=HOUR)
        s = await L.settle(lead_id)
        assert s.stage == "invited"
        assert "store_invitation" not in L.alerts(lead_id)


# ------------------------------------------------------------------------- regional follow-through (区域经理跟进, 12 h)


async def test_regional_manager_silent_for_twelve_hours_is_escalated_to_lead_ops(env, engine):
    async with lab(env, engine, record="clock-regional-escalation") as L:
        lead_id, s = await acknowledged(L, 114)
        await sleep_until(L, s.clocks["first_response"].deadline)  # alerts the regional manager
        s = await L.settle(lead_id)
        clock = s.clocks["regional_follow_through"]
        assert clock.started_at == last_event(s, "regional_manager_alerted").at
        assert clock.deadline - clock.started_at == timedelta(hours=12)
        await L.sleep(timedelta(hours=11))
        assert "regional_escalation" not in L.alerts(lead_id)

        await sleep_until(L, clock.deadline)
        s = await L.settle(lead_id)
        assert "regional_escalation" in L.alerts(lead_id)
        assert recipients(L, lead_id, "regional_escalation") == {("lead_ops", "ops")}
        assert "regional_follow_through" not in s.clocks


async def test_regional_contact_logged_in_time_stops_the_escalation(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await acknowledged(L, 115)
        refused = await L.refusal(lead_id, RM_EAST, c.LogRegionalContact(note="nothing to follow"))
        assert "no open regional alert" in refused.reason
        await sleep_until(L, s.clocks["first_response"].deadline)
        s = await L.settle(lead_id)
        deadline = s.clocks["regional_follow_through"].deadline
        refused = await L.refusal(lead_id, actor("rm-south"), c.LogRegionalContact(note="not mine"))
        assert refused.kind == "forbidden"

        await L.sleep(timedelta(hours=2))
        await L.act(lead_id, RM_EAST, c.LogRegionalContact(note="called the Pudong ops lead"))
        assert "regional_follow_through" not in (await L.state(lead_id)).clocks
        await sleep_until(L, deadline, extra=HOUR)
        await L.settle(lead_id)
        assert "regional_escalation" not in L.alerts(lead_id)
        assert "regional_contact_logged" in L.timeline(lead_id)


# -------------------------------------------------------------- grade cadence (跟进频次: H 24 h, A 48 h, B 7 d, C 15 d)

HOT = dict(channel=Channel.REFERRAL, timeframe=Timeframe.WITHIN_7_DAYS, trade_in=True)  # scores grade A


async def test_grade_cadence_clock_follows_the_leads_grade(env, engine):
    async with lab(env, engine) as L:
        cadence = L.policy.clocks.grade_cadence
        for n, overrides, grade in ((116, {}, "B"), (117, HOT, "A")):
            lead_id, s = await contacted(L, n, **overrides)
            assert s.grade == grade
            clock = s.clocks["grade_cadence"]
            assert clock.started_at == s.last_follow_up_at
            assert clock.deadline - clock.started_at == getattr(cadence, grade)
        assert (cadence.A, cadence.B) == (timedelta(hours=48), timedelta(days=7))


async def test_hot_lead_not_followed_up_within_48_hours_reminds_consultant_cc_manager(env, engine):
    async with lab(env, engine, record="clock-grade-cadence") as L:
        lead_id, s = await contacted(L, 118, **HOT)
        deadline = s.clocks["grade_cadence"].deadline
        await L.sleep(timedelta(hours=47))
        assert "grade_cadence" not in L.alerts(lead_id)
        await sleep_until(L, deadline)
        s = await L.settle(lead_id)
        assert "grade_cadence" in L.alerts(lead_id)
        assert recipients(L, lead_id, "grade_cadence") == {
            ("consultant", "d-sh-1-c1"), ("dealer_manager", "d-sh-1-mgr")}
        assert "grade_cadence" not in s.clocks and s.stage == "contacted"


async def test_follow_up_within_the_cadence_restarts_it(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await contacted(L, 119, **HOT)
        first = s.clocks["grade_cadence"].deadline
        await L.sleep(timedelta(hours=40))
        await L.act(lead_id, consultant("D-SH-1"), call(1))
        s = await L.state(lead_id)
        restarted = s.clocks["grade_cadence"]
        assert restarted.started_at == s.last_follow_up_at and restarted.deadline - restarted.started_at == 48 * HOUR
        await sleep_until(L, first, extra=2 * HOUR)
        await L.settle(lead_id)
        assert "grade_cadence" not in L.alerts(lead_id)


async def test_after_the_lead_heats_up_the_next_cadence_follows_its_new_grade(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await contacted(L, 150)
        assert s.grade == "B" and s.clocks["grade_cadence"].deadline - s.last_follow_up_at == 7 * DAY
        r = await L.intake(raw_lead(150, external_id="ref-150", channel=Channel.REFERRAL,
                                    timeframe=Timeframe.WITHIN_7_DAYS, trade_in=True))
        assert r.outcome == "merged"
        s = await L.settle(lead_id)
        assert s.grade == "A"
        await L.act(lead_id, consultant("D-SH-1"), call(1))
        s = await L.state(lead_id)
        clock = s.clocks["grade_cadence"]
        assert clock.deadline - clock.started_at == timedelta(hours=48)


# --------------------------------------------------------------------------- stall (连续 7 天未跟进)


async def test_seven_days_without_follow_up_sends_the_lead_to_defeat_review(env, engine):
    async with lab(env, engine, record="clock-stall") as L:
        lead_id, s = await contacted(L, 120, minutes=5)
        stall = s.clocks["stall"]
        assert stall.started_at == s.last_follow_up_at and stall.deadline - stall.started_at == timedelta(days=7)
        await L.sleep(6 * DAY)
        assert (await L.settle(lead_id)).stage == "engaged"

        await sleep_until(L, stall.deadline)
        s = await L.settle(lead_id)
        assert s.stage == "defeat_review" and s.dealer_id == "D-SH-1"
        assert s.defeat is not None
        assert (s.defeat.source, s.defeat.reason_code, s.defeat.applied_by) == ("stall", "stalled", "system")
        assert "stall" in L.alerts(lead_id)
        assert recipients(L, lead_id, "stall") == {
            ("dealer_ops_lead", "d-sh-1-opslead"), ("review_team", "rev-1"), ("review_team", "rev-2")}
        review = s.clocks["defeat_review"]
        assert review.deadline == add_working_days(review.started_at, 3, L.policy.calendar)
        assert "stall" not in s.clocks

        # the review team decides it like any defeat: a pseudo-defeat moves the lead on and penalizes
        await L.act(lead_id, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.PSEUDO_DEFEAT, note="no follow-up"))
        s = await L.settle(lead_id)
        assert s.dealer_id in SHANGHAI_DEALERS - {"D-SH-1"} and s.stage == "dispatched"
        assert "defeat_review" not in s.clocks
        assert [p.kind for p in L.penalties("D-SH-1")] == ["invitation_late", "stalled", "pseudo_defeat"]


async def test_regular_follow_up_keeps_the_lead_out_of_defeat_review(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await contacted(L, 121, minutes=5)
        first = s.clocks["stall"].deadline
        for _ in range(3):
            await L.sleep(5 * DAY)
            await L.act(lead_id, consultant("D-SH-1"), call(4))
        s = await L.settle(lead_id)
        assert await now(L) > first + 7 * DAY
        assert s.stage == "engaged" and s.defeat is None
        assert "stall" not in lapsed(L, lead_id) and "stall_detected" not in L.timeline(lead_id)
        assert s.clocks["stall"].deadline == s.last_follow_up_at + 7 * DAY


# --------------------------------------------------------------------------- cleansing (线索清洗, 24 h)


async def test_lead_missing_its_city_waits_in_cleansing_and_lead_ops_is_alerted_after_24_hours(env, engine):
    async with lab(env, engine, record="clock-cleansing") as L:
        lead_id, s = await in_cleansing(L, 122)
        assert s.holding is None
        assert recipients(L, lead_id, "cleansing_needed") == {("call_center", "cc")}
        clock = s.clocks["cleansing"]
        assert clock.deadline - clock.started_at == timedelta(hours=24)
        await L.sleep(timedelta(hours=23))
        assert "cleansing" not in L.alerts(lead_id)
        await sleep_until(L, clock.deadline)
        s = await L.settle(lead_id)
        assert s.stage == "cleansing" and "cleansing" not in s.clocks
        assert "cleansing" in L.alerts(lead_id)
        assert recipients(L, lead_id, "cleansing") == {("lead_ops", "ops")}
        assert s.sla_breached is False, "cleansing is the call center's clock, not a dealer's"


async def test_cleansing_recorded_in_time_dispatches_the_lead_without_alert(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await in_cleansing(L, 123)
        deadline = s.clocks["cleansing"].deadline
        await L.sleep(timedelta(hours=3))
        await L.act(lead_id, CALL_CENTER, c.RecordCleansing(
            outcome=c.CleansingOutcome.VERIFIED, corrections=c.CleansingCorrections(city="Shanghai")))
        s = await L.settle(lead_id)
        assert s.stage == "dispatched" and s.dealer_id in SHANGHAI_DEALERS
        assert "cleansing" not in s.clocks
        await L.act(lead_id, manager(s.dealer_id), c.Acknowledge())
        await sleep_until(L, deadline, extra=HOUR)
        await L.settle(lead_id)
        assert "cleansing" not in L.alerts(lead_id) and "cleansing" not in lapsed(L, lead_id)


# ------------------------------------------------------------------ transfer review (调单审核, 24 h / 12 h competitive)


def transfer() -> c.RequestTransfer:
    return c.RequestTransfer(reason=c.TransferReason.REGION_MISMATCH, text="customer lives in the other district")


async def test_unreviewed_transfer_alerts_head_of_lead_ops_after_24_hours_and_keeps_waiting(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await acknowledged(L, 124)
        await L.act(lead_id, manager("D-SH-1"), transfer())
        s = await L.state(lead_id)
        assert s.stage == "transfer_review"
        clock = s.clocks["transfer_review"]
        assert clock.deadline - clock.started_at == timedelta(hours=24)
        await L.sleep(timedelta(hours=23))
        assert "transfer_review" not in L.alerts(lead_id)

        await sleep_until(L, clock.deadline)
        s = await L.settle(lead_id)
        assert "transfer_review" in L.alerts(lead_id)
        assert recipients(L, lead_id, "transfer_review") == {("head_of_lead_ops", "ops-head")}
        assert s.stage == "transfer_review" and s.dealer_id == "D-SH-1", "a lapsed review keeps waiting"

        await L.act(lead_id, HEAD, c.ReviewTransfer(approve=True, explanation="late, but agreed"))
        s = await L.settle(lead_id)
        assert s.stage == "dispatched" and s.dealer_id in SHANGHAI_DEALERS - {"D-SH-1"}


async def test_transfer_review_for_a_competitive_region_dealer_lapses_after_12_hours(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await acknowledged(L, 125, preferred_dealer_id="D-HZ-1")
        assert s.dealer_id == "D-HZ-1" and s.holding.competitive_region
        await L.act(lead_id, manager("D-HZ-1"), transfer())
        s = await L.state(lead_id)
        clock = s.clocks["transfer_review"]
        assert clock.deadline - clock.started_at == timedelta(hours=12)
        await sleep_until(L, clock.deadline)
        s = await L.settle(lead_id)
        assert "transfer_review" in L.alerts(lead_id)
        assert recipients(L, lead_id, "transfer_review") == {("head_of_lead_ops", "ops-head")}
        assert s.stage == "transfer_review"


async def test_transfer_reviewed_in_time_raises_no_alert(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await acknowledged(L, 126)
        await L.act(lead_id, manager("D-SH-1"), transfer())
        deadline = (await L.state(lead_id)).clocks["transfer_review"].deadline
        await L.sleep(timedelta(hours=2))
        await L.act(lead_id, OPS, c.ReviewTransfer(approve=True, explanation="agreed"))
        s = await L.settle(lead_id)
        assert "transfer_review" not in s.clocks
        assert s.dealer_id in SHANGHAI_DEALERS - {"D-SH-1"}, "never back to a previous holder"
        await L.act(lead_id, manager(s.dealer_id), c.Acknowledge())
        await sleep_until(L, deadline, extra=HOUR)
        await L.settle(lead_id)
        assert "transfer_review" not in L.alerts(lead_id)


async def test_dealer_clocks_pause_during_transfer_review_and_resume_with_the_remaining_time(env, engine):
    async with lab(env, engine, record="clock-transfer-pause") as L:
        lead_id, s = await contacted(L, 127, minutes=2)  # contacted, not engaged: first_deep_contact runs
        before = {name: clock.deadline for name, clock in s.clocks.items()}
        assert {"first_deep_contact", "store_invitation", "grade_cadence", "stall"} <= set(before)

        await L.sleep(timedelta(hours=23))  # one hour left on first_deep_contact
        await L.act(lead_id, manager("D-SH-1"), transfer())
        s = await L.state(lead_id)
        requested_at = s.transfer.requested_at
        for name in before:
            clock = s.clocks[name]
            assert not clock.running, f"{name} should be paused"
            assert clock.paused_remaining_s == pytest.approx((before[name] - requested_at).total_seconds(), abs=1e-3)
        assert s.clocks["first_deep_contact"].paused_remaining_s == pytest.approx(3600, abs=1)
        assert s.clocks["transfer_review"].running, "the OEM's clock runs"

        await L.sleep(timedelta(hours=5))  # well past first_deep_contact's original deadline
        s = await L.settle(lead_id)
        assert "first_deep_contact" not in L.alerts(lead_id), "a paused clock does not lapse"

        await L.act(lead_id, OPS, c.ReviewTransfer(approve=False, explanation="the customer asked for Pudong"))
        s = await L.state(lead_id)
        rejected_at = last_event(s, "transfer_rejected").at
        assert s.stage == "contacted" and s.dealer_id == "D-SH-1"
        assert "transfer_review" not in s.clocks
        for name, old in before.items():
            clock = s.clocks[name]
            assert clock.running
            shifted = old + (rejected_at - requested_at)
            assert abs(clock.deadline - shifted) < timedelta(milliseconds=1), name
        resumed = s.clocks["first_deep_contact"].deadline

        await sleep_until(L, resumed)
        await L.settle(lead_id)
        assert "first_deep_contact" in L.alerts(lead_id), "the remaining hour ran out after the review"
        lapse = L.events(lead_id, "clock_lapsed")
        assert [e.data["deadline"] for e in lapse if e.data["clock"] == "first_deep_contact"] == [resumed.isoformat()]


async def test_receipt_clock_pauses_during_a_transfer_request_made_before_acknowledging(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await dispatched(L, 148)
        deadline = s.clocks["receipt"].deadline
        await L.sleep(timedelta(hours=1, minutes=50))
        await L.act(lead_id, manager("D-SH-1"), transfer())
        s = await L.state(lead_id)
        requested_at = s.transfer.requested_at
        assert s.clocks["receipt"].paused_remaining_s == pytest.approx((deadline - requested_at).total_seconds(),
                                                                       abs=1e-3)
        await L.sleep(timedelta(hours=3))
        s = await L.settle(lead_id)
        assert "receipt" not in L.alerts(lead_id) and s.dealer_id == "D-SH-1"

        await L.act(lead_id, OPS, c.ReviewTransfer(approve=False, explanation="Pudong is right"))
        s = await L.state(lead_id)
        assert s.stage == "dispatched"
        resumed = s.clocks["receipt"].deadline
        in_review = last_event(s, "transfer_rejected").at - requested_at
        assert abs(resumed - (deadline + in_review)) < timedelta(milliseconds=1)
        await sleep_until(L, resumed)
        s = await L.settle(lead_id)
        assert "receipt" in L.alerts(lead_id) and s.dealer_id != "D-SH-1"
        assert [p.kind for p in L.penalties("D-SH-1")] == ["first_response_late", "receipt_not_confirmed"]


async def test_dealer_clocks_pause_while_the_manager_looks_at_a_defeat_application(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await contacted(L, 147, minutes=2)
        before = {name: clock.deadline for name, clock in s.clocks.items()}
        await L.sleep(timedelta(hours=23))
        await L.act(lead_id, consultant("D-SH-1"), c.ApplyForDefeat(
            reason_code=c.DefeatReason.UNREACHABLE, note="phone off for a day"))
        s = await L.state(lead_id)
        assert s.stage == "defeat_pending_manager"
        applied_at = s.defeat.applied_at
        assert all(not s.clocks[name].running for name in before)
        await L.sleep(timedelta(hours=3))
        assert "first_deep_contact" not in L.alerts(lead_id)

        await L.act(lead_id, manager("D-SH-1"), c.ReviewDefeatApplication(approve=False, note="keep trying"))
        s = await L.state(lead_id)
        assert s.stage == "contacted" and s.defeat is None
        shift = last_event(s, "defeat_returned").at - applied_at
        for name, old in before.items():
            assert s.clocks[name].running
            assert abs(s.clocks[name].deadline - (old + shift)) < timedelta(milliseconds=1), name
        await sleep_until(L, s.clocks["first_deep_contact"].deadline)
        await L.settle(lead_id)
        assert "first_deep_contact" in L.alerts(lead_id)


# --------------------------------------------------------------------------- defeat review (战败复核, 3 working days)


async def test_defeat_review_deadline_is_three_working_days_from_the_calendar_activity(env, engine):
    async with lab(env, engine) as L:
        await sleep_until_local(L, weekday=3, hour=10)  # a Thursday morning in Shanghai
        lead_id, s = await in_defeat_review(L, 128)
        review = s.clocks["defeat_review"]
        assert review.started_at == last_event(s, "defeat_submitted").at
        assert review.deadline == add_working_days(review.started_at, 3, L.policy.calendar)
        assert last_event(s, "deadline_set").data == {"clock": "defeat_review", "deadline": review.deadline.isoformat()}
        # the span includes a weekend: more than 3 (indeed 4) calendar days
        assert review.deadline - review.started_at > 4 * DAY
        assert review.deadline.astimezone(SHANGHAI).time() == time(0)


async def test_defeat_review_deadline_skips_a_holiday_declared_in_the_policy(env, engine):
    start = (await env.get_current_time()).astimezone(SHANGHAI).date() + DAY
    # the two working days after the start day (as the default calendar sees them) become holidays
    holidays, day = [], start
    while len(holidays) < 2:
        day += DAY
        if is_working_day(day, CalendarOverrides()):
            holidays.append(day)
    policy = load_policy(time_scale=1)
    policy = policy.model_copy(update={"calendar": CalendarOverrides(extra_holidays=holidays)})
    async with lab(env, engine, policy=policy, record="clock-defeat-review-holiday") as L:
        await L.sleep(datetime.combine(start, time(10), tzinfo=SHANGHAI) - await now(L))
        lead_id, s = await in_defeat_review(L, 129)
        review = s.clocks["defeat_review"]
        assert review.started_at.astimezone(SHANGHAI).date() == start
        assert review.deadline == add_working_days(review.started_at, 3, policy.calendar)
        plain = add_working_days(review.started_at, 3, CalendarOverrides())
        assert review.deadline > plain, "the holidays pushed the deadline back"
        assert not any(start < d < review.deadline.astimezone(SHANGHAI).date() and is_working_day(d, policy.calendar)
                       for d in holidays)


async def test_undecided_defeat_review_alerts_the_review_team_lead_and_keeps_waiting(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await in_defeat_review(L, 130)
        deadline = s.clocks["defeat_review"].deadline
        await sleep_until(L, deadline, extra=-MIN)
        assert "defeat_review" not in L.alerts(lead_id)
        await sleep_until(L, deadline)
        s = await L.settle(lead_id)
        assert "defeat_review" in L.alerts(lead_id)
        assert recipients(L, lead_id, "defeat_review") == {("review_team_lead", "rev-lead")}
        assert s.stage == "defeat_review" and "defeat_review" not in s.clocks
        await L.act(lead_id, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.TRUE_DEFEAT, note="late but true"))
        s = await L.settle(lead_id)
        assert s.stage == "dormant"


async def test_defeat_decided_in_time_raises_no_review_alert(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await in_defeat_review(L, 131)
        deadline = s.clocks["defeat_review"].deadline
        await L.sleep(DAY)
        await L.act(lead_id, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.TRUE_DEFEAT, note="bought elsewhere"))
        s = await L.settle(lead_id)
        assert s.stage == "dormant" and "defeat_review" not in s.clocks
        await sleep_until(L, deadline, extra=HOUR)
        await L.settle(lead_id)
        assert "defeat_review" not in L.alerts(lead_id)


# --------------------------------------------------------------------------- appeal window (申诉期, 2 working days)


async def test_appeal_window_closes_two_working_days_after_a_pseudo_defeat_verdict(env, engine):
    async with lab(env, engine, record="clock-appeal-window") as L:
        lead_id, s = await pseudo_defeated(L, 132)
        window = s.clocks["appeal_window"]
        assert window.started_at == last_event(s, "pseudo_defeat_decided").at
        assert window.deadline == add_working_days(window.started_at, 2, L.policy.calendar)
        await sleep_until(L, window.deadline)
        s = await L.settle(lead_id)
        assert "appeal_window_closed" in L.timeline(lead_id)
        assert s.appeal.window_open is False and "appeal_window" not in s.clocks
        refused = await L.refusal(lead_id, manager("D-SH-1"), c.Appeal(evidence="call logs"))
        assert "closed" in refused.reason
        assert [p.revoked_at for p in L.penalties("D-SH-1")] == [None]


async def test_appeal_filed_within_the_window_stops_it(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await pseudo_defeated(L, 133)
        deadline = s.clocks["appeal_window"].deadline
        await L.sleep(HOUR)
        await L.act(lead_id, manager("D-SH-1"), c.Appeal(evidence="seven logged calls"))
        s = await L.settle(lead_id)
        assert "appeal_window" not in s.clocks
        review = s.clocks["appeal_review"]
        assert review.deadline == add_working_days(review.started_at, 3, L.policy.calendar)
        await sleep_until(L, deadline, extra=HOUR)
        s = await L.settle(lead_id)
        assert "appeal_window_closed" not in L.timeline(lead_id)
        assert s.appeal.window_open is True


# --------------------------------------------------------------------------- appeal review (申诉复核, 3 working days)


async def test_undecided_appeal_alerts_the_review_team_lead_and_keeps_waiting(env, engine):
    async with lab(env, engine, record="clock-appeal-review-lapsed") as L:
        lead_id, s = await pseudo_defeated(L, 134)
        await L.act(lead_id, manager("D-SH-1"), c.Appeal(evidence="seven logged calls"))
        s = await L.settle(lead_id)
        review = s.clocks["appeal_review"]
        await sleep_until(L, review.deadline)
        s = await L.settle(lead_id)
        assert "appeal_review" in L.alerts(lead_id)
        assert recipients(L, lead_id, "appeal_review") == {("review_team_lead", "rev-lead")}
        assert "appeal_review" not in s.clocks
        await L.act(lead_id, SECOND_REVIEWER, c.DecideAppeal(outcome=c.AppealOutcome.UPHELD, note="late, upheld"))
        assert (await L.settle(lead_id)).appeal.outcome == "upheld"


async def test_appeal_decided_in_time_raises_no_alert(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await pseudo_defeated(L, 135)
        await L.act(lead_id, manager("D-SH-1"), c.Appeal(evidence="seven logged calls"))
        s = await L.settle(lead_id)
        deadline = s.clocks["appeal_review"].deadline
        await L.sleep(DAY)
        refused = await L.refusal(lead_id, REVIEWER, c.DecideAppeal(outcome=c.AppealOutcome.OVERTURNED, note="mine"))
        assert refused.kind == "forbidden"
        await L.act(lead_id, SECOND_REVIEWER, c.DecideAppeal(outcome=c.AppealOutcome.OVERTURNED, note="evidence holds"))
        s = await L.settle(lead_id)
        assert "appeal_review" not in s.clocks
        assert [p.revoked_at is not None for p in L.penalties("D-SH-1")] == [True]
        await sleep_until(L, deadline, extra=HOUR)
        await L.settle(lead_id)
        assert "appeal_review" not in L.alerts(lead_id)


async def test_lapsed_appeal_review_keeps_waiting_even_when_the_lead_has_closed(env, engine):
    """SPEC 4.3.5: a lapsed review clock alerts and keeps waiting. The lead itself may have closed
    meanwhile (here: sent to the call center by the verdict, then found invalid) - the appeal,
    which can still revoke the dealer's penalty, must still be decidable."""
    async with lab(env, engine) as L:
        lead_id, s = await in_defeat_review(L, 149)
        await L.act(lead_id, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.PSEUDO_DEFEAT, note="weak follow-up",
                                                      reassign_to_call_center=True))
        s = await L.settle(lead_id)
        assert s.stage == "call_center"
        await L.act(lead_id, CALL_CENTER, c.RecordCleansing(outcome=c.CleansingOutcome.INVALID, note="fake number"))
        await L.act(lead_id, manager("D-SH-1"), c.Appeal(evidence="seven logged calls"))
        s = await L.settle(lead_id)
        assert s.stage == "closed_invalid" and "appeal_review" in s.clocks

        await sleep_until(L, s.clocks["appeal_review"].deadline)
        s = await L.settle(lead_id)
        assert "appeal_review" in L.alerts(lead_id)
        assert recipients(L, lead_id, "appeal_review") == {("review_team_lead", "rev-lead")}
        assert (await L.handle(lead_id).describe()).status == WorkflowExecutionStatus.RUNNING, \
            "the appeal is still waiting for its decision"
        await L.act(lead_id, SECOND_REVIEWER, c.DecideAppeal(outcome=c.AppealOutcome.OVERTURNED, note="calls prove it"))
        assert [p.revoked_at is not None for p in L.penalties("D-SH-1")] == [True]


# --------------------------------------------------------------------------- nurture content (培育内容, every 14 d)


async def test_nurtured_lead_gets_content_every_fourteen_days(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await nurturing(L, 136)
        touch = s.clocks["nurture_touch"]
        assert touch.deadline - touch.started_at == timedelta(days=14)
        await L.sleep(13 * DAY)
        assert L.notifications(lead_id, kind="nurture_content") == []

        await sleep_until(L, touch.deadline)
        s = await L.settle(lead_id)
        assert recipients(L, lead_id, "nurture_content") == {("call_center", "cc")}
        again = s.clocks["nurture_touch"]
        assert again.started_at >= touch.deadline and again.deadline - again.started_at == timedelta(days=14)

        await sleep_until(L, again.deadline)
        s = await L.settle(lead_id)
        assert L.timeline(lead_id).count("nurture_content_sent") == 2
        assert len(L.notifications(lead_id, kind="nurture_content")) == 2
        assert s.stage == "nurturing" and "nurture_touch" in s.clocks


async def test_nurtured_lead_that_heats_up_gets_no_more_content_and_does_not_go_dormant(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await nurturing(L, 137)
        touch, end = s.clocks["nurture_touch"].deadline, s.clocks["nurture_end"].deadline
        await L.sleep(10 * DAY)
        r = await L.intake(raw_lead(137, external_id="app-137", channel=Channel.APP))  # the city is back
        assert r.outcome == "merged"
        s = await L.settle(lead_id)
        assert "nurturing_ended" in L.timeline(lead_id)
        assert s.stage == "dispatched"
        assert "nurture_touch" not in s.clocks and "nurture_end" not in s.clocks
        await sleep_until(L, touch, extra=DAY)
        assert L.notifications(lead_id, kind="nurture_content") == []
        await sleep_until(L, end, extra=DAY)
        s = await L.settle(lead_id)
        assert "went_dormant" not in L.timeline(lead_id) and s.stage != "dormant"


# ------------------------------------------------------------------------- end of nurturing (培育期满, 90 d -> dormant)


async def test_nurturing_ends_after_ninety_days_and_the_lead_goes_dormant_in_a_new_run(env, engine):
    async with lab(env, engine, record="clock-nurture-dormant") as L:
        lead_id, s = await nurturing(L, 138)
        created_at, grade = s.created_at, s.grade
        end = s.clocks["nurture_end"]
        assert end.deadline - end.started_at == timedelta(days=90)
        first_run = await run_id(L, lead_id)
        await sleep_until(L, end.deadline)
        s = await L.settle(lead_id)

        assert s.stage == "dormant"
        assert await run_id(L, lead_id) != first_run, "entering dormant continues as new"
        timeline = L.timeline(lead_id)
        assert timeline.count("nurture_content_sent") == 6  # days 14, 28, ... 84
        assert timeline[-2:] == ["nurturing_ended", "went_dormant"]
        # the state survived the new run
        assert s.lead_id == lead_id and s.profile.customer_name == "Customer 138"
        assert s.seq == len(timeline) and s.created_at == created_at and s.grade == grade
        assert set(s.clocks) == {"reactivation"}
        react = s.clocks["reactivation"]
        assert react.started_at == last_event(s, "went_dormant").at
        assert react.deadline - react.started_at == timedelta(days=183)
        # and the new run still answers
        r = await L.intake(raw_lead(138, external_id="web-138"))
        assert r.outcome == "created", "a duplicate gets the answer it got before"


# --------------------------------------------------------------------------- reactivation (沉淀激活, 183 d)


async def test_dormant_lead_is_reactivated_into_nurturing_after_six_months_and_rescored(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await dormant(L, 139)
        react = s.clocks["reactivation"]
        assert react.deadline - react.started_at == timedelta(days=183)
        await L.sleep(182 * DAY)
        assert (await L.settle(lead_id)).stage == "dormant"

        await sleep_until(L, react.deadline)
        s = await L.settle(lead_id)
        assert s.stage == "nurturing" and s.reactivations == 1
        timeline = L.timeline(lead_id)
        reactivated = timeline.index("reactivated")
        assert "scored" in timeline[reactivated:], "rescored on reactivation"
        assert L.events(lead_id, "reactivated")[0].data == {"source": "six_months_dormant", "count": 1}
        assert {"nurture_touch", "nurture_end"} <= set(s.clocks) and "reactivation" not in s.clocks


async def test_lead_going_dormant_after_two_reactivations_without_progress_closes_lost(env, engine):
    async with lab(env, engine, record="clock-reactivation-closed-lost") as L:
        lead_id, s = await dormant(L, 140)
        for reactivations in (1, 2):
            await sleep_until(L, s.clocks["reactivation"].deadline)
            s = await L.settle(lead_id)
            assert s.stage == "nurturing" and s.reactivations == reactivations
            await sleep_until(L, s.clocks["nurture_end"].deadline)
            s = await L.settle(lead_id)
            if reactivations == 1:
                assert s.stage == "dormant"
        assert s.stage == "closed_lost"
        assert "closed_lost" in L.timeline(lead_id)
        assert s.clocks == {}
        description = await L.handle(lead_id).describe()
        assert description.status == WorkflowExecutionStatus.COMPLETED
        assert L.lead_row(lead_id).stage == "closed_lost"


async def test_dormant_lead_showing_new_intent_is_reactivated_at_once(env, engine):
    async with lab(env, engine, record="clock-dormant-new-intent") as L:
        lead_id, s = await dormant(L, 141)
        deadline = s.clocks["reactivation"].deadline
        await L.sleep(30 * DAY)
        r = await L.intake(raw_lead(141, external_id="app-141", channel=Channel.APP))
        assert r.outcome == "reactivated"
        s = await L.settle(lead_id)
        assert "reactivation" not in s.clocks and s.stage != "dormant"
        await sleep_until(L, deadline, extra=DAY)
        await L.settle(lead_id)
        assert [e.data["source"] for e in L.events(lead_id, "reactivated")] == ["raw_lead"]
        assert "reactivation" not in lapsed(L, lead_id)


# ----------------------------------------------------------------- revisit (购车 3 个月后回访, 91 d) and overdue (14 d)


async def test_delivered_lead_gets_a_revisit_task_for_its_consultant_after_91_days(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await delivered(L, 142)
        revisit = s.clocks["revisit"]
        assert revisit.started_at == last_event(s, "delivered").at
        assert revisit.deadline - revisit.started_at == timedelta(days=91)
        await L.sleep(90 * DAY)
        assert L.notifications(lead_id, kind="revisit_due") == []
        await sleep_until(L, revisit.deadline)
        s = await L.settle(lead_id)
        assert s.revisit_due and s.stage == "delivered"
        assert recipients(L, lead_id, "revisit_due") == {("consultant", "d-sh-1-c1")}
        overdue = s.clocks["revisit_overdue"]
        assert overdue.deadline - overdue.started_at == timedelta(days=14)


async def test_revisit_logged_before_it_is_due_completes_the_lead_without_reminder(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await delivered(L, 143)
        deadline = s.clocks["revisit"].deadline
        await L.sleep(30 * DAY)
        await L.act(lead_id, consultant("D-SH-1"), c.LogRevisit(note="happy with the car"))
        s = await L.settle(lead_id)
        assert s.stage == "completed" and s.clocks == {}
        await sleep_until(L, deadline, extra=DAY)
        assert L.notifications(lead_id, kind="revisit_due") == []
        assert (await L.handle(lead_id).describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_revisit_not_logged_within_14_days_completes_the_lead_and_alerts_the_manager(env, engine):
    async with lab(env, engine, record="clock-revisit-overdue") as L:
        lead_id, s = await delivered(L, 144)
        await sleep_until(L, s.clocks["revisit"].deadline)
        s = await L.settle(lead_id)
        overdue = s.clocks["revisit_overdue"]
        await L.sleep(13 * DAY)
        assert (await L.settle(lead_id)).stage == "delivered"
        await sleep_until(L, overdue.deadline)
        s = await L.settle(lead_id)
        assert s.stage == "completed"
        assert "revisit_overdue" in L.alerts(lead_id)
        assert recipients(L, lead_id, "revisit_overdue") == {("dealer_manager", "d-sh-1-mgr")}
        assert [e.data for e in L.events(lead_id, "completed")] == [{"revisit_logged": False}]
        assert (await L.handle(lead_id).describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_revisit_logged_after_the_reminder_completes_the_lead_without_alert(env, engine):
    async with lab(env, engine) as L:
        lead_id, s = await delivered(L, 145)
        await sleep_until(L, s.clocks["revisit"].deadline)
        s = await L.settle(lead_id)
        deadline = s.clocks["revisit_overdue"].deadline
        await L.sleep(3 * DAY)
        await L.act(lead_id, consultant("D-SH-1"), c.LogRevisit(note="called, all fine"))
        s = await L.settle(lead_id)
        assert s.stage == "completed" and s.clocks == {}
        await sleep_until(L, deadline, extra=DAY)
        assert "revisit_overdue" not in L.alerts(lead_id)
        assert [e.data for e in L.events(lead_id, "completed")] == [{"revisit_logged": True}]
