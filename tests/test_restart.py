"""A full restart (issue 15): the Temporal server and the worker both stop, timers fall due while they are down, and
the server comes back before any worker polls. The due workflows' tasks must wait for the starting worker without a
WorkflowTaskTimedOut in their histories (bench/restart.py measures it at 1,000 open leads)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.settings import Settings
from tests.conftest import _binary, free_port
from worker import STICKY_TIMEOUT, build_worker, production_options


@workflow.defn(sandboxed=False)
class NapWorkflow:
    """A timer, as a lead's clock: its task after the timer is the one a restart makes wait."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "woke"


async def _server(db: str, port: int) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"), port=port, dev_server_log_level="error",
        dev_server_extra_args=["--db-filename", db])


def _worker(client: Client, task_queue: str, sticky: timedelta) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=[NapWorkflow], sticky_queue_schedule_to_start_timeout=sticky)


async def test_a_timer_due_during_a_full_restart_waits_for_the_worker_without_a_task_timeout(tmp_path, engine):
    db, port, task_queue = str(tmp_path / "temporal.db"), free_port(), f"nap-{uuid.uuid4()}"
    env = await _server(db, port)
    try:
        # the production worker's own setting (what the lead workflows' tasks are scheduled with)
        with ThreadPoolExecutor(max_workers=2) as executor:
            sticky = build_worker(env.client, f"probe-{uuid.uuid4()}", engine, executor,
                                  **production_options(Settings())).config()["sticky_queue_schedule_to_start_timeout"]
        assert sticky == STICKY_TIMEOUT and sticky >= timedelta(seconds=30)
        async with _worker(env.client, task_queue, sticky):  # its first task completes: the run is now sticky
            handle = await env.client.start_workflow(NapWorkflow.run, 4.0, id=f"nap-{uuid.uuid4()}",
                                                     task_queue=task_queue)
            await asyncio.sleep(1.0)
        # the worker shut down gracefully (it told the server), then the server stops too
    finally:
        await env.shutdown()
    await asyncio.sleep(4.0)  # the timer falls due while everything is down

    env = await _server(db, port)
    try:
        # the server fires the due timer as it comes up and schedules the task; the worker takes 12 s to come up
        # (longer than the SDK's default sticky timeout, 10 s: with it, the task timed out first)
        await asyncio.sleep(12.0)
        handle = env.client.get_workflow_handle(handle.id)
        async with _worker(env.client, task_queue, sticky):
            assert await asyncio.wait_for(handle.result(), timeout=30) == "woke"
        history = await handle.fetch_history()
        timed_out = [e for e in history.events if e.HasField("workflow_task_timed_out_event_attributes")]
        assert not timed_out, "a workflow task timed out after the restart"
    finally:
        await env.shutdown()
