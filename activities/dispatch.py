"""Dispatch (SPEC 5): master data and current load from the read model, ranking in domain.dispatch."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select
from temporalio import activity

from activities.db import UsesDatabase, aware
from db.models import Dealer, DealerPenalty, HoldingRow, Lead
from domain.dispatch import DealerProfile, rank_dealers
from domain.models import DeclineQuotaRequest, DeclineQuotaResult, DispatchRequest, DispatchResult
from domain.quota import check_decline
from domain.stages import END_STAGES


class DispatchActivities(UsesDatabase):
    @activity.defn
    def dispatch_lead(self, req: DispatchRequest) -> DispatchResult:
        with self.session() as session:
            if req.forced_dealer_id:
                return self._forced(session, req)
            dealers = session.exec(select(Dealer).where(func.lower(Dealer.brand) == req.brand.lower())).all()
            ids = [d.id for d in dealers]
            load = dict(session.exec(
                select(Lead.dealer_id, func.count()).where(
                    col(Lead.dealer_id).in_(ids), col(Lead.stage).not_in([s.value for s in END_STAGES]),
                    Lead.lead_id != req.lead_id,
                ).group_by(Lead.dealer_id)
            ).all())
            since = req.as_of - timedelta(days=req.penalty_window_days) if req.as_of else None
            penalty_q = select(DealerPenalty.dealer_id, func.count()).where(
                col(DealerPenalty.dealer_id).in_(ids), col(DealerPenalty.revoked_at).is_(None))
            if since is not None:
                penalty_q = penalty_q.where(DealerPenalty.created_at >= since)
            penalties = dict(session.exec(penalty_q.group_by(DealerPenalty.dealer_id)).all())
            last = dict(session.exec(
                select(HoldingRow.dealer_id, func.max(HoldingRow.started_at))
                .where(col(HoldingRow.dealer_id).in_(ids)).group_by(HoldingRow.dealer_id)
            ).all())
        profiles = [
            DealerProfile(
                dealer_id=d.id, name=d.name, brand=d.brand, active=d.active, region=d.region, city=d.city,
                latitude=d.latitude, longitude=d.longitude, service_cities=d.service_cities,
                service_radius_km=d.service_radius_km, series=d.series, stock=d.stock,
                conversion_90d=d.conversion_90d, rating=d.rating, open_leads=load.get(d.id, 0),
                capacity=d.capacity, penalties=penalties.get(d.id, 0), last_dispatched_at=aware(last.get(d.id)),
                choice_right=d.choice_right, competitive_region=d.competitive_region, auto_assign=d.auto_assign,
            )
            for d in dealers
        ]
        result = rank_dealers(req, profiles)
        activity.logger.info("dispatch decided", extra={"lead_id": req.lead_id, "dealer_id": result.dealer_id})
        return result

    def _forced(self, session, req: DispatchRequest) -> DispatchResult:
        dealer = session.get(Dealer, req.forced_dealer_id)
        if dealer is None or not dealer.active or dealer.brand.lower() != req.brand.lower():
            return DispatchResult(dealer_id=None, reason=f"dealer {req.forced_dealer_id} named by lead ops is not an "
                                                         f"active dealer of {req.brand}")
        if dealer.id in req.exclude_dealer_ids:
            return DispatchResult(dealer_id=None, reason=f"dealer {dealer.id} held this lead before")
        return DispatchResult(
            dealer_id=dealer.id, dealer_name=dealer.name, region=dealer.region, choice_right=dealer.choice_right,
            competitive_region=dealer.competitive_region, auto_assign=dealer.auto_assign,
            reason=f"named by lead ops: {dealer.name} ({dealer.id})",
        )

    @activity.defn
    def check_decline_quota(self, req: DeclineQuotaRequest) -> DeclineQuotaResult:
        """A choice-right dealer may decline at most `quota` of the leads pushed to it in the window
        (the rule: domain.quota). A declined lead counts as declined when it was pushed."""
        window = timedelta(days=req.window_days)
        since = req.as_of - window
        with self.session() as session:
            rows = session.exec(
                select(HoldingRow.started_at, HoldingRow.end_reason).where(
                    HoldingRow.dealer_id == req.dealer_id, HoldingRow.started_at >= since)
            ).all()
        pushed_at = [aware(started) for started, _ in rows]
        declined_at = [aware(started) for started, reason in rows if reason == "declined"]
        check = check_decline(pushed_at, declined_at, req.as_of, window, req.quota)
        return DeclineQuotaResult(allowed=check.allowed, pushed=check.pushed, declined=check.declined,
                                  reason=check.reason)
