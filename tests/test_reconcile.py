"""ops.reconcile: the read model compared with the lead workflows, drift found and repaired.

Each test takes its own raw_lead numbers (1200-1249). Most run on the time-skipping server with the
leads named; listing them from visibility needs a real dev server. tests/test_faults.py runs the
command itself, after killing the worker and the server under running leads.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import delete
from sqlmodel import Session, col, select
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from core.settings import get_settings
from db.models import ClockRun, Lead, TimelineEntry
from domain import commands as c
from domain.policy import load_policy
from ops.reconcile import main, parse_since, reconcile
from tests.conftest import _binary
from tests.fixtures import CALL_CENTER, OPS, consultant, manager, raw_lead
from tests.harness import lab
from worker import build_worker
from workflows import gateway
from workflows import search_attributes as sa
from workflows.lead import LeadWorkflow
from workflows.messages import LeadInput


def timeline(engine, lead_id: str) -> list[tuple]:
    with Session(engine) as session:
        rows = session.exec(select(TimelineEntry).where(col(TimelineEntry.lead_id) == lead_id)
                            .order_by(col(TimelineEntry.seq)))
        return [(e.seq, e.kind, e.stage, e.actor, e.dealer_id, e.data) for e in rows]


def clock_runs(engine, lead_id: str) -> list[tuple]:
    with Session(engine) as session:
        rows = session.exec(select(ClockRun).where(col(ClockRun.lead_id) == lead_id).order_by(col(ClockRun.clock),
                                                                                              col(ClockRun.started_at)))
        return [(r.clock, r.started_at, r.deadline, r.ended_at, r.outcome) for r in rows]


def row(engine, lead_id: str) -> dict | None:
    with Session(engine) as session:
        found = session.get(Lead, lead_id)
        return found.model_dump() if found else None


def edit(engine, lead_id: str, **fields) -> None:
    with Session(engine) as session:
        found = session.get(Lead, lead_id)
        for k, v in fields.items():
            setattr(found, k, v)
        session.add(found)
        session.commit()


def add_row(engine, lead_id: str, stage: str) -> None:
    now = datetime(2026, 11, 2, tzinfo=UTC)
    with Session(engine) as session:
        session.add(Lead(lead_id=lead_id, brand="Aurora", customer_key="k", customer_name="x", phone="+8613800009999",
                         channel="website", stage=stage, furthest_stage=stage, created_at=now, updated_at=now,
                         last_seq=1, workflow_id=lead_id, run_id="r"))
        session.add(TimelineEntry(lead_id=lead_id, seq=1, at=now, kind="received", stage=stage, actor="ops",
                                  role="lead_ops"))
        session.commit()


async def five_leads(L, n: int) -> dict[str, str]:
    """A dispatched lead, an acknowledged one, one worked on, one closed (its workflow completed) and one
    whose first-response clock lapsed."""
    leads = {}
    leads["dispatched"] = (await L.intake(raw_lead(n))).lead_id
    leads["acknowledged"] = lead = (await L.intake(raw_lead(n + 1))).lead_id
    await L.act(lead, manager((await L.state(lead)).dealer_id), c.Acknowledge())
    leads["worked"] = lead = (await L.intake(raw_lead(n + 2))).lead_id
    dealer = (await L.state(lead)).dealer_id
    await L.act(lead, manager(dealer), c.Acknowledge())
    await L.act(lead, manager(dealer), c.Assign(consultant_id=consultant(dealer).user_id))
    await L.act(lead, consultant(dealer), c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=5))
    await L.act(lead, consultant(dealer), c.Invite())
    leads["closed"] = lead = (await L.intake(raw_lead(n + 3, city=None))).lead_id
    await L.act(lead, CALL_CENTER, c.RecordCleansing(outcome=c.CleansingOutcome.INVALID, note="fake number"))
    await L.handle(lead).result()
    leads["lapsed"] = lead = (await L.intake(raw_lead(n + 4))).lead_id
    await L.sleep(timedelta(minutes=16))
    await L.settle(lead)
    for lead in leads.values():
        await L.quiet(lead)
    return leads


async def test_a_consistent_read_model_reports_nothing(env, engine):
    async with lab(env, engine) as L:
        leads = await five_leads(L, 1200)
        report = await reconcile(L.client, engine, lead_ids=list(leads.values()), settle=0.1)
        assert report.findings == [] and report.errors == [] and report.busy == []
        assert (report.checked, report.running, report.closed, report.exit_code) == (5, 4, 1, 0)
        assert report.lines()[-1].startswith("checked 5 leads (4 running, 1 closed")


async def test_drift_of_every_kind_is_found_then_repaired_through_the_projection(env, engine):
    async with lab(env, engine) as L:
        leads = await five_leads(L, 1210)
        ids = list(leads.values()) + ["lead-aurora-ghost", "lead-aurora-retained"]
        before = {lead: (row(engine, lead), timeline(engine, lead),
                         clock_runs(engine, lead)) for lead in leads.values()}
        worked_seq = before[leads["worked"]][0]["last_seq"]
        lapsed_runs = [r for r in before[leads["lapsed"]][2] if r[4] == "lapsed"]
        assert [r[0] for r in lapsed_runs] == ["first_response"]

        # break it: a lost row, a stage edited by hand, a stale projection, a closed lead's timeline gone,
        # a clock run whose end was never written, an event that never happened, an orphan
        with Session(engine) as session:
            session.exec(delete(Lead).where(Lead.lead_id == leads["dispatched"]))
            session.exec(delete(TimelineEntry).where(TimelineEntry.lead_id == leads["worked"],
                                                     TimelineEntry.seq > worked_seq - 3))
            session.exec(delete(TimelineEntry).where(TimelineEntry.lead_id == leads["closed"]))
            run = session.exec(select(ClockRun).where(ClockRun.lead_id == leads["lapsed"],
                                                      ClockRun.clock == "first_response")).one()
            run.ended_at, run.outcome = None, None
            session.add(run)
            session.add(TimelineEntry(lead_id=leads["acknowledged"], seq=99, at=datetime.now(UTC), kind="won",
                                      stage="won", actor="x", role="consultant"))
            session.commit()
        edit(engine, leads["acknowledged"], stage="won", dealer_id="D-GZ-1")
        edit(engine, leads["worked"], last_seq=worked_seq - 3, stage="contacted")
        add_row(engine, "lead-aurora-ghost", "dispatched")  # an open lead without a workflow: an orphan
        add_row(engine, "lead-aurora-retained",
                "completed")  # a closed one: its history expired, the row is all that is left

        report = await reconcile(L.client, engine, lead_ids=ids, settle=0.1)
        found = {f.lead_id: f for f in report.findings}
        assert set(found) == set(leads.values()) | {"lead-aurora-ghost"}
        assert report.exit_code == 1 and report.retained == 1 and report.errors == []
        assert found[leads["dispatched"]].problems == ["no read-model row"]
        assert found[leads["acknowledged"]].problems == [
            "stage: read model 'won', workflow 'acknowledged'",
            f"dealer_id: read model 'D-GZ-1', workflow {before[leads['acknowledged']][0]['dealer_id']!r}",
            "timeline has seq 99 the workflow never emitted"]
        worked = found[leads["worked"]].problems
        assert worked[0] == f"read model at seq {worked_seq - 3}, workflow at {worked_seq}"
        assert "stage: read model 'contacted', workflow 'invited'" in worked
        assert worked[-1] == f"timeline lacks seq {worked_seq - 2}-{worked_seq}"
        assert found[leads["closed"]].problems == [f"timeline lacks seq 1-{before[leads['closed']][0]['last_seq']}"]
        assert found[leads["lapsed"]].problems == ["clock runs still open that ended: first_response"]
        assert found["lead-aurora-ghost"].orphan and found["lead-aurora-ghost"].problems == [
            "open read-model row (stage dispatched) and no workflow"]
        assert all(f.repaired is None for f in report.findings)
        assert row(engine, leads["dispatched"]) is None and row(engine, "lead-aurora-ghost")  # a report changes nothing

        repaired = await reconcile(L.client, engine, lead_ids=ids, repair=True, settle=0.1)
        assert {f.lead_id for f in repaired.findings} == set(found)
        assert all(f.repaired for f in repaired.findings), repaired.lines()
        assert repaired.exit_code == 1  # drift was found (and repaired)
        for lead, (lead_row, events, runs) in before.items():
            assert row(engine, lead) == lead_row, lead
            assert timeline(engine, lead) == events, lead
            assert clock_runs(engine, lead) == runs, lead
        assert row(engine, "lead-aurora-ghost") is None and timeline(engine, "lead-aurora-ghost") == []
        assert row(engine, "lead-aurora-retained")  # kept: the only record of that lead

        again = await reconcile(L.client, engine, lead_ids=ids, settle=0.1)
        assert again.findings == [] and again.exit_code == 0 and again.retained == 1


async def test_a_row_ahead_of_its_workflow_is_brought_back(env, engine):
    async with lab(env, engine) as L:
        lead = (await L.intake(raw_lead(1220))).lead_id
        await L.quiet(lead)
        good = row(engine, lead)
        edit(engine, lead, last_seq=good["last_seq"] + 5, stage="won")  # the projection alone would never go back
        report = await reconcile(L.client, engine, lead_ids=[lead], repair=True, settle=0.1)
        [finding] = report.findings
        assert finding.problems[0] == f"read model at seq {good['last_seq'] + 5}, workflow at {good['last_seq']}"
        assert finding.repaired and row(engine, lead) == good


def test_since_is_a_duration_ago_or_a_time():
    now = datetime(2026, 11, 2, 12, tzinfo=UTC)
    assert parse_since("24h", now=lambda: now) == now - timedelta(hours=24)
    assert parse_since("7d", now=lambda: now) == now - timedelta(days=7)
    assert parse_since("2026-11-01T08:00:00+08:00") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_since("yesterday")


@pytest_asyncio.fixture(scope="module")
async def dev_server():
    """A real dev server: visibility lists the leads (the time-skipping server cannot), and a query nobody
    answers does not stop it from skipping time for the other tests."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), data_converter=pydantic_data_converter,
        search_attributes=list(sa.ALL_KEYS), dev_server_log_level="error")
    async with env:
        yield env


async def test_every_lead_in_visibility_is_compared_and_an_orphan_found_by_listing(dev_server, engine):
    client, task_queue = dev_server.client, f"leads-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, task_queue, engine, executor):
            lead_id = (await gateway.submit_raw_lead(client, task_queue, load_policy(time_scale=1), raw_lead(1230),
                                                     OPS)).lead_id
            for _ in range(100):  # visibility is eventually consistent (about a second)
                if [w async for w in client.list_workflows(f'WorkflowId="{lead_id}"')]:
                    break
                await asyncio.sleep(0.1)
            good = row(engine, lead_id)
            edit(engine, lead_id, stage="won")
            add_row(engine, "lead-aurora-listed-orphan", "assigned")
            report = await reconcile(client, engine, repair=True, settle=0.1)
            assert {f.lead_id: f.problems for f in report.findings} == {
                lead_id: ["stage: read model 'won', workflow 'dispatched'"],
                "lead-aurora-listed-orphan": ["open read-model row (stage assigned) and no workflow"]}
            assert all(f.repaired for f in report.findings) and report.checked >= 1
            assert row(engine, lead_id) == good and row(engine, "lead-aurora-listed-orphan") is None
            assert (await reconcile(client, engine, since=datetime.now(UTC) - timedelta(hours=1))).exit_code == 0
            await client.get_workflow_handle(lead_id).terminate("test finished")


async def test_a_running_lead_that_does_not_answer_is_an_error_not_drift(dev_server, engine):
    """No worker polls its task queue: the query times out, and the command exits 2 saying why."""
    client = dev_server.client
    handle = await client.start_workflow(
        LeadWorkflow.run, LeadInput(lead_id="lead-aurora-silent", customer_key="k", policy=load_policy(time_scale=1)),
        id="lead-aurora-silent", task_queue="nobody-polls-this")
    try:
        report = await reconcile(client, engine, lead_ids=["lead-aurora-silent"], rpc_timeout=1, settle=0.1)
    finally:
        await handle.terminate("test finished")
    assert report.findings == [] and report.exit_code == 2
    [error] = report.errors
    assert error.startswith("lead-aurora-silent: the query failed") and error.endswith("is a worker running?")


async def test_the_command_exits_2_when_temporal_does_not_answer(monkeypatch, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens there once it is closed
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
    get_settings.cache_clear()
    try:
        assert await main([]) == 2
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().err.startswith("error: ")
