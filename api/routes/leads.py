"""Leads: intake, one endpoint per action, detail with clocks and timeline."""


from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Path
from sqlmodel import select

from api.deps import ActorDep, ClientDep, PolicyDep, SessionDep, TaskQueueDep
from api.schemas import ClockView, CustomerView, HoldingView, LeadDetail, LeadSummary, TimelineView
from db.models import HoldingRow, Lead, TimelineEntry
from domain import commands as c
from domain.clocks import CLOCKS
from domain.lifecycle import allowed_actions
from domain.models import Actor, LeadState, RawLead
from domain.stages import DEALER_ROLES, LeadStage, Role
from workflows import gateway

router = APIRouter(prefix="/v1/leads", tags=["leads"])
LeadId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
INTAKE_ROLES = {Role.LEAD_OPS, Role.HEAD_OF_LEAD_OPS, Role.CALL_CENTER, Role.SYSTEM, *DEALER_ROLES}


def visible_to(actor: Actor, lead: Lead) -> bool:
    """A dealer sees only leads it holds now; a consultant only its own or the pool's; the OEM all."""
    if actor.role not in DEALER_ROLES:
        return True
    if lead.dealer_id is None or lead.dealer_id != actor.dealer_id:
        return False
    if actor.role == Role.CONSULTANT:
        return lead.consultant_id == actor.user_id or lead.stage == LeadStage.PUBLIC_POOL
    return True


def _visible_lead(session, actor: Actor, lead_id: str) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None or not visible_to(actor, lead):
        raise HTTPException(404, f"lead {lead_id} not found")
    return lead


@router.post("", response_model=c.IntakeResult, status_code=200)
async def take_in_raw_lead(raw: RawLead, actor: ActorDep, client: ClientDep, policy: PolicyDep, task_queue: TaskQueueDep):
    """One raw lead from any channel. Answers the lead id (= workflow id) and whether it was created or merged."""
    if actor.role not in INTAKE_ROLES:
        raise HTTPException(403, f"{actor.role.value} cannot submit raw leads")
    if actor.role in DEALER_ROLES:  # entered on the dealer's portal: the dealer is the preferred one
        raw = raw.model_copy(update={"preferred_dealer_id": actor.dealer_id})
    return await gateway.submit_raw_lead(client, task_queue, policy, raw, actor)


@router.get("", response_model=list[LeadSummary])
def list_leads(actor: ActorDep, session: SessionDep, stage: LeadStage | None = None, limit: int = 50):
    query = select(Lead)
    if stage:
        query = query.where(Lead.stage == stage.value)
    if actor.role in DEALER_ROLES:
        query = query.where(Lead.dealer_id == actor.dealer_id)
    rows = session.exec(query.order_by(Lead.updated_at.desc()).limit(max(1, min(limit, 500)))).all()
    return [LeadSummary.model_validate(r, from_attributes=True) for r in rows if visible_to(actor, r)]


@router.get("/{lead_id}", response_model=LeadDetail)
def lead_detail(lead_id: LeadId, actor: ActorDep, session: SessionDep):
    lead = _visible_lead(session, actor, lead_id)
    state = LeadState.model_validate(
        {k: v for k, v in lead.detail.items() if k != "phone_masked"}
        | {"clocks": {c["name"]: c for c in lead.clocks}, "score_items": lead.score_items})
    timeline = session.exec(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id).order_by(TimelineEntry.seq)).all()
    holdings = session.exec(select(HoldingRow).where(HoldingRow.lead_id == lead_id).order_by(HoldingRow.started_at)).all()
    p = state.profile
    return LeadDetail(
        **LeadSummary.model_validate(lead, from_attributes=True).model_dump(),
        workflow_id=lead.workflow_id, furthest_stage=lead.furthest_stage,
        customer=CustomerView(name=p.customer_name, phone=p.phone, city=p.city, series=p.series, model=p.model,
                              budget=p.budget, timeframe=p.timeframe.value),
        score_items=state.score_items,
        clocks=[ClockView(name=k.name, title=CLOCKS[k.name].title, started_at=k.started_at, deadline=k.deadline,
                          paused=k.paused_remaining_s is not None) for k in state.clocks.values()],
        holdings=[HoldingView.model_validate(h, from_attributes=True) for h in holdings],
        timeline=[TimelineView.model_validate(e, from_attributes=True) for e in timeline],
        allowed_actions=allowed_actions(state, actor),
    )


def _action_route(name: str, model: type):
    if any(f.is_required() for f in model.model_fields.values()):
        async def perform(lead_id: LeadId, actor: ActorDep, client: ClientDep,
                          command: Annotated[model, Body()]) -> c.ActionResult:  # type: ignore[valid-type]
            return await gateway.act(client, lead_id, c.CommandEnvelope(actor=actor, command=command))
    else:  # nothing to say (e.g. acknowledge): the body may be left out
        async def perform(lead_id: LeadId, actor: ActorDep, client: ClientDep,
                          command: Annotated[model | None, Body()] = None) -> c.ActionResult:  # type: ignore[valid-type]
            return await gateway.act(client, lead_id, c.CommandEnvelope(actor=actor, command=command or model()))

    perform.__name__ = name
    perform.__doc__ = (model.__doc__ or name.replace("_", " ")).strip()
    return perform


for _name, _model in c.COMMAND_TYPES.items():
    router.add_api_route(
        f"/{{lead_id}}/{_name.replace('_', '-')}", _action_route(_name, _model), methods=["POST"],
        response_model=c.ActionResult, name=_name, summary=_name.replace("_", " "),
        responses={403: {"description": "not your lead or not your role"}, 404: {"description": "no such lead"},
                   409: {"description": "the lead's stage does not allow this action"}},
    )
