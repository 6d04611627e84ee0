"""Owner care at fleet size (issue 17): N active ownerships on one worker, its memory, and how late reminders are.

    python -m bench.owner_care --ownerships 100000 [--probes 200] [--probe-seconds 120] [--concurrency 64]

1. Background: `--ownerships` owner-care workflows started directly (what a delivery starts; no lead behind them,
   so the run takes minutes, not hours), delivered "now": their first touchpoint is 91 days away, so they sleep.
   A sleeping ownership is a timer on the server; once the worker's workflow cache (the SDK's default bound,
   1,000 runs) evicts it, it costs the worker no memory. Creation rate and the worker's RSS are recorded.
2. Probes: `--probes` more ownerships whose first maintenance falls due spread over `--probe-seconds` of real
   time (delivered 91 days minus a few seconds ago). Lateness of a reminder = when the dealer's inbox row for the
   task was inserted (a trigger records the database's clock) - the touchpoint's due time; also the workflow's
   view (the task row's created_at, the workflow's now when its timer woke) - due.
3. The worker's peak RSS (VmHWM) over the whole run.

Goals: worker < 1 GiB at 100,000 ownerships; reminder lateness p99 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench.stack import Stack, add_database_args, log, machine, peak_rss_mib, percentiles, record, rss_mib, run_pool

FIRST_MAINTENANCE = timedelta(days=91)


def _input(i: int, delivered_at: datetime, tag: str):
    from domain import owner_care as oc
    from domain.policy import OwnerCare
    from workflows.owner_care import OwnerCareInput

    state = oc.OwnershipState(
        ownership_id=f"owner-bench-{tag}-{i}", lead_id=f"lead-bench-{tag}-{i}", customer_key=f"bench-{tag}-{i}",
        brand="Aurora", dealer_id="bench-dealer", delivered_at=delivered_at)
    return OwnerCareInput(state=state, policy=OwnerCare(first_maintenance_after=FIRST_MAINTENANCE))


async def main_async(args) -> dict:
    from workflows.owner_care import OwnerCareWorkflow

    tag = uuid.uuid4().hex[:6]
    stack = Stack("owner_care", api=False, database_url=args.database_url, log_level=args.log_level, keep=args.keep)
    async with stack:
        info = machine()
        worker = stack.child("worker").pid
        client = stack.client
        rss_start = rss_mib(worker)

        async def start(item) -> None:
            i, delivered = item
            inp = _input(i, delivered, tag)
            await client.start_workflow(OwnerCareWorkflow.run, inp, id=inp.state.ownership_id, task_queue="leads")

        now = datetime.now(UTC)
        started = time.monotonic()
        await run_pool([(i, now) for i in range(args.ownerships)], start, args.concurrency, "ownerships")
        # a start returns once the server has it: wait until the worker has run each one's first task and
        # projection (its ownership row), so the probes do not queue behind that backlog
        while True:
            with stack.db().connect() as conn:
                rows = conn.execute(text("SELECT count(*) FROM ownership")).scalar()
            if rows >= args.ownerships:
                break
            log(f"ownership rows {rows}/{args.ownerships}")
            await asyncio.sleep(5)
        create_s = time.monotonic() - started
        await asyncio.sleep(5)
        rss_after_create = rss_mib(worker)
        log(f"{args.ownerships} ownerships in {create_s:.0f} s; worker RSS {rss_after_create:.0f} MiB")

        # probes: first maintenance due over the next probe-seconds (starting a little ahead)
        # every probe must be started before its due time: allow for the creation rate just measured
        lead_s = 15.0 + 2 * args.probes / max(1.0, args.ownerships / max(create_s, 1e-3))
        base = datetime.now(UTC) + timedelta(seconds=lead_s)
        spacing = args.probe_seconds / max(1, args.probes)
        due = {}
        items = []
        for j in range(args.probes):
            at = base + timedelta(seconds=j * spacing)
            delivered = at - FIRST_MAINTENANCE
            due[f"owner-bench-{tag}-p{j}"] = at
            items.append((f"p{j}", delivered))

        async def start_probe(item) -> None:
            name, delivered = item
            inp = _input(0, delivered, tag)
            oid = f"owner-bench-{tag}-{name}"
            inp = inp.model_copy(update={"state": inp.state.model_copy(update={
                "ownership_id": oid, "lead_id": f"lead-bench-{tag}-{name}", "customer_key": f"bench-{tag}-{name}"})})
            await client.start_workflow(OwnerCareWorkflow.run, inp, id=oid, task_queue="leads")

        await run_pool(items, start_probe, 16, "probes")
        if datetime.now(UTC) > base:
            log("WARNING: probes were still being started after the first was due; raise the lead time")
        deadline = time.monotonic() + lead_s + args.probe_seconds + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(5)
            with stack.db().connect() as conn:
                fired = conn.execute(text("SELECT count(*) FROM owner_task WHERE kind = 'first_maintenance'")).scalar()
            if fired >= args.probes and datetime.now(UTC) > base + timedelta(seconds=args.probe_seconds):
                break
        with stack.db().connect() as conn:
            seen = conn.execute(text(
                "SELECT lead_id, min(seen_at) FROM bench_notification_seen WHERE kind = 'owner_care_task' "
                "GROUP BY lead_id")).all() if stack.postgres else []
            created = conn.execute(text(
                "SELECT ownership_id, created_at FROM owner_task WHERE kind = 'first_maintenance'")).all()
        inbox_late = [ts - due[oid].timestamp() for oid, ts in seen if oid in due]
        workflow_late = [(_aware(at) - due[oid]).total_seconds() for oid, at in created if oid in due]
        result = {
            "ownerships": args.ownerships, "probes": args.probes, "probe_seconds": args.probe_seconds,
            "create_s": round(create_s, 1),
            "create_rate_per_s": round(args.ownerships / create_s, 1) if create_s else None,
            "worker_rss_mib": {"start": round(rss_start), "after_create": round(rss_after_create),
                               "end": round(rss_mib(worker)), "peak": round(peak_rss_mib(worker))},
            "lateness_inbox_s": percentiles(inbox_late), "lateness_workflow_s": percentiles(workflow_late),
            "reminders_fired": len(workflow_late), "probe_lead_s": round(lead_s, 1),
            "goals": {"worker_peak_mib_lt": 1024, "lateness_p99_s_lt": 1.0},
        }
        return record("owner_care", result, info)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ownerships", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--probe-seconds", type=float, default=120)
    parser.add_argument("--concurrency", type=int, default=64)
    add_database_args(parser)
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
