"""Owner care after delivery (SPEC 10, issue 17): the pure schedule of one ownership.

One ownership per delivered vehicle. Its touchpoints follow from its state and the policy's `[owner_care]`
table, so a changed policy, a service visit, a reported mileage or a renewed insurance simply gives another
schedule: nothing is queued that would have to be taken back. A touchpoint is identified by a key
(`maintenance:2027-03-01`); once fired its key is recorded, so it never fires twice, and a moved schedule
yields new keys.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any

from pydantic import Field

from domain.messages import CATALOG, CodedError
from domain.models import Model
from domain.policy import OwnerCare


class Purpose(StrEnum):
    """What a message to the owner is for: consent is recorded per purpose (PIPL)."""

    SERVICE = "service"  # service reminders: maintenance, insurance renewal
    MARKETING = "marketing"  # greetings, offers, the trade-in review
    REFERRAL = "referral"  # the referral programme (codes, rewards)


class TouchpointKind(StrEnum):
    FIRST_MAINTENANCE = "first_maintenance"
    MAINTENANCE = "maintenance"
    INSURANCE_RENEWAL = "insurance_renewal"
    ANNIVERSARY = "anniversary"
    BIRTHDAY = "birthday"
    TRADE_IN_REVIEW = "trade_in_review"


# purpose of the owner's message and who does the task (after-sales: the dealer manager's desk; sales: the consultant
# who sold the car); the texts (the task's title and the SMS) are the catalog's `owner.task.<kind>` (domain/messages.py)
KINDS: dict[TouchpointKind, tuple[Purpose, str]] = {
    TouchpointKind.FIRST_MAINTENANCE: (Purpose.SERVICE, "after_sales"),
    TouchpointKind.MAINTENANCE: (Purpose.SERVICE, "after_sales"),
    TouchpointKind.INSURANCE_RENEWAL: (Purpose.SERVICE, "after_sales"),
    TouchpointKind.ANNIVERSARY: (Purpose.MARKETING, "sales"),
    TouchpointKind.BIRTHDAY: (Purpose.MARKETING, "sales"),
    TouchpointKind.TRADE_IN_REVIEW: (Purpose.MARKETING, "sales"),
}

SHANGHAI_MORNING = time(1, 0, tzinfo=UTC)  # 09:00 Asia/Shanghai, for touchpoints on a calendar date
MAX_EVENT_IDS = 200


class OwnershipState(Model):
    ownership_id: str
    lead_id: str
    customer_key: str
    brand: str
    dealer_id: str
    consultant_id: str | None = None
    region: str | None = None
    series: str | None = None
    delivered_at: datetime
    insurance_expiry: date | None = None
    birthday: date | None = None
    mileage_km: int | None = None
    mileage_at: datetime | None = None
    last_service_at: datetime | None = None
    maintenance_base: datetime | None = None  # the yearly maintenance is due `maintenance_every` after it
    fired: dict[str, datetime] = {}  # touchpoint key -> when it fired
    open_tasks: dict[str, datetime] = {}  # touchpoint key -> when its task lapses
    event_ids: list[str] = []  # DMS events taken (a repeat is ignored), the newest MAX_EVENT_IDS
    trade_in_lead_id: str | None = None
    stopped: str | None = None  # the reason (sold, scrapped, ...)
    stopped_at: datetime | None = None
    policy_version: str = ""
    time_scale: float = 1.0


class Touchpoint(Model):
    key: str
    kind: TouchpointKind
    due_at: datetime
    purpose: Purpose


class OwnerEventKind(StrEnum):
    SERVICE_VISIT = "service_visit"
    MILEAGE = "mileage"
    INSURANCE_RENEWED = "insurance_renewed"


class OwnerEvent(Model):
    """An event from the dealer's DMS: a service visit, a mileage reading, a renewed insurance policy."""

    event_id: str = Field(min_length=1, max_length=128, description="Unique per DMS: a repeat is ignored")
    kind: OwnerEventKind
    at: datetime | None = Field(default=None, description="When it happened (default: now)")
    mileage_km: int | None = Field(default=None, ge=0, le=2_000_000)
    insurance_expiry: date | None = Field(default=None, description="The renewed policy's expiry")


class OwnershipEdit(Model):
    """Data the dealer enters after delivery (both optional): the insurance expiry, the owner's birthday."""

    insurance_expiry: date | None = None
    birthday: date | None = None


def add_months(at: datetime, months: int) -> datetime:
    month = at.month - 1 + months
    year, month = at.year + month // 12, month % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def _scaled(state: OwnershipState, natural: datetime) -> datetime:
    """A demo's compressed time (LEADFLOW_TIME_SCALE): the offset from delivery divided by the scale."""
    if state.time_scale == 1:
        return natural
    return state.delivered_at + (natural - state.delivered_at) / state.time_scale


def _on_day(day: date) -> datetime:
    return datetime.combine(day, SHANGHAI_MORNING)


def insurance_expiry(state: OwnershipState, policy: OwnerCare) -> date:
    return state.insurance_expiry or (state.delivered_at + policy.insurance_term).date()


def first_maintenance_due(state: OwnershipState, policy: OwnerCare) -> datetime:
    """3 months or 5,000 km, whichever first: by time unless a mileage reading says the car gets there sooner
    (at the rate it has been driven since delivery)."""
    by_time = state.delivered_at + policy.first_maintenance_after
    if state.mileage_km is None or state.mileage_at is None or state.mileage_km <= 0:
        return by_time
    if state.mileage_km >= policy.first_maintenance_km:
        return min(by_time, state.mileage_at)
    driven = (state.mileage_at - state.delivered_at) * (policy.first_maintenance_km / state.mileage_km)
    return min(by_time, state.delivered_at + driven)


def candidates(state: OwnershipState, policy: OwnerCare) -> list[Touchpoint]:
    """Every touchpoint the schedule holds next (at most one per kind), fired or not, in natural time."""
    out: list[tuple[TouchpointKind, str, datetime]] = []
    d = state.delivered_at
    if policy.first_maintenance and state.last_service_at is None:
        out.append((TouchpointKind.FIRST_MAINTENANCE, "first_maintenance", first_maintenance_due(state, policy)))
    if policy.yearly_maintenance:
        base = state.maintenance_base or state.last_service_at or (d + policy.first_maintenance_after)
        due = base + policy.maintenance_every
        out.append((TouchpointKind.MAINTENANCE, f"maintenance:{due.date().isoformat()}", due))
    if policy.insurance_renewal:
        expiry = insurance_expiry(state, policy)
        out.append((TouchpointKind.INSURANCE_RENEWAL, f"insurance:{expiry.isoformat()}",
                    _on_day(expiry) - policy.insurance_notice))
    if policy.anniversary:
        n = 1 + sum(1 for k in state.fired if k.startswith("anniversary:"))
        out.append((TouchpointKind.ANNIVERSARY, f"anniversary:{n}", add_months(d, 12 * n)))
    if policy.birthday and state.birthday is not None:
        year = d.year
        while True:
            day = _birthday_in(state.birthday, year)
            if _on_day(day) > d and f"birthday:{year}" not in state.fired:
                break
            year += 1
        out.append((TouchpointKind.BIRTHDAY, f"birthday:{year}", _on_day(day)))
    if policy.trade_in_review and "trade_in" not in state.fired:
        out.append((TouchpointKind.TRADE_IN_REVIEW, "trade_in", add_months(d, policy.trade_in_after_months)))
    return [Touchpoint(key=key, kind=kind, due_at=due, purpose=KINDS[kind][0]) for kind, key, due in out]


def _birthday_in(birthday: date, year: int) -> date:
    day = min(birthday.day, calendar.monthrange(year, birthday.month)[1])  # 29 February
    return date(year, birthday.month, day)


def upcoming(state: OwnershipState, policy: OwnerCare) -> list[Touchpoint]:
    """The touchpoints still to fire, in the engine's (scaled) time, earliest first."""
    if state.stopped or not policy.enabled:
        return []
    pending = [t.model_copy(update={"due_at": _scaled(state, t.due_at)})
               for t in candidates(state, policy) if t.key not in state.fired]
    return sorted(pending, key=lambda t: (t.due_at, t.key))


def due(state: OwnershipState, policy: OwnerCare, now: datetime) -> tuple[list[Touchpoint], list[Touchpoint]]:
    """(to fire now, missed): a touchpoint later than `catch_up` (switched on long after its time) is skipped."""
    fire: list[Touchpoint] = []
    missed: list[Touchpoint] = []
    for t in upcoming(state, policy):
        if t.due_at > now:
            break
        (missed if now - t.due_at > policy.catch_up / state.time_scale else fire).append(t)
    return fire, missed


def mark_fired(state: OwnershipState, touchpoint: Touchpoint, policy: OwnerCare, now: datetime,
               task: bool = True) -> OwnershipState:
    """The state after a touchpoint fired (or was skipped, task=False): its key is recorded and the series
    it belongs to moves on (next year's maintenance and insurance)."""
    update: dict[str, Any] = {"fired": {**state.fired, touchpoint.key: now}}
    if task:
        update["open_tasks"] = {**state.open_tasks, touchpoint.key: now + policy.task_due / state.time_scale}
    if touchpoint.kind == TouchpointKind.MAINTENANCE:
        base = state.maintenance_base or state.last_service_at or (state.delivered_at + policy.first_maintenance_after)
        update["maintenance_base"] = base + policy.maintenance_every
    elif touchpoint.kind == TouchpointKind.INSURANCE_RENEWAL:  # assumed renewed for a term until the DMS says
        update["insurance_expiry"] = insurance_expiry(state, policy) + policy.insurance_term
    return state.model_copy(update=update)


def apply_event(state: OwnershipState, event: OwnerEvent, now: datetime) -> OwnershipState | None:
    """A DMS event moves the schedule; None for an event id already taken."""
    if event.event_id in state.event_ids:
        return None
    at = event.at or now
    update: dict[str, Any] = {"event_ids": (state.event_ids + [event.event_id])[-MAX_EVENT_IDS:]}
    if event.kind == OwnerEventKind.SERVICE_VISIT:
        update["last_service_at"] = max(at, state.last_service_at or at)
        update["maintenance_base"] = max(at, state.maintenance_base or at)
        if event.mileage_km is not None:
            update |= {"mileage_km": event.mileage_km, "mileage_at": at}
    elif event.kind == OwnerEventKind.MILEAGE:
        if event.mileage_km is None:
            raise CodedError("invalid.mileage_needed", field="mileage_km")  # a ValueError; `field` names it in the 422
        update |= {"mileage_km": event.mileage_km, "mileage_at": at}
    elif event.kind == OwnerEventKind.INSURANCE_RENEWED:
        if event.insurance_expiry is None:
            raise CodedError("invalid.insurance_expiry_needed", field="insurance_expiry")
        update["insurance_expiry"] = event.insurance_expiry
    return state.model_copy(update=update)


def next_wake(state: OwnershipState, policy: OwnerCare) -> datetime | None:
    times = [t.due_at for t in upcoming(state, policy)[:1]] + list(state.open_tasks.values())
    return min(times) if times else None


# No message reaches an owner at night: one due between 21:00 and 08:00 (Asia/Shanghai) waits till 08:00 (the
# hours China's rules on commercial SMS keep free; the dealer's task is created at once all the same)
OWNER_QUIET_HOURS = ("21:00", "08:00")


def message_for(kind: TouchpointKind) -> tuple[str, str]:
    """(Chinese, English) text of the touchpoint: the task's title and the owner's SMS, from the catalog."""
    texts = CATALOG[f"owner.task.{kind.value}"]
    return texts["zh-CN"], texts["en"]
