"""What would a period have looked like under a draft policy? (issue 16)

    python -m ops.simulate --version 7 --days 30            # a draft from the read model, the last 30 days
    python -m ops.simulate --draft draft.toml --start 2026-11-01 --end 2026-12-01 --workers 2 --out report.json

Reads every lead's recorded facts (`lead_fact`) of the period with one streaming query per worker process
(PostgreSQL: one row per lead, its facts as one JSON array, and what its timeline recorded; the leads are split
between the processes by a hash of their id; SQLite: one process), takes reality from each lead's recorded timeline
(or simulates it under the lead's own policy version: `--simulate-reality`, the same figures by the oracle), runs
every lead under the draft through the pure decider (`domain/simulate.py`), and prints the side-by-side report with a
progress bar. Nothing touches Temporal, and the
read model is only read.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import sys
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.policy import Policy
from domain.policy_versions import check_draft
from domain.simulate import Chunk, compare, fast_decider, readable, report

Progress = Callable[[int, int], None]  # (leads done, leads in all)


def _policies(engine) -> dict[str, Policy]:
    """Every version in the read model, by its version string (what a lead's intake fact records)."""
    from sqlmodel import Session, select

    from db.models import PolicyVersion
    from db.policies import policy_of
    with Session(engine) as session:
        return {str(row.version): policy_of(row) for row in session.exec(select(PolicyVersion))}


def _base_of(versions: dict[str, Policy], fallback: Policy):
    def base(lead_id: str, facts: list[dict]) -> Policy:
        version = facts[0]["data"].get("policy_version") if facts else None
        return versions.get(str(version), fallback)
    return base


_DONE: dict = {}


def _init(counter) -> None:
    _DONE["counter"] = counter


def _without_reality(stream):
    """`stream_leads` shaped as `stream_leads_with_reality` (no timeline read: reality is simulated)."""
    def leads(*args, **kw):
        for lead_id, facts in stream(*args, **kw):
            yield lead_id, facts, None
    return leads


def _worker(args) -> tuple[Chunk, float]:
    url, part, parts, start, end, draft_doc, fallback_doc, recorded_reality = args
    done = _DONE["counter"]
    fast_decider()
    # A batch of short-lived objects (each step's events, clocks and effects die with the lead): the collector's
    # default (a young-generation pass every 700 allocations, promoting the survivors) cost ~15% of the CPU. The
    # start-up's objects are frozen out of its passes, and a young pass runs every 50,000 allocations.
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    from db.engine import make_engine
    from db.facts import stream_leads, stream_leads_with_reality
    from domain.simulate import recorded_outcome
    engine = make_engine(url)
    draft, fallback = Policy.model_validate(draft_doc), Policy.model_validate(fallback_doc)
    base = _base_of(_policies(engine), fallback)
    chunk = Chunk()
    counted = 0

    def leads():
        nonlocal counted
        stream = stream_leads_with_reality if recorded_reality else _without_reality(stream_leads)
        for lead_id, facts, summary in stream(engine, start, end, until=end, part=part, parts=parts):
            counted += 1
            if counted % 500 == 0:
                with done.get_lock():
                    done.value += 500
            known = recorded_outcome(lead_id, summary) if recorded_reality and summary is not None else None
            yield lead_id, facts, known

    chunk = compare(leads(), base, draft, end)
    with done.get_lock():
        done.value += counted % 500
    engine.dispose()
    return chunk, time.process_time()


def run(url: str, draft: Policy, start: datetime, end: datetime, fallback: Policy, workers: int = 2,
        progress: Progress | None = None, draft_version: str | None = None, recorded_reality: bool = True) -> dict:
    """The report for every lead taken in during [start, end), clocks lapsing up to `end`. Reality is what each lead's
    recorded timeline says happened up to `end` (`recorded_reality`; a lead without a timeline is simulated under its
    own policy, which by the oracle gives the same), or, with `recorded_reality=False`, simulated for every lead."""
    from db.engine import make_engine
    from db.facts import count_leads
    engine = make_engine(url)
    total = count_leads(engine, start, end)
    postgres = engine.dialect.name == "postgresql"
    engine.dispose()
    parts = max(1, workers) if postgres else 1
    ctx = mp.get_context("spawn")  # not fork: the API and the worker have threads (a fork can inherit a held lock)
    done = ctx.Value("i", 0)
    jobs = [(url, k, parts, start, end, draft.model_dump(mode="json"), fallback.model_dump(mode="json"),
             recorded_reality) for k in range(parts)]
    result = Chunk()
    if True:  # always child processes: only they switch the decider to its fast constructors
        with ctx.Pool(parts, initializer=_init, initargs=(done,)) as pool:
            pending = pool.map_async(_worker, jobs)
            while not pending.ready():
                pending.wait(0.2)
                if progress:
                    progress(done.value, total)
            cpu = 0.0
            for chunk, seconds in pending.get():
                result.merge(chunk)
                cpu += seconds
    if progress:
        progress(total, total)
    out = report(result, draft_version, (start, end))
    out["cpu_seconds"] = round(cpu, 1)  # the worker processes' CPU time (on a busy box, wall time is not the cost)
    return out


def _bar(done: int, total: int, started: float) -> None:
    width = 40
    frac = done / total if total else 1.0
    filled = int(width * frac)
    elapsed = time.perf_counter() - started
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} leads  {elapsed:5.1f} s")
    sys.stderr.flush()


def summary(r: dict) -> str:
    """The report in a few lines: reality -> draft (an operator's terminal: English)."""
    r = readable(r, "en")
    lines = [f"{r['leads']:,} leads, {r['differing_leads']:,} differ under the draft"]
    source = r.get("reality_from") or {}
    lines.append(f"  reality: {source.get('timeline', 0):,} leads from their recorded timelines, "
                 f"{source.get('simulated', 0):,} simulated under their own policy")
    real, new = r["reality"], r["draft"]
    for clock in sorted(set(real["sla_lapses"]) | set(new["sla_lapses"])):
        lines.append(f"  SLA lapses {clock:28} {real['sla_lapses'].get(clock, 0):>8,} "
                     f"-> {new['sla_lapses'].get(clock, 0):>8,}")
    lines.append(f"  reviews due {'':27} {real['reviews_due']:>8,} -> {new['reviews_due']:>8,}")
    lines.append(f"  alerts {'':32} {real['alerts']:>8,} -> {new['alerts']:>8,}")
    for g in sorted(set(real["grade_mix"]) | set(new["grade_mix"])):
        lines.append(f"  grade {g:33} {real['grade_mix'].get(g, 0):>8,} -> {new['grade_mix'].get(g, 0):>8,}")
    hurt = sorted(set(real["penalties_per_dealer"]) | set(new["penalties_per_dealer"]),
                  key=lambda d: real["penalties_per_dealer"].get(d, 0) - new["penalties_per_dealer"].get(d, 0))[:10]
    for d in hurt:
        a, b = real["penalties_per_dealer"].get(d, 0), new["penalties_per_dealer"].get(d, 0)
        if a != b:
            lines.append(f"  penalties {d:29} {a:>8,} -> {b:>8,}")
    for a in r["assumptions"]:
        lines.append(f"  assumed ({a['count']:,}x): {a['assumption']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.simulate", description=__doc__.split("\n\n")[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--version", type=int, help="a policy version in the read model (usually a draft)")
    src.add_argument("--draft", type=Path, help="a policy TOML file")
    parser.add_argument("--days", type=float, default=30, help="the last N days (default 30)")
    parser.add_argument("--start", type=datetime.fromisoformat)
    parser.add_argument("--end", type=datetime.fromisoformat)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--out", type=Path, help="write the whole report (JSON) here")
    parser.add_argument("--simulate-reality", action="store_true",
                        help="simulate reality under each lead's own policy instead of reading its recorded timeline "
                             "(the same figures, by the oracle; slower)")
    args = parser.parse_args(argv)

    from sqlmodel import Session

    from core.settings import get_settings
    from db.engine import make_engine
    from db.policies import active, get, policy_of
    from domain.policy import load_policy
    url = args.database_url or get_settings().database_url
    engine = make_engine(url)
    with Session(engine) as session:
        row = active(session)
        fallback = policy_of(row) if row else load_policy(time_scale=1)
        if args.version:
            draft, version = policy_of(get(session, args.version)), str(args.version)
        else:
            with args.draft.open("rb") as f:
                draft, version = check_draft(tomllib.load(f)), args.draft.name
    engine.dispose()
    end = args.end or datetime.now(UTC)
    start = args.start or end - timedelta(days=args.days)
    end, start = (x if x.tzinfo else x.replace(tzinfo=UTC) for x in (end, start))
    started = time.perf_counter()
    r = run(url, draft, start, end, fallback, args.workers, lambda d, t: _bar(d, t, started), version,
            recorded_reality=not args.simulate_reality)
    sys.stderr.write("\n")
    print(summary(r))
    print(f"({time.perf_counter() - started:.1f} s)")
    if args.out:
        args.out.write_text(json.dumps(readable(r, "en"), ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
