"""The what-if simulator (issue 16): the oracle (a lead's recorded facts under its own policy reproduce what
happened, on the time-skipping server) and a hand-worked fixture (a shorter receipt clock)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from db.facts import stream_leads, stream_leads_with_reality
from db.models import LeadFact, TimelineEntry
from domain import commands as c
from domain.policy import load_policy
from domain.policy_versions import apply_changes, check_draft, document_of
from domain.simulate import compare, fact, readable, recorded_outcome, report, simulate_lead
from tests.fixtures import CALL_CENTER, OPS, consultant, manager, raw_lead
from tests.harness import lab

POLICY = load_policy(time_scale=1)


def draft(**changes):
    return check_draft(apply_changes(document_of(POLICY), changes))


# --------------------------------------------------------------------------- the hand-worked fixture

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _cand(dealer_id: str, total: float) -> dict:
    # every factor = total, and the weights sum to 1: the weighted total is `total` under any valid weights
    return {"dealer_id": dealer_id, "dealer_name": dealer_id, "total": total,
            "factors": {k: total for k in ("distance", "stock", "conversion", "rating", "load", "penalties")}}


def hand_facts() -> list[dict]:
    score = {"score": 50.0, "grade": "A", "items": [], "region": "East"}
    dispatched = {"dealer_id": "D-SH-1", "dealer_name": "D-SH-1", "region": "East", "reason": "top score",
                  "candidates": [_cand("D-SH-1", 0.8), _cand("D-SH-2", 0.7), _cand("D-HZ-1", 0.6)]}
    ack = c.CommandEnvelope(actor=manager("D-SH-1"), command=c.Acknowledge())
    return [
        fact("intake", T0, raw=raw_lead(9001), actor=OPS, customer_key="k-9001"),
        fact("scored", T0, result=score, then="route"),
        fact("dispatched", T0, result=dispatched),
        fact("act", T0 + 90 * MIN, envelope=ack),  # D-SH-1 acknowledged after 1 h 30
    ]


def test_a_shorter_receipt_clock_gives_the_lapses_and_redispatches_worked_out_by_hand():
    facts, until = hand_facts(), T0 + timedelta(hours=6)
    # Reality (receipt 2 h, first response 15 min):
    #   02:00 dispatched to D-SH-1 (receipt due 04:00, first response due 02:15)
    #   02:15 first_response lapses: 1 penalty for D-SH-1
    #   03:30 D-SH-1 acknowledges (1 h 30 < 2 h): receipt met
    real = simulate_lead("L-hand", facts, POLICY, until=until)
    assert real.dealers == ["D-SH-1"]
    assert real.lapses == Counter({"first_response": 1})
    assert real.penalties == Counter({"D-SH-1": 1})
    assert real.stage == "acknowledged" and not real.assumptions

    # Draft: receipt 1 h.
    #   02:15 first_response lapses for D-SH-1                                  (penalty 1 of D-SH-1)
    #   03:00 receipt lapses (02:00 + 1 h): D-SH-1 penalized, lead re-dispatched (penalty 2 of D-SH-1)
    #         -> the best recorded candidate that never held it: D-SH-2 (0.7 > 0.6)      [assumption 1]
    #   03:15 first_response lapses for D-SH-2 (03:00 + 15 min)                 (penalty 1 of D-SH-2)
    #   03:30 D-SH-1's recorded acknowledge: the lead is no longer D-SH-1's, skipped [assumption 2]
    #   04:00 receipt lapses for D-SH-2 (03:00 + 1 h) -> D-HZ-1 (0.6)            (penalty 2 of D-SH-2) [assumption 3]
    #   04:15 first_response lapses for D-HZ-1                                  (penalty 1 of D-HZ-1)
    #   05:00 receipt lapses for D-HZ-1 -> nobody left: the call center          (penalty 2 of D-HZ-1) [assumption 4]
    # So: receipt lapses 0 -> 3, first_response lapses 1 -> 3, dispatches 1 -> 3, penalties 1 -> 6.
    shorter = draft(clocks={"receipt": "1h"})
    new = simulate_lead("L-hand", facts, shorter, frozenset({"clocks"}), until=until)
    assert new.dealers == ["D-SH-1", "D-SH-2", "D-HZ-1"]
    assert new.lapses == Counter({"receipt": 3, "first_response": 3})
    assert new.penalties == Counter({"D-SH-1": 2, "D-SH-2": 2, "D-HZ-1": 2})
    assert new.stage == "call_center"
    assert new.assumptions == Counter({"dispatch_from_recorded_candidates": 3,
                                       "recorded_action_not_allowed:acknowledge": 1})

    chunk = compare([("L-hand", facts)], lambda *_: POLICY, shorter, until)
    r = report(chunk, "2", (T0, until))
    assert r["differing_leads"] == 1
    assert r["reality"]["sla_lapses"] == {"first_response": 1}
    assert r["draft"]["sla_lapses"] == {"receipt": 3, "first_response": 3}
    assert r["draft"]["leads_per_dealer"] == {"D-SH-1": 1, "D-SH-2": 1, "D-HZ-1": 1}
    why = [w["text"] for w in readable(r, "en")["differing"][0]["why"]]  # codes, worded in the reader's language
    assert "receipt confirmation lapses 0 → 3" in why and "dispatched to D-SH-1 → D-SH-1 > D-SH-2 > D-HZ-1" in why
    zh = [w["text"] for w in readable(r, "zh-CN")["differing"][0]["why"]]
    assert "接收确认超时 0 次 → 3 次" in zh and "派发 D-SH-1 → D-SH-1 > D-SH-2 > D-HZ-1" in zh
    assert not [t for t in zh if re.search(r"[a-z]{2,}", t)], zh  # no English words in the Chinese report
    assert {a["assumption"] for a in readable(r, "zh-CN")["assumptions"]} == {
        "实际未发生的派发，派给了记录中未持有过此线索的最佳候选经销商",
        "记录中的「确认接收」在模拟的线索上无法执行（例如线索已转到其他经销商）：已跳过，假设当事人未操作"}
    assert {a["kind"] for a in r["assumptions"]} == {"dispatch_from_recorded_candidates",
                                                      "recorded_action_not_allowed:acknowledge"}


def test_the_same_policy_changes_nothing_and_assumes_nothing():
    facts = hand_facts()
    chunk = compare([("L-hand", facts)], lambda *_: POLICY, draft(), T0 + timedelta(hours=6))
    assert chunk.differing_count == 0 and not chunk.draft.assumptions


def test_a_draft_with_higher_thresholds_regrades_from_the_recorded_items():
    items = [{"name": "timeframe", "dimension": "key_info", "points": 12.0, "max_points": 12.0, "reason": "x"},
             {"name": "series_named", "dimension": "key_info", "points": 6.0, "max_points": 6.0, "reason": "x"},
             {"name": "site_visits", "dimension": "behaviour", "points": 0.0, "max_points": 4.0, "reason": "x"}]
    facts = hand_facts()
    facts[1] = fact("scored", T0, result={"score": 81.8, "grade": "H", "items": items, "region": "East"}, then="route")
    # 18 of 22 points = 81.8: H under 60/45/30; under thresholds 90/85/82 it is C (81.8 < 82): cleansing
    strict = draft(scoring={"thresholds": {"H": 90, "A": 85, "B": 82}})
    new = simulate_lead("L", facts, strict, frozenset({"scoring"}), until=T0 + timedelta(hours=6))
    assert new.grade == "C" and new.stage == "cleansing" and new.dealers == []


# --------------------------------------------------------------------------- the oracle, on the time-skipping server


def _reality(engine, lead_id: str) -> dict:
    with Session(engine) as s:
        rows = s.exec(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id)
                      .order_by(col(TimelineEntry.seq))).all()
    return {"dealers": [r.dealer_id for r in rows if r.kind == "dispatched"],
            "lapses": Counter(r.data["clock"] for r in rows if r.kind == "clock_lapsed"),
            "penalties": Counter(r.data["penalized_dealer_id"] for r in rows if r.kind == "penalty_recorded"),
            "kinds": [r.kind for r in rows]}


async def test_the_oracle_recorded_facts_under_the_active_policy_reproduce_what_happened(env, engine):
    async with lab(env, engine) as L:
        start = (await L.env.get_current_time()) - timedelta(minutes=1)
        # 1: nobody acknowledges: receipt lapses, re-dispatched, and so on
        a = (await L.intake(raw_lead(9101))).lead_id
        # 2: acknowledged, assigned, followed up, then silence (cadence, stall -> defeat review)
        b = (await L.intake(raw_lead(9102))).lead_id
        # 3: a lead that needs cleansing (no series), cleansed by the call center later
        cc = (await L.intake(raw_lead(9103, series=None))).lead_id
        await L.settle(a), await L.settle(b), await L.settle(cc)
        sb = await L.state(b)
        await L.act(b, manager(sb.dealer_id), c.Acknowledge())
        await L.act(b, manager(sb.dealer_id), c.Assign(consultant_id=consultant(sb.dealer_id).user_id))
        await L.act(b, consultant(sb.dealer_id), c.LogFollowUp(channel="call", note="called", duration_minutes=1))
        await L.sleep(timedelta(hours=3))
        await L.act(cc, CALL_CENTER,
                    c.RecordCleansing(outcome="verified", corrections={"series": "A5"}, note="ok"))
        await L.sleep(timedelta(days=9))
        for lead in (a, b, cc):
            await L.settle(lead)
            await L.quiet(lead)
        until = await L.env.get_current_time()

        leads = dict(stream_leads(engine, start, until))
        assert set(leads) == {a, b, cc}
        for lead_id, facts in leads.items():
            out = simulate_lead(lead_id, facts, POLICY, until=until)
            real, state = _reality(engine, lead_id), await L.state(lead_id)
            assert not out.assumptions, (lead_id, out.assumptions)
            assert (out.stage, out.furthest, out.grade) == (state.stage.value, state.furthest_stage.value, state.grade)
            assert out.dealers == real["dealers"], lead_id
            assert out.lapses == real["lapses"], lead_id
            assert out.penalties == real["penalties"], lead_id
        assert real_lapses_total(engine) > 0, "the scenario must have lapses to prove anything"

        # and what the read model's timelines say happened is that outcome too (the simulator takes it as reality)
        told = list(stream_leads_with_reality(engine, start, until, until=until))
        assert {lead_id for lead_id, _, _ in told} == {a, b, cc}
        for lead_id, facts, summary in told:
            assert summary is not None, lead_id
            simulated = simulate_lead(lead_id, facts, POLICY, until=until)
            recorded = recorded_outcome(lead_id, summary)
            assert recorded.key() == simulated.key() and recorded.alerts == simulated.alerts, lead_id


def real_lapses_total(engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(TimelineEntry).where(TimelineEntry.kind == "clock_lapsed")).all())


async def test_facts_are_recorded_in_order_from_the_intake(env, engine):
    async with lab(env, engine) as L:
        lead_id = (await L.intake(raw_lead(9104))).lead_id
        await L.settle(lead_id)
        with Session(engine) as s:
            kinds = [f.kind for f in s.exec(select(LeadFact).where(LeadFact.lead_id == lead_id).order_by(LeadFact.seq))]
        assert kinds[:3] == ["intake", "scored", "dispatched"]


def _fast_report(leads, until) -> dict:
    from domain.simulate import fast_decider
    fast_decider()  # in a child process only: it changes the decider's modules for the process
    return report(compare(leads, lambda *_: POLICY, draft(clocks={"receipt": "1h"}), until), "2", None)


def test_the_fast_path_of_the_simulator_processes_gives_the_same_report():
    import multiprocessing as mp

    from bench.simulate import generate
    start = datetime(2026, 11, 1, tzinfo=UTC)
    leads, until = list(generate(300, start)), start + timedelta(days=30)
    slow = report(compare([(i, [dict(f) for f in fs]) for i, fs in leads], lambda *_: POLICY,
                          draft(clocks={"receipt": "1h"}), until), "2", None)
    with mp.get_context("spawn").Pool(1) as pool:
        fast = pool.apply(_fast_report, (leads, until))
    assert fast == slow and slow["differing_leads"] > 0


def test_reality_from_the_recorded_timelines_is_reality_simulated_on_postgresql(pg_engine):
    """The bench's leads (five scripts, lapse cascades, re-dispatches) with reality's timelines in the read model: each
    lead's summed-up timeline (the server's query) is its simulated reality, and the report built from the timelines is
    the report that simulates every lead twice."""
    from bench.simulate import draft_policy, generate, load
    from ops.simulate import run

    start = datetime(2031, 3, 1, tzinfo=UTC)
    until = start + timedelta(days=30)
    url = pg_engine.url.render_as_string(hide_password=False)
    timelines: dict[str, list] = {}
    facts, events = load(url, generate(120, start, timelines=timelines), timelines)
    assert facts > 0 and events > facts

    told = list(stream_leads_with_reality(pg_engine, start, until, until=until))
    assert len(told) == 120
    lapses = 0
    for lead_id, lead_facts, summary in told:
        assert summary is not None, lead_id
        simulated = simulate_lead(lead_id, lead_facts, POLICY, until=until)
        recorded = recorded_outcome(lead_id, summary)
        assert not simulated.assumptions, (lead_id, simulated.assumptions)
        assert recorded.key() == simulated.key() and recorded.alerts == simulated.alerts, lead_id
        lapses += sum(recorded.lapses.values())
    assert lapses > 100, "the leads must lapse clocks to prove anything"

    draft = draft_policy()
    from_timelines = run(url, draft, start, until, POLICY, workers=2, draft_version="d")
    simulated_twice = run(url, draft, start, until, POLICY, workers=2, draft_version="d", recorded_reality=False)
    assert from_timelines["reality_from"] == {"timeline": 120, "simulated": 0}
    assert simulated_twice["reality_from"] == {"timeline": 0, "simulated": 120}
    for r in (from_timelines, simulated_twice):
        del r["reality_from"], r["cpu_seconds"]
    assert from_timelines == simulated_twice and from_timelines["differing_leads"] > 0
