"""Limits shared by many leads hold when people act at once (issue 12.2): real concurrency against PostgreSQL.

The choice-right decline quota, a dealer's capacity at dispatch, a consultant's capacity at auto-assignment and
two consultants claiming one pool lead are each decided by one transaction under the dealer's (consultant's)
lock, which writes the reservation ledger (db/limits.py). Raw-lead numbers 6000-6199.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select
from temporalio.testing import ActivityEnvironment

from activities.assignment import AssignmentActivities
from activities.dispatch import DispatchActivities
from db import limits
from db.models import Consultant, Dealer, HoldingRow, Lead, LimitCounter, LimitReservation
from domain import commands as c
from domain.models import ClaimRequest, DeclineQuotaRequest, DispatchRequest, Holding, LeadState
from domain.stages import LeadStage
from tests.fixtures import manager, raw_lead
from tests.harness import lab
from tests.test_api import api, auth
from workflows.gateway import ActionRefused


def _limits_migration():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "db" / "migrations" / "versions" / "0007_limits.py"
    spec = importlib.util.spec_from_file_location("limits_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def counter(engine, scope: str, subject: str) -> int:
    with Session(engine) as session:
        row = session.get(LimitCounter, (scope, subject))
        return row.open if row else 0


def set_dealer(engine, dealer_id: str, **fields) -> None:
    with Session(engine) as session:
        dealer = session.get(Dealer, dealer_id)
        for k, v in fields.items():
            setattr(dealer, k, v)
        session.add(dealer)
        session.commit()


def seed_pushes(engine, dealer_id: str, count: int, at) -> None:
    """Earlier pushes to the dealer inside the 30-day window (leads it kept)."""
    with Session(engine) as session:
        for i in range(count):
            session.add(HoldingRow(lead_id=f"lead-background-{dealer_id}-{i}", dealer_id=dealer_id,
                                   started_at=at - timedelta(minutes=i + 1)))
        session.commit()


@pytest.mark.parametrize("n, first", [(2, 6000), (5, 6010), (20, 6030)])
async def test_declines_at_once_at_the_quota_edge_exactly_the_allowed_number_succeed(env, pg_engine, n, first):
    """N declines of N leads at the same moment: the quota (20% of pushes) allows N // 2 of them (at least 1)."""
    await declines_at_once(env, pg_engine, n, first)


async def test_declines_at_once_on_sqlite_take_turns_too(env, engine):
    """SQLite has one writer: the reservation's transaction begins IMMEDIATE, so the same holds there."""
    await declines_at_once(env, engine, 5, 6100)


async def declines_at_once(env, pg_engine, n: int, first: int) -> None:
    allowed = max(1, n // 2)
    pushed = 5 * allowed  # 20% of the pushes is exactly `allowed` declines
    async with lab(env, pg_engine, record="v6-limits-decline-quota" if n == 2 else None) as L:
        seed_pushes(pg_engine, "D-SH-2", pushed - n, await L.env.get_current_time())
        leads = []
        for k in range(n):
            r = await L.intake(raw_lead(first + k, preferred_dealer_id="D-SH-2"))
            assert r.dealer_id == "D-SH-2"
            leads.append(r.lead_id)

        async def decline(lead_id):
            try:
                return await L.act(lead_id, manager("D-SH-2"), c.Decline(reason="our customer already"))
            except ActionRefused as refused:
                return refused

        answers = await asyncio.gather(*(decline(lead_id) for lead_id in leads))
        done = [a for a in answers if isinstance(a, c.ActionResult)]
        refused = [a for a in answers if isinstance(a, ActionRefused)]
        assert len(done) == allowed, [getattr(a, "reason", a) for a in answers]
        assert len(refused) == n - allowed
        assert all(r.kind == "stage" and "quota" in r.reason for r in refused)
        for lead_id, answer in zip(leads, answers, strict=True):  # a refused lead stays where it was, nothing lost
            s = await L.state(lead_id)
            if isinstance(answer, ActionRefused):
                assert s.stage == "dispatched" and s.dealer_id == "D-SH-2"
                assert "declined" not in [e.kind for e in s.recent]
            else:
                assert s.dealer_id != "D-SH-2"
        with Session(pg_engine) as session:
            spent = session.exec(select(LimitReservation).where(
                LimitReservation.kind == "decline", LimitReservation.subject == "D-SH-2")).all()
        assert len(spent) == allowed


async def test_dispatches_at_once_to_a_dealer_one_below_capacity_fill_it_exactly(env, pg_engine):
    set_dealer(pg_engine, "D-SH-2", capacity=3)
    async with lab(env, pg_engine, record="v6-limits-dispatch-capacity") as L:
        for n in (6060, 6061):
            assert (await L.intake(raw_lead(n, preferred_dealer_id="D-SH-2"))).dealer_id == "D-SH-2"
        for lead_id in L.leads():
            await L.quiet(lead_id)
        assert counter(pg_engine, "dealer", "D-SH-2") == 2  # one below capacity

        answers = await asyncio.gather(*(L.intake(raw_lead(n, preferred_dealer_id="D-SH-2")) for n in range(6062,
                                                                                                            6068)))
        assert [a.dealer_id for a in answers].count("D-SH-2") == 1
        assert all(a.dealer_id is not None for a in answers)  # the others went to the next best dealers
        for lead_id in L.leads():
            await L.quiet(lead_id)
        with Session(pg_engine) as session:
            held = session.exec(select(Lead).where(Lead.dealer_id == "D-SH-2")).all()
        assert len(held) == 3
        assert counter(pg_engine, "dealer", "D-SH-2") == 3


async def test_auto_assignments_at_once_respect_consultants_capacity(env, pg_engine):
    set_dealer(pg_engine, "D-SH-1", auto_assign=True)
    with Session(pg_engine) as session:
        for cons in session.exec(select(Consultant).where(Consultant.dealer_id == "D-SH-1")).all():
            cons.max_open_leads = 1
            session.add(cons)
        session.commit()
    async with lab(env, pg_engine, record="v6-limits-auto-assign") as L:
        leads = [(await L.intake(raw_lead(n, preferred_dealer_id="D-SH-1"))).lead_id for n in range(6070, 6074)]
        await asyncio.gather(*(L.act(lead_id, manager("D-SH-1"), c.Acknowledge()) for lead_id in leads))
        states = [await L.settle(lead_id) for lead_id in leads]
        picked = [s.consultant_id for s in states if s.consultant_id]
        assert sorted(picked) == ["d-sh-1-c1", "d-sh-1-c2"]  # two consultants, one lead each
        assert counter(pg_engine, "consultant", "d-sh-1-c1") == 1
        assert counter(pg_engine, "consultant", "d-sh-1-c2") == 1


async def test_two_claims_of_one_pool_lead_at_once_one_wins_the_other_gets_a_clear_409(env, pg_engine):
    """When both claims land in one activation, the second waits its turn (patch spending-in-turn) and is refused
    before it reserves. (Recording v7-limits-claim takes that path only then: the file must hold the patch's
    marker, two accepted claims and one reserve_claim.)"""
    async with api(env, pg_engine, record="v7-limits-claim") as (http, L):
        r = await L.intake(raw_lead(6080, preferred_dealer_id="D-SH-1"))
        await L.act(r.lead_id, manager("D-SH-1"), c.Acknowledge())
        await L.act(r.lead_id, manager("D-SH-1"), c.Assign(consultant_id="d-sh-1-c1"))
        await L.sleep(timedelta(hours=2, minutes=1))
        s = await L.settle(r.lead_id)
        assert s.stage == "public_pool"
        assert counter(pg_engine, "consultant", "d-sh-1-c1") == 0  # the slot went back with the lead

        url = f"/v1/leads/{r.lead_id}/claim"
        first, second = await asyncio.gather(http.post(url, headers=auth("d-sh-1-c1")),
                                             http.post(url, headers=auth("d-sh-1-c2")))
        codes = sorted([first.status_code, second.status_code])
        assert codes == [200, 409], (first.text, second.text)
        loser = first if first.status_code == 409 else second
        assert loser.json()["code"] == "refused.claimed_by_another"
        assert "另一位销售顾问已先认领" in loser.json()["detail"]
        winner = "d-sh-1-c1" if first.status_code == 200 else "d-sh-1-c2"
        s = await L.settle(r.lead_id)
        assert s.stage == "assigned" and s.consultant_id == winner
        assert counter(pg_engine, "consultant", winner) == 1
        assert counter(pg_engine, "consultant", ({"d-sh-1-c1", "d-sh-1-c2"} - {winner}).pop()) == 0
        assert limits.counter_drift(pg_engine) == []  # ops.reconcile agrees: the counters are the open leads'
        assert await local_activities(L, r.lead_id, "reserve_claim") == 1  # the loser never reserved


async def local_activities(L, lead_id: str, activity_type: str) -> int:
    """How many times the lead's history ran this local activity (its recorded markers)."""
    import json

    from tests.harness import decode_payloads

    history = await L.client.get_workflow_handle(lead_id).fetch_history()
    markers = [e.marker_recorded_event_attributes for e in history.events
               if e.HasField("marker_recorded_event_attributes")
               and e.marker_recorded_event_attributes.marker_name == "core_local_activity"]
    await decode_payloads(markers, L.client.data_converter.payload_codec)
    return sum(1 for m in markers if json.loads(m.details["data"].payloads[0].data)["activity_type"] == activity_type)


def test_a_retried_reservation_activity_counts_once(pg_engine):
    env = ActivityEnvironment()
    dispatch = DispatchActivities(pg_engine)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    req = DispatchRequest(lead_id="lead-retried", brand="Aurora", series="A5", city="Shanghai",
                          preferred_dealer_id="D-SH-2", weights={}, penalty_window_days=30, max_penalties=3,
                          default_radius_km=50, as_of=now, holding=0, since_seq=1)
    first = env.run(dispatch.dispatch_lead, req)
    again = env.run(dispatch.dispatch_lead, req.model_copy(update={"as_of": now + timedelta(seconds=5)}))
    assert first.dealer_id == again.dealer_id == "D-SH-2"
    assert counter(pg_engine, "dealer", "D-SH-2") == 1

    seed_pushes(pg_engine, "D-SH-2", 9, now)  # 10 pushes: 2 declines allowed
    decline = DeclineQuotaRequest(dealer_id="D-SH-2", lead_id="lead-retried", as_of=now, window_days=30, quota=0.2,
                                  holding=0, pushed_at=now, since_seq=2)
    answers = [env.run(dispatch.reserve_decline, decline) for _ in range(3)]
    assert all(a.allowed for a in answers) and {a.declined for a in answers} == {0}
    other = decline.model_copy(update={"lead_id": "lead-other"})
    assert (env.run(dispatch.reserve_decline, other)).declined == 1

    claim = ClaimRequest(lead_id="lead-retried", dealer_id="D-SH-1", consultant_id="d-sh-1-c1", holding=0,
                         since_seq=3, as_of=now)
    assignment = AssignmentActivities(pg_engine)
    assert all([(env.run(assignment.reserve_claim, claim)).allowed for _ in range(3)])
    assert counter(pg_engine, "consultant", "d-sh-1-c1") == 1


def test_a_claim_over_the_consultants_limit_is_refused(pg_engine):
    from datetime import UTC, datetime

    with Session(pg_engine) as session:
        cons = session.get(Consultant, "d-sh-1-c1")
        cons.max_open_leads = 1
        session.add(cons)
        session.commit()
    env, assignment = ActivityEnvironment(), AssignmentActivities(pg_engine)
    now = datetime.now(UTC)
    ok = env.run(assignment.reserve_claim, ClaimRequest(
        lead_id="lead-a", dealer_id="D-SH-1", consultant_id="d-sh-1-c1", holding=0, since_seq=1, as_of=now))
    over = env.run(assignment.reserve_claim, ClaimRequest(
        lead_id="lead-b", dealer_id="D-SH-1", consultant_id="d-sh-1-c1", holding=0, since_seq=1, as_of=now))
    assert ok.allowed and not over.allowed and "limit is 1" in over.reason
    assert counter(pg_engine, "consultant", "d-sh-1-c1") == 1


async def test_reconcile_finds_and_repairs_drifted_limit_counters(env, pg_engine):
    from datetime import UTC, datetime

    from db import limits
    from ops.reconcile import Reconciler

    async with lab(env, pg_engine) as L:
        for n in (6090, 6091):
            await L.intake(raw_lead(n, preferred_dealer_id="D-SH-2"))
        for lead_id in L.leads():
            await L.quiet(lead_id)
        assert limits.counter_drift(pg_engine) == []
        with Session(pg_engine) as session:  # drift: a lost decrement, and a slot the ledger forgot
            session.merge(LimitCounter(scope="dealer", subject="D-SH-1", open=7))
            row = session.exec(select(LimitReservation).where(LimitReservation.subject == "D-SH-2")).first()
            row.released_at = datetime.now(UTC)
            session.add(row)
            session.commit()
        drift = limits.counter_drift(pg_engine)
        assert any("D-SH-1: counter 7, ledger 0" in line for line in drift)
        assert any("D-SH-2: counter 2, ledger 1, open leads in the read model 2" in line for line in drift)
        reconciler = Reconciler(L.client, pg_engine, repair=True)
        await reconciler._limit_counters()
        [finding] = reconciler.report.findings
        assert finding.repaired is True
        assert limits.counter_drift(pg_engine) == []
        assert counter(pg_engine, "dealer", "D-SH-2") == 2 and counter(pg_engine, "dealer", "D-SH-1") == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_fills_the_ledger_and_counters_from_the_open_leads(backend, tmp_path, postgres_engine):
    from datetime import UTC, datetime

    from alembic import command

    from db.engine import make_engine
    from db.limits import counter_drift
    from db.migrate import _config

    LIMITS_MIGRATION = _limits_migration()

    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    else:
        engine = postgres_engine
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    with engine.begin() as connection:  # the revision before the limits' (0007_limits.py)
        command.upgrade(_config(connection), LIMITS_MIGRATION.down_revision)
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.add(Dealer(id="D-1", name="d", brand="Aurora", region="East", city="Shanghai"))
        session.commit()
    with Session(engine) as session:
        for i, (stage, consultant_id) in enumerate([("assigned", "c-1"), ("dispatched", None), ("completed", "c-1")]):
            session.add(Lead(lead_id=f"lead-{i}", brand="Aurora", customer_key=f"k{i}", customer_name="-", phone="-",
                             channel="website", stage=stage, furthest_stage=stage, dealer_id="D-1",
                             consultant_id=consultant_id, created_at=now, updated_at=now, last_seq=5,
                             workflow_id=f"lead-{i}", run_id="-"))
            session.add(HoldingRow(lead_id=f"lead-{i}", dealer_id="D-1", started_at=now))
        session.commit()
    with engine.begin() as connection:
        command.upgrade(_config(connection), "head")
    assert counter(engine, "dealer", "D-1") == 2
    with Session(engine) as session:
        rows = session.exec(select(LimitReservation).order_by(LimitReservation.lead_id, LimitReservation.kind)).all()
    assert [(r.lead_id, r.holding, r.kind, r.subject) for r in rows] == [
        ("lead-0", 0, "consultant", "c-1"), ("lead-0", 0, "dealer", "D-1"), ("lead-1", 0, "dealer", "D-1")]
    assert [line for line in counter_drift(engine) if "dealer" in line] == []


# ----------------------------------------------------------- one lead's slot, two writers at once (db/limits.locked)
#
# The projection (`sync_lead`) and a reservation (`reserve_claim`) write the same ledger row of a lead while holding
# different counters' locks. These tests stop one of them inside its transaction, at its first write of the ledger,
# run the other until it is done or waits for a lock, then let the first go on: each interleaving that double
# counted (or double released) a slot before the lead's lock, forced instead of waited for.

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
RACED = "lead-raced"


def lead_state(seq: int, stage: LeadStage, consultant_id: str | None = None, lead_id: str = RACED) -> LeadState:
    """The lead as a projection sees it: held by D-SH-1 (holding 0) since T0."""
    return LeadState(lead_id=lead_id, brand="Aurora", customer_key=f"key-{lead_id}", profile=raw_lead(6190),
                     stage=stage, created_at=T0, updated_at=T0, holding=Holding(dealer_id="D-SH-1", started_at=T0),
                     consultant_id=consultant_id, seq=seq)


def assigned_to_c1(engine, *, other_lead: bool = False) -> None:
    """Dispatched (seq 4) and assigned to c1 by the manager (seq 7): both slots adopted by the projection.
    other_lead: c1 carries a second lead too, whose slot nothing here may touch."""
    limits.sync_lead(engine, lead_state(4, LeadStage.DISPATCHED), T0)
    limits.sync_lead(engine, lead_state(7, LeadStage.ASSIGNED, "d-sh-1-c1"), T0)
    if other_lead:
        limits.sync_lead(engine, lead_state(7, LeadStage.ASSIGNED, "d-sh-1-c1", lead_id="lead-other"), T0)


def in_the_pool(engine) -> None:
    """assigned_to_c1, then moved to the public pool (seq 15): c1's slot went back, the row is released."""
    assigned_to_c1(engine)
    limits.sync_lead(engine, lead_state(15, LeadStage.PUBLIC_POOL), T0)
    assert counter(engine, "consultant", "d-sh-1-c1") == 0


def claim(engine, consultant_id: str):
    """A consultant's claim of the pool lead, decided on its pool state (seq 15)."""
    request = ClaimRequest(lead_id=RACED, dealer_id="D-SH-1", consultant_id=consultant_id, holding=0, since_seq=15,
                           as_of=T0 + timedelta(hours=2))
    return lambda: ActivityEnvironment().run(AssignmentActivities(engine).reserve_claim, request)


def project(engine, state: LeadState):
    return lambda: limits.sync_lead(engine, state, T0 + timedelta(hours=2))


def waits_for_a_lock(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND wait_event_type = 'Lock'").scalar())


def interleave(monkeypatch, engine, first, second) -> None:
    """Run `first` until its first write of the ledger (limits.spend or limits.give_back) and hold it there, inside
    its transaction; run `second` until it ends or waits for a lock; then let `first` go on. Both must end."""
    reached, go = threading.Event(), threading.Event()
    held: dict[str, threading.Thread] = {}
    errors: list[BaseException] = []

    def stop_first(real):
        def write(*args, **kwargs):
            if threading.current_thread() is held["first"] and not reached.is_set():
                reached.set()
                assert go.wait(30), "never let go on"
            return real(*args, **kwargs)
        return write

    monkeypatch.setattr(limits, "spend", stop_first(limits.spend))
    monkeypatch.setattr(limits, "give_back", stop_first(limits.give_back))

    def run(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test's thread, which raises it
            errors.append(e)

    held["first"] = threading.Thread(target=run, args=(first,))
    held["first"].start()
    assert reached.wait(30), "the first writer never reached its write"
    other = threading.Thread(target=run, args=(second,))
    other.start()
    deadline = time.monotonic() + 30
    while other.is_alive() and not waits_for_a_lock(engine):
        assert time.monotonic() < deadline, "the second writer neither ended nor waited for a lock"
        time.sleep(0.01)
    go.set()
    for thread in (held["first"], other):
        thread.join(30)
        assert not thread.is_alive()
    if errors:
        raise errors[0]


def assert_counters_match_the_ledger(engine) -> None:
    """Each counter is the number of active reservations holding its slot: no slot counted twice or lost."""
    from collections import Counter

    with Session(engine) as session:
        counted = {(c.scope, c.subject): c.open for c in session.exec(select(LimitCounter)).all() if c.open}
        active = Counter((r.scope, r.subject) for r in session.exec(select(LimitReservation).where(
            col(LimitReservation.released_at).is_(None), col(LimitReservation.kind).in_(limits.SLOT_KINDS))).all())
    assert counted == dict(active)


def test_two_claims_reserving_one_pool_lead_at_once_count_its_slot_once(monkeypatch, pg_engine):
    """The interleaving behind the flaky two-claims test: c2's claim read the row free before c1's committed, then
    wrote it as c2's without giving c1's slot back; the projection of c1's claim then counted c1 a second time."""
    in_the_pool(pg_engine)
    interleave(monkeypatch, pg_engine, claim(pg_engine, "d-sh-1-c1"), claim(pg_engine, "d-sh-1-c2"))
    assert_counters_match_the_ledger(pg_engine)
    assert counter(pg_engine, "consultant", "d-sh-1-c1") + counter(pg_engine, "consultant", "d-sh-1-c2") == 1
    limits.sync_lead(pg_engine, lead_state(16, LeadStage.ASSIGNED, "d-sh-1-c1"), T0 + timedelta(hours=2))  # c1 won
    assert_counters_match_the_ledger(pg_engine)
    assert counter(pg_engine, "consultant", "d-sh-1-c1") == 1  # it read 2 here
    assert counter(pg_engine, "consultant", "d-sh-1-c2") == 0


@pytest.mark.parametrize("first", ["projection", "claim"])
def test_the_projection_adopting_a_lead_while_a_claim_reserves_it_counts_it_once(monkeypatch, pg_engine, first):
    """The projection of a state where c1 holds the lead (it adopts the slot) and a claim of c2 decided on the older
    pool state, each stopped inside its transaction while the other runs."""
    in_the_pool(pg_engine)
    adopting = project(pg_engine, lead_state(16, LeadStage.ASSIGNED, "d-sh-1-c1"))
    claiming = claim(pg_engine, "d-sh-1-c2")
    if first == "projection":
        interleave(monkeypatch, pg_engine, adopting, claiming)
    else:
        interleave(monkeypatch, pg_engine, claiming, adopting)
    assert_counters_match_the_ledger(pg_engine)
    assert counter(pg_engine, "consultant", "d-sh-1-c1") + counter(pg_engine, "consultant", "d-sh-1-c2") == 1
    if first == "claim":  # the projection came second: it saw the claim's row, older than its state, and moved it
        assert counter(pg_engine, "consultant", "d-sh-1-c1") == 1
    limits.sync_lead(pg_engine, lead_state(17, LeadStage.ASSIGNED, "d-sh-1-c1"), T0 + timedelta(hours=3))
    assert_counters_match_the_ledger(pg_engine)
    assert counter(pg_engine, "consultant", "d-sh-1-c1") == 1
    assert counter(pg_engine, "consultant", "d-sh-1-c2") == 0


@pytest.mark.parametrize("first", ["projection", "claim"])
def test_the_projection_releasing_a_slot_while_a_claim_moves_it_gives_it_back_once(monkeypatch, pg_engine, first):
    """c1 carries two leads. One goes to the pool: its projection gives c1's slot back while c2's claim of it
    (decided on the pool state) moves the same row. c1 keeps the other lead's slot whichever writes first."""
    assigned_to_c1(pg_engine, other_lead=True)
    assert counter(pg_engine, "consultant", "d-sh-1-c1") == 2
    releasing = project(pg_engine, lead_state(15, LeadStage.PUBLIC_POOL))
    claiming = claim(pg_engine, "d-sh-1-c2")
    if first == "projection":
        interleave(monkeypatch, pg_engine, releasing, claiming)
    else:
        interleave(monkeypatch, pg_engine, claiming, releasing)
    assert_counters_match_the_ledger(pg_engine)
    assert counter(pg_engine, "consultant", "d-sh-1-c1") == 1  # the other lead's (it read 0: released twice)
    assert counter(pg_engine, "consultant", "d-sh-1-c2") == 1


def test_a_slot_spent_again_for_the_same_consultant_counts_once(pg_engine):
    """Two runs of one decision (a reservation taken again, not found by a retry's first look) hold one slot."""
    for _ in range(2):
        with limits.locked(pg_engine, RACED) as session:
            held = limits.lock_counter(session, limits.CONSULTANT, "d-sh-1-c1")
            limits.spend(session, held, lead_id=RACED, holding=0, kind=limits.CONSULTANT, subject="d-sh-1-c1",
                         counted_at=T0, since_seq=5, now=T0, answer={"consultant_id": "d-sh-1-c1"})
            session.commit()
    assert counter(pg_engine, "consultant", "d-sh-1-c1") == 1
    assert_counters_match_the_ledger(pg_engine)

