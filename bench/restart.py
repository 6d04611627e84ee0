"""Catching up after a full restart: every clock that fell due while the stack was down fires soon after it is up.

    python -m bench.restart [--open-leads 1000] [--due 500] [--due-scale 4] [--goal-s 30]

1. Open leads: `--open-leads` lead workflows seeded with their state (bench.clocks' `StateSeeder`: what the
   intake decides, without its activities), each dispatched to a dealer with its first-response clock
   running. The last 3/2 x `--due` (one in three goes to cleansing, without a dealer) are under the policy
   compressed by `--due-scale` S, so `--due` dispatched leads have a first-response clock (15 min) falling
   due 900/S s after they were seeded; the others' clocks are due in days (policy time scale 0.001).
2. Full stop: once every lead is projected, the worker and the Temporal dev server are stopped (SIGTERM),
   while the due leads' deadlines are still ahead. The stack stays down until the last of them has
   passed (plus `--down-margin` seconds): every due clock is now overdue, and they all come due at once.
3. Start: the same dev server database and port, then the worker. "Up" = the moment the worker logs
   "worker started". For each due lead, lateness = the first inbox row of its first-response alert (the
   database's clock at INSERT, as in the other benchmarks) - up. The goal: every one within `--goal-s`.
4. Workflow-task health: `WorkflowTaskTimedOut` events in the due leads' histories after the restart,
   and the worker's "took over"/"timed out" warnings in its log.

The result (with the machine and its load at the start) is appended to bench/results/restart.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import time

from bench.clocks import BACKGROUND_SCALE, StateSeeder
from bench.stack import (
    PYTHON,
    TEMPORAL_BIN,
    Stack,
    add_database_args,
    log,
    machine,
    percentiles,
    raw_leads,
    record,
    run_pool,
)

ALERT_KIND = "first_response"  # the notification kind of a lapsed first-response clock (domain.lifecycle alert)


def stop_children(stack: Stack, names: tuple[str, ...]) -> None:
    """SIGTERM the named children (a deploy's stop), wait, and forget them; the run's files and database stay."""
    for child in [c for c in stack.children if c.name in names]:
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
        try:
            child.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
        stack.children.remove(child)


async def start_again(stack: Stack) -> float:
    """The dev server on its old database and port, then the worker; returns when the worker is up (epoch s)."""
    from workflows.search_attributes import cli_flags

    stack.spawn("temporal", [
        str(TEMPORAL_BIN), "server", "start-dev", "--headless", "--db-filename", str(stack.workdir / "temporal.db"),
        "--ip", "127.0.0.1", "--port", str(stack.temporal_port), "--log-level", "error", *cli_flags()])
    await stack._connect()
    (stack.workdir / "worker.log").rename(stack.workdir / "worker-before-restart.log")
    stack.spawn("worker", [PYTHON, "worker.py"])
    await stack.wait_for_log("worker", "worker started")
    return time.time()


async def task_timeouts(stack: Stack, lead_ids: list[str], since: float, kinds: dict | None = None) -> int:
    """WorkflowTaskTimedOut events after `since` in these leads' histories; `kinds` is filled with their count per
    timeout type (START_TO_CLOSE: the worker took too long; SCHEDULE_TO_START: a sticky queue nobody polled)."""
    from temporalio.api.enums.v1 import TimeoutType

    total = 0

    async def one(lead_id: str) -> None:
        nonlocal total
        history = await stack.client.get_workflow_handle(lead_id).fetch_history()
        for e in history.events:
            if (e.HasField("workflow_task_timed_out_event_attributes")
                    and e.event_time.ToDatetime().timestamp() >= since - 1):
                total += 1
                if kinds is not None:
                    kind = TimeoutType.Name(e.workflow_task_timed_out_event_attributes.timeout_type)
                    kinds[kind] = kinds.get(kind, 0) + 1

    await run_pool(lead_ids, one, 16, "histories")
    return total


def first_alert_rows(stack: Stack, lead_ids: set[str]) -> dict[str, float]:
    rows = stack.sql(f"SELECT lead_id, min(seen_at) FROM bench_notification_seen WHERE kind = '{ALERT_KIND}' "
                     "GROUP BY lead_id")
    return {lead: at for lead, at in rows if lead in lead_ids}


async def main_async(args) -> dict:
    info = machine()
    stack = Stack("restart", api=False, database_url=args.database_url, log_level=args.log_level, keep=args.keep)
    async with stack:
        from domain.policy import load_policy

        leads = raw_leads(args.open_leads)
        stack.raise_dealer_capacity(len(leads))
        # the seeder sends one lead in three to cleansing (no dealer, no first-response clock): 3/2 x due leads
        # under the compressed policy give `--due` dispatched ones with a first-response clock falling due
        n_due = min(args.open_leads, -(-args.due * 3 // 2))
        background, due = leads[:args.open_leads - n_due], leads[args.open_leads - n_due:]

        # 1. open leads: background first, the due ones last (their deadlines must still be ahead at the stop)
        seeder = StateSeeder(stack, load_policy(None, BACKGROUND_SCALE))
        await run_pool(background, seeder.seed, args.concurrency, "background leads")
        seeder.policy = load_policy(None, args.due_scale)
        first_due_seeded = time.time()
        answers = await run_pool(due, seeder.seed, args.concurrency, "due leads")
        due_ids = {a.lead_id for a in answers if a.stage == "dispatched"}
        await seeder.settled(args.open_leads)
        deadlines = [float(r[0]) for r in stack.sql(
            "SELECT extract(epoch from deadline) FROM clock_run WHERE clock = 'first_response' AND ended_at IS NULL "
            "AND lead_id = ANY(:ids)", ids=list(due_ids))] if stack.postgres else []
        first_deadline = min(deadlines) if deadlines else first_due_seeded + 900 / args.due_scale
        last_deadline = max(deadlines) if deadlines else time.time() + 900 / args.due_scale
        if time.time() >= first_deadline - 5:
            raise SystemExit(f"seeding took too long: the first due clock ({first_deadline - time.time():.0f} s "
                             "from now) would fire before the stop; use a smaller --due-scale")
        already = first_alert_rows(stack, due_ids)

        # 2. full stop until every due clock is overdue
        log(f"{len(due_ids)} due leads, deadlines {first_deadline - time.time():.0f} to "
            f"{last_deadline - time.time():.0f} s from now; stopping the worker and the Temporal server")
        stop_children(stack, ("worker", "temporal"))
        down_until = last_deadline + args.down_margin
        await asyncio.sleep(max(0.0, down_until - time.time()))

        # 3. start again, measure
        log("starting the Temporal server and the worker again")
        started = time.time()
        up = await start_again(stack)
        log(f"stack up {up - started:.1f} s after the start")
        wait_until = up + args.wait
        fired: dict[str, float] = {}
        while time.time() < wait_until:
            fired = first_alert_rows(stack, due_ids)
            if len(fired) == len(due_ids):
                break
            await asyncio.sleep(1)
        lateness = [at - up for lead, at in fired.items() if lead not in already]
        worker_log = (stack.workdir / "worker.log").read_text(errors="replace")
        timeout_kinds: dict[str, int] = {}
        result = {
            "open_leads": args.open_leads, "due": len(due_ids), "fired_before_stop": len(already),
            "down_s": round(up - started + (started - (down_until - args.down_margin)), 1),
            "start_to_up_s": round(up - started, 1),
            "alert_after_up_s": percentiles(lateness),
            "not_fired_within_wait": len(due_ids) - len(fired),
            "within_goal": sum(1 for x in lateness if x <= args.goal_s), "goal_s": args.goal_s,
            "workflow_task_timeouts": await task_timeouts(stack, sorted(due_ids), up, timeout_kinds),
            "workflow_task_timeouts_by_type": timeout_kinds,
            "worker_log_slow_task_warnings": worker_log.count("took over"),
            "worker_log_timeouts": worker_log.lower().count("timed out"),
            "worker_env": {k: v for k, v in os.environ.items() if k.startswith("LEADFLOW_WORKER_")},
        }
        log(f"alerts after up: {result['alert_after_up_s']}; task timeouts {result['workflow_task_timeouts']}")
    return record("restart", result, info)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.restart", description=__doc__.splitlines()[0])
    parser.add_argument("--open-leads", type=int, default=1000)
    parser.add_argument("--due", type=int, default=500, help="of the open leads, how many fall due while down")
    parser.add_argument("--due-scale", type=float, default=4.0,
                        help="policy time scale of the due leads (first response due 900/S s after seeding)")
    parser.add_argument("--down-margin", type=float, default=10.0, help="seconds down after the last deadline")
    parser.add_argument("--wait", type=float, default=300.0, help="how long to wait for the alerts after up")
    parser.add_argument("--goal-s", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=16)
    add_database_args(parser)
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
