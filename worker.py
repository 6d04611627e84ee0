"""The Leadflow worker: runs lead workflows and their activities.

    python worker.py          (TEMPORAL_ADDRESS, LEADFLOW_TASK_QUEUE, DATABASE_URL from the environment;
                               SDK metrics for Prometheus on LEADFLOW_WORKER_METRICS_ADDRESS)
"""

from __future__ import annotations

import asyncio
import compileall
import os
import signal
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import all_activities
from activities.owner_care import owner_care_activities
from channels.delivery import PushStarter, push_activities
from core.logging import configure_logging, get_logger
from core.settings import Settings, get_settings
from core.temporal_client import connect
from db.engine import default_engine
from workflows.calendar import SCHEDULE_ID, CalendarCheckWorkflow, CalendarCorrectionWorkflow
from workflows.lead import LOCAL_ACTIVITIES, LeadWorkflow
from workflows.owner_care import OwnerCareWorkflow
from workflows.push import PushFlushWorkflow, PushTestWorkflow, PushWorkflow
from workflows.webhooks import WebhookFanout

WORKFLOWS = [LeadWorkflow, WebhookFanout, CalendarCorrectionWorkflow, CalendarCheckWorkflow, PushWorkflow,
             PushTestWorkflow, PushFlushWorkflow, OwnerCareWorkflow]
# workflow.logger's lines are rendered by structlog (core/logging.py): let the sandbox use the
# already-loaded modules instead of importing them inside a workflow activation
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("structlog", "rich", "colorama",
                                                                      "better_exceptions"))
# Production's runner (LEADFLOW_WORKFLOW_SANDBOX, core/settings.py): the same workflow code without the sandbox's
# per-run import and checks. Determinism does not come from the sandbox (it only catches a mistake): the decider is
# pure, the replay tests and `python -m ops.replay` hold the histories, and the suite runs every workflow sandboxed.
UNSANDBOXED = UnsandboxedWorkflowRunner()


HERE = Path(__file__).resolve().parent


def cache_workflow_bytecode(root: Path = HERE) -> Path:
    """Compile the workflow modules once. The sandbox imports `workflows.*` afresh for every workflow run it
    creates (each new lead, each replay after an eviction or a restart); with PYTHONDONTWRITEBYTECODE (our image
    sets it, and so do many shells) no bytecode was on disk, so each run compiled workflows/lead.py from source
    again: ~6 % of the worker's CPU at intake (py-spy). Where the sources are read-only, the bytecode goes to
    a cache directory of its own (sys.pycache_prefix). Returns where it went."""
    target = root / "workflows" / "__pycache__"
    if not os.access(root / "workflows", os.W_OK) and sys.pycache_prefix is None:
        sys.pycache_prefix = str(Path(tempfile.gettempdir()) / "leadflow-pycache")
        target = Path(sys.pycache_prefix)
    compileall.compile_dir(root / "workflows", quiet=2)
    return target


def metrics_runtime(address: str) -> Runtime | None:
    """A Temporal runtime that serves the SDK's worker metrics (task slots, latencies, RPCs, workflow
    completions, ...) for Prometheus at http://<address>/metrics; None for "off" (the SDK's default runtime)."""
    if address.strip().lower() in {"", "off", "none"}:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


async def connect_worker(settings: Settings) -> Client:
    """The worker's client: its runtime exports the SDK's metrics (LEADFLOW_WORKER_METRICS_ADDRESS)."""
    return await connect(settings, runtime=metrics_runtime(settings.worker_metrics_address))


async def ensure_calendar_schedule(client: Client, task_queue: str) -> bool:
    """The Temporal Schedule that checks next year's calendar every day at 09:00 Asia/Shanghai (issue 12).
    Created once; a worker starting again finds it and leaves it alone (False)."""
    from domain.models import CalendarCheck

    try:
        await client.create_schedule(SCHEDULE_ID, Schedule(
            action=ScheduleActionStartWorkflow(CalendarCheckWorkflow.run, CalendarCheck(), id=SCHEDULE_ID,
                                               task_queue=task_queue),
            spec=ScheduleSpec(cron_expressions=["0 9 * * *"], time_zone_name="Asia/Shanghai")))
    except ScheduleAlreadyRunningError:
        return False
    return True


def _push_starter(client: Client, task_queue: str, engine: Engine) -> PushStarter | None:
    """The notify activity starts each notice's PushWorkflow on this loop (None outside an event loop), when it has
    something to push."""
    try:
        return PushStarter(client, task_queue, asyncio.get_running_loop(), engine=engine)
    except RuntimeError:
        return None


def trade_in_intake(client: Client, task_queue: str):
    """Owner care's trade-in review takes its lead in through the gateway, as the API does (issue 17)."""
    from domain.policy import load_policy
    from workflows import gateway

    async def submit(raw, actor):
        return await gateway.submit_raw_lead(client, task_queue, load_policy(), raw, actor)
    return submit


# A task put on a worker's sticky queue that no poller starts within this time is taken back and put on the shared
# queue (a WorkflowTaskTimedOut in the lead's history). The server already sends a lead's task to the shared queue when
# the sticky queue's worker has not polled for 10 s or said it stopped; this timeout is only the backstop, and it runs
# from the moment the task is scheduled. After a full restart every due lead's task is scheduled as the server comes
# up, before any worker polls: with the SDK's 10 s, each task the starting worker did not reach within 10 s timed out
# (issue 15: 347 of 500) although it was on the shared queue all along. 60 s covers the worker's start and the
# backlog's catch-up; a worker killed outright (no shutdown call) delays the few tasks scheduled in the 10 s before the
# server notices it by at most this much (the fault test, with its SIGKILLs, took ~30 s longer for it). worker.py
# sets it (`production_options`, LEADFLOW_STICKY_TIMEOUT_SECONDS); the suite's many short-lived workers keep the SDK's
# 10 s, as they always ran, and so does the fault test's worker.py.
STICKY_TIMEOUT = timedelta(seconds=Settings.model_fields["sticky_timeout_seconds"].default)


def production_options(settings: Settings) -> dict:
    """What `worker.py` gives `build_worker` beyond its defaults (which are the test suite's)."""
    return {"local_activities": settings.local_activities, "sandbox": settings.workflow_sandbox,
            "sticky_queue_schedule_to_start_timeout": timedelta(seconds=settings.sticky_timeout_seconds)}


def build_worker(client: Client, task_queue: str, engine: Engine, executor: ThreadPoolExecutor,
                 local_activities: bool = True, sandbox: bool = True, **options) -> Worker:
    """local_activities=False (LEADFLOW_LOCAL_ACTIVITIES=false): new lead runs keep remote activities. For a
    rolling upgrade from a version without local activities: deploy with it off, then turn it on once no
    older worker is left (an older worker cannot replay a run that used them). `sandbox`: the workflows run in the
    SDK's sandbox (the tests' default); `worker.py` takes LEADFLOW_WORKFLOW_SANDBOX (default off)."""
    push = _push_starter(client, task_queue, engine)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=SANDBOX if sandbox else UNSANDBOXED,
        activities=all_activities(engine, push) + push_activities(engine)
        + owner_care_activities(engine, trade_in_intake(client, task_queue), push),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        max_concurrent_local_activities=executor._max_workers,  # the lead's reads are local (same threads)
        # No more workflow tasks in hand than threads for their local activities (the SDK's default is 100): under
        # a backlog, as after a restart with hundreds of leads due, a task polled beyond that waited for a thread
        # while its 10-s timeout ran, timed out, and came back to be run again (issue 15: 1,092 timeouts, alerts
        # 72-214 s late). Tasks not taken wait on the server's queue instead, where waiting costs nothing.
        **{"max_concurrent_workflow_tasks": executor._max_workers, **options},
        patch_activation_callback=None if local_activities else (lambda p: p.patch_id != LOCAL_ACTIVITIES),
    )


async def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    log = get_logger("worker")
    if settings.workflow_sandbox:  # (only the sandbox imports the workflow modules again for every run)
        cache_workflow_bytecode()
    client = await connect_worker(settings)
    with ThreadPoolExecutor(max_workers=settings.worker_threads) as executor:
        worker = build_worker(client, settings.task_queue, default_engine(), executor, **production_options(settings))
        await ensure_calendar_schedule(client, settings.task_queue)
        log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address,
                 metrics=settings.worker_metrics_address, local_activities=settings.local_activities,
                 sandbox=settings.workflow_sandbox)
        await run_until_stopped(worker)
        log.info("worker stopped")


async def run_until_stopped(worker: Worker, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Run the worker until SIGTERM (a deploy, `docker stop`) or Ctrl-C, then shut it down gracefully: the SDK tells
    the server this worker is gone, so its leads' next workflow tasks go to the shared queue at once. Killed by
    SIGTERM instead, the server kept offering each cached lead's next task to the dead worker's sticky queue until
    that timed out (then 10 s, a WorkflowTaskTimedOut per lead): after a restart every due lead lost that time
    first (bench/restart.py)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        async with worker:  # runs it; leaving the block shuts it down
            await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
