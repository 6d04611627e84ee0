"""The cron-style baseline of `bench.clocks`: a process that scans the database every minute for due deadlines.

This is how CRMs usually run timed actions: a scheduler wakes up every N seconds, selects the
deadlines that have passed and were not acted on yet, fires them and marks them done. Here it
reads the same deadlines the lead workflows keep (the read model's `clock_run` rows, written
when a clock starts), so both mechanisms watch the same leads and the same deadlines:

    SELECT ... FROM clock_run WHERE clock IN (...) AND deadline > :since AND deadline <= now
        AND (ended_at IS NULL OR ended_at >= deadline)     -- still running at its deadline
        AND NOT EXISTS (fired already)

and "fires" each one by inserting a row into its own table `bench_cron_alert` with the database's
clock (`fired_at`), in one transaction per scan. It is a shadow: it never touches the product's
tables, so the workflows behave exactly as without it. By default it creates the index a CRM has
on its due-date column (`bench_clock_run_deadline` on clock_run.deadline); `--no-index` scans
without it (the cost then grows with every clock run in the table).

    python -m bench.cron_baseline --database-url URL [--interval 60] [--clocks first_response,receipt]
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, create_engine, text

from bench.stack import BENCH_APP_NAME

APP_NAME = f"{BENCH_APP_NAME}_cron"
GRACE = timedelta(minutes=5)  # rescan this far behind the last scan: rows written late are still found


def _param(moment: datetime, postgres: bool):
    """SQLite keeps the read model's datetimes as UTC text ('YYYY-MM-DD HH:MM:SS.ffffff'): compare like with like."""
    return moment if postgres else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cron_baseline", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between scans (default 60)")
    parser.add_argument("--clocks", default="first_response,receipt", help="clock names to fire alerts for")
    parser.add_argument("--no-index", action="store_true", help="do not create the deadline index")
    parser.add_argument("--status-file", type=Path, help="JSON written after every scan: backend pid, scans")
    args = parser.parse_args(argv)
    postgres = args.database_url.startswith("postgresql")
    engine = create_engine(args.database_url, pool_size=1,
                           connect_args={"application_name": APP_NAME} if postgres else {"timeout": 30})
    clocks = [c.strip() for c in args.clocks.split(",") if c.strip()]
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    now_sql = "clock_timestamp()" if postgres else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    fired_type = "timestamptz" if postgres else "TEXT"
    with engine.begin() as conn:
        conn.execute(text(f"""
            CREATE TABLE IF NOT EXISTS bench_cron_alert (
                lead_id VARCHAR(128) NOT NULL, clock VARCHAR(64) NOT NULL, started_at {fired_type} NOT NULL,
                deadline {fired_type} NOT NULL, fired_at {fired_type} NOT NULL,
                PRIMARY KEY (lead_id, clock, started_at))"""))
        if not args.no_index:
            conn.execute(text("CREATE INDEX IF NOT EXISTS bench_clock_run_deadline ON clock_run (deadline)"))
    due = text("""
        SELECT c.lead_id, c.clock, c.started_at, c.deadline FROM clock_run c
        WHERE c.clock IN :clocks AND c.deadline > :since AND c.deadline <= :now
          AND (c.ended_at IS NULL OR c.ended_at >= c.deadline)
          AND NOT EXISTS (SELECT 1 FROM bench_cron_alert a
                          WHERE a.lead_id = c.lead_id AND a.clock = c.clock AND a.started_at = c.started_at)
    """).bindparams(bindparam("clocks", expanding=True))
    fire = text(f"""INSERT INTO bench_cron_alert (lead_id, clock, started_at, deadline, fired_at)
                    VALUES (:lead_id, :clock, :started_at, :deadline, {now_sql})""")

    conn = engine.connect()
    backend_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar() if postgres else None
    conn.commit()
    scans: list[dict] = []
    since = datetime.now(UTC) - GRACE
    next_scan = time.monotonic()
    while not stop:
        started = time.monotonic()
        now = datetime.now(UTC)
        rows = conn.execute(due,
                            {"clocks": clocks, "since": _param(since, postgres), "now": _param(now, postgres)}).all()
        for lead_id, clock, started_at, deadline in rows:
            conn.execute(fire, {"lead_id": lead_id, "clock": clock, "started_at": started_at, "deadline": deadline})
        conn.commit()
        scans.append({"at": now.timestamp(), "due": len(rows), "seconds": round(time.monotonic() - started, 4)})
        since = now - GRACE
        if args.status_file:
            tmp = args.status_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"backend_pid": backend_pid, "scans": scans}))
            tmp.replace(args.status_file)
        next_scan += args.interval
        while not stop and time.monotonic() < next_scan:
            time.sleep(min(0.5, max(0.0, next_scan - time.monotonic())))
    conn.close()
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
