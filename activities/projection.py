"""The read model: the lead's current state, timeline, holdings and penalties, as the workflow decided.

Idempotent: rows are keyed by the lead and the event sequence, so a retried or replayed
activity writes nothing twice.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, or_, select, update
from temporalio import activity

from activities.db import UsesDatabase, announce_change, insert, statement, table_of, upsert
from activities.notify import write_notifications
from activities.webhooks import WebhookTarget, matching_targets
from db import limits, referrals
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


def lead_values(req: ProjectionRequest) -> dict[str, Any]:
    """The lead's read-model row for this state, column by column."""
    s = req.state
    return dict(
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


def lead_row(req: ProjectionRequest) -> Lead:
    """The lead's read-model row for this state (ops.reconcile compares rows with it)."""
    return Lead(**lead_values(req))


class ProjectionActivities(UsesDatabase):
    def __init__(self, engine, push_starter=None):
        super().__init__(engine)
        self.push_starter = push_starter  # channels.delivery.PushStarter: each alert's push channels (None: inbox only)

    @activity.defn
    def record_lead(self, req: ProjectionRequest) -> list[WebhookTarget]:
        """Write the batch's inbox rows (patch notify-in-projection: one activity, and one workflow task, fewer per
        alert) and the read model, and answer which webhook subscribers want this batch's event types (so the
        workflow needs no separate look-up, and no Temporal action, to decide whether to fan out). All of it in
        one transaction on one connection (issue 15: a transaction each for the alerts, the read model, the
        subscribers and the push plan cost a checkout, a ping and a round trip apiece); whoever sees the lead
        row at this seq finds its inbox rows there too."""
        s, starter = req.state, self.push_starter
        with self.session() as session:
            for notification in req.notifications:
                write_notifications(session, notification, commit=False)
            held = self._write(session, req)
            targets = (matching_targets(session, req.webhook_event_types, s.brand, s.dealer_id)
                       if req.webhook_event_types else [])
            pushes = [n for n in req.notifications  # read before the commit: nothing to push starts no workflow
                      if starter is not None and starter.wanted(session, n)]
            announce_change(session)  # the live streams' listener (PostgreSQL)
            session.commit()
        if held is not None:  # the lead's dealer and consultant slots follow its state
            limits.sync_lead(self.engine, s, s.updated_at, held)
            activity.logger.info("lead projected", extra={"lead_id": s.lead_id, "stage": s.stage.value,
                                                          "event_seq": s.seq})
        if starter is not None:
            for notification in pushes:  # after the commit; a retry starts nothing twice (the workflow's id)
                starter.start(notification, planned=True)
        return targets

    def _write(self, session, req: ProjectionRequest) -> list | None:
        """The read model as plain statements in the caller's transaction: one INSERT ... ON CONFLICT per table (no
        SELECT per row, no ORM objects: the worker's largest cost at intake, issue 15). Answers the lead's open
        limit reservations as this transaction reads them, or None when the snapshot is older than the read
        model (a retry arriving late: nothing but its facts is written)."""
        s = req.state
        conn = session.connection()
        if req.facts:  # the simulator's input (issue 16): written even when the snapshot itself is stale
            upsert(conn, table_of(LeadFact), [dict(lead_id=s.lead_id, seq=f["seq"], at=datetime.fromisoformat(f["at"]),
                                                   kind=f["kind"], data=f["data"]) for f in req.facts])
        if not self._lead(conn, req):
            return None  # never go back in time
        self._lookups(conn, s)
        upsert(conn, table_of(TimelineEntry), [
            dict(lead_id=s.lead_id, seq=e.seq, at=e.at, kind=e.kind, stage=e.stage.value, actor=e.actor, role=e.role,
                 dealer_id=e.dealer_id, data=e.data) for e in req.events])
        upsert(conn, table_of(HoldingRow), [
            dict(lead_id=s.lead_id, dealer_id=h.dealer_id, started_at=h.started_at, ended_at=h.ended_at,
                 end_reason=h.end_reason, dispatch_reason=h.dispatch_reason)
            for h in s.past_holdings + ([s.holding] if s.holding else [])], update="all")
        upsert(conn, table_of(DealerPenalty), [  # a penalty is recorded once; its revocation is an update below
            dict(penalty_id=e.data["penalty_id"], dealer_id=e.data["penalized_dealer_id"], lead_id=s.lead_id,
                 kind=e.data["penalty"], note=e.data.get("note", ""), created_at=e.at, revoked_at=None)
            for e in req.events if e.kind == "penalty_recorded"])
        self._customer_and_raw_leads(conn, s)
        for e in req.events:
            if e.kind == "won":  # a referred lead won: the referrer's reward, once (issue 17)
                referrals.on_won(session, s.lead_id, e.at, _reward_tiers())
        self._clock_runs(conn, req)
        session.flush()
        penalties = table_of(DealerPenalty).c
        for e in req.events:
            if e.kind == "penalty_revoked":
                conn.execute(update(table_of(DealerPenalty)).where(
                    penalties.penalty_id == e.data["penalty_id"], penalties.revoked_at.is_(None),
                ).values(revoked_at=e.at))
        return limits.open_reservations(conn, s.lead_id)  # read in this transaction: no second connection

    @staticmethod
    def _lead(conn, req: ProjectionRequest) -> bool:
        """The lead's row, unless the read model is already further on (then False and nothing written)."""
        table = table_of(Lead)

        def build():
            stmt = insert(conn, table)
            return stmt.on_conflict_do_update(
                index_elements=["lead_id"],
                set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != "lead_id"},
                where=table.c.last_seq <= stmt.excluded.last_seq).returning(table.c.lead_id)
        return conn.execute(statement(conn, ("lead",), build), lead_values(req)).first() is not None

    @staticmethod
    def _lookups(conn, s) -> None:
        """The keys a search finds the lead by (domain/search.py), following the customer's profile."""
        want = lookup_keys(s.profile.customer_name, s.profile.phone)
        t = table_of(LeadLookup).c
        have = {(kind, value) for kind, value in conn.execute(
            select(t.kind, t.value).where(t.lead_id == s.lead_id)).all()}
        gone = have - want
        if gone:
            conn.execute(delete(table_of(LeadLookup)).where(t.lead_id == s.lead_id, or_(
                *(and_(t.kind == kind, t.value == value) for kind, value in gone))))
        upsert(conn, table_of(LeadLookup), [dict(lead_id=s.lead_id, kind=kind, value=value)
                                            for kind, value in sorted(want - have)])

    @staticmethod
    def _customer_and_raw_leads(conn, s) -> None:
        """OneID: the customer row follows the newest profile; each touchpoint is one raw-lead row."""
        first = min((t.at for t in s.touchpoints), default=s.created_at)

        def build():
            table = table_of(Customer)
            c = table.c
            stmt = insert(conn, table)
            new = stmt.excluded
            newer = c.last_seen_at <= new.last_seen_at  # this profile is the newest seen: it names the customer

            def newest(column):
                return case((newer, new[column]), else_=c[column])
            return stmt.on_conflict_do_update(index_elements=["customer_key"], set_={
                "first_seen_at": case((new.first_seen_at < c.first_seen_at, new.first_seen_at), else_=c.first_seen_at),
                "name": newest("name"), "city": newest("city"), "last_seen_at": newest("last_seen_at")})
        conn.execute(statement(conn, ("customer",), build), dict(
            customer_key=s.customer_key, phone=s.profile.phone, name=s.profile.customer_name,
            city=display_city(s.profile.city), first_seen_at=first, last_seen_at=s.updated_at))
        upsert(conn, table_of(RawLeadRow), [
            dict(lead_id=s.lead_id, touchpoint_key=t.key, channel=t.channel.value, external_id=t.external_id,
                 brand=s.brand, customer_key=s.customer_key, campaign=t.campaign, acquisition_cost=t.acquisition_cost,
                 received_at=t.at, outcome=t.outcome) for t in s.touchpoints])

    @staticmethod
    def _clock_runs(conn, req: ProjectionRequest) -> None:
        """Ended runs with their outcome, then the running ones (a run is keyed by lead, clock and start)."""
        s = req.state
        upsert(conn, table_of(ClockRun), [
            dict(lead_id=s.lead_id, clock=end.name, started_at=end.started_at, deadline=end.deadline,
                 dealer_id=end.dealer_id, ended_at=end.ended_at, outcome=end.outcome) for end in req.clock_ends],
            update="all")
        upsert(conn, table_of(ClockRun), [
            dict(lead_id=s.lead_id, clock=clock.name, started_at=clock.started_at, deadline=clock.deadline,
                 dealer_id=s.dealer_id if CLOCKS[clock.name].dealer_clock else None, ended_at=None, outcome=None)
            for clock in s.clocks.values()], update="all")
