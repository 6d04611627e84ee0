"""Outbound webhooks, the Temporal side: what a settled batch of lead events publishes, and its fan-out.

The lead workflow calls `publish` after each projection. Nothing is started for a batch nobody
subscribes to; otherwise a `WebhookFanout` child workflow (abandoned by its parent, so a lead
that completes or continues as new never cancels deliveries) delivers each event to each
subscriber, concurrently, retried with backoff for up to a day.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import (
        ALERT_RAISED,
        DISPATCHED,
        EVENT_TYPES,
        REVIEW_DECIDED,
        STAGE_CHANGED,
        DeliveryGaveUp,
        DeliveryRequest,
        FanoutInput,
        TargetsRequest,
        WebhookActivities,
        WebhookEvent,
        WebhookLead,
        WebhookTarget,
    )
    from domain.models import LeadState, TimelineEvent
    from domain.stages import LeadStage
    from workflows.messages import DeliveryOutcome, FanoutResult  # built once per worker, not per run

ACTIVITY_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=10))
DELIVERY_DEADLINE = timedelta(hours=24)  # then the delivery is recorded as failed
ATTEMPT_TIMEOUT = timedelta(seconds=30)  # one POST (the HTTP client gives up after 10 s)

# the timeline events that are review decisions: (which review, the decision or the data field holding it)
REVIEW_DECISIONS = {
    "transfer_approved": ("transfer", "approved"),
    "transfer_rejected": ("transfer", "rejected"),
    "defeat_decided": ("defeat", "verdict"),  # true_defeat | pseudo_defeat
    "appeal_decided": ("appeal", "outcome"),  # upheld | overturned
    "cleansing_recorded": ("cleansing", "outcome"),  # verified | nurture | invalid
    "cancel_approved": ("cancel", "approved"),
    "cancel_rejected": ("cancel", "rejected"),
}
PII_KEYS = frozenset({"customer_name", "phone", "latitude", "longitude"})
REDACTED = "[redacted]"


# --------------------------------------------------------------------------- what a batch publishes (pure)


def lead_summary(state: LeadState) -> WebhookLead:
    return WebhookLead(lead_id=state.lead_id, brand=state.brand, stage=state.stage.value, dealer_id=state.dealer_id,
                       grade=state.grade, region=state.region)


def _customer_strings(state: LeadState) -> list[str]:
    phone, name = state.profile.phone, state.profile.customer_name.strip()
    found = {phone, phone.removeprefix("+86"), phone.lstrip("+")} | ({name} if len(name) >= 2 else set())
    return sorted((s for s in found if s), key=len, reverse=True)


def _redact(value: Any, secrets: list[str]) -> Any:
    """No customer name or phone leaves through a webhook, even inside a free-text note."""
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items() if k not in PII_KEYS}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
    return value


def webhook_events(state: LeadState, stage_before: LeadStage, events: list[TimelineEvent]) -> list[WebhookEvent]:
    """The webhook events of one settled batch. `stage_before` is the stage the previous batch left;
    an event's `stage` is the stage when it was emitted, and the last event answers for the final stage."""
    secrets, out = _customer_strings(state), []

    def add(kind: str, e: TimelineEvent, data: dict[str, Any]) -> None:
        common = {"event": e.kind, "actor": e.actor, "actor_role": str(e.role), "dealer_id": e.dealer_id}
        out.append(WebhookEvent(id=f"{state.lead_id}:{e.seq}:{kind}", type=kind, seq=e.seq, occurred_at=e.at,
                                data=_redact(common | data, secrets)))

    stage = stage_before
    for i, e in enumerate(events):
        if e.kind == "dispatched":  # the ranked candidates stay internal (the lead detail shows them)
            add(DISPATCHED, e, {k: v for k, v in e.data.items() if k != "candidates"})
        elif e.kind == "alert_raised":
            add(ALERT_RAISED, e, e.data)
        elif e.kind in REVIEW_DECISIONS:
            review, decision = REVIEW_DECISIONS[e.kind]
            add(REVIEW_DECIDED, e, e.data | {"review": review, "decision": e.data.get(decision, decision)})
        after = state.stage if i == len(events) - 1 else e.stage
        if after != stage:
            add(STAGE_CHANGED, e, {"from_stage": stage.value, "to_stage": after.value})
            stage = after
    return out


# --------------------------------------------------------------------------- in the lead workflow


def webhook_event_types(state: LeadState, stage_before: LeadStage, events: list[TimelineEvent]) -> list[str]:
    """The event types one settled batch publishes, in EVENT_TYPES order (what subscribers are matched on)."""
    kinds = {e.type for e in webhook_events(state, stage_before, events)}
    return [t for t in EVENT_TYPES if t in kinds]


async def publish(state: LeadState, stage_before: LeadStage, events: list[TimelineEvent],
                  targets: list[WebhookTarget] | None = None) -> None:
    """Start the fan-out of one settled batch (only its start is awaited) to `targets`, the subscribers
    the projection found. Histories recorded before the projection answered them (targets None) replay
    their local look-up; those recorded before webhooks (patch "webhooks") replay unchanged."""
    out = webhook_events(state, stage_before, events)
    if not out:
        return
    if targets is None:
        if not workflow.patched("webhooks"):
            return
        targets = await workflow.execute_local_activity_method(  # local: a quick read, no round trip
            WebhookActivities.webhook_targets,
            TargetsRequest(event_types=webhook_event_types(state, stage_before, events), brand=state.brand,
                           dealer_id=state.dealer_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
    if not targets:
        return
    try:
        await workflow.start_child_workflow(
            WebhookFanout.run, FanoutInput(lead=lead_summary(state), events=out, targets=targets),
            id=f"webhooks-{state.lead_id}-{events[0].seq}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:  # this batch was fanned out already (a reset replays it)
        workflow.logger.info("webhooks already fanned out",
                             extra={"lead_id": state.lead_id, "event_seq": events[0].seq})


# --------------------------------------------------------------------------- the fan-out


@workflow.defn
class WebhookFanout:
    """Each event of one batch to each subscriber that wants it, concurrently."""

    @workflow.run
    async def run(self, inp: FanoutInput) -> FanoutResult:
        jobs = [(t.subscription_id, e) for t in inp.targets for e in inp.events if e.type in t.event_types]
        statuses = await asyncio.gather(*(self._deliver(sub, inp.lead, e) for sub, e in jobs))
        return FanoutResult(deliveries=[DeliveryOutcome(subscription_id=sub, event_id=e.id, status=status)
                                        for (sub, e), status in zip(jobs, statuses, strict=True)])

    async def _deliver(self, subscription_id: str, lead: WebhookLead, event: WebhookEvent) -> str:
        try:
            result = await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                DeliveryRequest(subscription_id=subscription_id, lead=lead, event=event),
                schedule_to_close_timeout=DELIVERY_DEADLINE, start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=DELIVERY_RETRY)
            return result.status
        except ActivityError as err:  # refused by the receiver, or a day of retries ran out: recorded, not raised
            await workflow.execute_activity_method(
                WebhookActivities.give_up_webhook,
                DeliveryGaveUp(subscription_id=subscription_id, event_id=event.id, reason=str(err.cause or err)),
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY)
            workflow.logger.warning("webhook failed", extra={"lead_id": lead.lead_id, "event_id": event.id,
                                                             "subscription_id": subscription_id})
            return "failed"
