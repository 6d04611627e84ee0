"""Scoring (SPEC 6): the pure model in domain.scoring, plus what it needs from master data."""

from __future__ import annotations

from sqlmodel import select
from temporalio import activity

from activities.db import UsesDatabase
from db.models import Dealer
from domain.models import ScoreRequest, ScoreResult
from domain.scoring import score_lead as score


class ScoringActivities(UsesDatabase):
    @activity.defn
    def score_lead(self, req: ScoreRequest) -> ScoreResult:
        city = (req.raw.city or "").strip().lower()
        region = None
        if city:
            with self.session() as session:
                dealers = session.exec(select(Dealer).where(Dealer.brand == req.raw.brand, Dealer.active)).all()
            for dealer in dealers:
                if dealer.city.lower() == city or city in (c.lower() for c in dealer.service_cities):
                    region = dealer.region
                    break
        return score(req, city_served=region is not None, region=region)
