"""The working-day calendar's costs (issue 12): a deadline read from the calendar table, and finding the leads a
correction reaches.

    python -m bench.calendar [--database-url postgres|sqlite|URL] [--calls 2000] [--open-clocks 10000 100000]

1. Deadline: the `working_day_deadline` activity's body (what the lead runs as a local activity), called
   `--calls` times with start times spread over 2026-2027 (a confirmed and a provisional year), each call with
   its own session as the activity has: latency p50/p99 and calls/s, against the package-only count it replaced
   (`domain.calendar.add_working_days`, no database).
2. Correction: `--open-clocks` open working-day clock runs (defeat review, appeal window, appeal review; starts
   spread over a year) in `clock_run`, then the `affected_leads` activity's query for a change of one day
   (13 Feb 2027) and of the whole Spring Festival week: time and leads found. The signals that follow are one
   `SignalExternalWorkflowExecution` per lead, 50 in flight (workflows/calendar.py).

No Temporal server is involved: the activity bodies are called directly against the read model.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from activities.calendar import CalendarActivities
from bench.stack import DEFAULT_POSTGRES, log, machine, percentiles, record
from db.engine import init_db, make_engine
from db.models import ClockRun, Lead
from domain.calendar import SHANGHAI, add_working_days
from domain.models import CalendarChange, DeadlineRequest
from domain.policy import CalendarOverrides

START = datetime(2026, 1, 1, tzinfo=SHANGHAI)


def database(url: str):
    if url == "sqlite":
        url = "sqlite:////tmp/leadflow_bench_calendar.db"
        import pathlib

        pathlib.Path("/tmp/leadflow_bench_calendar.db").unlink(missing_ok=True)
    elif url == "postgres":
        admin = make_engine(DEFAULT_POSTGRES + "/postgres")
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("DROP DATABASE IF EXISTS leadflow_bench_calendar"))
            conn.execute(text("CREATE DATABASE leadflow_bench_calendar"))
        admin.dispose()
        url = DEFAULT_POSTGRES + "/leadflow_bench_calendar"
    engine = make_engine(url)
    init_db(engine)
    return engine


def bench_deadlines(engine, calls: int) -> dict:
    rnd = random.Random(12)
    starts = [START + timedelta(minutes=rnd.randrange(0, 2 * 365 * 24 * 60)) for _ in range(calls)]
    acts = CalendarActivities(engine)
    acts.working_day_deadline(DeadlineRequest(start=starts[0], working_days=3))  # seeds the years once
    acts.working_day_deadline(DeadlineRequest(start=START + timedelta(days=400), working_days=3))
    table, package = [], []
    t0 = time.perf_counter()
    for start in starts:
        t = time.perf_counter()
        acts.working_day_deadline(DeadlineRequest(start=start, working_days=3))
        table.append((time.perf_counter() - t) * 1000)
    table_rate = calls / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for start in starts:
        t = time.perf_counter()
        add_working_days(start, 3, CalendarOverrides())
        package.append((time.perf_counter() - t) * 1000)
    package_rate = calls / (time.perf_counter() - t0)
    return {"calls": calls, "table_ms": percentiles(table), "table_calls_per_s": round(table_rate),
            "package_ms": percentiles(package, 4), "package_calls_per_s": round(package_rate)}


def seed_clocks(engine, n: int) -> None:
    rnd = random.Random(n)
    clocks = ("defeat_review", "appeal_window", "appeal_review")
    with Session(engine) as session:
        session.execute(text("DELETE FROM clock_run"))
        session.execute(text("DELETE FROM lead"))
        session.commit()
    now = datetime.now(UTC)
    for chunk in range(0, n, 5000):
        with Session(engine) as session:
            for i in range(chunk, min(n, chunk + 5000)):
                start = datetime(2026, 12, 1, 9, tzinfo=SHANGHAI) + timedelta(minutes=rnd.randrange(0, 120 * 24 * 60))
                session.add(Lead(lead_id=f"lead-{i}", brand="aurora", customer_key=f"k{i}", customer_name="-",
                                 phone="-", channel="website", stage="defeat_review", furthest_stage="defeat_review",
                                 created_at=now, updated_at=now, workflow_id=f"lead-{i}", run_id="r"))
                session.add(ClockRun(lead_id=f"lead-{i}", clock=clocks[i % 3], started_at=start,
                                     deadline=start + timedelta(days=rnd.choice((3, 4, 5, 6))), outcome=None))
            session.commit()


def bench_correction(engine, n: int) -> dict:
    seed_clocks(engine, n)
    acts = CalendarActivities(engine)
    out: dict[str, Any] = {"open_clocks": n}
    for name, dates in (("one_day", [date(2027, 2, 13)]),
                        ("spring_festival_week", [date(2027, 2, d) for d in range(5, 15)])):
        times, found = [], 0
        for _ in range(5):
            t = time.perf_counter()
            found = len(acts.affected_leads(CalendarChange(year=2027, dates=dates, reason="bench")))
            times.append(time.perf_counter() - t)
        out[name] = {"leads_found": found, "query_s": percentiles(times)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--open-clocks", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    info = machine()
    log(f"load at start: {info['load_avg_at_start']}")
    engine = database(args.database_url)
    result = {"database": engine.dialect.name, "deadline": bench_deadlines(engine, args.calls),
              "correction": [bench_correction(engine, n) for n in args.open_clocks]}
    record("calendar", result, info)


if __name__ == "__main__":
    main()
