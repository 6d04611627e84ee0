"""The what-if simulator's speed (issue 16): a 30-day simulation of N leads (goal: 100,000 in < 60 s on 2 cores).

    python -m bench.simulate --leads 100000 --workers 2        # full size (the lead runs it on a quiet box)
    python -m bench.simulate --leads 2000 --workers 2          # small, to prove it works

1. Generates N leads' recorded facts over 30 days the way the workflow records them: each lead's people's actions
   follow one of five scripts (nobody acts; worked to a store visit; acknowledged late; assigned then silent;
   cleansing), and the reads' answers (score with its 23 items, dispatch with 10 ranked candidates of 200 dealers,
   consultant, working-day deadline) are produced by running the decider while recording (so the facts are
   consistent, as real ones are).
   Reality's timeline events (what the projection writes) are kept too, clocks lapsing up to the end of the period.
2. Loads them into PostgreSQL (`lead_fact` and `timeline_event` of a scratch database, COPY, ANALYZE; not timed).
3. Times `ops.simulate.run`: the streaming reads, reality from each lead's recorded timeline (`--simulate-reality`:
   every lead simulated under its own policy as well), every lead under a draft (receipt 1 h instead of 2 h, other
   dispatch weights, higher grade thresholds), the report. Prints the figure and `uptime` before and after.

`--no-db` skips PostgreSQL and times the simulation of the generated facts in memory (one process, reality simulated).
`--reuse` times the leads an earlier run loaded (no generation).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from domain import commands as c
from domain.models import Actor, Channel, LeadState, RawLead, Timeframe
from domain.policy import load_policy
from domain.policy_versions import apply_changes, check_draft, document_of
from domain.scoring import grade_for
from domain.simulate import _Run, compare, fact, report
from domain.stages import Role

POLICY = load_policy(time_scale=1)
DEALERS = [f"D-{i:03d}" for i in range(200)]
FACTORS = ("distance", "stock", "conversion", "rating", "load", "penalties")
ITEMS = list(POLICY.scoring.items)
OPS = Actor(user_id="ops", role=Role.LEAD_OPS)
CC = Actor(user_id="cc", role=Role.CALL_CENTER)


def draft_policy():
    return check_draft(apply_changes(document_of(POLICY), {
        "clocks": {"receipt": "1h"},
        "dispatch": {"weights": {"distance": 0.15, "stock": 0.30, "conversion": 0.20, "rating": 0.10, "load": 0.15,
                                 "penalties": 0.10}},
        "scoring": {"thresholds": {"H": 65, "A": 50, "B": 35}},
    }))


class _Recorder(_Run):
    """Runs the decider and records the facts as the workflow would, answering the reads from a synthetic world."""

    def __init__(self, lead_id, rng: random.Random, complete: bool):
        super().__init__(lead_id, [], POLICY, frozenset(), None)
        self.rng, self.complete = rng, complete
        self.recorded: list[dict[str, Any]] = []
        self.timeline: list[Any] = []  # the events reality emitted (what the projection writes to timeline_event)
        k = rng.sample(DEALERS, 10)
        self.candidates: list[dict[str, Any]] = sorted(({"dealer_id": d, "dealer_name": f"Aurora {d}", "total": 0.0,
                                   "factors": {f: round(rng.random(), 4) for f in FACTORS}, "distance_km": 3.2}
                                  for d in k), key=lambda x: x["dealer_id"])
        for cand in self.candidates:
            cand["total"] = round(sum(POLICY.dispatch.weights[f] * v for f, v in cand["factors"].items()), 4)
        self.candidates.sort(key=lambda x: -x["total"])

    def _next_read(self, kind, clock=None):
        s, at = self.state, self.state.updated_at
        if kind == "scored":
            items, got, total = [], 0.0, 0.0
            for name in ITEMS:
                mx = POLICY.scoring.items[name]
                pts = round(mx * self.rng.choice((0, 0.5, 1, 1)), 2)
                items.append({"name": name, "dimension": "key_info", "points": pts, "max_points": mx, "reason": "r"})
                got, total = got + pts, total + mx
            score = round(100 * got / total, 1)
            data = {"result": {"score": score, "grade": grade_for(score, POLICY.scoring.thresholds), "items": items,
                               "region": "East", "complete": self.complete,
                               "missing": [] if self.complete else ["series"]}, "then": "route"}
        elif kind == "dispatched":
            held = set(s.held_by)
            pool = [x for x in self.candidates if x["dealer_id"] not in held]
            if pool:
                win = pool[0]
                data = {"result": {"dealer_id": win["dealer_id"], "dealer_name": win["dealer_name"], "region": "East",
                                   "reason": "top score", "candidates": pool[:10]}}
            else:
                data = {"result": {"dealer_id": None, "reason": "nobody left"}}
        elif kind == "consultant":
            data = {"result": {"consultant_id": f"{s.dealer_id}-c1", "reason": "least loaded"}}
        elif kind == "deadline":
            clock_state = s.clocks[clock]
            data = {"clock": clock, "started_at": clock_state.started_at.isoformat(),
                    "deadline": (clock_state.started_at + timedelta(days=4)).isoformat()}
        else:
            return None
        f = {"kind": kind, "at": at, "data": data}
        self.recorded.append(f)
        return f

    def _commit(self, t):
        self.timeline.extend(t.events)
        super()._commit(t)

    def give(self, f: dict) -> None:
        """An input fact: recorded if the decider takes it."""
        before = sum(self.out.assumptions.values())
        self.recorded.append(f)
        mark = len(self.recorded)
        at = f["at"]
        if self.state is not None:
            self._lapse_until(at)
        self._apply(f, at)
        if sum(self.out.assumptions.values()) > before:  # refused: not a fact
            del self.recorded[mark - 1]


def _act(at, actor, command) -> dict:
    f = fact("act", at, envelope=c.CommandEnvelope(actor=actor, command=command))
    f["at"] = at
    return f


def _mgr(s):
    return Actor(user_id=f"{s.dealer_id}-mgr", role=Role.DEALER_MANAGER, dealer_id=s.dealer_id, region="East")


def _cons(s):
    return Actor(user_id=f"{s.dealer_id}-c1", role=Role.CONSULTANT, dealer_id=s.dealer_id, region="East")


# (minutes after intake, who, command)
SCRIPTS: dict[str, list[tuple[int, Callable[[LeadState], Actor], c.Command | None]]] = {
    "unattended": [],
    "worked": [(20, _mgr, c.Acknowledge()), (30, _mgr, None),
               (45, _cons, c.LogFollowUp(channel="call", duration_minutes=5, needs_captured=True)),
               (60 * 24, _cons, c.Invite(note="Saturday")), (60 * 24 * 4, _cons, c.RecordVisit(note="came"))],
    "late": [(150, _mgr, c.Acknowledge()), (160, _mgr, None),
             (200, _cons, c.LogFollowUp(channel="call", duration_minutes=2))],
    "silent": [(30, _mgr, c.Acknowledge()), (40, _mgr, None)],
    "cleansing": [(60 * 5, lambda s: CC, c.RecordCleansing(outcome="verified", corrections={"series": "A5"}))],
}
MIX = ["unattended"] * 5 + ["worked"] * 50 + ["late"] * 15 + ["silent"] * 20 + ["cleansing"] * 10


def generate(n: int, start: datetime, days: int = 30, seed: int = 16, timelines: dict[str, list] | None = None):
    """N leads' recorded facts; with `timelines`, also each lead's reality (its timeline events) up to the end of the
    period, clocks lapsing as the workflow's timers would (their re-dispatches' answers are facts too)."""
    rng = random.Random(seed)
    for i in range(n):
        t0 = start + timedelta(seconds=rng.uniform(0, days * 86400 - 3600))
        script = rng.choice(MIX)
        lead_id = f"lead-bench-{i:07d}"
        raw = RawLead(external_id=f"b-{i}", channel=Channel.WEBSITE, brand="Aurora", customer_name=f"C {i}",
                      phone=f"138{i:08d}", city="Shanghai", series=None if script == "cleansing" else "A5",
                      model="A5 Pro", budget=220_000, timeframe=Timeframe.WITHIN_15_DAYS)
        rec = _Recorder(lead_id, rng, complete=script != "cleansing")
        f = fact("intake", t0, raw=raw, actor=OPS, customer_key=f"k{i}", policy_version="1")
        f["at"] = t0
        rec.give(f)
        for minutes, who, command in SCRIPTS[script]:
            at = t0 + timedelta(minutes=minutes + rng.uniform(0, 10))
            if at > start + timedelta(days=days):
                break
            rec._lapse_until(at)
            s = rec._live()
            if s.dealer_id is None and who is not SCRIPTS["cleansing"][0][1]:
                continue
            if command is None:  # assign: the holder's consultant
                command = c.Assign(consultant_id=f"{s.dealer_id}-c1")
            rec.give(_act(at, who(s), command))
        if timelines is not None:
            rec._lapse_until(start + timedelta(days=days))
            timelines[lead_id] = rec.timeline
        yield lead_id, rec.recorded


def load(url: str, leads, timelines: dict[str, list] | None = None, truncate: bool = True) -> tuple[int, int]:
    """COPY the facts into `lead_fact` and, with `timelines` (filled by `generate` as it goes), reality's events into
    `timeline_event`, as the projection writes them. Returns (facts, events)."""
    import psycopg

    from db.engine import init_db, make_engine
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    rows = events = 0
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    if truncate:
        with psycopg.connect(dsn) as conn:
            conn.execute("TRUNCATE lead_fact, timeline_event")
    # two connections: one COPY at a time on each
    with psycopg.connect(dsn) as conn, psycopg.connect(dsn) as conn2:
        with conn.cursor().copy("COPY lead_fact (lead_id, seq, at, kind, data) FROM STDIN") as copy, \
                conn2.cursor().copy("COPY timeline_event (lead_id, seq, at, kind, stage, actor, role, dealer_id, "
                                    "data) FROM STDIN") as timeline:
            for lead_id, facts in leads:
                for seq, f in enumerate(facts):
                    copy.write_row((lead_id, seq, f["at"], f["kind"], json.dumps(f["data"], default=str)))
                    rows += 1
                for e in (timelines.pop(lead_id, []) if timelines is not None else []):
                    timeline.write_row((lead_id, e.seq, e.at, e.kind, str(e.stage), e.actor, str(e.role),
                                        e.dealer_id, json.dumps(e.data, default=str)))
                    events += 1
        conn.commit()
        conn2.commit()
        # (as autovacuum would after a bulk load: the planner's row counts)
        conn.execute("ANALYZE lead_fact")
        conn.execute("ANALYZE timeline_event")
    return rows, events


def _ensure_db(admin_url: str, name: str) -> None:
    import psycopg
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.simulate")
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-db", action="store_true")
    p.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--database", default="leadflow_bench_simulate")
    p.add_argument("--simulate-reality", action="store_true",
                   help="simulate reality too (every lead twice) instead of reading the recorded timelines")
    p.add_argument("--reuse", action="store_true",
                   help="time the simulation of the leads already loaded by an earlier run of the same size")
    args = p.parse_args()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = start + timedelta(days=30)
    draft = draft_policy()
    t = time.perf_counter()
    if args.no_db:
        leads = list(generate(args.leads, start))
        print(f"generated {args.leads:,} leads, {sum(len(f) for _, f in leads):,} facts "
              f"in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        from domain.simulate import fast_decider
        fast_decider()
        c0 = time.process_time()
        r = report(compare(leads, lambda *_: POLICY, draft, end), "draft", (start, end))
        r["cpu_seconds"] = round(time.process_time() - c0, 1)
    else:
        from ops.simulate import run
        _ensure_db(args.pg, args.database)
        url = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + args.database
        if not args.reuse:
            timelines: dict[str, list] = {}
            rows, events = load(url, generate(args.leads, start, timelines=timelines), timelines)
            print(f"generated and loaded {args.leads:,} leads, {rows:,} facts, {events:,} timeline events "
                  f"in {time.perf_counter() - t:.1f} s")
        print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        from bench.stack import machine
        measured_on = machine()  # (the load average as the timed part begins)
        t = time.perf_counter()
        r = run(url, draft, start, end, POLICY, args.workers, draft_version="draft",
                recorded_reality=not args.simulate_reality)
    elapsed = time.perf_counter() - t
    print(f"simulated {r['leads']:,} leads (reality and draft) in {elapsed:.1f} s "
          f"({r['leads'] / elapsed:,.0f} leads/s), {r['differing_leads']:,} differ; workers={args.workers}; "
          f"worker CPU {r.get('cpu_seconds', float('nan'))} s "
          f"({1000 * r.get('cpu_seconds', 0) / max(1, r['leads']):.2f} ms/lead); "
          f"reality from {r.get('reality_from')}")
    print("receipt lapses", r["reality"]["sla_lapses"].get("receipt", 0), "->",
          r["draft"]["sla_lapses"].get("receipt", 0))
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if not args.no_db:
        from bench.stack import record
        record("simulate", {
            "leads": r["leads"], "workers": args.workers, "wall_s": round(elapsed, 1),
            "worker_cpu_s": r.get("cpu_seconds"),
            "ms_per_lead": round(1000 * r.get("cpu_seconds", 0) / max(1, r["leads"]), 2),
            "differing_leads": r["differing_leads"], "reality_from": r.get("reality_from"),
            "receipt_lapses": [r["reality"]["sla_lapses"].get("receipt", 0),
                               r["draft"]["sla_lapses"].get("receipt", 0)],
            "reused_load": args.reuse, "goal_s": 60, "met": elapsed < 60, "load_avg_at_end": list(os.getloadavg()),
        }, measured_on)


if __name__ == "__main__":
    main()
