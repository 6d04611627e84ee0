"""Who sees which leads (SPEC 1 and 9), in one place for every endpoint.

A dealer's people see only the leads their dealer holds now; a consultant only those assigned to
them or waiting in the dealer's public pool; the OEM's roles see every lead. Lists filter in SQL
with `lead_filter`, single leads are checked with `visible_to`; a lead the caller may not see is
answered 404, exactly as a lead that does not exist.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlmodel import col

from api.errors import Problem
from db.models import Lead
from domain import visibility
from domain.models import Actor
from domain.stages import DEALER_ROLES, LeadStage, Role

LEAD_OPS = frozenset({Role.LEAD_OPS, Role.HEAD_OF_LEAD_OPS})
DEALER_ADMINS = frozenset({Role.DEALER_MANAGER})


def lead_filter(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause: the leads this actor may see."""
    if actor.role not in DEALER_ROLES:
        return true()
    if actor.dealer_id is None:
        return false()
    held = col(Lead.dealer_id) == actor.dealer_id
    if actor.role == Role.CONSULTANT:
        return and_(held, or_(col(Lead.consultant_id) == actor.user_id,
                              col(Lead.stage) == LeadStage.PUBLIC_POOL.value))
    return held


def visible_to(actor: Actor, lead) -> bool:
    """`lead`: anything with dealer_id, consultant_id and stage (a read-model row, an action's or intake's answer)."""
    return visibility.may_see_lead(actor.role, actor.dealer_id, actor.user_id, lead)


def not_found(lead_id: str) -> Problem:
    """The one answer for a lead that does not exist and for a lead the caller may not see: same status, same body."""
    return Problem(404, "error.not_found", thing="lead", id=lead_id)


def visible_lead(session, actor: Actor, lead_id: str) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None or not visible_to(actor, lead):
        raise not_found(lead_id)
    return lead


def require(actor: Actor, roles: frozenset[Role] | set[Role], what: str) -> None:
    if actor.role not in roles:
        raise Problem(403, "error.role_only", what=what, roles=sorted(r.value for r in roles), role=actor.role.value)


def own_dealer(actor: Actor, dealer_id: str | None) -> None:
    """A dealer's people reach only their own dealer's master data; others' is 'not found'."""
    if actor.role in DEALER_ROLES and actor.dealer_id != dealer_id:
        raise Problem(404, "error.not_found", thing="dealer", id=dealer_id)
