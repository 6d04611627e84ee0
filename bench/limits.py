"""Dispatch cost as open leads grow (issue 12.2): intake p99 and CPU per lead at 1,000 and at 100,000 open leads.

    python -m bench.limits [--open-leads 1000,100000] [--seed state|rows] [--probe-leads 300] [--rate 5]

Dispatch reads each dealer's load from its limit counter (db/limits.py), kept by the same transaction that
reserves the slot, instead of counting the open leads of all the brand's dealers; so its cost should not
grow with the open leads. For each size, in order, on one stack:

1. Background: open leads are added until the read model holds that many (the sizes grow, so the second size
   adds to the first's). `--seed state` (the default) starts real lead workflows with the state the intake
   would decide (bench.clocks' StateSeeder; their projection adopts the dealer's slot in the ledger, as any
   lead's does); `--seed rows` writes only their read-model rows (bench.background, PostgreSQL only) and then
   rebuilds the ledger and counters
   (`db.limits.repair_counters`, what `ops.reconcile --repair` does): minutes instead of hours for
   100,000, and dispatch reads nothing else of them (the idle cost of their workflows is bench.clocks').
2. Probes: `--probe-leads` raw leads POSTed to /v1/leads as lead ops at a steady `--rate` (open loop), through
   the real intake, scoring, dispatch (the slot reserved under the dealer's lock) and notification. Intake
   latency = the first inbox row of the dealer's `lead_dispatched` notification (a trigger stamps it with the
   database's clock) minus the moment the POST was sent. CPU per lead = CPU of the Temporal server, the
   worker, the API and PostgreSQL over the probe phase, divided by the leads answered.

The result (bench/results/limits.json) gives both sizes and the ratios largest/smallest of the p99 and of
the CPU per lead; the goal is at most 1.2.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from datetime import UTC, datetime

import httpx

from bench.intake import inbox_latency, post_lead
from bench.stack import Stack, add_database_args, cpu_delta, log, machine, percentiles, raw_leads, record, run_pool


async def grow_to(stack: Stack, args, size: int, background: list, have: int, seeder) -> float:
    """Add open leads until `size`; answers the seconds it took."""
    t0 = time.time()
    batch = background[have:size]
    if not batch:
        return 0.0
    if args.seed == "rows":
        from bench.background import seed_open_leads
        from db.limits import repair_counters

        seed_open_leads(stack.db(), len(batch), prefix=f"BG{size}")

        repair_counters(stack.db(), datetime.now(UTC))
        # a bulk load leaves the planner without statistics and autovacuum's ANALYZE to run in the middle of the
        # measurement (seen: PostgreSQL's CPU per lead x4 at 100,000); a database that grew lead by lead has both
        with stack.db().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE lead, limit_counter, limit_reservation")
            # and the bulk load's dirty pages written now: otherwise the next checkpoint writes ~100,000 rows'
            # pages in the middle of the probes (the tail grew, p50 and p90 did not), which a read model that grew
            # lead by lead spreads over months of checkpoints
            conn.exec_driver_sql("CHECKPOINT")
        await asyncio.sleep(10)  # the checkpoint's writes leave the page cache
    else:
        await run_pool(batch, seeder.seed, args.concurrency, f"background leads to {size}", every=30)
        await seeder.settled(size)
    open_now = stack.sql(
        "SELECT count(*) FROM lead WHERE stage NOT IN ('completed', 'closed_invalid', 'closed_lost')")[0][0]
    counted = stack.sql("SELECT coalesce(sum(open), 0) FROM limit_counter WHERE scope = 'dealer'")[0][0]
    log(f"{open_now} open leads in the read model; the dealers' counters hold {counted}")
    return time.time() - t0


async def probe(stack: Stack, http: httpx.AsyncClient, leads: list, rate: float) -> dict:
    log(f"probes: {len(leads)} leads at {rate}/s")
    c0, t0 = stack.cpu(), time.time()
    tasks = []
    for i, raw in enumerate(leads):
        delay = t0 + i / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post_lead(http, raw)))
    answers = await asyncio.gather(*tasks)
    cpu = cpu_delta(c0, stack.cpu())
    await asyncio.sleep(1)
    ok = [a for a in answers if a["status"] == 200]
    dispatched = [a for a in ok if a["stage"] == "dispatched"]
    n = max(len(ok), 1)
    cpu_per_lead = {k: round(v / n, 4) for k, v in cpu.items()}
    cpu_per_lead["total"] = round(sum(cpu.values()) / n, 4)
    return {
        "leads": len(leads), "rate_per_s": rate, "answered_ok": len(ok), "dispatched": len(dispatched),
        "errors": dict(Counter(str(a["status"]) for a in answers if a["status"] != 200)),
        "stages": dict(Counter(a["stage"] for a in ok)),
        "inbox_latency_s": inbox_latency(stack, dispatched),
        "post_latency_s": percentiles(a["answered"] - a["sent"] for a in ok),
        "cpu_s_per_lead": cpu_per_lead,
    }


def _for(leads: list, sizes: list[int], size: int, args) -> list:
    """A fresh stack's leads: its background, then its warm-up and its own probes (the same ones it would have had
    on one stack), so both sizes post different customers, none of them already open."""
    k = sizes.index(size)
    rest = leads[sizes[-1]:]
    probes = rest[args.warmup:][k * args.probe_leads:(k + 1) * args.probe_leads]
    return leads[:size] + rest[:args.warmup] + probes


async def measure(args, sizes: list[int], stack: Stack, leads: list, results: list) -> None:
    """On one stack: warm up, then for each size grow the background to it and probe."""
    from bench.clocks import BACKGROUND_SCALE, StateSeeder
    from domain.policy import load_policy

    background, rest = leads[:sizes[-1]], leads[sizes[-1]:]
    stack.raise_dealer_capacity(len(leads))
    seeder = StateSeeder(stack, load_policy(None, BACKGROUND_SCALE)) if args.seed == "state" else None
    headers = {"Authorization": f"Bearer {stack.token('ops-wang')}"}
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    have = 0
    async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=300, limits=limits) as http:
        await run_pool(rest[:args.warmup], lambda raw: post_lead(http, raw), 4, "warm-up")
        rest = rest[args.warmup:]
        for k, size in enumerate(sizes):
            seconds = await grow_to(stack, args, size, background, have, seeder)
            have = size
            measured = await probe(stack, http, rest[k * args.probe_leads:(k + 1) * args.probe_leads], args.rate)
            measured.update(open_leads=size, seeded_in_s=round(seconds, 1))
            log(f"{size} open leads: inbox p99 {measured['inbox_latency_s'].get('p99')} s, "
                f"CPU {measured['cpu_s_per_lead']['total']} s per lead")
            results.append(measured)


async def main_async(args) -> dict:
    info = machine()
    sizes = sorted(int(s) for s in str(args.open_leads).split(","))
    probes_n = args.probe_leads * len(sizes)
    leads = raw_leads(sizes[-1] + probes_n + args.warmup)
    results: list[dict] = []
    # `--seed rows`: each size on a fresh stack (its own Temporal server, worker, API and database), so the sizes
    # differ only in the read model's open leads. On one stack the larger size was measured second, on a Temporal
    # server holding the first size's probe workflows and a worker whose cache they had filled: its CPU and tail grew
    # with what the benchmark had done before, not with the open leads (`--one-stack` keeps that way)
    fresh = args.seed == "rows" and not args.one_stack
    for group in ([[size] for size in sizes] if fresh else [sizes]):
        stack = Stack("limits", api=True, database_url=args.database_url, log_level=args.log_level, keep=args.keep,
                      workers=args.workers)
        async with stack:
            await measure(args, group, stack, leads if not fresh else _for(leads, sizes, group[0], args), results)
    stack_mode = "a fresh stack per size" if fresh else "one stack, sizes in turn"
    first, last = results[0], results[-1]

    def ratio(a, b):
        return round(a / b, 2) if a is not None and b else None

    result = {
        "read_model": "postgresql" if stack.postgres else "sqlite", "seed": args.seed, "stacks": stack_mode,
        "sizes": results,
        "ratio_largest_to_smallest": {
            "inbox_p99": ratio(last["inbox_latency_s"].get("p99"), first["inbox_latency_s"].get("p99")),
            "cpu_s_per_lead": ratio(last["cpu_s_per_lead"]["total"], first["cpu_s_per_lead"]["total"]),
        },
        "goal": "each ratio <= 1.2",
    }
    log(f"ratios {sizes[-1]}/{sizes[0]}: {result['ratio_largest_to_smallest']}")
    return record(args.name, result, info)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.limits", description=__doc__.splitlines()[0])
    parser.add_argument("--open-leads", default="1000,100000", help="open-lead counts, growing (default 1000,100000)")
    parser.add_argument("--seed", choices=["state", "rows"], default="state",
                        help="background leads as lead workflows seeded with their state (default), or read-model "
                             "rows only (fast)")
    parser.add_argument("--probe-leads", type=int, default=300, help="leads measured at each size (default 300)")
    parser.add_argument("--rate", type=float, default=5.0, help="the probes' steady rate, leads/s (default 5)")
    parser.add_argument("--warmup", type=int, default=20, help="leads posted first, not measured (default 20)")
    parser.add_argument("--concurrency", type=int, default=32, help="background seeding in flight (default 32)")
    parser.add_argument("--one-stack", action="store_true",
                        help="--seed rows: measure the sizes in turn on one stack (default: a fresh stack per size)")
    parser.add_argument("--name", default="limits", help="the result's name in bench/results (default limits)")
    add_database_args(parser)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
