"""Webhook subscriptions (SPEC 7): lead ops subscribe a URL to lead events; each delivery is signed.

The secret is shown once, when the subscription is created or its secret rotated. Receivers
verify `X-Leadflow-Signature` (see activities/webhook_signature.py) and deduplicate by the
event id. Subscriptions are master data, so the API writes them; deliveries are written only
by the delivery activity.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field, field_validator
from sqlmodel import col, select

from activities.webhooks import EVENT_TYPES
from api.deps import ActorDep, SessionDep
from api.errors import Invalid, Problem, responses
from db.models import Dealer, WebhookDelivery, WebhookSubscription
from domain.messages import CodedError
from domain.models import Actor
from domain.stages import Role

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=responses(403))
MANAGERS = frozenset({Role.LEAD_OPS, Role.HEAD_OF_LEAD_OPS})
WebhookId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")]


def webhook_manager(actor: ActorDep) -> Actor:
    if actor.role not in MANAGERS:
        raise Problem(403, "error.role_only", what="webhooks", roles=sorted(r.value for r in MANAGERS),
                      role=actor.role.value)
    return actor


ManagerDep = Annotated[Actor, Depends(webhook_manager)]


class WebhookCreate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100, description="default: the URL's host")
    url: str = Field(max_length=2000, description="http or https; receives a POST per event")
    event_types: list[str] = Field(default=[], description=f"any of {', '.join(EVENT_TYPES)}; empty: all")
    brand: str | None = Field(default=None, max_length=64, description="only leads of this brand")
    dealer_id: str | None = Field(default=None, max_length=64, description="only leads this dealer holds")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CodedError("invalid.http_url")
        return url.strip()

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, types: list[str]) -> list[str]:
        unknown = [t for t in types if t not in EVENT_TYPES]
        if unknown:
            raise CodedError("invalid.unknown_event_types", unknown=", ".join(unknown), known=", ".join(EVENT_TYPES))
        return list(dict.fromkeys(types))


class WebhookView(BaseModel):
    id: str
    name: str
    url: str
    event_types: list[str]
    brand: str | None
    dealer_id: str | None
    active: bool
    created_by: str | None
    created_at: datetime


class WebhookWithSecret(WebhookView):
    secret: str  # HMAC-SHA256 key for X-Leadflow-Signature; shown only now


class DeliveryView(BaseModel):
    event_id: str
    event_type: str
    lead_id: str
    status: str  # retrying | delivered | failed
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    updated_at: datetime


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _subscription(session, webhook_id: str) -> WebhookSubscription:
    row = session.get(WebhookSubscription, webhook_id)
    if row is None:
        raise Problem(404, "error.not_found", thing="webhook", id=webhook_id)
    return row


@router.post("", response_model=WebhookWithSecret, status_code=201)
def create_webhook(req: WebhookCreate, actor: ManagerDep, session: SessionDep):
    """Subscribe a URL to lead events from now on. The answer holds the signing secret, once."""
    if req.dealer_id is not None and session.get(Dealer, req.dealer_id) is None:
        raise Invalid(("body", "dealer_id"), "invalid.no_dealer", dealer=req.dealer_id)
    fields = req.model_dump() | {"name": req.name or urlsplit(req.url).hostname}
    row = WebhookSubscription(id=f"wh-{uuid.uuid4().hex[:16]}", secret=_new_secret(), created_by=actor.user_id,
                              created_at=datetime.now(UTC), **fields)
    session.add(row)
    session.commit()
    return WebhookWithSecret.model_validate(row, from_attributes=True)


@router.get("", response_model=list[WebhookView])
def list_webhooks(actor: ManagerDep, session: SessionDep, include_inactive: bool = False):
    query = select(WebhookSubscription)
    if not include_inactive:
        query = query.where(WebhookSubscription.active)
    return [WebhookView.model_validate(r, from_attributes=True)
            for r in session.exec(query.order_by(col(WebhookSubscription.created_at))).all()]


@router.get("/{webhook_id}", response_model=WebhookView, responses=responses(404))
def get_webhook(webhook_id: WebhookId, actor: ManagerDep, session: SessionDep):
    return WebhookView.model_validate(_subscription(session, webhook_id), from_attributes=True)


@router.delete("/{webhook_id}", response_model=WebhookView, responses=responses(404))
def deactivate_webhook(webhook_id: WebhookId, actor: ManagerDep, session: SessionDep):
    """Stop deliveries: events from now on are not sent, retries still pending are dropped."""
    row = _subscription(session, webhook_id)
    row.active = False
    session.add(row)
    session.commit()
    return WebhookView.model_validate(row, from_attributes=True)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookWithSecret, responses=responses(404))
def rotate_secret(webhook_id: WebhookId, actor: ManagerDep, session: SessionDep):
    """A new signing secret, effective for the next delivery attempt (retries included)."""
    row = _subscription(session, webhook_id)
    row.secret = _new_secret()
    session.add(row)
    session.commit()
    return WebhookWithSecret.model_validate(row, from_attributes=True)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryView], responses=responses(404))
def list_deliveries(webhook_id: WebhookId, actor: ManagerDep, session: SessionDep, limit: int = 100):
    """The most recent delivery records of this subscription, newest first."""
    _subscription(session, webhook_id)
    rows = session.exec(select(WebhookDelivery).where(WebhookDelivery.subscription_id == webhook_id)
                        .order_by(col(WebhookDelivery.updated_at).desc()).limit(max(1, min(limit, 500)))).all()
    return [DeliveryView.model_validate(r, from_attributes=True) for r in rows]
