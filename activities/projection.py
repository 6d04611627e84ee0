"""The read model: the lead's current state, timeline, holdings and penalties, as the workflow decided.

Idempotent: rows are keyed by the lead and the event sequence, so a retried or replayed
activity writes nothing twice.
"""

from __future__ import annotations

from sqlmodel import select
from temporalio import activity

from activities.db import UsesDatabase
from db.models import DealerPenalty, HoldingRow, Lead, TimelineEntry
from domain.customers import mask_phone
from domain.models import ProjectionRequest


class ProjectionActivities(UsesDatabase):
    @activity.defn
    def record_lead(self, req: ProjectionRequest) -> None:
        s = req.state
        with self.session() as session:
            lead = session.get(Lead, s.lead_id)
            if lead is not None and lead.last_seq > s.seq:
                return  # an older snapshot arriving late (a retry): never go back in time
            row = Lead(
                lead_id=s.lead_id, brand=s.brand, customer_key=s.customer_key,
                customer_name=s.profile.customer_name, phone=s.profile.phone, city=s.profile.city,
                series=s.profile.series, channel=s.profile.channel.value, stage=s.stage.value,
                furthest_stage=s.furthest_stage.value, grade=s.grade, score=s.score, region=s.region,
                dealer_id=s.dealer_id, consultant_id=s.consultant_id, sla_breached=s.sla_breached,
                alerts=s.alerts, created_at=s.created_at, updated_at=s.updated_at, last_seq=s.seq,
                previous_lead_id=s.previous_lead_id,
                workflow_id=req.workflow_id, run_id=req.run_id,
                clocks=[c.model_dump(mode="json") for c in s.clocks.values()],
                score_items=[i.model_dump(mode="json") for i in s.score_items],
                detail=s.model_dump(mode="json", exclude={"recent", "score_items", "clocks"})
                | {"phone_masked": mask_phone(s.profile.phone)},
            )
            session.merge(row)
            seen = set(session.exec(select(TimelineEntry.seq).where(
                TimelineEntry.lead_id == s.lead_id, TimelineEntry.seq.in_([e.seq for e in req.events]))).all())
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
            session.flush()
            for e in req.events:
                if e.kind == "penalty_revoked":
                    penalty = session.get(DealerPenalty, e.data["penalty_id"])
                    if penalty is not None and penalty.revoked_at is None:
                        penalty.revoked_at = e.at
                        session.add(penalty)
            session.commit()
        activity.logger.info("lead projected", extra={"lead_id": s.lead_id, "stage": s.stage.value, "event_seq": s.seq})
