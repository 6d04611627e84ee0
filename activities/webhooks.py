"""Outbound webhooks (SPEC 7): lead events POSTed to subscribers, signed with HMAC-SHA256.

The lead workflow asks `webhook_targets` who wants a settled batch of events; the
`WebhookFanout` workflow (workflows/webhooks.py) then runs one `deliver_webhook` per
(subscriber, event), retried with backoff by Temporal. A delivery that got a 2xx is recorded
and never sent again; the one window left (the receiver answered 2xx, the record or Temporal's
completion was lost) resends the same event id, so receivers deduplicate by it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import or_
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.db import UsesDatabase, statement, table_of
from activities.webhook_signature import signed_headers
from db.models import WebhookDelivery, WebhookSubscription
from domain import visibility
from domain.messages import CATALOG, LANGS, render_entry
from domain.models import Model

DISPATCHED, ALERT_RAISED, STAGE_CHANGED, REVIEW_DECIDED = (
    "lead.dispatched", "lead.alert_raised", "lead.stage_changed", "lead.review_decided")
EVENT_TYPES = (DISPATCHED, ALERT_RAISED, STAGE_CHANGED, REVIEW_DECIDED)

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRYABLE_4XX = frozenset({408, 429})
MAX_RETRY_AFTER = timedelta(minutes=10)


class WebhookLead(Model):
    """The lead as the batch left it; never the customer's name or phone."""

    lead_id: str
    brand: str
    stage: str
    dealer_id: str | None = None
    grade: str | None = None
    region: str | None = None


class WebhookEvent(Model):
    id: str  # {lead_id}:{seq}:{type}: the same on every retry and replay
    type: str
    seq: int
    occurred_at: datetime
    data: dict[str, Any] = {}


class TargetsRequest(Model):
    event_types: list[str]
    brand: str
    dealer_id: str | None = None


class WebhookTarget(Model):
    subscription_id: str
    event_types: list[str]  # of the batch's types, those this subscriber wants


class FanoutInput(Model):
    lead: WebhookLead
    events: list[WebhookEvent]
    targets: list[WebhookTarget]


class DeliveryRequest(Model):
    subscription_id: str
    lead: WebhookLead
    event: WebhookEvent


class DeliveryResult(Model):
    status: str  # delivered | already_delivered | skipped (the subscription was deactivated meanwhile)
    status_code: int | None = None


class DeliveryGaveUp(Model):
    subscription_id: str
    event_id: str
    reason: str


def message(event: WebhookEvent) -> dict[str, Any]:
    """The event for people (issue 13): its message code and parameters next to the text in each language."""
    data = dict(event.data)
    kind = str(data.get("event") or event.type)
    params = {k: v for k, v in data.items() if k not in ("event", "actor", "actor_role", "dealer_id")}
    entry = {"kind": kind, "at": event.occurred_at, "actor": data.get("actor"), "role": data.get("actor_role",
                                                                                                 "system"),
             "data": params}
    code = f"timeline.{kind}" if f"timeline.{kind}" in CATALOG else f"event.{kind}"
    return {"code": code, "params": params, "text": {lang: render_entry(entry, lang) for lang in LANGS}}


def payload(lead: WebhookLead, event: WebhookEvent) -> bytes:
    """The request body, exactly the bytes that are signed."""
    document = {"id": event.id, "type": event.type, "seq": event.seq,
                "occurred_at": event.occurred_at.isoformat(), "lead": lead.model_dump(mode="json"),
                "data": event.data, "message": message(event)}
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("retry-after", "")
    return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER) if value.isdigit() else None


def matching_targets(session, event_types: list[str], brand: str, dealer_id: str | None) -> list[WebhookTarget]:
    """Active subscriptions of the lead's brand (and dealer) that want any of these event types."""
    conn = session.connection()
    rows = conn.execute(statement(conn, ("webhook-targets",), _targets_query), {"brand": brand, "dealer": dealer_id})
    targets = []
    for row in rows:
        wanted = [t for t in event_types if not row.event_types or t in row.event_types]
        if wanted:
            targets.append(WebhookTarget(subscription_id=row.id, event_types=wanted))
    return targets


def _targets_query() -> Any:
    t = table_of(WebhookSubscription).c
    return sa.select(t.id, t.event_types).where(
        t.active, or_(t.brand.is_(None), t.brand == sa.bindparam("brand")),
        or_(t.dealer_id.is_(None), t.dealer_id == sa.bindparam("dealer"))).order_by(t.id)


class WebhookActivities(UsesDatabase):
    @activity.defn
    def webhook_targets(self, req: TargetsRequest) -> list[WebhookTarget]:
        """Kept for histories recorded before the projection answered the targets (patch
        "webhook-targets-in-projection"): their replay still calls it."""
        with self.session() as session:
            return matching_targets(session, req.event_types, req.brand, req.dealer_id)

    @activity.defn
    def deliver_webhook(self, req: DeliveryRequest) -> DeliveryResult:
        """POST one event to one subscriber. 2xx: recorded, done. 408/429/5xx/network: retried by
        Temporal. Any other answer: recorded as failed, not retried."""
        event = req.event
        with self.session() as session:
            done = session.get(WebhookDelivery, (event.id, req.subscription_id))
            if done is not None and done.status == "delivered":
                return DeliveryResult(status="already_delivered", status_code=done.last_status_code)
            sub = session.get(WebhookSubscription, req.subscription_id)
            if sub is None or not sub.active:
                return DeliveryResult(status="skipped")
            url, secret, subscriber_dealer = sub.url, sub.secret, sub.dealer_id
        # a dealer's subscription gets the dealer's view of the event (domain/visibility.py), or nothing
        data = visibility.webhook_event(subscriber_dealer, event.type, event.data)
        if data is None:
            return DeliveryResult(status="skipped")
        event = event.model_copy(update={"data": data})
        body = payload(req.lead, event)
        headers = {"Content-Type": "application/json", "User-Agent": "Leadflow-Webhooks/1"}
        headers |= signed_headers(secret, event.id, body)
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=HTTP_TIMEOUT)
        except httpx.HTTPError as exc:  # refused, reset, timed out: recorded, then retried by Temporal
            self._record(req, "retrying", None, f"{type(exc).__name__}: {exc}")
            raise
        code = response.status_code
        if 200 <= code < 300:
            self._record(req, "delivered", code, None)
            activity.logger.info("webhook delivered", extra={"lead_id": req.lead.lead_id, "event_id": event.id,
                                                             "subscription_id": req.subscription_id})
            return DeliveryResult(status="delivered", status_code=code)
        retryable = code >= 500 or code in RETRYABLE_4XX
        self._record(req, "retrying" if retryable else "failed", code, f"HTTP {code}: {response.text[:300]}")
        raise ApplicationError(f"the receiver answered HTTP {code}", type="WebhookRejected",
                               non_retryable=not retryable,
                               next_retry_delay=_retry_after(response) if retryable else None)

    @activity.defn
    def give_up_webhook(self, req: DeliveryGaveUp) -> None:
        """Retries ran out (the schedule-to-close timeout): the delivery is failed, unless it got through."""
        with self.session() as session:
            row = session.get(WebhookDelivery, (req.event_id, req.subscription_id))
            if row is None or row.status == "delivered":
                return
            row.status, row.last_error, row.updated_at = "failed", req.reason[:500], datetime.now(UTC)
            session.add(row)
            session.commit()

    def _record(self, req: DeliveryRequest, status: str, code: int | None, error: str | None) -> None:
        now = datetime.now(UTC)
        with self.session() as session:
            row = session.get(WebhookDelivery, (req.event.id, req.subscription_id)) or WebhookDelivery(
                event_id=req.event.id, subscription_id=req.subscription_id, event_type=req.event.type,
                lead_id=req.lead.lead_id, status=status, updated_at=now)
            row.status, row.attempts, row.last_status_code, row.updated_at = status, row.attempts + 1, code, now
            row.last_error = error
            if status == "delivered":
                row.delivered_at = now
            session.add(row)
            session.commit()
