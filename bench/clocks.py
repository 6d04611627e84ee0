"""Clock precision and cost: Temporal timers vs a cron that scans the database every minute.

    python -m bench.clocks --open-leads 10000 [--time-scale 30] [--probe-rate 1] [--probe-seconds 180]

1. Background: `--open-leads` real lead workflows through the intake gateway (what POST /v1/leads
   calls), with their clocks running but due after the run (policy time scale 0.001: the nearest
   deadline is ~10 days away), as most open leads' deadlines are in production. The creation rate,
   its CPU per lead and the worker's memory are recorded.
2. Idle: nothing is due for `--idle-seconds`; the cron baseline (bench.cron_baseline) is running.
   CPU per minute of each mechanism with N open leads and nothing to fire.
3. Probes: new leads at a steady `--probe-rate` for `--probe-seconds`, under the policy compressed by
   `--time-scale` S (LEADFLOW_TIME_SCALE): the 15-minute first-response clock lapses 900/S s after
   dispatch, the 2-hour receipt clock 7200/S s after (then the lead is re-dispatched and the next
   dealer's clocks start). Nobody acts, so every probe's clocks lapse: each lapse is an alert to
   the dealer's people. The run waits until the cron has had a scan after the last deadline.

Lateness is in real seconds: the time scale moves the deadlines closer, it does not speed up the
machinery. A timer that fires 0.3 s after its deadline is 0.3 s late whatever the scale, and the
cron scans every real minute. (Multiplying by S would be wrong: it would also scale the cron's
60 s into S minutes.)

- Temporal lateness (inbox) = when the first inbox row of the alert was inserted (a trigger
  records the database's clock) - the clock's deadline (clock_run.deadline). Temporal lateness
  (workflow) = when the workflow saw the lapse (clock_run.ended_at = workflow.now() of the task the
  timer woke) - the deadline.
- Cron lateness = bench_cron_alert.fired_at - deadline, for the same clock runs.
- Cost per minute (idle): CPU seconds per minute of the Temporal server + worker, and of the cron
  process + its database connection, while N leads are open and nothing is due.
- Cost per fired alert: Temporal: CPU of server + worker above the idle rate, in a window where
  only lapses happen (after the last probe's intake, until its receipt deadline), divided by the
  lapses in it; this is the whole product reaction (the alert to 2-4 people, the read model,
  search attributes, and for the receipt clock the penalty and the re-dispatch). Cron: all of its
  process + connection CPU over the probe phase (its scans are what its alerts cost), divided by
  the alerts it fired (one row each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict

from bench.stack import (
    PYTHON,
    Stack,
    add_database_args,
    cpu_delta,
    cpu_seconds,
    log,
    machine,
    percentiles,
    raw_leads,
    record,
    rss_mib,
    run_pool,
)
from db.engine import aware

BACKGROUND_SCALE = 0.001  # background leads' clocks: 1000x longer (first response due in ~10 days)
CLOCKS = ("first_response", "receipt")


def _epoch(value) -> float:
    from datetime import datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return aware(value).timestamp()


class Meter:
    """CPU snapshots of the stack's processes and of the cron's database connection."""

    def __init__(self, stack: Stack, status_file):
        self.stack, self.status_file = stack, status_file

    def cron_backend_pid(self) -> int | None:
        try:
            return json.loads(self.status_file.read_text()).get("backend_pid")
        except (OSError, ValueError):
            return None

    def snap(self) -> dict:
        cpu = self.stack.cpu()
        pid = self.cron_backend_pid()
        cpu["cron_db"] = cpu_seconds(pid) if pid else 0.0
        return {"t": time.time(), "cpu": cpu}

    @staticmethod
    def rates(a: dict, b: dict) -> dict:
        """CPU seconds per minute of each part between two snapshots, and the groups the comparison uses."""
        d = cpu_delta(a["cpu"], b["cpu"])
        minutes = (b["t"] - a["t"]) / 60
        per_min = {k: round(v / minutes, 3) for k, v in d.items()}
        per_min["temporal_total"] = round(per_min.get("temporal", 0) + per_min.get("worker", 0), 3)
        per_min["cron_total"] = round(per_min.get("cron", 0) + per_min.get("cron_db", 0), 3)
        per_min["other_postgres"] = round(per_min.get("postgres", 0) - per_min.get("cron_db", 0), 3)
        return per_min


class StateSeeder:
    """`--seed state`: open leads started as a lead that continued as new is, with its state carried in.

    The state is what the intake would have decided, computed by the same pure lifecycle functions
    (`domain.lifecycle.start_lead`, `on_scored`, `on_dispatched`) without the intake's activities: a score
    from a fixed spread (one in three goes to cleansing, as in real intake), and a dealer of the brand in
    turn. The workflow then projects it (lead row, running clock rows) and sleeps on its timers, like any
    open lead. Cheaper than through the gateway (no scoring, dispatch or notification: 16.5 leads/s
    settled against 7-10), so 100,000 open leads take under two hours instead of three or four; the
    clocks, timers and read model they leave are the same."""

    def __init__(self, stack: Stack, policy):
        self.stack, self.policy, self.turn = stack, policy, 0
        self.dealers: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for dealer_id, name, brand, region in stack.sql("SELECT id, name, brand, region FROM dealer WHERE active ORDER "
                                                        "BY id"):
            self.dealers[brand].append((dealer_id, name, region))

    def state_for(self, raw):
        from datetime import UTC, datetime

        from domain import lifecycle as lc
        from domain.customers import customer_key, normalize_phone
        from domain.models import Actor, DispatchResult, ScoreResult
        from domain.stages import Role
        from workflows import lead_ids

        phone = normalize_phone(raw.phone)
        raw = raw.model_copy(update={"phone": phone})
        now, actor = datetime.now(UTC), Actor(user_id="bench", role=Role.SYSTEM)
        self.turn += 1
        grade, score = [("C", 35.0), ("B", 62.0), ("A", 78.0)][self.turn % 3]
        t = lc.start_lead(lead_ids.new_lead_id(raw.brand, phone), customer_key(phone), raw, self.policy, now, actor)
        t = lc.on_scored(t.state, ScoreResult(score=score, grade=grade, items=[]), "route", self.policy, now)
        if any(isinstance(e, lc.DispatchEffect) for e in t.effects):
            dealer_id, name, region = self.dealers[raw.brand][self.turn % len(self.dealers[raw.brand])]
            t = lc.on_dispatched(t.state, DispatchResult(dealer_id=dealer_id, dealer_name=name, region=region,
                                                         reason="bench seed"), self.policy, now)
        return t.state

    async def settled(self, n: int, quiet_cores: float = 0.1) -> None:
        """Until the n seeded leads are in the read model and the server and worker are quiet again (each
        lead's last task, after its projection, starts its timers)."""
        while (self.stack.sql("SELECT count(*) FROM lead")[0][0]) < n:
            self.stack.check()
            await asyncio.sleep(2)
        while True:
            before, t = self.stack.cpu(), time.time()
            await asyncio.sleep(5)
            busy = cpu_delta(before, self.stack.cpu())
            cores = (busy.get("temporal", 0) + busy.get("worker", 0)) / (time.time() - t)
            log(f"seeded leads projected; server + worker busy {cores:.2f} cores")
            if cores < quiet_cores:
                return

    async def seed(self, raw):
        from types import SimpleNamespace

        from bench.stack import TASK_QUEUE
        from workflows.lead import LeadInput, LeadWorkflow

        state = self.state_for(raw)
        await self.stack.client.start_workflow(
            LeadWorkflow.run, LeadInput(lead_id=state.lead_id, customer_key=state.customer_key, policy=self.policy,
                                        state=state), id=state.lead_id, task_queue=TASK_QUEUE)
        return SimpleNamespace(lead_id=state.lead_id, stage=state.stage.value)


async def main_async(args) -> dict:
    started = time.time()
    info = machine()
    stack = Stack("clocks", api=False, database_url=args.database_url, log_level=args.log_level, keep=args.keep,
                  workers=args.workers)
    async with stack:
        from domain.policy import load_policy

        background_policy = load_policy(None, BACKGROUND_SCALE)
        probe_policy = load_policy(None, args.time_scale)
        probes_n = int(args.probe_rate * args.probe_seconds)
        leads = raw_leads(args.open_leads + probes_n)
        background, probes = leads[:args.open_leads], leads[args.open_leads:]
        stack.raise_dealer_capacity(len(leads))

        # 1. background
        log(f"creating {len(background)} open leads (concurrency {args.concurrency})")
        c0 = stack.cpu()
        t0 = time.time()
        done, rss_curve = 0, []  # (open leads so far, worker RSS MiB): where the worker's memory levels off

        seeder = StateSeeder(stack, background_policy) if args.seed == "state" else None

        async def create(raw):
            nonlocal done
            if seeder is not None:
                answer = await seeder.seed(raw)
                done += 1
                return answer
            for attempt in range(3):  # the intake is idempotent (same channel and external id: same answer)
                try:
                    answer = await stack.submit(raw, background_policy)
                    break
                except Exception as err:  # noqa: BLE001 - an RPC timeout under load: once more, then give up
                    if attempt == 2:
                        raise
                    log(f"intake failed ({type(err).__name__}): retrying")
                    stack.check()
            done += 1
            return answer

        async def sample_rss():
            while True:
                rss_curve.append((done, round(rss_mib(stack.child("worker").pid), 1)))
                await asyncio.sleep(30)

        sampler = asyncio.create_task(sample_rss())
        created = await run_pool(background, create, args.concurrency, "background leads", every=30)
        sampler.cancel()
        rss_curve.append((done, round(rss_mib(stack.child("worker").pid), 1)))
        step = -(-len(rss_curve) // 30)  # at most ~30 points in the result
        rss_curve = rss_curve[:-1:step] + rss_curve[-1:]
        started_s = time.time() - t0
        if seeder is not None:  # started is not settled: wait until every one is projected and asleep
            await seeder.settled(len(background))
        creation_s = time.time() - t0
        creation_cpu = cpu_delta(c0, stack.cpu())
        stages: defaultdict[str, int] = defaultdict(int)
        for r in created:
            stages[r.stage] += 1
        worker_rss_after_creation = rss_mib(stack.child("worker").pid)
        creation = {
            "leads": len(background), "seed": args.seed, "seconds": round(creation_s, 1),
            "started_in_s": round(started_s, 1),  # --seed state: all started; `seconds`: all settled
            "leads_per_s": round(len(background) / creation_s, 2) if creation_s else None,
            "cpu_s_per_lead": {k: round(v / max(len(background), 1), 4) for k, v in creation_cpu.items()},
            "stages": dict(stages),
        }
        log(f"created {len(background)} leads in {creation_s:.0f} s ({creation['leads_per_s']}/s)")

        # 2. idle, with the cron running
        status_file = stack.workdir / "cron-status.json"
        stack.spawn("cron", [PYTHON, "-m", "bench.cron_baseline", "--database-url", stack.url,
                              "--interval", str(args.cron_interval), "--clocks", ",".join(CLOCKS),
                              "--status-file", str(status_file), *(["--no-index"] if args.cron_no_index else [])])
        meter = Meter(stack, status_file)
        for _ in range(100):
            if meter.cron_backend_pid() or not stack.postgres and status_file.exists():
                break
            stack.check()
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)
        log(f"idle for {args.idle_seconds:.0f} s")
        idle_a = meter.snap()
        await asyncio.sleep(args.idle_seconds)
        idle_b = meter.snap()
        idle = Meter.rates(idle_a, idle_b)

        # 3. probes at a steady rate, then wait for every deadline and a cron scan after the last
        first_s, receipt_s = 900 / args.time_scale, 7200 / args.time_scale
        log(f"{probes_n} probe leads at {args.probe_rate}/s; first response due {first_s:.0f} s after each, "
            f"receipt {receipt_s:.0f} s after")
        probe_a = meter.snap()
        t_start = time.time()
        tasks = []
        for i, raw in enumerate(probes):
            delay = t_start + i / args.probe_rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(stack.submit(raw, probe_policy)))
        answers = [a for a in await asyncio.gather(*tasks, return_exceptions=True) if not isinstance(a, BaseException)]
        if len(answers) < len(tasks):
            log(f"{len(tasks) - len(answers)} probe intakes failed")
        intake_end = time.time()
        stack.check()
        window_from, window_to = intake_end + first_s + 5, intake_end + receipt_s
        cutoff = intake_end + receipt_s  # deadlines up to here are measured
        until = cutoff + args.cron_interval + 15
        snaps = {}
        for label, at in (("window_from", window_from), ("window_to", window_to), ("end", until)):
            if time.time() < at:
                await asyncio.sleep(at - time.time())
            snaps[label] = meter.snap()
            stack.check()
        memory = stack.memory()

        # collect
        probe_ids = [a.lead_id for a in answers]
        dispatched = sum(1 for a in answers if a.stage == "dispatched")
        rows = stack.sql("""SELECT lead_id, clock, started_at, deadline, ended_at, outcome FROM clock_run
                            WHERE clock IN ('first_response', 'receipt') AND deadline IS NOT NULL""")
        probe_set = set(probe_ids)
        runs = [r for r in rows if r[0] in probe_set and _epoch(r[3]) <= cutoff]
        # (lead, kind) -> {event seq: first inbox row time}
        seen: defaultdict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        for lead_id, kind, key, at in stack.sql(
                "SELECT lead_id, kind, idempotency_key, seen_at FROM bench_notification_seen WHERE kind IN "
                "('first_response', 'receipt')"):
            seq = int(key.split(":")[1])
            seen[(lead_id, kind)][seq] = min(at, seen[(lead_id, kind)].get(seq, at))
        cron = {(lead, clock, _epoch(started)): _epoch(fired) for lead, clock, started, fired in stack.sql(
            "SELECT lead_id, clock, started_at, fired_at FROM bench_cron_alert")}
        by_key = defaultdict(list)
        for r in runs:
            by_key[(r[0], r[1])].append(r)
        late: dict[str, dict[str, list[float]]] = {c: {"temporal_inbox": [], "temporal_workflow": [], "cron": []}
                                                   for c in CLOCKS}
        missed = {c: {"temporal": 0, "cron": 0} for c in CLOCKS}
        for (lead_id, clock), lead_runs in by_key.items():
            alerts = [seen[(lead_id, clock)][s] for s in sorted(seen[(lead_id, clock)])]
            for i, (_, _, started_at, deadline, ended_at,
                    outcome) in enumerate(sorted(lead_runs, key=lambda r: _epoch(r[3]))):
                d = _epoch(deadline)
                if outcome == "lapsed" and i < len(alerts):
                    late[clock]["temporal_inbox"].append(alerts[i] - d)
                    late[clock]["temporal_workflow"].append(_epoch(ended_at) - d)
                elif outcome != "lapsed":
                    missed[clock]["temporal"] += 1
                fired = cron.get((lead_id, clock, _epoch(started_at)))
                if fired is None:
                    missed[clock]["cron"] += 1
                else:
                    late[clock]["cron"].append(fired - d)
        lateness = {c: {k: percentiles(v) for k, v in late[c].items()} for c in CLOCKS}

        # cost
        window = Meter.rates(snaps["window_from"], snaps["window_to"])
        window_s = snaps["window_to"]["t"] - snaps["window_from"]["t"]
        lapses = stack.sql("SELECT ended_at FROM clock_run WHERE outcome = 'lapsed'")
        in_window = sum(1 for (e,) in lapses if window_from <= _epoch(e) <= window_to)
        above_idle = (window["temporal_total"] - idle["temporal_total"]) * window_s / 60
        probe_rates = Meter.rates(probe_a, snaps["end"])
        probe_min = (snaps["end"]["t"] - probe_a["t"]) / 60
        cron_alerts = len(cron)
        cron_cpu = probe_rates["cron_total"] * probe_min  # all of it: its scans are what its alerts cost
        status = json.loads(status_file.read_text())
        scan_s = [s["seconds"] for s in status["scans"]]
        result = {
            "open_leads": args.open_leads, "probes": len(probes), "probes_dispatched": dispatched,
            "time_scale": args.time_scale, "probe_rate_per_s": args.probe_rate, "cron_interval_s": args.cron_interval,
            "cron_index": not args.cron_no_index, "workers": args.workers,
            "read_model": "postgresql" if stack.postgres else "sqlite",
            "creation": creation,
            "lateness_s": lateness, "not_fired_by_end": missed,
            "cost": {
                "idle_cpu_s_per_min": idle,
                "alert_window": {"seconds": round(window_s, 1), "lapses": in_window,
                                 "cpu_s_per_min": window,
                                 "temporal_cpu_s_per_alert": round(above_idle / in_window, 4) if in_window else None,
                                 "temporal_cpu_s_per_alert_incl_idle":
                                     round(window["temporal_total"] * window_s / 60 / in_window,
                                           4) if in_window else None},
                "cron": {"alerts": cron_alerts, "scans": len(scan_s), "scan_seconds": percentiles(scan_s, 4),
                         "cpu_s_per_alert": round(cron_cpu / cron_alerts, 5) if cron_alerts else None},
            },
            "memory_mib": {"worker_rss_after_creation": round(worker_rss_after_creation, 1),
                           "worker_rss_while_creating": rss_curve,
                           "worker_peak_rss": memory["worker"]["peak_rss_mib"],
                           "temporal_peak_rss": memory["temporal"]["peak_rss_mib"]},
            "wall_seconds": round(time.time() - started, 1),
        }
    return record("clocks", result, info)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clocks", description=__doc__.splitlines()[0])
    parser.add_argument("--open-leads", type=int, default=1000, help="background open leads (default 1000)")
    parser.add_argument("--concurrency", type=int, default=16, help="intake calls in flight while creating them")
    parser.add_argument("--seed", choices=["intake", "state"], default="intake",
                        help="how the open leads are created: through the intake gateway (default), or started "
                             "with the state the intake would decide, as a continued lead is (StateSeeder)")
    parser.add_argument("--time-scale", type=float, default=30.0,
                        help="the probes' LEADFLOW_TIME_SCALE (default 30: first response 30 s, receipt 240 s)")
    parser.add_argument("--probe-rate", type=float, default=1.0, help="probe leads per second (default 1)")
    parser.add_argument("--probe-seconds", type=float, default=180.0, help="seconds of probe intake (default 180)")
    parser.add_argument("--idle-seconds", type=float, default=120.0, help="idle measurement (default 120)")
    parser.add_argument("--cron-interval", type=float, default=60.0, help="the cron's scan period (default 60 s)")
    parser.add_argument("--cron-no-index", action="store_true", help="the cron scans without a deadline index")
    add_database_args(parser)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
