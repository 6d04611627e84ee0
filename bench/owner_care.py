"""Owner care at fleet size (issue 17): N active ownerships on one worker, its memory, and how late reminders are.

    python -m bench.owner_care --ownerships 100000 [--probes 200] [--probe-seconds 120] [--window 64]

1. Background: `--ownerships` owner-care workflows started directly with the client, as the lead workflow starts
   one at delivery (no lead behind them), with their state given: delivered "now" to the seeded network's dealers in
   turn, so their first touchpoint is 91 days away and they sleep. Each one's first workflow task writes its
   ownership row (a local activity, patch `owner-care-local-start`) and starts its timer; then it is a timer on the
   server, and once the worker's workflow cache (the SDK's default bound, 1,000 runs) evicts it, it costs the worker
   no memory. Started by `--concurrency` client tasks, at most `--window` ahead of the rows written (started, row
   not yet there): the server hands a task to a waiting poller instead of spooling a backlog to its database, and
   its database is not swamped by starts while the worker waits for tasks (the first version started all at once,
   64 at a time: the worker got 0.2 tasks/s while the starts ran, ~4 ownerships/s in all).
   Creation rate, CPU per ownership (server, worker, PostgreSQL) and the worker's RSS as the fleet grows.
2. Probes: `--probes` more ownerships whose first maintenance falls due spread over `--probe-seconds` of real time
   (delivered 91 days minus a little ago). They are started before the last `--evict` background ownerships, more
   than the worker's cache holds, so that each probe's timer fires for a workflow the worker no longer has (as a
   reminder months after delivery does): the worker fetches its history and replays it first. The run checks it
   with the worker's cache counters (`probes_replayed.cache_misses_while_probing` = the probes). Lateness of a
   reminder = when the dealer's inbox row for the task was inserted (a trigger records the database's clock) - the
   touchpoint's due time; also the workflow's view (the task row's created_at: the workflow's now when its timer
   woke) - due; and its parts from the probes' histories (`lateness_parts`: the first task's duration, by which
   the timer starts late; the timer firing after due; the fired timer's task reaching the worker).
3. The worker's peak RSS (VmHWM) over the whole run; the result as one JSON line, appended to
   bench/results/owner_care.json.

While the background is seeded the dev server's SQLite runs in WAL mode without an fsync per commit
(`--seed-sqlite fast`, the default; its defaults allow ~50 bare starts/s on 2 cores, bound by fsyncs); before the
probes the server is restarted on the same file with its defaults, so the reminders are measured on the dev server
as every other benchmark runs it.

Goals: worker < 1 GiB at 100,000 ownerships; reminder lateness p99 < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench.stack import (
    TASK_QUEUE,
    Stack,
    add_database_args,
    cpu_delta,
    cpu_seconds,
    log,
    machine,
    peak_rss_mib,
    percentiles,
    record,
    rss_mib,
)

FIRST_MAINTENANCE = timedelta(days=91)
# `--seed-sqlite fast`: the dev server's SQLite file in WAL mode without an fsync per commit while the background is
# seeded, then the server restarted on the same file with its defaults (a rollback journal, fsync per commit) before
# the probes: the reminders are measured on the dev server as every other benchmark runs it
FAST_PRAGMAS = ["journal_mode=WAL", "synchronous=NORMAL"]
DEFAULT_PRAGMAS = ["journal_mode=DELETE"]  # leaves WAL (a WAL file stays WAL until told); synchronous is per connection
WORKER_CACHE = 1000  # the SDK's default max_cached_workflows (worker.py keeps it)


def _input(name: str, delivered_at: datetime, tag: str, dealer: tuple[str, str, str | None]):
    from domain import owner_care as oc
    from domain.policy import OwnerCare
    from workflows.owner_care import OwnerCareInput

    dealer_id, brand, region = dealer
    state = oc.OwnershipState(
        ownership_id=f"owner-bench-{tag}-{name}", lead_id=f"lead-bench-{tag}-{name}",
        customer_key=f"bench-{tag}-{name}", brand=brand, dealer_id=dealer_id, region=region, delivered_at=delivered_at)
    return OwnerCareInput(state=state, policy=OwnerCare(first_maintenance_after=FIRST_MAINTENANCE))


class Seeder:
    """Starts ownerships, `concurrency` client tasks at once, never more than `window` ahead of the rows written."""

    def __init__(self, stack: Stack, tag: str, dealers: list[tuple[str, str, str | None]], concurrency: int,
                 window: int):
        self.stack, self.tag, self.dealers = stack, tag, dealers
        self.concurrency, self.window = concurrency, window
        self.started = 0
        self.rows = 0
        self.rss_curve: list[tuple[int, int]] = []  # (ownership rows so far, worker RSS MiB), every 30 s

    def count_rows(self) -> int:
        with self.stack.db().connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM ownership")).scalar_one())

    async def start(self, name: str, delivered: datetime, dealer: tuple[str, str, str | None]) -> None:
        from workflows.owner_care import OwnerCareWorkflow

        inp = _input(name, delivered, self.tag, dealer)
        await self.stack.client.start_workflow(OwnerCareWorkflow.run, inp, id=inp.state.ownership_id,
                                               task_queue=TASK_QUEUE)

    async def run(self, names: list[str], label: str, target: int) -> float:
        """Start one ownership per name (delivered now) and return once `target` rows are written; seconds taken."""
        t0 = time.monotonic()
        first = self.rows
        queue = list(reversed(names))
        wake = asyncio.Event()
        worker = self.stack.child("worker").pid

        async def watch() -> None:
            last_log = last_rss = last_change = time.monotonic()
            while self.rows < target:
                await asyncio.sleep(0.25)
                self.stack.check()
                rows, self.rows = self.rows, await asyncio.to_thread(self.count_rows)
                wake.set()
                now = time.monotonic()
                if self.rows != rows:
                    last_change = now
                elif now - last_change > 180:
                    raise RuntimeError(f"no ownership row written for 180 s ({self.rows}/{target}): see the worker log")
                if now - last_rss >= 30:
                    self.rss_curve.append((self.rows, round(rss_mib(worker))))
                    last_rss = now
                if now - last_log >= 10:
                    rate = (self.rows - first) / (now - t0)
                    log(f"{label}: rows {self.rows}/{target}, started {self.started} ({rate:.1f}/s)")
                    last_log = now

        async def runner() -> None:
            while queue:
                while self.started - self.rows >= self.window:
                    wake.clear()
                    await wake.wait()
                if not queue:
                    return
                name = queue.pop()
                self.started += 1
                dealer = self.dealers[self.started % len(self.dealers)]
                await self.start(name, datetime.now(UTC), dealer)

        watcher = asyncio.create_task(watch())
        await asyncio.gather(*(runner() for _ in range(self.concurrency)))
        await watcher
        return time.monotonic() - t0


async def _settle(stack: Stack, quiet_cores: float = 0.15, limit_s: float = 120) -> float:
    """Until the server and the worker are quiet (the last first tasks done), at most limit_s; their cores last."""
    deadline = time.monotonic() + limit_s
    while True:
        before, t = stack.cpu(), time.time()
        await asyncio.sleep(3)
        busy = cpu_delta(before, stack.cpu())
        cores = (busy.get("temporal", 0) + busy.get("worker", 0)) / (time.time() - t)
        if cores < quiet_cores or time.monotonic() > deadline:
            log(f"server + worker busy {cores:.2f} cores")
            return round(cores, 3)


async def _cache_metrics(stack: Stack) -> dict[str, float]:
    """The worker's workflow-cache counters from its Prometheus endpoint: tasks for a run it had (hit), for a run it
    no longer had (miss: it fetched the history and replayed), and runs held now (size)."""
    import httpx

    wanted = {"temporal_sticky_cache_hit": "hit", "temporal_sticky_cache_miss": "miss",
              "temporal_sticky_cache_size": "size", "temporal_sticky_cache_total_forced_eviction": "evicted"}
    out = dict.fromkeys(wanted.values(), 0.0)
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"http://{stack.env['LEADFLOW_WORKER_METRICS_ADDRESS']}/metrics", timeout=10)).text
    for line in body.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted:
            out[wanted[name]] += float(line.rsplit(" ", 1)[1])
    return out


async def _from_histories(stack: Stack, due: dict[str, datetime]) -> tuple[dict[str, int], dict[str, Any]]:
    """From each probe's history: which queue its reminder task was scheduled on (the SDK does not tell the server
    when it evicts a run, so "sticky" does not mean cached: the cache counters say that), and where its lateness
    arose: `first_task_s`, the first workflow task's start to completion (the timer's duration is counted from the
    task's start, `workflow.now()`, but the server starts it at the completion: the timer is late by that much),
    `timer_fired_late_s` (TimerFired - due), and `fired_to_task_s` (TimerFired - the next task's start)."""
    from temporalio.api.enums.v1 import EventType as E
    from temporalio.api.enums.v1 import TaskQueueKind

    queues = {"sticky": 0, "normal": 0, "no_timer_fired": 0}
    first_task, fired_late, to_task = [], [], []
    for wid, at in sorted(due.items()):
        events = list((await stack.client.get_workflow_handle(wid).fetch_history()).events)
        kinds = [e.event_type for e in events]
        if E.EVENT_TYPE_TIMER_FIRED not in kinds:
            queues["no_timer_fired"] += 1
            continue
        fired = kinds.index(E.EVENT_TYPE_TIMER_FIRED)
        started = kinds.index(E.EVENT_TYPE_WORKFLOW_TASK_STARTED)
        completed = kinds.index(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        first_task.append((events[completed].event_time.ToDatetime(UTC)
                           - events[started].event_time.ToDatetime(UTC)).total_seconds())
        fired_late.append((events[fired].event_time.ToDatetime(UTC) - at).total_seconds())
        scheduled = next(i for i in range(fired, len(kinds)) if kinds[i] == E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
        kind = events[scheduled].workflow_task_scheduled_event_attributes.task_queue.kind
        queues["sticky" if kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY else "normal"] += 1
        task = next((i for i in range(scheduled, len(kinds)) if kinds[i] == E.EVENT_TYPE_WORKFLOW_TASK_STARTED), None)
        if task is not None:
            to_task.append((events[task].event_time.ToDatetime(UTC)
                            - events[fired].event_time.ToDatetime(UTC)).total_seconds())
    return queues, {"first_task_s": percentiles(first_task), "timer_fired_late_s": percentiles(fired_late),
                    "fired_to_task_s": percentiles(to_task)}


async def main_async(args) -> dict:
    tag = uuid.uuid4().hex[:6]
    fast = args.seed_sqlite == "fast"
    stack = Stack("owner_care", api=False, database_url=args.database_url, log_level=args.log_level, keep=args.keep,
                  sqlite_pragmas=FAST_PRAGMAS if fast else [])
    async with stack:
        info = machine()
        worker = stack.child("worker").pid
        rss_start = rss_mib(worker)
        from devtools.seed import DEMO_BRAND

        dealers = [(d, b, r) for d, b, r in stack.sql("SELECT id, brand, region FROM dealer WHERE active ORDER BY id")
                   if b == DEMO_BRAND]
        seeder = Seeder(stack, tag, dealers, args.concurrency, args.window)
        evict = min(args.evict, args.ownerships)
        if evict <= WORKER_CACHE:
            log(f"WARNING: --evict {evict} <= the worker's cache ({WORKER_CACHE}): probes may still be cached")

        # 1. the background, but for the last `evict`
        cpu0 = stack.cpu() | {"bench_client": cpu_seconds(os.getpid())}
        first = await seeder.run([str(i) for i in range(args.ownerships - evict)], "ownerships",
                                 args.ownerships - evict)
        rate = (args.ownerships - evict) / first if first and args.ownerships > evict else 30.0

        # 2. probes: first maintenance due over probe-seconds, starting after the rest of the background is in
        lead_s = 20.0 + 1.5 * (args.probes + evict) / rate + (45.0 if fast else 0.0)
        base = datetime.now(UTC) + timedelta(seconds=lead_s)
        spacing = args.probe_seconds / max(1, args.probes)
        due = {f"owner-bench-{tag}-p{j}": base + timedelta(seconds=j * spacing) for j in range(args.probes)}
        t_probes = time.monotonic()
        sem = asyncio.Semaphore(16)

        async def probe(j: int) -> None:
            async with sem:
                seeder.started += 1
                await seeder.start(f"p{j}", due[f"owner-bench-{tag}-p{j}"] - FIRST_MAINTENANCE,
                                   dealers[j % len(dealers)])
        await asyncio.gather(*(probe(j) for j in range(args.probes)))
        probes_s = time.monotonic() - t_probes

        # 3. the last `evict` background ownerships: after the probes, so the worker's cache no longer holds them
        rest = await seeder.run([str(i) for i in range(args.ownerships - evict, args.ownerships)], "evicting probes",
                                args.ownerships + args.probes)
        create_s = first + rest
        cpu1 = stack.cpu() | {"bench_client": cpu_seconds(os.getpid())}
        idle_cores = await _settle(stack)
        away = None
        if fast:
            away = round(await stack.restart_temporal(DEFAULT_PRAGMAS), 1)
            log(f"dev server restarted with its default SQLite settings ({away} s away)")
            await asyncio.sleep(5)  # the worker polls again
        rss_after_create = rss_mib(worker)
        log(f"{args.ownerships} ownerships (+{args.probes} probes) in {create_s + probes_s:.0f} s; "
            f"worker RSS {rss_after_create:.0f} MiB")
        if datetime.now(UTC) > base:
            log("WARNING: the first probe was due before the background was in: raise the lead time")

        # 4. the probes fire
        cache_before = await _cache_metrics(stack)
        deadline = time.monotonic() + max(0.0, (base - datetime.now(UTC)).total_seconds()) + args.probe_seconds + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(5)
            fired = stack.sql("SELECT count(*) FROM owner_task WHERE kind = 'first_maintenance'")[0][0]
            if fired >= args.probes and datetime.now(UTC) > base + timedelta(seconds=args.probe_seconds):
                break
        await asyncio.sleep(3)  # the last projection
        seen = stack.sql("SELECT lead_id, min(seen_at) FROM bench_notification_seen WHERE kind = 'owner_care_task' "
                         "GROUP BY lead_id") if stack.postgres else []
        created = stack.sql("SELECT ownership_id, created_at FROM owner_task WHERE kind = 'first_maintenance'")
        inbox_late = [ts - due[oid].timestamp() for oid, ts in seen if oid in due]
        workflow_late = [(_aware(at) - due[oid]).total_seconds() for oid, at in created if oid in due]
        cache_after = await _cache_metrics(stack)
        queues, breakdown = await _from_histories(stack, due)
        replayed = {"cached_runs_when_probes_began": round(cache_before["size"]),
                     "cache_misses_while_probing": round(cache_after["miss"] - cache_before["miss"]),
                     "cache_hits_while_probing": round(cache_after["hit"] - cache_before["hit"])}
        n = args.ownerships
        cpu = cpu_delta(cpu0, cpu1)
        result: dict[str, Any] = {
            "ownerships": n, "probes": args.probes, "probe_seconds": args.probe_seconds,
            "concurrency": args.concurrency, "window": args.window, "evict": evict,
            "create_s": round(create_s, 1), "create_rate_per_s": round(n / create_s, 1) if create_s else None,
            "create_cpu_s_per_ownership": {k: round(v / n, 4) for k, v in cpu.items()},
            "create_cpu_utilisation": round(sum(cpu.values()) / create_s / (os.cpu_count() or 1), 2),
            "idle_cores_after_create": idle_cores, "seed_sqlite": args.seed_sqlite, "server_restart_s": away,
            "worker_rss_mib": {"start": round(rss_start), "after_create": round(rss_after_create),
                               "end": round(rss_mib(worker)), "peak": round(peak_rss_mib(worker))},
            "worker_rss_while_creating": seeder.rss_curve,
            "temporal_peak_rss_mib": round(peak_rss_mib(stack.child("temporal").pid)),
            "lateness_inbox_s": percentiles(inbox_late), "lateness_workflow_s": percentiles(workflow_late),
            "reminders_fired": len(workflow_late), "probes_replayed": replayed,
            "reminder_task_queue": queues, "lateness_parts": breakdown, "probe_lead_s": round(lead_s, 1),
            "load_avg_at_end": list(os.getloadavg()),
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
    parser.add_argument("--concurrency", type=int, default=16, help="client tasks starting ownerships (default 16)")
    parser.add_argument("--window", type=int, default=64,
                        help="at most this many ownerships started whose row is not written yet (default 64)")
    parser.add_argument("--evict", type=int, default=1500,
                        help="background ownerships started after the probes, more than the worker's cache "
                             f"({WORKER_CACHE}) holds (default 1500)")
    parser.add_argument("--seed-sqlite", choices=["fast", "default"], default="fast",
                        help="fast (default): the dev server's SQLite in WAL mode, synchronous=NORMAL while the "
                             "background is seeded, then restarted with its defaults for the probes; default: its "
                             "defaults throughout (an fsync per commit: ~4-10 ownerships/s)")
    add_database_args(parser)
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
