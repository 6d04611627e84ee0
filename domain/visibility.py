"""What each role sees of a lead: one function per surface, deciding by role and scope (pure, no I/O).

A dealer's people learn about a lead only what concerns their own dealer: its own dispatch line (its
rank, its factor scores, how many dealers were considered), its own holdings and what happened while it
held the lead. Never another dealer's id, name, figures or penalties, nor who held the lead before or
after. The OEM's roles see everything. Every surface that shows a lead to a person or a subscriber asks
here: the lead detail (timeline, holdings), the inbox and the live stream (notifications), the queues,
the dealers' webhooks. Which leads a dealer sees at all is `api.access`; this module is what it sees of them.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from domain.stages import DEALER_ROLES, LeadStage, Role

# keys of timeline and webhook data that name a dealer: an entry naming another dealer is not shown to a dealer
DEALER_KEYS = ("dealer_id", "to_dealer_id", "ended_dealer_id", "penalized_dealer_id", "appealing_dealer_id")
_CONSIDERED = re.compile(r"out of (\d+) candidate")


def sees_everything(role: Role) -> bool:
    """The OEM's roles (and the engine) see every lead whole."""
    return role not in DEALER_ROLES


class HeldLead(Protocol):
    """What `may_see_lead` reads of a lead: its state, a read-model row or a projection."""

    @property
    def dealer_id(self) -> str | None: ...
    @property
    def consultant_id(self) -> str | None: ...
    @property
    def stage(self) -> str: ...


def may_see_lead(role: Role, dealer_id: str | None, user_id: str, lead: HeldLead) -> bool:
    """`lead`: anything with dealer_id, consultant_id and stage. A dealer's people see the leads their dealer
    holds now; a consultant only those assigned to them or waiting in the dealer's public pool."""
    if sees_everything(role):
        return True
    if lead.dealer_id is None or lead.dealer_id != dealer_id:
        return False
    if role == Role.CONSULTANT:
        return lead.consultant_id == user_id or LeadStage(lead.stage) == LeadStage.PUBLIC_POOL
    return True


def was_judged(dealer_id: str | None, state: object) -> bool:
    """The dealer whose pseudo-defeat verdict may be appealed knows the lead (it held it), even after it left."""
    appeal = getattr(state, "appeal", None)
    return dealer_id is not None and appeal is not None and appeal.dealer_id == dealer_id


def dispatch_line(dealer_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """A dealer's own line of a dispatch: its rank, total, factor scores, and how many dealers were considered."""
    candidates = data.get("candidates") or []
    match = _CONSIDERED.search(data.get("reason") or "")
    considered = int(match.group(1)) if match else len(candidates)
    for rank, cand in enumerate(candidates, start=1):
        if cand.get("dealer_id") == dealer_id:
            return {"rank": rank, "considered": considered, "total": cand.get("total"),
                    "factors": dict(cand.get("factors") or {}), "distance_km": cand.get("distance_km")}
    # not among the recorded top ten (a preferred dealer ranked lower): the rank is not known
    return {"rank": None, "considered": considered, "total": None, "factors": {}, "distance_km": None}


def dispatch_text(line: dict[str, Any], lang: str = "zh-CN") -> str:
    """The dispatch reason a dealer reads (Chinese first): its own rank and score, nothing of the others."""
    from domain.messages import render
    rank = "?" if line["rank"] is None else line["rank"]
    if line["total"] is None:
        return render("dispatch.line", {"rank": rank, "considered": line["considered"]}, lang)
    return render("dispatch.line_total", {"rank": rank, "considered": line["considered"],
                                          "total": f"{line['total']:.2f}"}, lang)


def _names_other_dealer(dealer_id: str | None, entry_dealer: str | None, data: dict[str, Any]) -> bool:
    if entry_dealer is not None and entry_dealer != dealer_id:
        return True
    return any(data.get(k) not in (None, dealer_id) for k in DEALER_KEYS)


def timeline_entry(role: Role, dealer_id: str | None, entry: dict[str, Any]) -> dict[str, Any] | None:
    """One timeline entry as the viewer may see it, or None. `entry`: kind, dealer_id, data (and the rest)."""
    if sees_everything(role):
        return entry
    data = entry.get("data") or {}
    if _names_other_dealer(dealer_id, entry.get("dealer_id"), data):
        return None  # another holding's event, or about another dealer (an appeal, a penalty, a reassignment)
    if entry.get("kind") == "dispatched":
        line = dispatch_line(dealer_id, data)
        data = {"dealer_name": data.get("dealer_name"), "priority": data.get("priority"), "dispatch": line,
                "reason": dispatch_text(line)}
    elif entry.get("kind") == "no_eligible_dealer":
        data = {}
    return entry | {"data": data}


def holdings(role: Role, dealer_id: str | None, rows: list[dict[str, Any]],
             timeline: list[dict[str, Any]], lang: str = "zh-CN") -> list[dict[str, Any]]:
    """The holdings the viewer may see: a dealer only its own, the dispatch reason as its own line."""
    if sees_everything(role):
        return rows
    lines = [dispatch_line(dealer_id, e.get("data") or {}) for e in timeline
             if e.get("kind") == "dispatched" and e.get("dealer_id") == dealer_id]
    out = []
    for i, row in enumerate(r for r in rows if r.get("dealer_id") == dealer_id):
        reason = dispatch_text(lines[i], lang) if i < len(lines) else None
        out.append(row | {"dispatch_reason": reason})
    return out


def own_dispatch(role: Role, dealer_id: str | None, timeline: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The dispatch line of the lead's latest dispatch to the viewer's dealer (dealers), or to its holder (OEM)."""
    for e in reversed(timeline):
        if e.get("kind") != "dispatched":
            continue
        holder = e.get("dealer_id")
        if sees_everything(role):
            return dispatch_line(holder, e.get("data") or {}) if holder else None
        if holder == dealer_id:
            return dispatch_line(dealer_id, e.get("data") or {})
    return None


def notification(role: Role, dealer_id: str | None, row: dict[str, Any]) -> dict[str, Any] | None:
    """An inbox row (or its live-stream event). Dealer-side rows are addressed to the dealer's people and
    carry no other dealer; a row that names another dealer is not shown."""
    if sees_everything(role):
        return row
    if row.get("dealer_id") not in (None, dealer_id):
        return None
    return {k: v for k, v in row.items() if k not in ("data", "dealer_id", "region")}


def queue_row(role: Role, dealer_id: str | None, request: dict[str, Any]) -> dict[str, Any]:
    """The request shown beside a queued lead: a dealer sees no other dealer in it (e.g. an appeal's dealer)."""
    if sees_everything(role):
        return request
    return {k: v for k, v in request.items() if not (k in DEALER_KEYS and v not in (None, dealer_id))}


def webhook_event(subscriber_dealer_id: str | None, event_type: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """A webhook event's data for a subscriber. OEM subscriptions (no dealer) get it whole; a dealer's
    subscription gets its own view, or None when the event is about another dealer (then it is not sent)."""
    if subscriber_dealer_id is None:
        return data
    if _names_other_dealer(subscriber_dealer_id, data.get("dealer_id"), data):
        return None
    if data.get("event") == "dispatched":
        data = {k: v for k, v in data.items() if k not in ("reason", "candidates")}
    return data
