"""The read model on PostgreSQL (as in CI and production): a projection of the workflow, written idempotently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, func, select

from activities.notify import NotifyActivities
from activities.projection import ProjectionActivities
from db.models import ClockRun, Customer, DealerPenalty, HoldingRow, Lead, Notification, RawLeadRow, TimelineEntry
from domain import commands as c
from domain.clocks import CLOCKS
from domain.models import NotifyRequest, ProjectionRequest
from domain.stages import LeadStage, Role
from tests.fixtures import OPS, manager, raw_lead
from tests.harness import lab

pytestmark = pytest.mark.postgres


def count(engine, model, *where) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


async def test_a_lead_lifecycle_is_projected_into_postgresql(env, pg_engine):
    async with lab(env, pg_engine) as L:
        lead_id = (await L.intake(raw_lead(601))).lead_id
        await L.act(lead_id, manager("D-SH-1"), c.Acknowledge())
        await L.sleep(timedelta(hours=2, minutes=1))  # 15 min alert, then 2 h: receipt not... acknowledged in time
        state = await L.settle(lead_id)
        row = L.lead_row(lead_id)
        assert row.stage == state.stage.value == "acknowledged" and row.dealer_id == "D-SH-1"
        assert row.last_seq == state.seq and row.sla_breached
        rows = L._rows(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id))
        assert [e.seq for e in rows] == list(range(1, state.seq + 1))
        assert count(pg_engine, HoldingRow, HoldingRow.lead_id == lead_id) == 1
        kinds = {n.kind for n in L.notifications(lead_id)}
        assert kinds == {"lead_dispatched", "first_response"}


async def test_a_redispatch_records_the_penalty_and_both_holdings(env, pg_engine):
    async with lab(env, pg_engine) as L:
        lead_id = (await L.intake(raw_lead(602))).lead_id
        await L.sleep(timedelta(hours=2, minutes=1))
        state = await L.settle(lead_id)
        assert state.dealer_id not in (None, "D-SH-1")
        holdings = L._rows(select(HoldingRow).where(HoldingRow.lead_id == lead_id).order_by(HoldingRow.started_at))
        assert [(h.dealer_id, h.end_reason) for h in holdings] == [("D-SH-1", "receipt_lapsed"),
                                                                   (state.dealer_id, None)]
        assert [p.kind for p in L.penalties("D-SH-1")] == ["first_response_late", "receipt_not_confirmed"]


def test_a_retried_notification_is_written_once(any_engine):
    notify = NotifyActivities(any_engine)
    req = NotifyRequest(lead_id="lead-x", event_seq=7, kind="first_response", message="late",
                        roles=[Role.DEALER_MANAGER, Role.REGIONAL_MANAGER, Role.LEAD_OPS], dealer_id="D-SH-1",
                        region="East", at=datetime(2026, 11, 23, tzinfo=UTC))
    assert notify.notify(req) == 3  # the manager, the East regional manager, lead ops
    assert notify.notify(req) == 0
    assert count(any_engine, Notification, Notification.lead_id == "lead-x") == 3


def test_a_role_with_nobody_in_it_still_gets_the_alert(any_engine):
    req = NotifyRequest(lead_id="lead-y", event_seq=1, kind="x", message="m", roles=[Role.REGIONAL_MANAGER],
                        region="Nowhere")
    assert NotifyActivities(any_engine).notify(req) == 1
    with Session(any_engine) as session:
        row = session.exec(select(Notification).where(Notification.lead_id == "lead-y")).one()
    assert row.recipient_user_id is None and row.recipient_role == "regional_manager"


async def test_a_replayed_projection_writes_nothing_twice(env, any_engine):
    async with lab(env, any_engine) as L:
        lead_id = (await L.intake(raw_lead(603))).lead_id
        state = await L.state(lead_id)
    project = ProjectionActivities(any_engine)
    from domain.models import TimelineEvent

    rows = L._rows(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id))
    events = [TimelineEvent.model_validate(e, from_attributes=True) for e in rows]
    tables = (TimelineEntry, RawLeadRow, ClockRun, HoldingRow)
    before = [count(any_engine, t, t.lead_id == lead_id) for t in tables]
    for _ in range(2):
        project.record_lead(ProjectionRequest(state=state, events=events, workflow_id=lead_id, run_id="r"))
    assert [count(any_engine, t, t.lead_id == lead_id) for t in tables] == before
    assert before[:2] == [state.seq, 1] and count(any_engine, Customer) == 1
    older = state.model_copy(update={"seq": state.seq - 1, "stage": LeadStage.NEW})  # (model_copy validates nothing)
    project.record_lead(ProjectionRequest(state=older, events=[], workflow_id=lead_id, run_id="r"))
    with Session(any_engine) as session:
        assert session.get(Lead, lead_id).stage == state.stage.value  # a late, older snapshot never wins


async def test_a_projection_writes_each_table_in_one_statement_without_reading_it_first(env, any_engine):
    """Issue 15: the projection was the worker's largest cost at intake (a SELECT per merged row, ORM objects).
    Now each table it writes gets one INSERT ... ON CONFLICT and nothing it writes is read back first."""
    from sqlalchemy import event

    async with lab(env, any_engine) as L:
        lead_id = (await L.intake(raw_lead(605))).lead_id
        state = await L.state(lead_id)
    rows = L._rows(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id))
    from domain.models import TimelineEvent

    events = [TimelineEvent.model_validate(e, from_attributes=True) for e in rows]
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(any_engine, "before_cursor_execute", seen)
    try:
        ProjectionActivities(any_engine).record_lead(ProjectionRequest(
            state=state, events=events, workflow_id=lead_id, run_id="r",
            facts=[{"seq": 1, "at": state.created_at.isoformat(), "kind": "intake", "data": {}}]))
    finally:
        event.remove(any_engine, "before_cursor_execute", seen)
    written = ("lead", "timeline_event", "holding", "clock_run", "customer", "raw_lead", "lead_fact")
    for table in written:
        inserts = [q for q in statements if q.startswith(f"insert into {table} ")]
        assert len(inserts) <= 1 + (table == "clock_run"), (table, inserts)  # clock runs: ended, then running
        assert not [q for q in statements if q.startswith("select") and f" from {table} " in q + " "], table
    assert len(statements) <= 16, statements


def test_a_revoked_penalty_stays_revoked(any_engine):
    with Session(any_engine) as session:
        session.add(DealerPenalty(penalty_id="p1", dealer_id="D-SH-1", lead_id="l", kind="pseudo_defeat",
                                  created_at=datetime(2026, 11, 1, tzinfo=UTC)))
        session.commit()
    assert count(any_engine, DealerPenalty, DealerPenalty.revoked_at.is_(None)) == 1


async def test_customers_raw_leads_and_clock_runs_are_projected(env, any_engine):
    """OneID, every raw lead with its cost, and every clock run with how it ended: met, lapsed, cancelled."""
    n = 604 if any_engine.dialect.name == "sqlite" else 614  # one customer per database (one test server)
    async with lab(env, any_engine) as L:
        lead_id = (await L.intake(raw_lead(n, campaign="spring", acquisition_cost=80.0))).lead_id
        await L.intake(raw_lead(n, external_id="app-1", channel="app", acquisition_cost=20.0))
        await L.intake(raw_lead(n, external_id="app-1", channel="app", acquisition_cost=20.0))  # the same again
        await L.act(lead_id, manager("D-SH-1"), c.Acknowledge())  # receipt: met
        await L.sleep(timedelta(minutes=16))  # first response: lapsed
        await L.settle(lead_id)
        await L.act(lead_id, manager("D-SH-1"), c.RequestTransfer(reason=c.TransferReason.OTHER, text="too far"))
        await L.act(lead_id, OPS, c.ReviewTransfer(approve=True, explanation="ok"))  # D-SH-1's clocks: cancelled
        state = await L.settle(lead_id)
        rows = L._rows(select(ClockRun).where(ClockRun.lead_id == lead_id))
        raw = L._rows(select(RawLeadRow).where(RawLeadRow.lead_id == lead_id).order_by(RawLeadRow.received_at))
        with Session(any_engine) as session:
            customer = session.get(Customer, state.customer_key)
    ended = {(r.clock, r.dealer_id, r.outcome) for r in rows if r.ended_at is not None}
    assert ("receipt", "D-SH-1", "met") in ended
    assert ("first_response", "D-SH-1", "lapsed") in ended
    assert {("first_deep_contact", "D-SH-1", "cancelled"), ("store_invitation", "D-SH-1", "cancelled")} <= ended
    assert ("transfer_review", None, "met") in ended
    running = {(r.clock, r.dealer_id) for r in rows if r.outcome is None}
    assert state.dealer_id not in (None, "D-SH-1")
    assert running == {(name, state.dealer_id if CLOCKS[name].dealer_clock else None) for name in state.clocks}
    assert ("regional_follow_through", None) in running  # an OEM clock belongs to no dealer
    assert [(r.channel, r.acquisition_cost, r.campaign, r.outcome) for r in raw] == [
        ("website", 80.0, "spring", "created"), ("app", 20.0, None, "merged")]
    assert customer.phone == state.profile.phone and customer.name == state.profile.customer_name
