"""Assignment inside a dealer (SPEC 3 step 6): the least-loaded consultant who sells the series."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from temporalio import activity

from activities.db import UsesDatabase
from db import limits
from db.models import Consultant, Lead, User
from domain.models import ClaimRequest, ClaimResult, ConsultantRequest, ConsultantResult
from domain.stages import END_STAGES


class AssignmentActivities(UsesDatabase):
    @activity.defn
    def pick_consultant(self, req: ConsultantRequest) -> ConsultantResult:
        if req.holding is not None:  # patch atomic-limits
            return self._pick_reserving(req)
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

    def _pick_reserving(self, req: ConsultantRequest) -> ConsultantResult:
        """The least-loaded consultant by the counters, whose slot is then spent under the consultant's lock;
        one that filled up meanwhile is passed over. A retry finds its reservation and answers the same."""
        if req.holding is None:  # the reserving path runs with patch atomic-limits, whose requests carry it
            raise ValueError("a limit reservation needs the holding number")
        now = activity.info().current_attempt_scheduled_time
        with self.session() as session:
            done = limits.reservation(session, req.lead_id, req.holding, limits.CONSULTANT)
            if done is not None and done.released_at is None and "consultant_id" in done.answer:
                return ConsultantResult.model_validate(done.answer)
            consultants = session.exec(select(Consultant).join(User).where(
                Consultant.dealer_id == req.dealer_id, Consultant.on_duty, User.active)).all()
            sells = [c for c in consultants if not req.series or not c.series or req.series in c.series]
            load = {k: v.open for k, v in limits.counters(session, limits.CONSULTANT,
                                                          [c.user_id for c in sells]).items()}
        while True:
            able = [c for c in sells if load.get(c.user_id, 0) < c.max_open_leads]
            if not able:
                why = "all at capacity" if sells else f"none on duty sells {req.series or 'this series'}"
                return ConsultantResult(consultant_id=None,
                                        reason=f"no consultant of {req.dealer_id} can take it: {why}")
            chosen = min(able, key=lambda c: (load.get(c.user_id, 0), c.user_id))
            with limits.locked(self.engine, req.lead_id) as session:
                counter = limits.lock_counter(session, limits.CONSULTANT, chosen.user_id)
                if counter.open >= chosen.max_open_leads:
                    load[chosen.user_id] = counter.open
                    continue
                result = ConsultantResult(
                    consultant_id=chosen.user_id,
                    reason=f"least loaded of {len(able)} consultants selling {req.series or 'the series'} "
                           f"({counter.open} open leads)")
                _move_slot(session, req.lead_id, req.holding, chosen.user_id, counter, req.since_seq, now,
                           result.model_dump(mode="json"))
                session.commit()
                return result

    @activity.defn
    def reserve_claim(self, req: ClaimRequest) -> ClaimResult:
        """A consultant claims a lead from the public pool: a slot of the consultant's max_open_leads, spent under
        the lead's lock and the consultant's (the lead's own workflow lets one claim through at a time). Idempotent
        per lead, holding and consultant."""
        with limits.locked(self.engine, req.lead_id) as session:
            counter = limits.lock_counter(session, limits.CONSULTANT, req.consultant_id)
            done = limits.reservation(session, req.lead_id, req.holding, limits.CONSULTANT)
            if done is not None and done.released_at is None and done.subject == req.consultant_id:
                return ClaimResult(allowed=True, reason="claimed")
            consultant = session.get(Consultant, req.consultant_id)
            limit = consultant.max_open_leads if consultant is not None else None
            if limit is not None and counter.open >= limit:
                return ClaimResult(allowed=False, reason=f"claim refused: you carry {counter.open} open leads, "
                                                         f"your limit is {limit}", code="refused.claim_limit",
                                   params={"open": counter.open, "limit": limit})
            answer = ClaimResult(allowed=True, reason="claimed")
            _move_slot(session, req.lead_id, req.holding, req.consultant_id, counter, req.since_seq, req.as_of,
                       answer.model_dump(mode="json"))
            session.commit()
        return answer


def _move_slot(session, lead_id: str, holding: int, consultant_id: str, counter, since_seq: int, now, answer) -> None:
    """The lead's consultant slot for this holding goes to `consultant_id` (an earlier one is given back)."""
    done = limits.reservation(session, lead_id, holding, limits.CONSULTANT)
    if done is not None and done.released_at is None and done.subject != consultant_id:
        limits.give_back(session, done, now)
    limits.spend(session, counter, lead_id=lead_id, holding=holding, kind=limits.CONSULTANT, subject=consultant_id,
                 counted_at=now, since_seq=since_seq, now=now, answer=answer)
