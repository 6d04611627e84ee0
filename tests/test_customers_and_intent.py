"""Who the customer is and how hot they are (issue: dedup, scoring, dispatch at full depth).

Repurchase and returning customers, behaviour events that rescore (and re-dispatch a nurtured
lead with priority), assignment by the dealer's auto-assign policy, and dealers that breach
clocks receiving fewer leads over a simulated month.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import Session, select

from activities.dispatch import DispatchActivities
from api.app import create_app
from db.engine import init_db, make_engine
from db.models import Consultant, Dealer, DealerPenalty, HoldingRow, Lead
from domain import commands as c
from domain.models import BehaviourEvent, BehaviourKind, DispatchRequest
from domain.policy import load_policy
from tests.conftest import token_for
from tests.fixtures import CALL_CENTER, OPS, consultant, manager, raw_lead
from tests.harness import lab
from workflows import gateway

COLD = dict(channel="csv_import", timeframe="later", budget=None, model=None, financing_interest=False)


async def completed_lead(L, n: int) -> str:
    lead_id = (await L.intake(raw_lead(n))).lead_id
    mgr, cons = manager("D-SH-1"), consultant("D-SH-1")
    await L.act(lead_id, mgr, c.Acknowledge())
    await L.act(lead_id, mgr, c.Assign(consultant_id=cons.user_id))
    for command in (c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=8), c.RecordOrder(deposit=5000),
                    c.RecordWin(payment=c.PaymentMethod.CASH, amount=200_000), c.RecordDelivery(),
                    c.LogRevisit(note="all good")):
        await L.act(lead_id, cons, command)
    assert (await L.handle(lead_id).result()).stage == "completed"
    return lead_id


# ------------------------------------------------------------------ repurchase and returning customers


async def test_a_customer_who_bought_before_gets_a_new_lead_linked_to_the_old_one(env, engine):
    async with lab(env, engine, record="repurchase") as L:
        first = await completed_lead(L, 801)
        again = await L.intake(raw_lead(801, external_id="app-801", channel="app"))
        assert again.outcome == "created" and again.lead_id == f"{first}-r2" and again.previous_lead_id == first
        L.started.add(again.lead_id)
        state = await L.state(again.lead_id)
        repeat = next(i for i in state.score_items if i.name == "repeat_customer")
        assert repeat.points == repeat.max_points > 0, "a customer who bought before is a repeat customer"
        assert L.lead_row(again.lead_id).previous_lead_id == first
        assert L.lead_row(first).stage == "completed", "the old lead keeps its own row"
        merged = await L.intake(raw_lead(801, external_id="app-802", channel="app"))
        assert merged.lead_id == again.lead_id and merged.outcome == "merged"


async def test_a_customer_whose_lead_closed_invalid_comes_back_as_a_new_lead(env, engine):
    async with lab(env, engine) as L:
        first = (await L.intake(raw_lead(802, city=None))).lead_id
        await L.act(first, CALL_CENTER, c.RecordCleansing(outcome=c.CleansingOutcome.INVALID, note="wrong number"))
        await L.handle(first).result()
        again = await L.intake(raw_lead(802, external_id="hotline-1", channel="hotline"))
        L.started.add(again.lead_id)
        assert again.lead_id == f"{first}-r2" and again.outcome == "created" and again.previous_lead_id == first
        state = await L.state(again.lead_id)
        assert next(i for i in state.score_items if i.name == "repeat_customer").points == 0, "never bought"


# ------------------------------------------------------------------ behaviour events


async def nurtured_lead(L, n: int) -> str:
    result = await L.intake(raw_lead(n, **COLD))
    assert result.stage == "cleansing"
    await L.act(result.lead_id, CALL_CENTER, c.RecordCleansing(outcome=c.CleansingOutcome.NURTURE, note="next year"))
    return result.lead_id


def event(event_id: str, kind: BehaviourKind, count: int = 1) -> BehaviourEvent:
    return BehaviourEvent(event_id=event_id, kind=kind, count=count, source="app")


async def test_behaviour_rescores_and_a_nurtured_lead_rising_to_b_is_dispatched_with_priority(env, engine):
    async with lab(env, engine, record="behaviour-redispatch") as L:
        lead_id = await nurtured_lead(L, 810)
        phone = raw_lead(810).phone
        small = await gateway.record_behaviour(L.client, "Aurora", phone, event("e1", BehaviourKind.CONFIG_VIEW), OPS)
        assert small.outcome == "recorded" and small.stage == "nurturing"
        before = (await L.state(lead_id)).score
        await gateway.record_behaviour(L.client, "Aurora", phone, event("e2", BehaviourKind.CONFIG_VIEW, 2), OPS)
        await gateway.record_behaviour(L.client, "Aurora", phone, event("e3", BehaviourKind.PAGE_VIEW, 5), OPS)
        hot = await gateway.record_behaviour(L.client, "Aurora", phone, event("e4", BehaviourKind.TEST_DRIVE_BOOKING),
                                             OPS)
        state = await L.state(lead_id)
        assert state.score > before and state.grade in ("H", "A", "B")
        assert hot.stage == "dispatched" and state.dealer_id == "D-SH-1"
        dispatched = L.events(lead_id, "dispatched")[-1]
        assert dispatched.data["priority"] is True
        assert "priority lead" in L.notifications(lead_id, "lead_dispatched")[0].message
        assert state.behaviour.test_drive_bookings == 1 and state.behaviour.config_views == 3


async def test_a_repeated_behaviour_event_counts_once(env, engine):
    async with lab(env, engine) as L:
        lead_id = (await L.intake(raw_lead(811))).lead_id
        first = await gateway.record_lead_behaviour(L.client, lead_id, event("same", BehaviourKind.LIVE_STREAM_JOIN),
                                                    OPS)
        again = await gateway.record_lead_behaviour(L.client, lead_id, event("same", BehaviourKind.LIVE_STREAM_JOIN),
                                                    OPS)
        assert (first.outcome, again.outcome) == ("recorded", "duplicate")
        assert (await L.state(lead_id)).behaviour.live_stream_joins == 1
        assert len(L.events(lead_id, "behaviour_recorded")) == 1


async def test_a_dormant_lead_wakes_on_behaviour(env, engine):
    async with lab(env, engine) as L:
        lead_id = await nurtured_lead(L, 812)
        await L.sleep(timedelta(days=91))
        assert (await L.settle(lead_id)).stage == "dormant"
        await gateway.record_behaviour(L.client, "Aurora", raw_lead(812).phone, event("d1", BehaviourKind.PAGE_VIEW),
                                       OPS)
        state = await L.state(lead_id)
        assert state.stage == "nurturing" and "reactivated" in [e.kind for e in state.recent]


@asynccontextmanager
async def api(L):
    app = create_app(client=L.client, engine=L.engine, policy=L.policy, task_queue=L.task_queue)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://leadflow") as http:
            yield http


async def test_behaviour_events_through_the_api(env, engine):
    async with lab(env, engine) as L:
        lead_id = (await L.intake(raw_lead(813))).lead_id
        async with api(L) as http:
            ops = {"Authorization": f"Bearer {token_for('ops')}"}
            body = {"brand": "Aurora", "phone": "+86 138-0000-0813", "event_id": "web-1", "kind": "config_view"}
            answer = await http.post("/v1/behaviour-events", json=body, headers=ops)
            assert answer.status_code == 200 and answer.json()["lead_id"] == lead_id
            unknown = await http.post("/v1/behaviour-events", json=body | {"phone": "13900000001"}, headers=ops)
            assert unknown.status_code == 404 and unknown.json()["code"] == "error.no_open_lead"
            assert unknown.json()["detail"] == "该客户没有 Aurora 的未结线索"
            bad = await http.post("/v1/behaviour-events", json=body | {"kind": "telepathy"}, headers=ops)
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "kind"]
            dealer = {"Authorization": f"Bearer {token_for('d-sh-1-mgr')}"}
            assert (await http.post("/v1/behaviour-events", json=body, headers=dealer)).status_code == 403


# ------------------------------------------------------------------ assignment inside the dealer


def set_auto_assign(engine, dealer_id: str, consultant_series: dict[str, list[str]] | None = None) -> None:
    with Session(engine) as session:
        dealer = session.get(Dealer, dealer_id)
        assert dealer is not None, dealer_id
        dealer.auto_assign = True
        session.add(dealer)
        for user_id, series in (consultant_series or {}).items():
            consultant = session.get(Consultant, user_id)
            assert consultant is not None, user_id
            consultant.series = series
            session.add(consultant)
        session.commit()


async def test_auto_assign_picks_the_least_loaded_consultant_who_sells_the_series(env, engine):
    set_auto_assign(engine, "D-SH-1", {"d-sh-1-c1": ["A5", "A7"], "d-sh-1-c2": ["A5"]})
    async with lab(env, engine, record="auto-assign") as L:
        assigned = []
        for n in (820, 821, 822):
            lead_id = (await L.intake(raw_lead(n))).lead_id
            done = await L.act(lead_id, manager("D-SH-1"), c.Acknowledge())
            assert done.stage == "assigned", "the dealer's policy assigns on receipt"
            assigned.append(done.consultant_id)
        assert assigned == ["d-sh-1-c1", "d-sh-1-c2", "d-sh-1-c1"]  # least loaded, ties by id
        event = L.events(lead_id, "assigned")[0]
        assert event.data["auto"] is True and "least loaded" in event.data["reason"]
        assert L.notifications(lead_id, "lead_assigned")[0].recipient_user_id == "d-sh-1-c1"
        assert "public_pool" in (await L.state(lead_id)).clocks, "an assigned lead must be followed up in 2 h"


async def test_auto_assign_asks_the_manager_when_nobody_sells_the_series(env, engine):
    set_auto_assign(engine, "D-SH-1", {"d-sh-1-c1": ["A7"], "d-sh-1-c2": ["A7"]})
    async with lab(env, engine) as L:
        lead_id = (await L.intake(raw_lead(823))).lead_id
        done = await L.act(lead_id, manager("D-SH-1"), c.Acknowledge())
        assert done.stage == "acknowledged" and done.consultant_id is None
        [note] = L.notifications(lead_id, "assignment_needed")
        assert note.recipient_user_id == "d-sh-1-mgr" and "sells A5" in note.message


# ------------------------------------------------------------------ penalties shift dispatch


def test_dealers_that_breach_clocks_receive_fewer_leads_over_a_simulated_month(tmp_path):
    """Two equal dealers share leads round-robin in the first week; in the second week one of them
    lets the 15-minute clock lapse on every lead it gets. By the last week it gets (almost) nothing."""
    engine = make_engine(f"sqlite:///{tmp_path / 'month.db'}")
    init_db(engine)
    twin = dict(brand="Aurora", region="East", city="Shanghai", series=["A5"], stock={"A5": 5},
                conversion_90d=0.25, rating=4.5, capacity=1000)
    with Session(engine) as session:
        session.add(Dealer(id="PROMPT", name="Prompt dealer", **twin))
        session.add(Dealer(id="LATE", name="Late dealer", **twin))
        session.commit()
    policy = load_policy(time_scale=1).dispatch
    dispatch = DispatchActivities(engine)
    start = datetime(2026, 6, 1, 9, tzinfo=UTC)
    received = {day: [] for day in range(30)}
    for day in range(30):
        for k in range(6):
            at = start + timedelta(days=day, hours=k)
            lead_id = f"lead-{day}-{k}"
            result = dispatch.dispatch_lead(DispatchRequest(
                lead_id=lead_id, brand="Aurora", series="A5", city="Shanghai", weights=policy.weights,
                penalty_window_days=90, max_penalties=policy.max_penalties,
                default_radius_km=policy.default_radius_km, as_of=at))
            received[day].append(result.dealer_id)
            with Session(engine) as session:
                session.add(HoldingRow(lead_id=lead_id, dealer_id=result.dealer_id, started_at=at))
                if result.dealer_id == "LATE" and 7 <= day < 14:  # it lets the 15-minute clock lapse
                    session.add(DealerPenalty(penalty_id=f"{lead_id}:p", dealer_id="LATE", lead_id=lead_id,
                                              kind="first_response_late", created_at=at + timedelta(minutes=15)))
                session.commit()

    def late_share(days) -> float:
        got = [d for day in days for d in received[day]]
        return got.count("LATE") / len(got)

    assert 0.4 <= late_share(range(0, 7)) <= 0.6, "equal dealers share leads round-robin"
    assert late_share(range(23, 30)) <= 0.1, "a week later the dealer that breached gets next to nothing"
    with Session(engine) as session:
        assert session.exec(select(Lead)).all() == []  # nothing else was needed: penalties and holdings drive it


def test_dispatch_reuses_the_dealers_profiles_until_a_dealers_row_changes(tmp_path):
    """Issue 15: dispatch no longer builds every dealer of the brand from ORM objects per intake. A dealer's
    profile is built once and reused while its row is unchanged; any change to the row (by any writer, here a
    plain session) counts at the next dispatch."""
    engine = make_engine(f"sqlite:///{tmp_path / 'profiles.db'}")
    init_db(engine)
    twin = dict(brand="Aurora", region="East", city="Shanghai", series=["A5"], stock={"A5": 5},
                conversion_90d=0.25, rating=4.5, capacity=10)
    with Session(engine) as session:
        session.add(Dealer(id="FIRST", name="First dealer", **twin | {"rating": 5.0}))
        session.add(Dealer(id="SECOND", name="Second dealer", **twin))
        session.commit()
    policy = load_policy(time_scale=1).dispatch
    dispatch = DispatchActivities(engine)
    at = datetime(2026, 6, 1, 9, tzinfo=UTC)

    def dispatched(n: int) -> str | None:
        return dispatch.dispatch_lead(DispatchRequest(
            lead_id=f"lead-{n}", brand="Aurora", series="A5", city="Shanghai", weights=policy.weights,
            penalty_window_days=90, max_penalties=policy.max_penalties, default_radius_km=policy.default_radius_km,
            as_of=at + timedelta(minutes=n), holding=0, since_seq=3)).dealer_id

    def profiles() -> dict:
        with engine.connect() as conn:
            return dispatch._dealers.of_brand(conn, "aurora")

    assert dispatched(1) == "FIRST"
    before = profiles()
    assert all(before[k] is profiles()[k] for k in before)  # unchanged rows: the same profiles, nothing built
    with Session(engine) as session:  # the master data changes: FIRST stops selling the A5
        first = session.get(Dealer, "FIRST")
        first.series = ["A7"]
        session.add(first)
        session.commit()
    after = profiles()
    assert after["FIRST"] is not before["FIRST"] and after["FIRST"].series == ["A7"]
    assert after["SECOND"] is before["SECOND"]
    assert dispatched(2) == "SECOND"
    with Session(engine) as session:
        second = session.get(Dealer, "SECOND")
        second.active = False
        session.add(second)
        session.commit()
    assert dispatched(3) is None  # nobody left who sells it: seen at once
