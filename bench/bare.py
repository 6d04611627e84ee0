"""The yardstick of `bench.lifecycle`: a bare workflow with one activity, one timer and one signal.

    python -m bench.bare          (its worker: task queue bench-bare, the stack's TEMPORAL_ADDRESS)

Same SDK, same data converter (core.temporal_client.connect), same default sandbox and the same
server as the lead worker; nothing of Leadflow inside.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

TASK_QUEUE = "bench-bare"


@activity.defn
async def bare_activity(value: str) -> str:
    return value


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self.signalled = False

    @workflow.run
    async def run(self, timer_seconds: float) -> str:
        result = await workflow.execute_activity(bare_activity, "done", start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(timer_seconds)
        await workflow.wait_condition(lambda: self.signalled)
        return result

    @workflow.signal
    def go(self) -> None:
        self.signalled = True


async def run_one(client, workflow_id: str, timer_seconds: float) -> str:
    """Start, signal, wait for the result: one bare workflow's life, as a client drives it."""
    handle = await client.start_workflow(BareWorkflow.run, timer_seconds, id=workflow_id, task_queue=TASK_QUEUE)
    await handle.signal(BareWorkflow.go)
    return await handle.result()


async def main() -> None:
    from temporalio.worker import Worker

    from core.settings import get_settings
    from core.temporal_client import connect

    client = await connect(get_settings())
    worker = Worker(client, task_queue=TASK_QUEUE, workflows=[BareWorkflow], activities=[bare_activity])
    print("bare worker started", flush=True)
    await worker.run()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
