"""How the outside world talks to lead workflows: intake (update-with-start), actions, reads.

Used by the API, the tools and the tests, so there is one place that knows workflow ids,
update names and how a refusal comes back.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from domain import commands as c
from domain.customers import customer_key, normalize_phone
from domain.messages import CodedError
from domain.models import Actor, BehaviourEvent, LeadState, RawLead
from domain.policy import Policy
from workflows import lead_ids
from workflows.lead import LeadWorkflow
from workflows.messages import LeadInput, LeadOutcome

A = TypeVar("A")  # an update's argument ...
R = TypeVar("R")  # ... and its result


class ActionRefused(Exception):
    """The lead refused an action: kind is stage (409), forbidden (403) or invalid (422)."""

    def __init__(self, reason: str, kind: str = "stage", code: str = "", params: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason, self.kind = reason, kind
        self.code, self.params = code, params or {}  # a domain.messages code (refusals from the lead)


class LeadNotFound(CodedError):
    """No such lead (or none the caller may see: the same answer)."""

    def __init__(self, lead_id: str | None = None, *, brand: str | None = None):
        if brand is not None:
            super().__init__("error.no_open_lead", brand=brand)
        else:
            super().__init__("error.not_found", thing="lead", id=lead_id)


def _refusal(err: WorkflowUpdateFailedError) -> ActionRefused:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        kind = (cause.type or "").removeprefix("Refused.") if (cause.type or "").startswith("Refused.") else "stage"
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        return ActionRefused(cause.message, kind, str(details.get("code") or ""), details.get("params") or {})
    return ActionRefused(str(cause or err))


MAX_GENERATIONS = 100


def generation_id(base: str, generation: int) -> str:
    """The customer's leads of a brand: lead-aurora-<key>, then -r2, -r3 ... (a repurchase, a lost lead's return)."""
    return base if generation == 1 else f"{base}-r{generation}"


def _already_closed(err: Exception) -> bool:
    if isinstance(err, WorkflowAlreadyStartedError):
        return True
    if isinstance(err, RPCError) and err.status == RPCStatusCode.ALREADY_EXISTS:
        return True
    return isinstance(err, WorkflowUpdateFailedError) and getattr(err.cause, "type", None) == "Refused.closed"


async def submit_raw_lead(client: Client, task_queue: str, policy: Policy, raw: RawLead, actor: Actor,
                          known_ids: Collection[str] | None = None) -> c.IntakeResult:
    """Take in one raw lead: exactly one open lead per customer and brand, however many arrive at once.

    The customer's open lead takes it (merged, or reactivated if dormant). When that lead has closed
    (bought, lost, invalid), the raw lead starts the customer's next lead, linked to the previous one.
    `known_ids`: the customer's older lead ids the read model holds (lead_ids.resolve), read by the caller.
    """
    phone = normalize_phone(raw.phone)  # InvalidPhone: the raw lead is rejected with the reason
    raw = raw.model_copy(update={"phone": phone})
    base, key = await lead_ids.resolve(client, raw.brand, phone, known_ids), customer_key(phone)
    for generation in range(1, MAX_GENERATIONS + 1):
        lead_id = generation_id(base, generation)
        start = WithStartWorkflowOperation(
            LeadWorkflow.run,
            LeadInput(lead_id=lead_id, customer_key=key, policy=policy,
                      previous_lead_id=generation_id(base, generation - 1) if generation > 1 else None),
            id=lead_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,  # a closed lead stays closed
        )
        try:
            return await client.execute_update_with_start_workflow(
                LeadWorkflow.intake, c.IntakeRequest(raw=raw, actor=actor), start_workflow_operation=start)
        except (WorkflowAlreadyStartedError, RPCError, WorkflowUpdateFailedError) as err:
            if _already_closed(err):
                repeat = await _answered_before(client, lead_id, raw)
                if repeat is not None:
                    return repeat
                continue  # that lead is over: try the customer's next one
            if isinstance(err, WorkflowUpdateFailedError):
                raise _refusal(err) from None
            raise
    raise ActionRefused(f"customer has more than {MAX_GENERATIONS} leads of {raw.brand}", "invalid",
                        "error.too_many_generations", {"limit": MAX_GENERATIONS, "brand": raw.brand})


async def _answered_before(client: Client, lead_id: str, raw: RawLead) -> c.IntakeResult | None:
    """The ended lead took this very raw lead (same channel and external id): its answer, again.

    Read from the lead's result (the end of its history), so no worker is needed; a lead ended by
    hand (terminated) has none, and the raw lead goes on to the customer's next lead."""
    try:
        outcome = await handle(client, lead_id).result(rpc_timeout=timedelta(seconds=10))
    except (TimeoutError, RPCError, WorkflowFailureError):
        return None
    answer = outcome.touchpoints.get(raw.touchpoint_key)
    if answer is None:
        return None
    return c.IntakeResult(lead_id=lead_id, outcome=answer, stage=outcome.stage.value, dealer_id=outcome.dealer_id,
                          previous_lead_id=outcome.previous_lead_id, repeat=True)


async def record_behaviour(client: Client, brand: str, phone: str, event: BehaviourEvent,
                           actor: Actor) -> c.IntakeResult:
    """A behaviour signal for the customer's open lead of the brand (LeadNotFound when there is none)."""
    base = await lead_ids.resolve(client, brand, normalize_phone(phone))
    for generation in range(1, MAX_GENERATIONS + 1):
        lead_id = generation_id(base, generation)
        try:
            description = await handle(client, lead_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                break
            raise
        if description.status != WorkflowExecutionStatus.RUNNING:
            continue
        try:
            return await record_lead_behaviour(client, lead_id, event, actor)
        except ActionRefused as refused:
            if refused.kind != "closed":
                raise
    raise LeadNotFound(brand=brand)


async def record_lead_behaviour(client: Client, lead_id: str, event: BehaviourEvent, actor: Actor) -> c.IntakeResult:
    return await _update(client, lead_id, LeadWorkflow.record_behaviour, c.BehaviourRequest(event=event, actor=actor))


def handle(client: Client, lead_id: str) -> WorkflowHandle[LeadWorkflow, LeadOutcome]:
    return client.get_workflow_handle_for(LeadWorkflow.run, lead_id)


async def act(client: Client, lead_id: str, envelope: c.CommandEnvelope) -> c.ActionResult:
    return await _update(client, lead_id, LeadWorkflow.act, envelope)


async def _update(client: Client, lead_id: str, update: UpdateMethodMultiParam[[LeadWorkflow, A], R], arg: A) -> R:
    """An update on the lead: a refusal becomes ActionRefused, an unknown lead LeadNotFound."""
    try:
        return await handle(client, lead_id).execute_update(update, arg)
    except WorkflowUpdateFailedError as err:
        raise _refusal(err) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise LeadNotFound(lead_id) from None
        raise


async def current_state(client: Client, lead_id: str) -> LeadState:
    try:
        state = await handle(client, lead_id).query(LeadWorkflow.lead)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise LeadNotFound(lead_id) from None
        raise
    if state is None:
        raise LeadNotFound(lead_id)
    return state
