"""The Leadflow worker: runs lead workflows and their activities.

    python worker.py          (TEMPORAL_ADDRESS, LEADFLOW_TASK_QUEUE, DATABASE_URL from the environment)
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import all_activities
from db.engine import default_engine
from devtools.logging import configure_logging, get_logger
from settings import get_settings
from temporal_client import connect
from workflows.lead import LeadWorkflow
from workflows.webhooks import WebhookFanout

WORKFLOWS = [LeadWorkflow, WebhookFanout]
# workflow.logger's lines are rendered by structlog (devtools/logging.py): let the sandbox use the
# already-loaded modules instead of importing them inside a workflow activation
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("structlog", "rich", "colorama", "better_exceptions"))


def build_worker(client: Client, task_queue: str, engine: Engine, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=SANDBOX,
        activities=all_activities(engine),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
    )


async def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    log = get_logger("worker")
    client = await connect(settings)
    with ThreadPoolExecutor(max_workers=16) as executor:
        worker = build_worker(client, settings.task_queue, default_engine(), executor)
        log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
        await worker.run()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
