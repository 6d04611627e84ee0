"""What the API returns: public shapes, never table rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.customers import mask_phone
from domain.models import ScoreItem


class ClockView(BaseModel):
    name: str
    title: str
    started_at: datetime
    deadline: datetime | None
    paused: bool
    lapsed: bool = False  # ran out and still waits for its action (domain/overdue.py): late by now - deadline


class TimelineView(BaseModel):
    seq: int
    at: datetime
    kind: str
    stage: str
    actor: str
    role: str
    dealer_id: str | None
    data: dict[str, Any]
    text: str = ""  # one sentence in the reader's language (domain.messages.render_entry)


class ScoreItemView(ScoreItem):
    text: str = ""  # the reason in the reader's language (older leads: the English reason as recorded)


class HoldingView(BaseModel):
    dealer_id: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    dispatch_reason: str | None


class DispatchLine(BaseModel):
    rank: int | None  # None: the dealer was not among the ten best recorded (a preferred dealer ranked lower)
    considered: int  # how many dealers were eligible and ranked
    total: float | None
    factors: dict[str, float]
    distance_km: float | None = None


class CustomerView(BaseModel):
    name: str
    phone: str
    city: str | None
    series: str | None
    model: str | None
    budget: int | None
    timeframe: str
    wechat_id: str | None = None  # for one-tap contact when known (intake takes none yet)
    referral_code: str | None = None  # the owner's code the lead came with (issue 17): attributed to that referrer


class LeadSummary(BaseModel):
    lead_id: str
    brand: str
    customer_name: str
    phone_masked: str
    city: str | None
    series: str | None
    stage: str
    grade: str | None
    score: float | None
    dealer_id: str | None
    consultant_id: str | None
    region: str | None
    channel: str
    sla_breached: bool
    alerts: int
    next_deadline: datetime | None  # the earliest running clock's deadline: what is most urgent
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, lead) -> LeadSummary:
        """From a read-model row; the phone only masked (the detail shows it to whoever may call)."""
        fields = {f: getattr(lead, f) for f in LeadSummary.model_fields if f != "phone_masked"}
        return cls(**fields, phone_masked=mask_phone(lead.phone))


class LeadDetail(LeadSummary):
    workflow_id: str
    furthest_stage: str
    # who holds it, by name (the header reads 上海浦东店 · 张伟, not ids): the holder's own dealer and consultant
    dealer_name: str | None = None
    consultant_name: str | None = None
    customer: CustomerView
    score_items: list[ScoreItemView]
    clocks: list[ClockView]
    # the latest dispatch's line: the caller's own dealer's (dealer roles), the holder's (OEM): rank, factors,
    # how many dealers were considered. The OEM finds every candidate in the timeline's `dispatched` entries.
    dispatch: DispatchLine | None = None
    holdings: list[HoldingView]
    timeline: list[TimelineView]
    allowed_actions: list[str]


class NotificationView(BaseModel):
    id: int
    lead_id: str
    kind: str
    recipient_role: str
    recipient_user_id: str | None
    message: str  # the engine's English words as recorded (older rows); `text` is what people read
    created_at: datetime
    read_at: datetime | None
    text: str = ""  # the notice in the reader's language: `kind` is its message code (domain.messages)
    # issue 13: the customer behind the row (when the caller may see the lead) and how many times it repeated
    customer_name: str | None = None
    grade: str | None = None
    stage: str | None = None
    repeats: int = 1


class LeadPage(BaseModel):
    """One page of a lead list: `total` counts every match, `items` holds `limit` of them from `offset`."""

    items: list[LeadSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class IntakeAnswer(BaseModel):
    """What intake answers. A dealer submitting a customer another dealer already follows learns only that."""

    lead_id: str | None
    outcome: str  # created | merged | reactivated | accepted (dealer roles: taken in, not yours)
    stage: str | None
    dealer_id: str | None = None
    previous_lead_id: str | None = None
    repeat: bool = False  # this channel + external id was taken before: the same answer, nothing changed


class BatchItemAnswer(BaseModel):
    index: int  # the item's position in the batch, from 0
    # created | merged | reactivated | accepted (dealer roles: taken in, not yours) | invalid | refused | error
    status: str
    lead_id: str | None = None
    stage: str | None = None
    dealer_id: str | None = None
    repeat: bool = False
    errors: list[dict[str, Any]] = []  # for invalid: [{"loc": [...], "msg": ...}]; refused/error: [{"msg": ...}]


class BatchAnswer(BaseModel):
    results: list[BatchItemAnswer]
    counts: dict[str, int]


class QueueSummary(BaseModel):
    queue: str
    title: str
    waiting: int
    overdue: int
    oldest_since: datetime | None


class QueueItem(BaseModel):
    lead: LeadSummary
    since: datetime
    deadline: datetime | None
    overdue: bool
    request: dict[str, Any]  # the transfer request, defeat case or appeal being decided


class DealerView(BaseModel):
    id: str
    name: str
    brand: str
    region: str
    city: str
    latitude: float | None
    longitude: float | None
    service_cities: list[str]
    service_radius_km: float | None
    series: list[str]
    stock: dict[str, int]
    capacity: int
    active: bool
    choice_right: bool
    competitive_region: bool
    auto_assign: bool
    conversion_90d: float
    rating: float


class ConsultantView(BaseModel):
    user_id: str
    name: str
    dealer_id: str
    series: list[str]
    max_open_leads: int
    on_duty: bool
    active: bool
    open_leads: int
    breached_leads: int  # open leads of theirs on which an SLA clock has lapsed


class MeView(BaseModel):
    """Who is signed in, for the portal: the role decides which pages it shows."""

    user_id: str
    name: str | None
    role: str
    dealer_id: str | None
    region: str | None
    temporal_ui_url: str  # every lead links to its workflow there
    temporal_namespace: str
    server_time: datetime  # the portal's countdowns correct the device's clock by it


class LeadClocks(BaseModel):
    """The open clocks of one lead, for the countdowns of a lead list."""

    lead_id: str
    clocks: list[ClockView]
