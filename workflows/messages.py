"""The workflows' messages: the lead's input, its result and the signals ops send it from the Temporal UI; owner
care's input, result, policy change and stop request.

Kept apart from workflows/lead.py so that the workflow sandbox passes them through (the lead imports them with
`imports_passed_through`) instead of building each pydantic class again for every workflow run it starts.
Import them from workflows.lead and workflows.owner_care as before.
"""

from __future__ import annotations

from datetime import datetime

from domain.models import LeadState, Model
from domain.owner_care import OwnershipState
from domain.policy import OwnerCare, Policy
from domain.stages import LeadStage, Role


class LeadInput(Model):
    lead_id: str
    customer_key: str
    policy: Policy
    state: LeadState | None = None  # carried over continue-as-new
    previous_lead_id: str | None = None  # the customer's earlier lead of this brand (a repurchase)


class LeadOutcome(Model):
    lead_id: str
    stage: LeadStage
    dealer_id: str | None = None
    previous_lead_id: str | None = None
    touchpoints: dict[str, str] = {}  # channel:external id -> the answer it got (a repeat after the end gets it again)


class ReassignSignal(Model):
    """Lead ops, from the Temporal UI or CLI: `temporal workflow signal --name reassign`."""

    reason: str
    dealer_id: str | None = None
    to_call_center: bool = False
    by: str = "temporal-ui"


class AppealSignal(Model):
    """A dealer's appeal entered by ops from the Temporal UI or CLI."""

    evidence: str
    dealer_id: str
    by: str = "temporal-ui"


class PolicyMigrationSignal(Model):
    """Lead ops move a running lead to another policy version (issue 16), with their reason."""

    policy: Policy
    reason: str
    by: str
    role: Role = Role.LEAD_OPS


class DeliveryOutcome(Model):
    subscription_id: str
    event_id: str
    status: str  # delivered | already_delivered | skipped | failed


class FanoutResult(Model):
    deliveries: list[DeliveryOutcome]


# ---------------------------------------------------------------------- owner care (workflows/owner_care.py)
# Here for the same reason: every ownership is a workflow run of its own (100,000 of them on one worker), and the
# lead's module imports workflows.owner_care too, so classes defined there were built again for every run of both.


class OwnerCareInput(Model):
    state: OwnershipState
    policy: OwnerCare
    policy_version: str = ""
    run_started_at: datetime | None = None  # None: the first run (projected at once)


class PolicyChange(Model):
    policy: OwnerCare
    version: str


class StopRequest(Model):
    reason: str


class OwnerCareResult(Model):
    ownership_id: str
    stopped: str | None
    fired: list[str]
    trade_in_lead_id: str | None = None
