"""Ops filter leads in the Temporal UI by search attributes: checked on a real dev server."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain import commands as c
from domain.policy import load_policy
from tests.conftest import _binary, suite_converter
from tests.fixtures import OPS, manager, raw_lead
from worker import build_worker
from workflows import gateway
from workflows import search_attributes as sa


@pytest_asyncio.fixture(scope="module")
async def dev_server():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), data_converter=suite_converter(),
        search_attributes=list(sa.ALL_KEYS), dev_server_log_level="error")
    async with env:
        yield env


async def matching(client, query: str, lead_id: str, present: bool = True) -> bool:
    for _ in range(100):  # visibility is eventually consistent (about a second)
        ids = [w.id async for w in client.list_workflows(query)]
        if (lead_id in ids) == present:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_stage_dealer_grade_brand_region_and_breach_are_filterable(dev_server, engine):
    client, task_queue, policy = dev_server.client, f"leads-{uuid.uuid4()}", load_policy(time_scale=1)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, task_queue, engine, executor):
            result = await gateway.submit_raw_lead(client, task_queue, policy, raw_lead(701), OPS)
            lead_id = result.lead_id
            state = await gateway.current_state(client, lead_id)
            query = (f"LeadStage='dispatched' AND DealerId='{state.dealer_id}' AND LeadGrade='{state.grade}' "
                     f"AND Brand='Aurora' AND Region='East' AND SlaBreached=false")
            assert await matching(client, query, lead_id)
            envelope = c.CommandEnvelope(actor=manager(state.dealer_id), command=c.Acknowledge())
            await gateway.act(client, lead_id, envelope)
            assert await matching(client, "LeadStage='acknowledged'", lead_id)
            assert await matching(client, "LeadStage='dispatched'", lead_id, present=False)
            await client.get_workflow_handle(lead_id).terminate("test finished")


async def test_the_compose_setup_creates_the_namespace_and_registers_the_search_attributes(dev_server):
    """deploy/temporal/create-namespace.sh (run by admin-tools in compose) and the `setup` service's
    register step, against a real server, as the production stack runs them: twice, since a
    `docker compose up` after a restart runs them again."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    root = Path(__file__).resolve().parent.parent
    address = dev_server.client.service_client.config.target_host
    namespace = f"leadflow-prod-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, TEMPORAL_ADDRESS=address, TEMPORAL_NAMESPACE=namespace, TEMPORAL_RETENTION="45d",
               PATH=f"{Path(_binary('temporal')).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for _ in range(2):
        created = subprocess.run(["sh", str(root / "deploy/temporal/create-namespace.sh")], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert created.returncode == 0, created.stdout + created.stderr
        registered = subprocess.run([sys.executable, "-m", "ops.register_search_attributes", "--timeout", "30"],
                                    cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert registered.returncode == 0, registered.stdout + registered.stderr
    described = await dev_server.client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace))
    assert described.config.workflow_execution_retention_ttl.ToTimedelta().days == 45
    listed = await dev_server.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace))
    assert {key.name for key in sa.ALL_KEYS} <= set(listed.custom_attributes)
