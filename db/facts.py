"""The simulator's input: every lead's recorded facts (`lead_fact`), read with one streaming query (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from db.models import LeadFact
from domain.simulate import REVIEW_EVENTS

# Leads whose first fact (their intake) falls in the period; their facts in order.
_QUERY = """
SELECT f.lead_id, f.seq, f.at, f.kind, f.data FROM lead_fact f
WHERE f.lead_id IN (SELECT lead_id FROM lead_fact
                    WHERE seq = 0 AND kind = 'intake' AND at >= :start AND at < :end)
ORDER BY f.lead_id, f.seq
"""
# PostgreSQL: one row per lead, its facts (up to `until`) as one JSON array built by the server (one decode per lead
# instead of a row and a JSON value per fact: 3x less client CPU); worker process `part` of `parts` takes the leads
# whose id hashes to it.
_PG_QUERY = """
SELECT i.lead_id, (SELECT json_agg(json_build_array(f.at, f.kind, f.data) ORDER BY f.seq) FROM lead_fact f
                   WHERE f.lead_id = i.lead_id AND f.at <= %(until)s)::text,
       {reality}
FROM lead_fact i
WHERE i.seq = 0 AND i.kind = 'intake' AND i.at >= %(start)s AND i.at < %(end)s
  AND mod(abs(hashtext(i.lead_id)), %(parts)s) = %(part)s
ORDER BY i.lead_id
"""


def count_leads(engine: Engine, start: datetime, end: datetime) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM lead_fact WHERE seq = 0 AND kind = 'intake' "
                                 "AND at >= :start AND at < :end"), {"start": start, "end": end}).scalar_one()


Lead = tuple[str, list[dict[str, Any]]]  # (lead id, its facts in order)
LeadAndReality = tuple[str, list[dict[str, Any]], dict[str, Any] | None]  # and what its timeline recorded, if any


def stream_leads(engine: Engine, start: datetime, end: datetime, batch: int = 5000,
                 until: datetime | None = None, part: int = 0, parts: int = 1) -> Iterator[Lead]:
    """(lead id, facts) for every lead taken in during [start, end), facts up to `until` (default: all)."""
    for lead_id, facts, _ in _stream(engine, start, end, batch, until, part, parts, reality=False):
        yield lead_id, facts


def stream_leads_with_reality(engine: Engine, start: datetime, end: datetime, batch: int = 5000,
                              until: datetime | None = None, part: int = 0,
                              parts: int = 1) -> Iterator[LeadAndReality]:
    """`stream_leads`, each lead with what its recorded timeline (`timeline_event`, up to `until`) says happened, summed
    up as `domain.simulate.recorded_outcome` reads it (None: the read model has no timeline for the lead)."""
    yield from _stream(engine, start, end, batch, until, part, parts, reality=True)


def _stream(engine: Engine, start: datetime, end: datetime, batch: int, until: datetime | None, part: int,
            parts: int, reality: bool) -> Iterator[LeadAndReality]:
    if engine.dialect.name == "postgresql":
        yield from _stream_postgres(engine, start, end, batch, until, part, parts, reality)
        return
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(
            text(_QUERY), {"start": start, "end": end})
        lead_id: str | None = None
        facts: list[dict[str, Any]] = []
        for row in result:
            if row[0] != lead_id:
                if facts and lead_id is not None:  # (facts are only gathered under a lead id)
                    yield lead_id, facts, _summary(engine, lead_id, until) if reality else None
                lead_id, facts = row[0], []
            at = _utc(row[2])
            if until is not None and at > until:
                continue
            data = row[4]
            if isinstance(data, str):
                data = json.loads(data)
            facts.append({"kind": row[3], "at": at, "data": data})
        if facts and lead_id is not None:
            yield lead_id, facts, _summary(engine, lead_id, until) if reality else None


def _utc(at: Any) -> datetime:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # SQLite gives naive UTC


# What happened, from the timeline: the events the report counts (domain.simulate.Outcome), up to `until`.
REVIEW_KINDS = sorted(REVIEW_EVENTS)
_PG_REALITY = """
(SELECT CASE WHEN count(*) > 0 THEN json_build_object(
    'stage', (array_agg(e.stage ORDER BY e.seq DESC))[1],
    'stages', array_agg(DISTINCT e.stage),
    'grade', (array_agg(e.data->>'grade' ORDER BY e.seq DESC) FILTER (WHERE e.kind = 'scored'))[1],
    'dealers', array_agg(e.dealer_id ORDER BY e.seq) FILTER (WHERE e.kind = 'dispatched' AND e.dealer_id IS NOT NULL),
    'lapses', array_agg(e.data->>'clock') FILTER (WHERE e.kind = 'clock_lapsed'),
    'penalties', array_agg(e.data->>'penalized_dealer_id') FILTER (WHERE e.kind = 'penalty_recorded'),
    'alerts', count(*) FILTER (WHERE e.kind = 'alert_raised'),
    'reviews', count(*) FILTER (WHERE e.kind = ANY(%(reviews)s))) END
 FROM timeline_event e WHERE e.lead_id = i.lead_id AND e.at <= %(until)s)::text"""


def _summary(engine: Engine, lead_id: str, until: datetime | None) -> dict[str, Any] | None:
    """The same summary as `_PG_REALITY`, from the lead's timeline rows (SQLite: the tests' read model)."""
    from sqlmodel import Session, col, select

    from db.models import TimelineEntry
    with Session(engine) as session:
        rows = session.exec(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id)
                            .order_by(col(TimelineEntry.seq))).all()
    rows = [r for r in rows if until is None or _utc(r.at) <= until]
    if not rows:
        return None
    scored = [r.data.get("grade") for r in rows if r.kind == "scored"]
    return {"stage": rows[-1].stage, "stages": sorted({r.stage for r in rows}), "grade": scored[-1] if scored else None,
            "dealers": [r.dealer_id for r in rows if r.kind == "dispatched" and r.dealer_id is not None],
            "lapses": [r.data["clock"] for r in rows if r.kind == "clock_lapsed"],
            "penalties": [r.data["penalized_dealer_id"] for r in rows if r.kind == "penalty_recorded"],
            "alerts": sum(r.kind == "alert_raised" for r in rows),
            "reviews": sum(r.kind in REVIEW_KINDS for r in rows)}


def _stream_postgres(engine: Engine, start: datetime, end: datetime, batch: int, until: datetime | None, part: int,
                     parts: int, reality: bool) -> Iterator[LeadAndReality]:
    """`stream_leads` on PostgreSQL: a server-side cursor over one row per lead."""
    query = _PG_QUERY.format(reality=_PG_REALITY if reality else "NULL")
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None  # (a pooled psycopg connection)
        conn.execute("SET TIME ZONE 'UTC'")  # (the JSON's timestamps: in UTC, as `fromisoformat` reads them)
        with conn.cursor(name=f"lead_facts_{part}") as cur:
            cur.itersize = batch
            cur.execute(query, {"start": start, "end": end, "until": until or datetime.max.replace(tzinfo=UTC),
                                "part": part if parts > 1 else 0, "parts": max(1, parts),
                                "reviews": list(REVIEW_KINDS)})
            loads, at_of = json.loads, datetime.fromisoformat
            for lead_id, facts, summary in cur:
                if facts is None:  # (its intake came after `until`)
                    continue
                yield (lead_id, [{"kind": kind, "at": at_of(at), "data": data} for at, kind, data in loads(facts)],
                       loads(summary) if summary is not None else None)
        conn.rollback()
    finally:
        raw.close()


__all__ = ["LeadFact", "count_leads", "stream_leads", "stream_leads_with_reality"]
