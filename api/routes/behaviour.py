"""Behaviour events from the OEM's sites, apps and live streams: they rescore the customer's open lead."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from api.deps import ActorDep, ClientDep
from api.errors import Problem, responses
from api.routes.leads import LeadId
from domain import commands as c
from domain.models import BehaviourEvent
from domain.stages import DEALER_ROLES
from workflows import gateway


class CustomerBehaviour(BehaviourEvent):
    """A behaviour event for a customer, identified by brand and phone (integrations know no lead ids)."""

    brand: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=5, max_length=32)


router = APIRouter(tags=["behaviour"], responses=responses(403, 404, 409, 503))


def _oem_only(actor) -> None:
    if actor.role in DEALER_ROLES:
        raise Problem(403, "error.behaviour_oem_only")


@router.post("/v1/behaviour-events", response_model=c.IntakeResult)
async def record_customer_behaviour(body: CustomerBehaviour, actor: ActorDep, client: ClientDep):
    """Count a page view, config view, live-stream join, test-drive booking... on the customer's open lead.
    A nurtured lead that rises to grade B or better is dispatched again, with priority."""
    _oem_only(actor)
    event = BehaviourEvent.model_validate(body.model_dump(exclude={"brand", "phone"}))
    return await gateway.record_behaviour(client, body.brand, body.phone, event, actor)


@router.post("/v1/leads/{lead_id}/behaviour-events", response_model=c.IntakeResult)
async def record_lead_behaviour(lead_id: LeadId, event: BehaviourEvent, actor: ActorDep, client: ClientDep):
    _oem_only(actor)
    return await gateway.record_lead_behaviour(client, lead_id, event, actor)
