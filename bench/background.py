"""Background open leads written straight into the read model, for benchmarks whose cost depends on how many
leads are open (dispatch's per-dealer load, search, lists), not on how many workflows sleep in Temporal.

Seeding 100,000 open leads as workflows (`bench.clocks --seed state`) takes about two hours on 2 cores; these rows
take seconds. They are not leads the engine runs: no workflow, no timers. A benchmark that uses them says so in
its result (`background: "read-model rows"`). What the workflows cost while they sleep was measured on its own
(bench/README.md, clocks: the idle cost did not grow from 1,000 to 100,000 open leads).
"""

from __future__ import annotations

from sqlalchemy import Engine, text

OPEN_STAGES = ("dispatched", "acknowledged", "contacted", "invited")


def seed_open_leads(engine: Engine, n: int, brand: str | None = None, prefix: str = "BG") -> int:
    """Insert `n` open leads (created in the day before yesterday, last changed over an hour ago, as a backlog of
    open leads is: not all touched this second) spread over the active dealers of `brand` (every brand when None),
    in one statement on PostgreSQL. Returns how many rows were written. Idempotent by lead id (`<prefix>-<i>`)."""
    if engine.dialect.name != "postgresql":
        raise SystemExit("bench.background needs the PostgreSQL read model (--database-url postgres)")
    with engine.begin() as conn:
        dealers = conn.execute(text(
            "SELECT id, brand, region, city FROM dealer"
            " WHERE active AND (CAST(:brand AS text) IS NULL OR brand = :brand) ORDER BY id"), {"brand": brand}).all()
        if not dealers:
            raise SystemExit(f"no active dealer of brand {brand!r} to hold the background leads")
        conn.execute(text(
            "CREATE TEMP TABLE bg_dealer (k int, id text, brand text, region text, city text) ON COMMIT DROP"))
        conn.execute(text("INSERT INTO bg_dealer VALUES (:k, :id, :brand, :region, :city)"),
                     [{"k": k, "id": d.id, "brand": d.brand, "region": d.region, "city": d.city}
                      for k, d in enumerate(dealers)])
        result = conn.execute(text("""
            INSERT INTO lead (lead_id, brand, customer_key, customer_name, phone, city, series, channel, stage,
                              furthest_stage, grade, score, region, dealer_id, consultant_id, sla_breached, alerts,
                              next_deadline, created_at, updated_at, last_seq, previous_lead_id, workflow_id, run_id,
                              clocks, score_items, detail)
            SELECT :prefix || '-' || i, d.brand, 'bg-customer-' || i, '背景客户' || i,
                   '+86139' || lpad((i % 100000000)::text, 8, '0'), d.city, 'A5', 'website',
                   (ARRAY['dispatched','acknowledged','contacted','invited'])[1 + i % 4],
                   (ARRAY['dispatched','acknowledged','contacted','invited'])[1 + i % 4],
                   (ARRAY['A','B','C'])[1 + i % 3], 60, d.region, d.id, NULL, false, 0,
                   now() + interval '30 days', now() - interval '1 day' - (i % 86400) * interval '1 second',
                   now() - interval '1 hour' - (i % 3600) * interval '1 second', 3, NULL,
                   :prefix || '-' || i, 'bench-background', '[]'::json, '[]'::json, '{}'::json
            FROM generate_series(1, :n) AS i
            JOIN bg_dealer d ON d.k = i % :dealers
            ON CONFLICT (lead_id) DO NOTHING"""), {"prefix": prefix, "n": n, "dealers": len(dealers)})
        return result.rowcount
