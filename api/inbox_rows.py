"""Inbox rows people can act on (issue 13 section 4): the customer's name, grade and stage beside each alert,
and the repeats of one alert for one lead collapsed into its newest row."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from api.access import visible_to
from db.models import Lead
from domain.models import Actor


def collapse(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest first in, newest first out: one row per (lead, kind), counting its repeats."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["lead_id"], row["kind"])
        if key in out:
            out[key]["repeats"] += 1
        else:
            out[key] = row | {"repeats": 1}
    return list(out.values())


def with_customers(session: Session, actor: Actor, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with its lead's customer name, grade and stage, when the caller may see the lead now."""
    ids = {r["lead_id"] for r in rows}
    found = session.exec(select(Lead).where(col(Lead.lead_id).in_(ids))).all() if ids else []
    leads = {lead.lead_id: lead for lead in found}
    out = []
    for row in rows:
        lead = leads.get(row["lead_id"])
        if lead is not None and visible_to(actor, lead):
            row = row | {"customer_name": lead.customer_name, "grade": lead.grade, "stage": lead.stage}
        out.append(row)
    return out
