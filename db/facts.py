"""The simulator's input: every lead's recorded facts (`lead_fact`), read with one streaming query (issue 16)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from db.models import LeadFact

# Leads whose first fact (their intake) falls in the period; their facts in order.
_QUERY = """
SELECT f.lead_id, f.seq, f.at, f.kind, f.data FROM lead_fact f
WHERE f.lead_id IN (SELECT lead_id FROM lead_fact
                    WHERE seq = 0 AND kind = 'intake' AND at >= :start AND at < :end{part})
ORDER BY f.lead_id, f.seq
"""
# PostgreSQL: worker process `part` of `parts` takes the leads whose id hashes to it
_PART = " AND mod(abs(hashtext(lead_id)), :parts) = :part"


def count_leads(engine: Engine, start: datetime, end: datetime) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM lead_fact WHERE seq = 0 AND kind = 'intake' "
                                 "AND at >= :start AND at < :end"), {"start": start, "end": end}).scalar_one()


def stream_leads(engine: Engine, start: datetime, end: datetime, batch: int = 5000,
                 until: datetime | None = None, part: int = 0,
                 parts: int = 1) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(lead id, facts) for every lead taken in during [start, end), facts up to `until` (default: all)."""
    split = parts > 1 and engine.dialect.name == "postgresql"
    query = _QUERY.format(part=_PART if split else "")
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(
            text(query), {"start": start, "end": end, "part": part, "parts": parts})
        lead_id: str | None = None
        facts: list[dict[str, Any]] = []
        for row in result:
            if row[0] != lead_id:
                if facts and lead_id is not None:  # (facts are only gathered under a lead id)
                    yield lead_id, facts
                lead_id, facts = row[0], []
            at = row[2]
            if isinstance(at, str):
                at = datetime.fromisoformat(at)
            if at.tzinfo is None:  # SQLite gives naive UTC
                at = at.replace(tzinfo=UTC)
            if until is not None and at > until:
                continue
            data = row[4]
            if isinstance(data, str):
                data = json.loads(data)
            facts.append({"kind": row[3], "at": at, "data": data})
        if facts and lead_id is not None:
            yield lead_id, facts


__all__ = ["LeadFact", "count_leads", "stream_leads"]
