"""How the outside world talks to lead workflows: intake (update-with-start), actions, reads.

Used by the API, the tools and the tests, so there is one place that knows workflow ids,
update names and how a refusal comes back.
"""

from __future__ import annotations

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain import commands as c
from domain.customers import customer_key, lead_id_for, normalize_phone
from domain.models import Actor, LeadState, RawLead
from domain.policy import Policy
from workflows.lead import LeadInput, LeadWorkflow


class ActionRefused(Exception):
    """The lead refused an action: kind is stage (409), forbidden (403) or invalid (422)."""

    def __init__(self, reason: str, kind: str = "stage"):
        super().__init__(reason)
        self.reason, self.kind = reason, kind


class LeadNotFound(Exception):
    pass


def _refusal(err: WorkflowUpdateFailedError) -> ActionRefused:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        kind = (cause.type or "").removeprefix("Refused.") if (cause.type or "").startswith("Refused.") else "stage"
        return ActionRefused(cause.message, kind)
    return ActionRefused(str(cause or err))


async def submit_raw_lead(client: Client, task_queue: str, policy: Policy, raw: RawLead, actor: Actor) -> c.IntakeResult:
    """Take in one raw lead: exactly one workflow per customer and brand, however many arrive at once."""
    phone = normalize_phone(raw.phone)  # InvalidPhone: the raw lead is rejected with the reason
    raw = raw.model_copy(update={"phone": phone})
    lead_id = lead_id_for(raw.brand, phone)
    start = WithStartWorkflowOperation(
        LeadWorkflow.run,
        LeadInput(lead_id=lead_id, customer_key=customer_key(phone), policy=policy),
        id=lead_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    try:
        return await client.execute_update_with_start_workflow(
            LeadWorkflow.intake, c.IntakeRequest(raw=raw, actor=actor), start_workflow_operation=start)
    except WorkflowUpdateFailedError as err:
        raise _refusal(err) from None


def handle(client: Client, lead_id: str) -> WorkflowHandle:
    return client.get_workflow_handle_for(LeadWorkflow.run, lead_id)


async def act(client: Client, lead_id: str, envelope: c.CommandEnvelope) -> c.ActionResult:
    try:
        return await handle(client, lead_id).execute_update(LeadWorkflow.act, envelope)
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
