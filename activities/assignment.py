"""Assignment inside a dealer (SPEC 3 step 6): the least-loaded consultant who sells the series."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from temporalio import activity

from activities.db import UsesDatabase
from db.models import Consultant, Lead, User
from domain.models import ConsultantRequest, ConsultantResult
from domain.stages import END_STAGES


class AssignmentActivities(UsesDatabase):
    @activity.defn
    def pick_consultant(self, req: ConsultantRequest) -> ConsultantResult:
        with self.session() as session:
            consultants = session.exec(select(Consultant).join(User).where(
                Consultant.dealer_id == req.dealer_id, Consultant.on_duty, User.active)).all()
            sells = [c for c in consultants if not req.series or not c.series or req.series in c.series]
            load = dict(session.exec(
                select(Lead.consultant_id, func.count()).where(
                    col(Lead.consultant_id).in_([c.user_id for c in sells]), Lead.lead_id != req.lead_id,
                    col(Lead.stage).not_in([s.value for s in END_STAGES]),
                ).group_by(Lead.consultant_id)
            ).all())
        able = [c for c in sells if load.get(c.user_id, 0) < c.max_open_leads]
        if not able:
            why = "all at capacity" if sells else f"none on duty sells {req.series or 'this series'}"
            return ConsultantResult(consultant_id=None, reason=f"no consultant of {req.dealer_id} can take it: {why}")
        chosen = min(able, key=lambda c: (load.get(c.user_id, 0), c.user_id))
        return ConsultantResult(
            consultant_id=chosen.user_id,
            reason=f"least loaded of {len(able)} consultants selling {req.series or 'the series'} "
                   f"({load.get(chosen.user_id, 0)} open leads)")
