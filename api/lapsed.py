"""The lapsed clocks still waiting for their action, for a page of leads (domain/overdue.py decides)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from api.schemas import ClockView
from db.engine import aware
from db.models import ClockRun, Lead, TimelineEntry
from domain import overdue
from domain.clocks import CLOCKS


def lapsed_clocks(session: Session, leads: list[Lead]) -> dict[str, list[ClockView]]:
    """lead id -> its lapsed clocks still awaited (red, with how late), for leads already checked visible."""
    ids = [lead.lead_id for lead in leads if lead.sla_breached or lead.alerts]
    if not ids:
        return {}
    runs: dict[str, list[overdue.Run]] = {}
    for r in session.exec(select(ClockRun).where(col(ClockRun.lead_id).in_(ids))).all():
        runs.setdefault(r.lead_id, []).append(overdue.Run(r.clock, aware(r.started_at), aware(r.deadline),
                                                          aware(r.ended_at), r.outcome, r.dealer_id))
    with_lapse = [i for i, rs in runs.items() if any(r.outcome == "lapsed" for r in rs)]
    if not with_lapse:
        return {}
    events: dict[str, list] = {}
    awaited = sorted(overdue.awaited_kinds())
    for lead_id, kind, at in session.exec(select(TimelineEntry.lead_id, TimelineEntry.kind, TimelineEntry.at).where(
            col(TimelineEntry.lead_id).in_(with_lapse), col(TimelineEntry.kind).in_(awaited))).all():
        events.setdefault(lead_id, []).append((kind, aware(at)))
    out: dict[str, list[ClockView]] = {}
    for lead in leads:
        if lead.lead_id not in with_lapse:
            continue
        still = overdue.still_lapsed(lead.stage, lead.furthest_stage, lead.dealer_id, runs[lead.lead_id],
                                     events.get(lead.lead_id, []))
        if still:
            out[lead.lead_id] = [ClockView(name=r.clock, title=CLOCKS[r.clock].title, started_at=r.started_at,
                                           deadline=r.deadline, paused=False, lapsed=True) for r in still]
    return out
