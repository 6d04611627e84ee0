"""The replay gate (python -m ops.replay) on a real dev server: leads started by one version of the code are
replayed against another. A non-deterministic change is caught with the workflow id and the event; the same change
behind workflow.patched() passes; the command itself exits 0 on a clean fleet and 1 on a bad one."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from db.engine import make_engine
from domain import commands as c
from domain.policy import load_policy
from ops import replay as gate
from tests.conftest import TEST_CODEC_KEYS, _binary, suite_converter
from tests.fixtures import OPS, manager, raw_lead
from tests.reordered_workflow import PatchedReorderLeadWorkflow, ReorderedLeadWorkflow
from worker import SANDBOX, WORKFLOWS, build_worker
from workflows import gateway
from workflows import search_attributes as sa
from workflows.webhooks import WebhookFanout

ROOT = Path(__file__).resolve().parent.parent


@pytest_asyncio.fixture(scope="module")
async def fleet(engine_for_module):
    """A dev server holding three leads of one task queue, started and acted on by today's code."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), data_converter=suite_converter(),
        search_attributes=list(sa.ALL_KEYS), dev_server_log_level="error")
    async with env:
        client, task_queue, policy = env.client, f"leads-{uuid.uuid4()}", load_policy(time_scale=1)
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with build_worker(client, task_queue, engine_for_module, executor):
                ids = [(await gateway.submit_raw_lead(client, task_queue, policy, raw_lead(n), OPS)).lead_id
                       for n in (801, 802, 803)]
                state = await gateway.current_state(client, ids[0])
                await gateway.act(client, ids[0], c.CommandEnvelope(actor=manager(state.dealer_id),
                                                                    command=c.Acknowledge()))
        # the leads (each alert also starts a PushWorkflow on the queue; the gate is tried on the leads)
        query = f'TaskQueue="{task_queue}" AND WorkflowType="LeadWorkflow"'
        for _ in range(100):  # visibility is eventually consistent
            if len([w async for w in client.list_workflows(query)]) >= len(ids):
                break
            await asyncio.sleep(0.1)
        yield env, query, ids


@pytest.fixture(scope="module")
def engine_for_module(tmp_path_factory, migrated_sqlite):
    path = tmp_path_factory.mktemp("replay-gate") / "leadflow.db"
    shutil.copyfile(migrated_sqlite, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


async def run_gate(env, query, workflows, **options):
    return await gate.run_gate(env.client, query, limit=None, parallel=2, workflows=workflows, progress=False,
                               workflow_runner=SANDBOX, **options)


async def test_todays_code_replays_the_fleet(fleet):
    env, query, ids = fleet
    report = await run_gate(env, query, WORKFLOWS)
    assert report.ok and report.replayed >= len(ids)


async def test_a_non_deterministic_change_is_caught_with_the_workflow_and_the_event(fleet):
    env, query, ids = fleet
    report = await run_gate(env, query, [ReorderedLeadWorkflow, WebhookFanout])
    assert not report.ok
    caught = {f.workflow_id: f for f in report.findings}
    assert set(ids) <= set(caught)
    finding = caught[ids[0]]
    assert finding.event.startswith("event ") and finding.event != "unknown event"
    assert "workflow.patched" in finding.hint and "local-activities" in finding.patches_in_history


async def test_the_same_change_behind_a_patch_passes(fleet):
    env, query, ids = fleet
    report = await run_gate(env, query, [PatchedReorderLeadWorkflow, WebhookFanout])
    assert report.ok and report.replayed >= len(ids)


def test_a_patch_removed_too_early_is_named():
    hint = gate.hint_for(["local-activities", "gone-patch"], registry=["local-activities"])
    assert "'gone-patch'" in hint and "no longer calls" in hint


async def test_the_command_exits_0_on_a_clean_fleet_and_prints_the_count(fleet):
    env, query, ids = fleet
    address = env.client.service_client.config.target_host
    run = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "ops.replay", "--query", query, "--no-progress", "--parallel", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "default",
             "LEADFLOW_CODEC_KEYS": TEST_CODEC_KEYS})
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(ids)} histories replayed, 0 nondeterministic" in run.stdout


def test_the_command_exits_2_when_temporal_does_not_answer():
    run = subprocess.run([sys.executable, "-m", "ops.replay", "--no-progress"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:9"})
    assert run.returncode == 2 and "could not run" in run.stderr
