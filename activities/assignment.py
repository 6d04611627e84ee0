"""Assignment inside a dealer (SPEC 3 step 6): the least-loaded consultant who sells the series."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select
from temporalio import activity

from activities.db import UsesDatabase
from db.models import Lead, User
from domain.models import ConsultantRequest, ConsultantResult
from domain.stages import END_STAGES, Role


class AssignmentActivities(UsesDatabase):
    @activity.defn
    def pick_consultant(self, req: ConsultantRequest) -> ConsultantResult:
        with self.session() as session:
            consultants = session.exec(select(User).where(
                User.dealer_id == req.dealer_id, User.role == Role.CONSULTANT.value, User.active)).all()
            able = [u for u in consultants if not req.series or not u.series or req.series in u.series]
            if not able:
                return ConsultantResult(consultant_id=None,
                                        reason=f"no active consultant of {req.dealer_id} sells {req.series or 'this series'}")
            load = dict(session.exec(
                select(Lead.consultant_id, func.count()).where(
                    Lead.consultant_id.in_([u.id for u in able]), Lead.lead_id != req.lead_id,
                    Lead.stage.not_in([s.value for s in END_STAGES]),
                ).group_by(Lead.consultant_id)
            ).all())
        chosen = min(able, key=lambda u: (load.get(u.id, 0), u.id))
        return ConsultantResult(
            consultant_id=chosen.id,
            reason=f"least loaded of {len(able)} consultants selling {req.series or 'the series'} "
                   f"({load.get(chosen.id, 0)} open leads)")
