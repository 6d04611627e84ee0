"""The lead workflow's messages: its input, its result and the signals ops send it from the Temporal UI.

Kept apart from workflows/lead.py so that the workflow sandbox passes them through (the lead imports them with
`imports_passed_through`) instead of building each pydantic class again for every workflow run it starts.
Import them from workflows.lead as before.
"""

from __future__ import annotations

from domain.models import LeadState, Model
from domain.policy import Policy
from domain.stages import LeadStage


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


class DeliveryOutcome(Model):
    subscription_id: str
    event_id: str
    status: str  # delivered | already_delivered | skipped | failed


class FanoutResult(Model):
    deliveries: list[DeliveryOutcome]
