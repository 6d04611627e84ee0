"""Temporal Cloud actions per lead, counted from the workflows' event histories.

    python -m bench.actions [--leads 20] [--unattended 5] [--time-scale 60]

Temporal Cloud bills Actions (docs.temporal.io/cloud/actions). Counted here from each history,
per that definition:

| history event                                   | actions |
| ----------------------------------------------- | ------- |
| WorkflowExecutionStarted (client, continue-as-new, child) | 1 |
| WorkflowExecutionUpdateAccepted (incl. update-with-start) | 1 |
| WorkflowExecutionSignaled, SignalExternalWorkflowExecutionInitiated | 1 |
| ActivityTaskScheduled, plus every retry (ActivityTaskStarted.attempt - 1) | 1 + retries |
| TimerStarted (also the implicit timer of `workflow.wait_condition(timeout=...)`) | 1 |
| UpsertWorkflowSearchAttributes                  | 1 |
| MarkerRecorded: all markers of one workflow task (local activities, side effects) | 1 per task |
| StartChildWorkflowExecutionInitiated            | 2 |

Not in histories, so not counted: queries (the API sends none on these paths), rejected
updates (none here), heartbeats (none). Markers written by `workflow.patched` are counted with
the local-activity markers of their task (the docs count RecordMarker commands per task) and also
shown apart as `patch_marker_tasks`, as it is not documented whether they alone are billed.

Two kinds of lead:
- `won`: the lifecycle of bench.lifecycle (intake, maybe cleansing, acknowledge, assign, nine
  consultant actions to completed), driven through the API.
- `unattended`: a lead nobody acts on, under a policy compressed by `--time-scale` (default 60),
  watched for one 2-hour receipt period: its first-response clock lapses (an alert), then the
  receipt clock (an alert, a penalty, a re-dispatch), then the next dealer's first response.

The `savings` block re-counts the won histories as if the workflow did X (estimates, no code
changed): one durable timer per distinct deadline instead of one per wait; notifications written
by the projection activity instead of their own activity; the read-model activities as local
activities (one marker action per workflow task instead of one action per activity). (The webhook
subscriber lookup, once a local activity of its own, is answered by the projection since patch
webhook-targets-in-projection; the lead's reads are local activities since patch local-activities.)
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter, defaultdict

import httpx
from temporalio.api.enums.v1 import EventType

from bench.stack import Stack, add_database_args, log, machine, percentiles, raw_leads, record, run_pool

E = EventType
ONE = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow_started",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "updates",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signals",
    E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signals",
    E.EVENT_TYPE_TIMER_STARTED: "timers",
    E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "search_attribute_upserts",
}
PATCH_MARKER = "core_patch"


def count_actions(events) -> dict:
    """The billable actions of one history, by category, with the details the savings need."""
    by: Counter = Counter()
    activity_types: Counter = Counter()
    marker_tasks: dict[int, set[str]] = defaultdict(set)
    started_at = {}  # workflow task started event id -> its time (workflow.now() of that task)
    completed_from = {}  # workflow task completed event id -> its started event id
    timer_fires: list[float] = []
    for e in events:
        t = e.event_type
        if t in ONE:
            by[ONE[t]] += 1
        if t == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            started_at[e.event_id] = e.event_time.ToDatetime().timestamp()
        elif t == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            completed_from[e.event_id] = e.workflow_task_completed_event_attributes.started_event_id
        elif t == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            by["activities"] += 1
            activity_types[e.activity_task_scheduled_event_attributes.activity_type.name] += 1
        elif t == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            retries = max(0, e.activity_task_started_event_attributes.attempt - 1)
            by["activity_retries"] += retries
        elif t == E.EVENT_TYPE_MARKER_RECORDED:
            a = e.marker_recorded_event_attributes
            marker_tasks[a.workflow_task_completed_event_id].add(a.marker_name)
        elif t == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            by["child_workflows"] += 2
        elif t == E.EVENT_TYPE_TIMER_STARTED:
            a = e.timer_started_event_attributes
            # fires at workflow.now() of the task that started it + the timeout: the deadline it waits for
            task_time = started_at[completed_from[a.workflow_task_completed_event_id]]
            timer_fires.append(round(task_time + a.start_to_fire_timeout.ToTimedelta().total_seconds(), 3))
    by["marker_tasks"] = len(marker_tasks)
    patch_only = sum(1 for names in marker_tasks.values() if names == {PATCH_MARKER})
    la_tasks = sum(1 for names in marker_tasks.values() if names - {PATCH_MARKER})
    total = sum(v for k, v in by.items())
    return {"total": total, "by_category": dict(by), "activity_types": dict(activity_types),
            "patch_marker_tasks": patch_only, "local_activity_tasks": la_tasks,
            "distinct_timer_deadlines": len(set(timer_fires)), "events": len(events)}


async def history_actions(client, workflow_id: str) -> dict:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return count_actions(history.events)


def summarize(counts: list[dict]) -> dict:
    if not counts:
        return {"n": 0}
    keys = sorted({k for c in counts for k in c["by_category"]})
    types = sorted({k for c in counts for k in c["activity_types"]})
    mean = lambda xs: round(sum(xs) / len(xs), 2)  # noqa: E731
    return {
        "n": len(counts), "actions": percentiles((c["total"] for c in counts), 1),
        "mean_by_category": {k: mean([c["by_category"].get(k, 0) for c in counts]) for k in keys},
        "mean_activities_by_type": {k: mean([c["activity_types"].get(k, 0) for c in counts]) for k in types},
        "mean_patch_marker_tasks": mean([c["patch_marker_tasks"] for c in counts]),
        "mean_history_events": mean([c["events"] for c in counts]),
    }


def savings(counts: list[dict]) -> dict:
    """Mean actions saved per lead by each alternative (re-counted from the same histories)."""
    def mean(f) -> float:
        return round(sum(f(c) for c in counts) / len(counts), 2) if counts else 0.0

    types = lambda c: c["activity_types"]  # noqa: E731
    settles = lambda c: types(c).get("record_lead", 0)  # noqa: E731  (one projection per settled change)
    return {
        "one_timer_per_deadline": mean(lambda c: c["by_category"].get("timers", 0) - c["distinct_timer_deadlines"]),
        "notify_inside_projection": mean(lambda c: types(c).get("notify", 0)),
        "read_model_writes_as_local_activities": mean(
            lambda c: types(c).get("notify", 0) + types(c).get("record_lead", 0) + c["local_activity_tasks"]
            - settles(c)),
        "all_activities_local": mean(
            lambda c: c["by_category"].get("activities", 0) + c["local_activity_tasks"] - settles(c)),
    }


async def main_async(args) -> dict:
    info = machine()
    stack = Stack("actions", api=True, database_url=args.database_url, log_level=args.log_level, keep=args.keep,
                  workers=args.workers)
    async with stack:
        from bench.lifecycle import Driver
        from domain.policy import load_policy

        leads = raw_leads(args.leads + args.unattended)
        won_leads, unattended_leads = leads[:args.leads], leads[args.leads:]
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=300, limits=limits) as http:
            driver = Driver(stack, http)
            lives = await run_pool(won_leads, driver.lifecycle, 4, "won lifecycles")
        won_ids = [x["lead_id"] for x in lives if x["end"] == "completed"]
        won = [await history_actions(stack.client, wid) for wid in won_ids]

        unattended = []
        if unattended_leads:
            policy = load_policy(None, args.time_scale)
            answers = [await stack.submit(raw, policy) for raw in unattended_leads]
            ids = [a.lead_id for a in answers if a.stage == "dispatched"]
            wait = 7200 / args.time_scale + 900 / args.time_scale + 5
            log(f"unattended: {len(ids)} dispatched leads, waiting {wait:.0f} s for their clocks to lapse")
            await asyncio.sleep(wait)
            lapses = Counter(lead for (lead,) in stack.sql("SELECT lead_id FROM clock_run WHERE outcome = 'lapsed'"))
            for wid in ids:
                c = await history_actions(stack.client, wid)
                c["lapses"] = lapses.get(wid, 0)
                unattended.append(c)
        result = {
            "won": summarize(won),
            "savings_per_won_lead": savings(won),
            "unattended": summarize(unattended) | {
                "time_scale": args.time_scale,
                "lapses": percentiles((c["lapses"] for c in unattended), 1)},
        }
    return record("actions", result, info)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.actions", description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20, help="won lifecycles counted (default 20)")
    parser.add_argument("--unattended", type=int, default=5, help="unattended leads counted (default 5; 0: none)")
    parser.add_argument("--time-scale", type=float, default=60.0, help="the unattended leads' time scale (60)")
    add_database_args(parser)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
