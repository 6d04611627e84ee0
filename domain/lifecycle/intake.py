"""Intake: a new lead, a duplicate raw lead merged into a running one, and behaviour events."""

from __future__ import annotations

from datetime import datetime

from domain.events import Ev
from domain.lifecycle.effects import ScoreEffect
from domain.lifecycle.transition import Refused, S, Transition, touchpoint
from domain.models import (
    BEHAVIOUR_COUNTERS,
    Actor,
    BehaviourEvent,
    LeadState,
    RawLead,
)
from domain.policy import Policy
from domain.stages import END_STAGES


def start_lead(lead_id: str, customer_key: str, raw: RawLead, policy: Policy, now: datetime, actor: Actor,
               previous_lead_id: str | None = None) -> Transition:
    """A raw lead for a customer with no open lead of this brand: a new lead (唯一线索), linked to the
    customer's previous lead of the brand if there is one (e.g. a repurchase)."""
    state = LeadState(
        lead_id=lead_id, brand=raw.brand, customer_key=customer_key, profile=raw,
        created_at=now, updated_at=now, previous_lead_id=previous_lead_id,
        touchpoints=[touchpoint(raw, now, "created")],
    )
    t = Transition(state, policy, now, actor)
    t.emit(Ev.LEAD_CREATED, channel=raw.channel.value, external_id=raw.external_id, campaign=raw.campaign,
           acquisition_cost=raw.acquisition_cost, previous_lead_id=previous_lead_id)
    t.effects.append(ScoreEffect(then="route"))
    t.message = "lead created"
    return t


def duplicate_outcome(state: LeadState, raw: RawLead) -> str | None:
    """The answer given to this raw lead before, if the same channel sent the same external id."""
    for tp in state.touchpoints:
        if tp.key == raw.touchpoint_key:
            return tp.outcome
    return None


def merge_raw_lead(state: LeadState, raw: RawLead, policy: Policy, now: datetime, actor: Actor) -> Transition:
    """Another raw lead of the same customer and brand: a new touchpoint, rescored (SPEC 2)."""
    t = Transition.begin(state, policy, now, actor)
    s = t.state
    if s.stage in END_STAGES:  # the customer's next raw lead makes a new lead (see workflows.gateway)
        raise Refused(f"lead {s.lead_id} is {s.stage}: it takes no new raw leads", "closed",
                      code="refused.closed_no_raw_leads",
                      stage=s.stage.value)
    outcome = "reactivated" if s.stage == S.DORMANT else "merged"
    s.touchpoints.append(touchpoint(raw, now, outcome))
    s.profile = _merge_profile(s.profile, raw)
    t.emit(Ev.RAW_LEAD_MERGED, channel=raw.channel.value, external_id=raw.external_id, campaign=raw.campaign,
           acquisition_cost=raw.acquisition_cost)
    _intent_resurgence(t, "raw_lead")
    t.message = outcome
    return t


def _intent_resurgence(t: Transition, source: str) -> None:
    """New intent wakes a dormant lead and rescores any open one; B or better is dispatched (SPEC 3.12)."""
    if t.state.stage == S.DORMANT:
        t.emit(Ev.REACTIVATED, source=source)
        t.start_nurturing("intent resurgence")
    t.effects.append(ScoreEffect(then="merge"))


def record_behaviour(state: LeadState, event: BehaviourEvent, policy: Policy, now: datetime,
                     actor: Actor) -> Transition | None:
    """A behaviour signal (page view, config view, live stream, test-drive booking...): counted, rescored.
    Returns None for an event id already taken (a repeat changes nothing)."""
    if event.event_id in state.behaviour_event_ids:
        return None
    if state.stage in END_STAGES:
        raise Refused(f"lead {state.lead_id} is {state.stage}: behaviour no longer counts", "closed",
                      code="refused.closed_no_behaviour", stage=state.stage.value)
    t = Transition.begin(state, policy, now, actor)
    s = t.state
    counter = BEHAVIOUR_COUNTERS[event.kind]
    setattr(s.behaviour, counter, getattr(s.behaviour, counter) + event.count)
    s.behaviour_event_ids = (s.behaviour_event_ids + [event.event_id])[-500:]
    t.emit(Ev.BEHAVIOUR_RECORDED, behaviour=event.kind.value, count=event.count, source=event.source,
           event_id=event.event_id)
    _intent_resurgence(t, f"behaviour:{event.kind.value}")
    t.message = "recorded"
    return t


def _merge_profile(old: RawLead, new: RawLead) -> RawLead:
    keep = {"external_id", "channel", "brand", "phone", "submitted_at", "campaign", "acquisition_cost", "consent"}
    updates = {
        k: v for k, v in new.model_dump(exclude_unset=True).items()
        if k not in keep and v not in (None, "") and not (k == "timeframe" and v == "unknown")
    }
    return old.model_copy(update=updates)
