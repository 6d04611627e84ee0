"""Scoring (SPEC 6): the pure model in domain.scoring, plus what it needs from master data."""

from __future__ import annotations

import sqlalchemy as sa
from temporalio import activity

from activities.db import UsesDatabase, statement, table_of
from activities.dispatch import DealerProfiles
from db.models import Lead
from domain.models import ScoreRequest, ScoreResult
from domain.places import same_city
from domain.scoring import score_lead as score


class ScoringActivities(UsesDatabase):
    def __init__(self, engine, dealers: DealerProfiles | None = None) -> None:
        super().__init__(engine)
        self._dealers = dealers or DealerProfiles()

    @activity.defn
    def score_lead(self, req: ScoreRequest) -> ScoreResult:
        city = req.raw.city
        region = None
        with self.session() as session:
            conn = session.connection()
            if city:  # the region of the first active dealer (by id) of the brand that serves the city
                dealers = self._dealers.of_brand(conn, req.raw.brand)  # cached until the master data changes
                region = next((d.region for d in dealers.values()
                               if d.active and any(same_city(city, c) for c in [d.city, *d.service_cities])), None)
            repeat = req.repeat_customer or self._bought_before(conn, req)
        return score(req.model_copy(update={"repeat_customer": repeat}), city_served=region is not None, region=region)

    @staticmethod
    def _bought_before(conn, req: ScoreRequest) -> bool:
        """A customer with an earlier lead of the brand that reached won: a repeat customer."""
        if not req.customer_key:
            return False
        return conn.execute(statement(conn, ("bought-before",), _bought_query), dict(
            customer_key=req.customer_key, brand=req.raw.brand, lead_id=req.lead_id)).first() is not None


def _bought_query():
    t = table_of(Lead).c
    return sa.select(t.lead_id).where(
        t.customer_key == sa.bindparam("customer_key"), t.brand == sa.bindparam("brand"),
        t.lead_id != sa.bindparam("lead_id"), t.furthest_stage.in_(["won", "delivered", "completed"])).limit(1)
