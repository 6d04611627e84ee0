"""Intake through the HTTP API: latency to the dealer's inbox at a steady rate, and the maximum rate.

    python -m bench.intake [--rate 10 | --rate 2,4,6,8,10] [--steady-seconds 60] [--max-leads 600] [--concurrency 16]

Raw leads from devtools.network (the channel mix of real intake; about a third need cleansing at
the call center first, the rest are dispatched to a dealer at once) are POSTed to /v1/leads as
lead ops, one request per raw lead.

1. Steady: an open loop at `--rate` leads/s for `--steady-seconds` (each request leaves on
   schedule, whether or not earlier ones have answered). For each dispatched lead, latency = the
   first inbox row of the dispatch notification (kind lead_dispatched, addressed to the dealer's
   manager and ops lead) minus the moment the POST was sent. The row's time is the database's
   clock at its INSERT (a trigger in the benchmark's database), so nothing is polled. The POST's
   own latency (it answers once the intake is settled, inbox row included) is reported too.
2. Maximum: a closed loop of `--concurrency` requests in flight for `--max-leads` leads. The
   maximum sustainable rate = leads answered / wall time (a closed loop cannot build a backlog: at
   saturation it answers as fast as the stack can), with the POST latency at that load.
0. Bare, first and again last (`--bare` workflows each time, 0 to skip): bench.bare's workflow (one
   activity, one timer, one signal) on its own worker process against the same server, `--concurrency`
   at a time, after a warm-up. Its CPU per workflow (Temporal server + its worker), the mean of the two
   phases, is the yardstick: `cpu_ratio_vs_bare` = intake CPU per lead (Temporal server + lead
   worker(s) + API) / the bare workflow's, in the same run. Bracketing the intake keeps a drift of the
   machine's speed during the run (a shared host's neighbours; seen here: the same bare workflow at 0.057
   and 0.075 CPU-s minutes apart) and the server's growing store out of the ratio; both phases are
   reported. PostgreSQL is reported per lead but left out of the ratio (the bare
   workflow has no database). Top level: over all measured intake (steady phases and maximum together);
   each phase also has its own.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import httpx

from bench.bare import run_one
from bench.stack import (
    PYTHON,
    Stack,
    add_database_args,
    cpu_delta,
    log,
    machine,
    percentiles,
    raw_leads,
    record,
    run_pool,
)


async def post_lead(http: httpx.AsyncClient, raw) -> dict:
    sent = time.time()
    status: int | str  # the HTTP status, or the name of the error that prevented one
    try:
        response = await http.post("/v1/leads", json=raw.model_dump(mode="json", exclude_none=True))
        body = response.json() if response.status_code == 200 else {}
        status = response.status_code
    except httpx.HTTPError as err:
        body, status = {}, type(err).__name__
    return {"sent": sent, "answered": time.time(), "status": status, "lead_id": body.get("lead_id"),
            "stage": body.get("stage")}


def inbox_latency(stack: Stack, answers: list[dict]) -> dict:
    first_row = {lead: at for lead, at in stack.sql(
        "SELECT lead_id, min(seen_at) FROM bench_notification_seen WHERE kind = 'lead_dispatched' GROUP BY lead_id")}
    latency = [first_row[a["lead_id"]] - a["sent"] for a in answers if a["lead_id"] in first_row]
    return percentiles(latency)


RATIO_PARTS = ("temporal", "worker", "api")  # the intake's CPU that the ratio compares
BARE_PARTS = ("temporal", "bare_worker")  # the bare workflow's


def cpu_ratio(cpu: dict[str, float], leads: int, bare_cpu_per_workflow: float | None) -> float | None:
    if not bare_cpu_per_workflow or not leads:
        return None
    return round(sum(cpu.get(k, 0.0) for k in RATIO_PARTS) / leads / bare_cpu_per_workflow, 2)


async def bare_phase(stack: Stack, n: int, concurrency: int, timer: float, name: str = "bare") -> dict:
    await stack.wait_for_log("bare_worker", "bare worker started")
    await run_pool([f"{name}-warmup-{i}" for i in range(20)], lambda wid: run_one(stack.client, wid, timer), 8)
    log(f"bare: {n} workflows, {concurrency} at a time")
    c0 = stack.cpu()
    t0 = time.time()
    await run_pool([f"{name}-{i}" for i in range(n)], lambda wid: run_one(stack.client, wid, timer), concurrency,
                   "bare")
    wall = time.time() - t0
    cpu = cpu_delta(c0, stack.cpu())
    per = {k: round(v / n, 4) for k, v in cpu.items()}
    total = round(sum(cpu.get(k, 0.0) for k in BARE_PARTS) / n, 4)
    log(f"bare: {n / wall:.1f}/s, {total} CPU-s per workflow (Temporal + its worker)")
    return {"workflows": n, "timer_s": timer, "concurrency": concurrency, "per_s": round(n / wall, 2),
            "cpu_s_per_workflow": per, "cpu_s_per_workflow_total": total}


async def steady_phase(stack: Stack, http: httpx.AsyncClient, rate: float, leads: list) -> dict:
    log(f"steady: {len(leads)} leads at {rate}/s")
    c0 = stack.cpu()
    t0 = time.time()
    tasks = []
    for i, raw in enumerate(leads):
        delay = t0 + i / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post_lead(http, raw)))
    answers = await asyncio.gather(*tasks)
    cpu = cpu_delta(c0, stack.cpu())
    wall = max(a["answered"] for a in answers) - t0
    await asyncio.sleep(1)
    ok = [a for a in answers if a["status"] == 200]
    result = {
        "leads": len(leads), "rate_per_s": rate, "answered_ok": len(ok),
        "errors": dict(Counter(str(a["status"]) for a in answers if a["status"] != 200)),
        "stages": dict(Counter(a["stage"] for a in ok)),
        "inbox_latency_s": inbox_latency(stack, ok),
        "post_latency_s": percentiles(a["answered"] - a["sent"] for a in ok),
        "achieved_rate_per_s": round(len(ok) / wall, 2),
        "cpu_s_per_lead": {k: round(v / max(len(ok), 1), 4) for k, v in cpu.items()},
        "_cpu": cpu,
    }
    log(f"steady {rate}/s: inbox p50 {result['inbox_latency_s'].get('p50')} s, "
        f"p99 {result['inbox_latency_s'].get('p99')} s")
    return result


async def main_async(args) -> dict:
    info = machine()
    rates = [float(r) for r in str(args.rate).split(",")]
    sizes = [int(r * args.steady_seconds) for r in rates]
    steady_n = sum(sizes)
    stack = Stack("intake", api=True, database_url=args.database_url, log_level=args.log_level, keep=args.keep,
                  workers=args.workers,
                  extra_workers=[("bare_worker", [PYTHON, "-m", "bench.bare"])] if args.bare else [])
    async with stack:
        # 0. the yardstick: the bare workflow on the same server, before any lead (and again after the last)
        bare = await bare_phase(stack, args.bare, args.concurrency, args.bare_timer) if args.bare else None
        leads = raw_leads(args.warmup + steady_n + args.max_leads)
        stack.raise_dealer_capacity(len(leads))
        warmup, steady, maximum = (leads[:args.warmup], leads[args.warmup:args.warmup + steady_n],
                                   leads[args.warmup + steady_n:])
        steady_batches, at = [], 0
        for size in sizes:
            steady_batches.append(steady[at:at + size])
            at += size
        headers = {"Authorization": f"Bearer {stack.token('ops-wang')}"}
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=300, limits=limits) as http:
            await run_pool(warmup, lambda raw: post_lead(http, raw), 4, "warm-up")

            # 1. steady open loops, one per rate
            steady_results = []
            for rate, batch in zip(rates, steady_batches, strict=True):
                steady_results.append(await steady_phase(stack, http, rate, batch))

            # 2. closed loop at saturation
            log(f"maximum: {len(maximum)} leads, {args.concurrency} in flight")
            c0 = stack.cpu()
            t0 = time.time()
            max_answers = await run_pool(maximum, lambda raw: post_lead(http, raw), args.concurrency, "maximum")
            wall = time.time() - t0
            max_cpu = cpu_delta(c0, stack.cpu())
            ok = [a for a in max_answers if a["status"] == 200]
            max_result = {
                "leads": len(maximum), "concurrency": args.concurrency, "answered_ok": len(ok),
                "errors": dict(Counter(str(a["status"]) for a in max_answers if a["status"] != 200)),
                "seconds": round(wall, 1), "leads_per_s": round(len(ok) / wall, 2),
                "post_latency_s": percentiles(a["answered"] - a["sent"] for a in ok),
                "inbox_latency_s": inbox_latency(stack, ok),
                "cpu_s_per_lead": {k: round(v / max(len(ok), 1), 4) for k, v in max_cpu.items()},
                "cpu_utilisation": {k: round(v / wall, 2) for k, v in max_cpu.items()},
            }
        # 3. the yardstick again, on the server as the intake left it
        bare_after = (await bare_phase(stack, args.bare, args.concurrency, args.bare_timer, "bare-after")
                      if args.bare else None)
        bare_total = (round((bare["cpu_s_per_workflow_total"] + bare_after["cpu_s_per_workflow_total"]) / 2, 4)
                      if bare and bare_after else None)
        max_result["cpu_ratio_vs_bare"] = cpu_ratio(max_cpu, len(ok), bare_total)
        # all measured intake together: the steady phases and the maximum
        all_cpu, all_leads = dict(max_cpu), len(ok)
        for phase in steady_results:
            cpu = phase.pop("_cpu")
            phase["cpu_ratio_vs_bare"] = cpu_ratio(cpu, phase["answered_ok"], bare_total)
            for k, v in cpu.items():
                all_cpu[k] = all_cpu.get(k, 0.0) + v
            all_leads += phase["answered_ok"]
        intake_total = round(sum(all_cpu.get(k, 0.0) for k in RATIO_PARTS) / max(all_leads, 1), 4)
        result = {"read_model": "postgresql" if stack.postgres else "sqlite", "workers": args.workers,
                  "cpu_ratio_vs_bare": cpu_ratio(all_cpu, all_leads, bare_total),
                  "intake_cpu_s_per_lead": {k: round(v / max(all_leads, 1), 4) for k, v in all_cpu.items()},
                  "intake_cpu_s_per_lead_total": intake_total,
                  "bare": {"cpu_s_per_workflow_total": bare_total, "before": bare, "after": bare_after}
                  if bare else None,
                  "steady": steady_results,
                  "maximum": max_result, "memory_mib": stack.memory()}
    log(f"intake {result['intake_cpu_s_per_lead_total']} CPU-s per lead (Temporal + worker + API) vs bare "
        f"{bare_total}: cpu_ratio_vs_bare {result['cpu_ratio_vs_bare']}")
    return record("intake", result, info)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", default="10", help="steady arrival rate, leads/s (default 10); a comma-separated "
                                                     "list runs one steady phase per rate, e.g. 2,4,6,8,10")
    parser.add_argument("--steady-seconds", type=float, default=60.0, help="steady phase length (default 60)")
    parser.add_argument("--max-leads", type=int, default=600, help="leads for the maximum-rate phase (default 600)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="requests in flight in the maximum phase (default 16: the API holds a database "
                             "connection per request, 20 at most)")
    parser.add_argument("--bare", type=int, default=300,
                        help="bare workflows measured first, the yardstick of cpu_ratio_vs_bare (default 300; 0: skip)")
    parser.add_argument("--bare-timer", type=float, default=0.1, help="the bare workflow's timer, seconds (0.1)")
    parser.add_argument("--warmup", type=int, default=20, help="leads posted first, not measured (default 20)")
    add_database_args(parser)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
