"""A programming bug is not a lost lead: it fails the workflow task, which Temporal retries, never the lead's
workflow; once a worker with the fix polls, the lead carries on where it was.

It runs on its own dev server, as a deploy does: a worker shut down while a workflow task is in its hands leaves
that task outstanding until its timeout, and on the suite's shared time-skipping server an outstanding task holds
time still, so every later `env.sleep` of the session hangs (seen as "Timeout expired" / "h2 protocol error"
in whichever test came next)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import all_activities
from domain.policy import load_policy
from tests.buggy_workflow import BuggyLeadWorkflow
from tests.conftest import _binary, failed_tasks, suite_converter
from tests.fixtures import OPS, raw_lead
from worker import SANDBOX, build_worker
from workflows import gateway
from workflows import search_attributes as sa
from workflows.lead import LeadWorkflow
from workflows.messages import ReassignSignal
from workflows.webhooks import WebhookFanout


@pytest_asyncio.fixture(scope="module")
async def dev_server():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), data_converter=suite_converter(),
        search_attributes=list(sa.ALL_KEYS), dev_server_log_level="error")
    async with env:
        yield env


async def test_an_effect_without_a_handler_fails_the_task_and_the_fixed_worker_carries_on(dev_server, engine):
    client, task_queue, policy = dev_server.client, f"leads-{uuid.uuid4()}", load_policy(time_scale=1)
    with ThreadPoolExecutor(max_workers=4) as executor:
        # no workflow cache (no sticky task queue), so the next worker gets the lead's next task at once
        async with build_worker(client, task_queue, engine, executor, max_cached_workflows=0):
            lead_id = (await gateway.submit_raw_lead(client, task_queue, policy, raw_lead(5101), OPS)).lead_id
            first_dealer = (await gateway.current_state(client, lead_id)).dealer_id
        handle = client.get_workflow_handle(lead_id)
        buggy = Worker(client, task_queue=task_queue, workflows=[BuggyLeadWorkflow, WebhookFanout],
                       workflow_runner=SANDBOX, activities=all_activities(engine), activity_executor=executor,
                       max_cached_workflows=0)
        async with buggy:  # a deploy with the bug: the next change the lead commits meets it
            await handle.signal(LeadWorkflow.reassign, ReassignSignal(reason="customer moved", by="ops"))
            for _ in range(200):
                if await failed_tasks(handle, client.data_converter):
                    break
                await asyncio.sleep(0.05)
            failures = await failed_tasks(handle, client.data_converter)
            assert failures and "no handler for effect UnknownEffect" in failures[0]
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        async with build_worker(client, task_queue, engine, executor):  # the fix is deployed
            for _ in range(200):
                state = await gateway.current_state(client, lead_id)
                if any(e.kind == "reassigned" for e in state.recent):
                    break
                await asyncio.sleep(0.05)
            assert any(e.kind == "reassigned" for e in state.recent), [e.kind for e in state.recent]
            assert state.dealer_id != first_dealer
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            await handle.terminate("test finished")
