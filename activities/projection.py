"""The read model: the lead's current state, timeline, holdings and penalties, as the workflow decided.

Idempotent: rows are keyed by the lead and the event sequence, so a retried or replayed
activity writes nothing twice.
"""

from __future__ import annotations

import functools
from datetime import datetime

from sqlmodel import col, select
from temporalio import activity

from activities.db import UsesDatabase, announce_change, aware
from activities.notify import write_notifications
from activities.webhooks import WebhookTarget, matching_targets
from db import referrals
from db.limits import sync_lead
from db.models import (
    ClockRun,
    Customer,
    DealerPenalty,
    HoldingRow,
    Lead,
    LeadFact,
    LeadLookup,
    RawLeadRow,
    TimelineEntry,
)
from domain.clocks import CLOCKS
from domain.customers import mask_phone
from domain.lifecycle import next_deadline
from domain.models import ProjectionRequest
from domain.places import display_city
from domain.policy import load_policy
from domain.search import lookup_keys


@functools.cache
def _reward_tiers():
    """The referral reward tiers of the policy this worker runs (LEADFLOW_POLICY)."""
    return load_policy().owner_care.referral_tiers


def lead_row(req: ProjectionRequest) -> Lead:
    """The lead's read-model row for this state (ops.reconcile compares rows with it)."""
    s = req.state
    return Lead(
        lead_id=s.lead_id, brand=s.brand, customer_key=s.customer_key,
        customer_name=s.profile.customer_name, phone=s.profile.phone, city=display_city(s.profile.city),
        series=s.profile.series, channel=s.profile.channel.value, stage=s.stage.value,
        furthest_stage=s.furthest_stage.value, grade=s.grade, score=s.score, region=s.region,
        dealer_id=s.dealer_id, consultant_id=s.consultant_id, sla_breached=s.sla_breached,
        alerts=s.alerts, next_deadline=next_deadline(s), created_at=s.created_at, updated_at=s.updated_at,
                last_seq=s.seq,
        previous_lead_id=s.previous_lead_id,
        workflow_id=req.workflow_id, run_id=req.run_id,
        clocks=[c.model_dump(mode="json") for c in s.clocks.values()],
        score_items=[i.model_dump(mode="json") for i in s.score_items],
        detail=s.model_dump(mode="json", exclude={"recent", "score_items", "clocks"})
        | {"phone_masked": mask_phone(s.profile.phone)},
    )


class ProjectionActivities(UsesDatabase):
    def __init__(self, engine, push_starter=None):
        super().__init__(engine)
        self.push_starter = push_starter  # channels.delivery.PushStarter: each alert's push channels (None: inbox only)

    @activity.defn
    def record_lead(self, req: ProjectionRequest) -> list[WebhookTarget]:
        """Write the batch's inbox rows (patch notify-in-projection: one activity, and one workflow task, fewer per
        alert), then the read model; answer which webhook subscribers want this batch's event types (so the
        workflow needs no separate look-up, and no Temporal action, to decide whether to fan out)."""
        with self.session() as session:  # one connection for all of it
            # patch notify-in-projection: the batch's alerts ride on this activity, written first as the notify
            # activity did, so whoever sees the lead row at this seq finds its inbox rows there too
            for notification in req.notifications:
                write_notifications(session, notification)
            self._write(session, req)
            targets = (matching_targets(session, req.webhook_event_types, req.state.brand, req.state.dealer_id)
                       if req.webhook_event_types else [])
        if self.push_starter is not None:  # after the rows are committed; a retry starts nothing twice (its id)
            for notification in req.notifications:
                self.push_starter.start(notification)
        return targets

    def _write(self, session, req: ProjectionRequest) -> None:
        s = req.state
        if req.facts:  # the simulator's input (issue 16): written even when the snapshot itself is stale
            known = set(session.exec(select(LeadFact.seq).where(
                LeadFact.lead_id == s.lead_id, col(LeadFact.seq).in_([f["seq"] for f in req.facts]))).all())
            for f in req.facts:
                if f["seq"] not in known:
                    session.add(LeadFact(lead_id=s.lead_id, seq=f["seq"], at=datetime.fromisoformat(f["at"]),
                                         kind=f["kind"], data=f["data"]))
            session.flush()
        lead = session.get(Lead, s.lead_id)
        if lead is not None and lead.last_seq > s.seq:
            return  # an older snapshot arriving late (a retry): never go back in time
        session.merge(lead_row(req))
        self._lookups(session, s)
        seen = set(session.exec(select(TimelineEntry.seq).where(
            TimelineEntry.lead_id == s.lead_id, col(TimelineEntry.seq).in_([e.seq for e in req.events]))).all())
        for e in req.events:
            if e.seq not in seen:
                session.add(TimelineEntry(lead_id=s.lead_id, seq=e.seq, at=e.at, kind=e.kind, stage=e.stage.value,
                                          actor=e.actor, role=e.role, dealer_id=e.dealer_id, data=e.data))
        for h in s.past_holdings + ([s.holding] if s.holding else []):
            session.merge(HoldingRow(lead_id=s.lead_id, dealer_id=h.dealer_id, started_at=h.started_at,
                                     ended_at=h.ended_at, end_reason=h.end_reason, dispatch_reason=h.dispatch_reason))
        for e in req.events:
            if e.kind == "penalty_recorded":
                session.merge(DealerPenalty(penalty_id=e.data["penalty_id"], dealer_id=e.data["penalized_dealer_id"],
                                            lead_id=s.lead_id, kind=e.data["penalty"], note=e.data.get("note", ""),
                                            created_at=e.at))
        self._customer_and_raw_leads(session, s)
        for e in req.events:
            if e.kind == "won":  # a referred lead won: the referrer's reward, once (issue 17)
                referrals.on_won(session, s.lead_id, e.at, _reward_tiers())
        self._clock_runs(session, req)
        session.flush()
        for e in req.events:
            if e.kind == "penalty_revoked":
                penalty = session.get(DealerPenalty, e.data["penalty_id"])
                if penalty is not None and penalty.revoked_at is None:
                    penalty.revoked_at = e.at
                    session.add(penalty)
        announce_change(session)  # the live streams' listener (PostgreSQL)
        session.commit()
        sync_lead(self.engine, s, s.updated_at)  # the lead's dealer and consultant slots follow its state
        activity.logger.info("lead projected", extra={"lead_id": s.lead_id, "stage": s.stage.value, "event_seq": s.seq})

    @staticmethod
    def _lookups(session, s) -> None:
        """The keys a search finds the lead by (domain/search.py), following the customer's profile."""
        want = lookup_keys(s.profile.customer_name, s.profile.phone)
        stored = session.exec(select(LeadLookup).where(LeadLookup.lead_id == s.lead_id)).all()
        have = {(r.kind, r.value): r for r in stored}
        for key, row in have.items():
            if key not in want:
                session.delete(row)
        for kind, value in want - set(have):
            session.add(LeadLookup(lead_id=s.lead_id, kind=kind, value=value))

    @staticmethod
    def _customer_and_raw_leads(session, s) -> None:
        """OneID: the customer row follows the newest profile; each touchpoint is one raw-lead row."""
        customer = session.get(Customer, s.customer_key)
        first = min((t.at for t in s.touchpoints), default=s.created_at)
        if customer is None:
            customer = Customer(customer_key=s.customer_key, phone=s.profile.phone, name=s.profile.customer_name,
                                city=display_city(s.profile.city), first_seen_at=first, last_seen_at=s.updated_at)
        else:
            customer.first_seen_at = min(aware(customer.first_seen_at), first)
            if aware(customer.last_seen_at) <= s.updated_at:
                customer.name, customer.city = s.profile.customer_name, display_city(s.profile.city)
                customer.last_seen_at = s.updated_at
        session.add(customer)
        known = set(session.exec(select(RawLeadRow.touchpoint_key).where(RawLeadRow.lead_id == s.lead_id)).all())
        for t in s.touchpoints:
            if t.key not in known:
                session.add(RawLeadRow(lead_id=s.lead_id, touchpoint_key=t.key, channel=t.channel.value,
                                       external_id=t.external_id, brand=s.brand, customer_key=s.customer_key,
                                       campaign=t.campaign, acquisition_cost=t.acquisition_cost, received_at=t.at,
                                       outcome=t.outcome))

    @staticmethod
    def _clock_runs(session, req: ProjectionRequest) -> None:
        """Ended runs with their outcome, then the running ones (a run is keyed by lead, clock and start)."""
        s = req.state
        for end in req.clock_ends:
            session.merge(ClockRun(lead_id=s.lead_id, clock=end.name, started_at=end.started_at, deadline=end.deadline,
                                   dealer_id=end.dealer_id, ended_at=end.ended_at, outcome=end.outcome))
        for clock in s.clocks.values():
            session.merge(ClockRun(lead_id=s.lead_id, clock=clock.name, started_at=clock.started_at,
                                   deadline=clock.deadline,
                                   dealer_id=s.dealer_id if CLOCKS[clock.name].dealer_clock else None))
