"""The lead's reads run as local activities (patch local-activities), decided once per run, so a rolling
upgrade never mixes the two kinds in one run: a run begun with remote activities keeps them to its end."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client

from core.settings import Settings
from domain import commands as c
from domain.policy import load_policy
from tests.fixtures import OPS, manager, raw_lead
from worker import build_worker
from workflows import gateway
from workflows.lead import LOCAL_ACTIVITIES, NOTIFY_IN_PROJECTION


async def activities_of(client: Client, lead_id: str) -> tuple[list[str], list[str], list[str]]:
    """(remote activity types, local activity types, patches) in the lead's history, in order."""
    remote: list[str] = []
    local: list[str] = []
    patches: list[str] = []
    for e in (await client.get_workflow_handle(lead_id).fetch_history()).events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            remote.append(e.activity_task_scheduled_event_attributes.activity_type.name)
        elif e.HasField("marker_recorded_event_attributes"):
            m = e.marker_recorded_event_attributes
            data = json.loads(m.details[("data" if m.marker_name == "core_local_activity" else "patch-data")]
                              .payloads[0].data)
            (local if m.marker_name == "core_local_activity" else patches).append(
                data.get("activity_type") or data.get("id"))
    return remote, local, patches


def engine_rows(engine, lead_id: str) -> list:
    from sqlalchemy import text

    with engine.connect() as conn:
        return list(conn.execute(text("SELECT kind, recipient_role FROM notification WHERE lead_id = :l"),
                                 {"l": lead_id}).all())


async def test_a_new_lead_reads_locally_and_writes_only_what_its_history_holds(env, engine):
    """Score and dispatch run locally in the intake's first workflow task; the alert and the read model are
    remote activities that task schedules, so they are recorded after the decisions they carry out and
    never run for a task that was not recorded. Since patch notify-in-projection the alert's inbox rows are
    written by the read-model activity (record_lead): two workflow tasks from intake to inbox row (three before,
    five before the local reads)."""
    client, task_queue = env.client, f"leads-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, task_queue, engine, executor):
            lead = await gateway.submit_raw_lead(client, task_queue, load_policy(time_scale=1), raw_lead(1300), OPS)
            assert lead.stage == "dispatched"
            remote, local, patches = await activities_of(client, lead.lead_id)
            history = await client.get_workflow_handle(lead.lead_id).fetch_history()
            await client.get_workflow_handle(lead.lead_id).terminate("test finished")
    assert remote == ["record_lead"] and local == ["score_lead", "dispatch_lead"]
    assert LOCAL_ACTIVITIES in patches and NOTIFY_IN_PROJECTION in patches
    kinds = [e.WhichOneof("attributes").removesuffix("_event_attributes") for e in history.events]
    markers = [i for i, e in enumerate(history.events)
               if e.marker_recorded_event_attributes.marker_name == "core_local_activity"]
    first_task = kinds.index("workflow_task_completed")
    assert len(markers) == 2 and all(first_task < i < kinds.index("activity_task_scheduled") for i in markers), kinds
    assert kinds.count("workflow_task_completed") == 2, kinds
    rows = engine_rows(engine, lead.lead_id)
    assert rows and {r[0] for r in rows} == {"lead_dispatched"}, rows  # the inbox rows were written all the same


async def test_a_run_begun_with_remote_activities_keeps_them_after_an_upgraded_worker_takes_over(env, engine):
    client, task_queue, policy = env.client, f"leads-{uuid.uuid4()}", load_policy(time_scale=1)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with build_worker(client, task_queue, engine, executor, local_activities=False,
                                max_cached_workflows=0):  # no sticky queue for the next worker to wait on
            old = await gateway.submit_raw_lead(client, task_queue, policy, raw_lead(1310), OPS)
        async with build_worker(client, task_queue, engine, executor):  # the upgraded fleet
            await gateway.act(client, old.lead_id,
                              c.CommandEnvelope(actor=manager(old.dealer_id), command=c.Acknowledge()))
            new = await gateway.submit_raw_lead(client, task_queue, policy, raw_lead(1311), OPS)
            old_run, new_run = await activities_of(client, old.lead_id), await activities_of(client, new.lead_id)
            for lead_id in (old.lead_id, new.lead_id):
                await client.get_workflow_handle(lead_id).terminate("test finished")
    remote, local, patches = old_run
    # (the alert rides on record_lead: patch notify-in-projection is not gated by the switch)
    assert remote == ["score_lead", "dispatch_lead", "record_lead", "record_lead"] and local == []
    assert LOCAL_ACTIVITIES not in patches
    assert new_run[:2] == (["record_lead"], ["score_lead", "dispatch_lead"]) and LOCAL_ACTIVITIES in new_run[2]


def test_local_activities_are_on_unless_the_environment_turns_them_off():
    assert Settings().local_activities is True
    assert Settings(LEADFLOW_LOCAL_ACTIVITIES="false").local_activities is False


async def test_the_worker_takes_no_more_workflow_tasks_than_it_has_threads_for_their_local_activities(env, engine):
    """After a restart hundreds of leads are due at once: with the SDK's default (100 workflow tasks in hand) the
    tasks beyond the 16 threads waited in the worker while their timeout ran (bench/restart.py). The worker takes
    as many tasks as it has threads; LEADFLOW_WORKER_THREADS sets both."""
    with ThreadPoolExecutor(max_workers=6) as executor:
        config = build_worker(env.client, f"leads-{uuid.uuid4()}", engine, executor).config()
    assert config["max_concurrent_workflow_tasks"] == config["max_concurrent_local_activities"] == 6
    assert config["max_concurrent_activities"] == 6
    assert Settings().worker_threads == 16 and Settings(LEADFLOW_WORKER_THREADS="4").worker_threads == 4


async def test_sigterm_shuts_the_worker_down_gracefully(env, engine):
    """A deploy or `docker stop` sends SIGTERM: the worker shuts down through the SDK (which tells the server it is
    gone) instead of dying, and the leads it had cached are not left to its sticky queue (bench/restart.py)."""
    import asyncio
    import os
    import signal

    from worker import run_until_stopped

    with ThreadPoolExecutor(max_workers=2) as executor:
        worker = build_worker(env.client, f"leads-{uuid.uuid4()}", engine, executor)
        running = asyncio.create_task(run_until_stopped(worker, signals=(signal.SIGUSR1,)))
        await asyncio.sleep(0.5)
        assert not running.done()
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(running, timeout=30)
    assert worker.is_shutdown


async def test_production_runs_the_workflows_outside_the_sandbox_and_the_suite_inside(env, engine):
    """The sandbox re-imports a workflow's module for every new run (~14 % of the worker's CPU at intake, issue 15):
    worker.py runs without it unless LEADFLOW_WORKFLOW_SANDBOX is on; build_worker's default, which every test's
    worker takes, keeps it, so a non-deterministic call in a workflow fails in the suite."""
    import asyncio

    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from tests.clock_workflow import ReadsTheClock
    from tests.conftest import _binary, failed_tasks, suite_converter
    from worker import SANDBOX, UNSANDBOXED, production_options

    assert Settings().workflow_sandbox is False and Settings(LEADFLOW_WORKFLOW_SANDBOX="true").workflow_sandbox
    with ThreadPoolExecutor(max_workers=2) as executor:
        tests_worker = build_worker(env.client, f"leads-{uuid.uuid4()}", engine, executor)
        assert tests_worker.config()["workflow_runner"] is SANDBOX
        production = build_worker(env.client, f"leads-{uuid.uuid4()}", engine, executor,
                                  **production_options(Settings())).config()
        assert production["workflow_runner"] is UNSANDBOXED

    # on a dev server of its own: a workflow whose task keeps failing must not hold the suite's shared
    # time-skipping server (its retried task kept time from skipping for the next test)
    task_queue = f"clock-{uuid.uuid4()}"
    own = await WorkflowEnvironment.start_local(dev_server_existing_path=_binary("temporal"),
                                                data_converter=suite_converter(), dev_server_log_level="error")
    async with own, Worker(own.client, task_queue=task_queue, workflows=[ReadsTheClock], workflow_runner=SANDBOX):
        handle = await own.client.start_workflow(ReadsTheClock.run, id=f"clock-{uuid.uuid4()}", task_queue=task_queue)
        failures: list[str] = []
        for _ in range(100):
            if failures := await failed_tasks(handle, own.client.data_converter):
                break
            await asyncio.sleep(0.1)
        await handle.terminate()
    assert failures and "datetime.datetime.now" in failures[0]
