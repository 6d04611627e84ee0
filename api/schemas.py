"""What the API returns: public shapes, never table rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.models import ScoreItem


class ClockView(BaseModel):
    name: str
    title: str
    started_at: datetime
    deadline: datetime | None
    paused: bool


class TimelineView(BaseModel):
    seq: int
    at: datetime
    kind: str
    stage: str
    actor: str
    role: str
    dealer_id: str | None
    data: dict[str, Any]


class HoldingView(BaseModel):
    dealer_id: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    dispatch_reason: str | None


class CustomerView(BaseModel):
    name: str
    phone: str
    city: str | None
    series: str | None
    model: str | None
    budget: int | None
    timeframe: str


class LeadSummary(BaseModel):
    lead_id: str
    brand: str
    stage: str
    grade: str | None
    score: float | None
    dealer_id: str | None
    consultant_id: str | None
    region: str | None
    channel: str
    sla_breached: bool
    created_at: datetime
    updated_at: datetime


class LeadDetail(LeadSummary):
    workflow_id: str
    furthest_stage: str
    customer: CustomerView
    score_items: list[ScoreItem]
    clocks: list[ClockView]
    holdings: list[HoldingView]
    timeline: list[TimelineView]
    allowed_actions: list[str]


class NotificationView(BaseModel):
    id: int
    lead_id: str
    kind: str
    recipient_role: str
    recipient_user_id: str | None
    message: str
    created_at: datetime
    read_at: datetime | None
