"""Dashboards as API: every figure checked against a small read model whose numbers were worked out by hand.

The fixture is inserted row by row (leads, holdings, timeline events, clock runs, raw leads), as the
projection would write them. The period is November 2026 in Asia/Shanghai time; rows just outside it
(Oct 31 local, Dec 1 00:30 local = Nov 30 16:30 UTC) must not count, rows just inside it
(Nov 1 01:00 local = Oct 31 17:00 UTC) must. "Now" is pinned to Nov 28 12:00 local.

The story, D1 = D-SH-1, D2 = D-SH-2 (both East), G = D-GZ-1 (South); D-HZ-1 has nothing:

| lead | created | channel | grade | what happened | stage now |
| --- | --- | --- | --- | --- | --- |
| L1 | Nov 2 | website (+douyin merge Nov 15) | H | D1: engaged ... won | won |
| L2 | Nov 3 | douyin | A | D1: engaged, transfer approved after 6 h; D2: contacted | contacted |
| L3 | Nov 4 | website | B | cleansed in 3 min; D2 declined; D1 missed receipt; call center, cleansing record -> nurturing | nurturing |
| L4 | Nov 6 | autohome | A | D1: contacted, stall lapsed -> defeat review (waiting) | defeat_review |
| L5 | Nov 8 | douyin | H | D1: engaged, defeat applied, true defeat after 48 h | dormant |
| L6 | Nov 9 | website | A | D1: engaged, defeat applied, pseudo after 24 h, overturned on appeal (30 h); D2 | acknowledged |
| L7 | Oct 28 | autohome (+website merge Nov 4) | B | D1 (Oct): defeat applied Oct 31, pseudo Nov 2 (38 h), upheld (48 h); D2 | acknowledged |
| L8 | Nov 10 | website | B | G (South): contacted, stall lapsed, pseudo after 24 h; appeal waiting | call_center |
| L9 | Nov 12 | autohome | B | cleansing 10 h; D2: engaged, transfer rejected after 23 h, visited | visited |
| L10 | Nov 20 | website | C | cleansing, waiting | cleansing |
| L11 | Dec 1 00:30 local | website | H | D1: acknowledged (outside the period) | acknowledged |
| L12 | Nov 1 00:55 local | douyin | H | D1: acknowledged; transfer requested Nov 25 (waiting) | transfer_review |
"""  # noqa: E501 - the scenario as a Markdown table, one row per lead: a row cannot wrap

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pytest
from sqlmodel import Session

from api.app import create_app
from api.routes import dashboards
from db.models import ClockRun, HoldingRow, Lead, RawLeadRow, TimelineEntry
from domain.calendar import SHANGHAI
from domain.policy import Scorecard, load_policy
from tests.conftest import token_for
from tests.fixtures import BRAND

D1, D2, G = "D-SH-1", "D-SH-2", "D-GZ-1"
NOV = {"from": "2026-11-01", "to": "2026-12-01"}


def at(when: str) -> datetime:
    """'11-02 10:00' -> 2026-11-02 10:00 Asia/Shanghai."""
    day, clock = when.split()
    return datetime.fromisoformat(f"2026-{day}T{clock}").replace(tzinfo=SHANGHAI)


NOW = at("11-28 12:00")


class Story:
    """One lead's rows: timeline events (stage after the event, the dealer holding it then), holdings,
    clock runs and raw leads, then the lead row as it stands now."""

    def __init__(self, lead_id: str, created: str, channel: str, grade: str, series: str = "A5", region: str = "East",
                 cost: float | None = -1):
        self.lead_id, self.created, self.channel, self.grade = lead_id, at(created), channel, grade
        self.series, self.region = series, region
        self.rows: list = []
        self.seq = 0
        self.event(created, "lead_created", "new")
        self.raw(channel, created, COST[channel] if cost == -1 else cost)  # -1: the channel's usual cost

    def event(self, when: str, kind: str, stage: str, dealer: str | None = None, **data) -> Story:
        self.seq += 1
        self.rows.append(TimelineEntry(lead_id=self.lead_id, seq=self.seq, at=at(when), kind=kind, stage=stage,
                                       actor="someone", role="system", dealer_id=dealer, data=data))
        return self

    def hold(self, dealer: str, start: str, end: str | None = None, reason: str | None = None) -> Story:
        self.rows.append(HoldingRow(lead_id=self.lead_id, dealer_id=dealer, started_at=at(start),
                                    ended_at=at(end) if end else None, end_reason=reason))
        return self

    def clock(self, name: str, dealer: str | None, start: str, deadline: str, outcome: str | None) -> Story:
        self.rows.append(ClockRun(lead_id=self.lead_id, clock=name, started_at=at(start), deadline=at(deadline),
                                  dealer_id=dealer, ended_at=None if outcome is None else at(deadline),
                                  outcome=outcome))
        return self

    def raw(self, channel: str, when: str, cost: float | None, outcome: str = "created") -> Story:
        self.rows.append(RawLeadRow(lead_id=self.lead_id, touchpoint_key=f"{channel}:{self.lead_id}:{when}",
                                    channel=channel, external_id=f"{self.lead_id}-{when}", brand=BRAND,
                                    customer_key=f"c-{self.lead_id}", acquisition_cost=cost, received_at=at(when),
                                    outcome=outcome))
        return self

    def now(self, stage: str, furthest: str, dealer: str | None) -> list:
        lead = Lead(lead_id=self.lead_id, brand=BRAND, customer_key=f"c-{self.lead_id}", customer_name=self.lead_id,
                    phone="+8613800000000", city="Shanghai", series=self.series, channel=self.channel, stage=stage,
                    furthest_stage=furthest, grade=self.grade, score=50, region=self.region, dealer_id=dealer,
                    created_at=self.created, updated_at=self.created, last_seq=self.seq,
                    workflow_id=self.lead_id, run_id="run")
        return [lead, *self.rows]


COST = {"website": 100.0, "douyin": 80.0, "autohome": 150.0}


def story_rows() -> list:
    L1 = (Story("L1", "11-02 09:50", "website", "H")
          .event("11-02 10:00", "dispatched", "dispatched", D1).hold(D1, "11-02 10:00")
          .event("11-02 10:02", "acknowledged", "acknowledged", D1)
          .event("11-02 10:05", "assigned", "assigned", D1)
          .event("11-02 10:10", "follow_up_logged", "engaged", D1)
          .event("11-04 10:00", "invited", "invited", D1).event("11-06 10:00", "visited", "visited", D1)
          .event("11-06 11:00", "test_driven", "test_driven", D1).event("11-08 10:00", "quoted", "quoted", D1)
          .event("11-10 10:00", "ordered", "ordered", D1)
          .event("11-15 10:00", "raw_lead_merged", "ordered", D1).raw("douyin", "11-15 10:00", 80.0, "merged")
          .event("11-20 10:00", "won", "won", D1)
          .clock("receipt", D1, "11-02 10:00", "11-02 12:00", "met")
          .clock("first_response", D1, "11-02 10:00", "11-02 10:15", "met")
          .clock("public_pool", D1, "11-02 10:05", "11-02 12:05", "met")
          .clock("first_deep_contact", D1, "11-02 10:00", "11-03 10:00", "met")
          .clock("store_invitation", D1, "11-02 10:00", "11-09 10:00", "met")
          .now("won", "won", D1))
    L2 = (Story("L2", "11-03 09:50", "douyin", "A")
          .event("11-03 10:00", "dispatched", "dispatched", D1).hold(D1, "11-03 10:00", "11-05 16:00", "transferred")
          .event("11-03 10:02", "acknowledged", "acknowledged", D1)
          .event("11-03 10:10", "follow_up_logged", "engaged", D1)
          .event("11-05 10:00", "transfer_requested", "transfer_review", D1)
          .event("11-05 16:00", "transfer_approved", "transfer_review", D1)
          .event("11-05 16:00", "holding_ended", "transfer_review", D1, reason="transferred")
          .event("11-05 16:00", "dispatched", "dispatched", D2).hold(D2, "11-05 16:00")
          .event("11-05 17:00", "acknowledged", "acknowledged", D2)
          .event("11-05 17:30", "follow_up_logged", "contacted", D2)
          .clock("receipt", D1, "11-03 10:00", "11-03 12:00", "met")
          .clock("first_response", D1, "11-03 10:00", "11-03 10:15", "met")
          .clock("first_deep_contact", D1, "11-03 10:00", "11-04 10:00", "met")
          .clock("store_invitation", D1, "11-03 10:00", "11-10 10:00", "cancelled")
          .clock("transfer_review", None, "11-05 10:00", "11-06 10:00", "met")
          .clock("receipt", D2, "11-05 16:00", "11-05 18:00", "met")
          .clock("first_response", D2, "11-05 16:00", "11-05 16:15", "lapsed")
          .clock("first_deep_contact", D2, "11-05 16:00", "11-06 16:00", None)  # running, overdue
          .clock("store_invitation", D2, "11-05 16:00", "11-29 16:00", None)  # running, not yet due
          .now("contacted", "engaged", D2))
    L3 = (Story("L3", "11-04 09:50", "website", "B", series="A7")
          .event("11-04 09:55", "cleansing_started", "cleansing")
          .event("11-04 09:58", "cleansing_recorded", "cleansing", outcome="verified")
          .event("11-04 10:00", "dispatched", "dispatched", D2).hold(D2, "11-04 10:00", "11-04 11:00", "declined")
          .event("11-04 11:00", "declined", "dispatched", D2)
          .event("11-04 11:00", "holding_ended", "dispatched", D2, reason="declined")
          .event("11-04 12:00", "dispatched", "dispatched", D1).hold(D1, "11-04 12:00", "11-04 14:00", "receipt_lapsed")
          .event("11-04 14:00", "clock_lapsed", "dispatched", D1, clock="receipt")
          .event("11-04 14:00", "holding_ended", "dispatched", D1, reason="receipt_lapsed")
          .event("11-04 14:00", "no_eligible_dealer", "call_center")
          .event("11-06 10:00", "cleansing_recorded", "call_center", outcome="nurture")  # answers no new request
          .event("11-06 10:00", "nurturing_started", "nurturing")
          .clock("cleansing", None, "11-04 09:55", "11-05 09:55", "met")
          .clock("receipt", D2, "11-04 10:00", "11-04 12:00", "cancelled")
          .clock("first_response", D2, "11-04 10:00", "11-04 10:15", "lapsed")
          .clock("receipt", D1, "11-04 12:00", "11-04 14:00", "lapsed")
          .clock("first_response", D1, "11-04 12:00", "11-04 12:15", "lapsed")
          .now("nurturing", "dispatched", None))
    L4 = (Story("L4", "11-06 09:50", "autohome", "A")
          .event("11-06 10:00", "dispatched", "dispatched", D1).hold(D1, "11-06 10:00")
          .event("11-06 10:05", "acknowledged", "acknowledged", D1)
          .event("11-06 10:10", "follow_up_logged", "contacted", D1)
          .event("11-07 10:00", "clock_lapsed", "contacted", D1, clock="first_deep_contact")
          .event("11-13 10:00", "clock_lapsed", "contacted", D1, clock="store_invitation")
          .event("11-13 10:10", "clock_lapsed", "contacted", D1, clock="stall")
          .event("11-13 10:10", "stall_detected", "contacted", D1)
          .event("11-13 10:10", "defeat_submitted", "defeat_review", D1, source="stall")
          .clock("receipt", D1, "11-06 10:00", "11-06 12:00", "met")
          .clock("first_response", D1, "11-06 10:00", "11-06 10:15", "met")
          .clock("first_deep_contact", D1, "11-06 10:00", "11-07 10:00", "lapsed")
          .clock("store_invitation", D1, "11-06 10:00", "11-13 10:00", "lapsed")
          .clock("stall", D1, "11-06 10:10", "11-13 10:10", "lapsed")
          .clock("defeat_review", None, "11-13 10:10", "11-18 00:00", None)  # running, overdue
          .now("defeat_review", "contacted", D1))
    L5 = (Story("L5", "11-08 09:50", "douyin", "H", series="A7")
          .event("11-08 10:00", "dispatched", "dispatched", D1).hold(D1, "11-08 10:00", "11-12 12:00", "true_defeat")
          .event("11-08 10:02", "acknowledged", "acknowledged", D1)
          .event("11-08 10:10", "follow_up_logged", "engaged", D1)
          .event("11-10 10:00", "defeat_applied", "defeat_pending_manager", D1)
          .event("11-10 12:00", "defeat_submitted", "defeat_review", D1, source="dealer")
          .event("11-12 12:00", "defeat_decided", "defeat_review", D1, verdict="true_defeat")
          .event("11-12 12:00", "holding_ended", "defeat_review", D1, reason="true_defeat")
          .event("11-12 12:00", "went_dormant", "dormant")
          .clock("receipt", D1, "11-08 10:00", "11-08 12:00", "met")
          .clock("first_response", D1, "11-08 10:00", "11-08 10:15", "met")
          .clock("first_deep_contact", D1, "11-08 10:00", "11-09 10:00", "met")
          .clock("store_invitation", D1, "11-08 10:00", "11-15 10:00", "cancelled")
          .clock("defeat_review", None, "11-10 12:00", "11-13 00:00", "met")
          .now("dormant", "engaged", None))
    L6 = (Story("L6", "11-09 09:50", "website", "A", cost=None)  # a raw lead without a cost
          .event("11-09 10:00", "dispatched", "dispatched", D1).hold(D1, "11-09 10:00", "11-12 10:00", "pseudo_defeat")
          .event("11-09 10:30", "acknowledged", "acknowledged", D1)
          .event("11-09 11:00", "follow_up_logged", "engaged", D1)
          .event("11-11 09:00", "defeat_applied", "defeat_pending_manager", D1)
          .event("11-11 10:00", "defeat_submitted", "defeat_review", D1, source="dealer")
          .event("11-12 10:00", "defeat_decided", "defeat_review", D1, verdict="pseudo_defeat")
          .event("11-12 10:00", "pseudo_defeat_decided", "defeat_review", D1, penalized_dealer_id=D1)
          .event("11-12 10:00", "holding_ended", "defeat_review", D1, reason="pseudo_defeat")
          .event("11-12 10:05", "dispatched", "dispatched", D2).hold(D2, "11-12 10:05")
          .event("11-12 11:00", "acknowledged", "acknowledged", D2)
          .event("11-13 10:00", "appeal_filed", "acknowledged", D2, appealing_dealer_id=D1)
          .event("11-14 16:00", "appeal_decided", "acknowledged", D2, outcome="overturned", appealing_dealer_id=D1)
          .clock("receipt", D1, "11-09 10:00", "11-09 12:00", "met")
          .clock("first_response", D1, "11-09 10:00", "11-09 10:15", "lapsed")
          .clock("defeat_review", None, "11-11 10:00", "11-14 00:00", "met")
          .clock("receipt", D2, "11-12 10:05", "11-12 12:05", "met")
          .clock("appeal_review", None, "11-13 10:00", "11-18 00:00", "met")
          .now("acknowledged", "engaged", D2))
    L7 = (Story("L7", "10-28 09:50", "autohome", "B")
          .event("10-28 10:05", "dispatched", "dispatched", D1).hold(D1, "10-28 10:05", "11-02 10:00", "pseudo_defeat")
          .event("10-28 10:30", "acknowledged", "acknowledged", D1)
          .event("10-29 10:00", "follow_up_logged", "engaged", D1)
          .event("10-31 18:00", "defeat_applied", "defeat_pending_manager", D1)
          .event("10-31 20:00", "defeat_submitted", "defeat_review", D1, source="dealer")
          .event("11-02 10:00", "defeat_decided", "defeat_review", D1, verdict="pseudo_defeat")
          .event("11-02 10:00", "pseudo_defeat_decided", "defeat_review", D1, penalized_dealer_id=D1)
          .event("11-02 10:00", "holding_ended", "defeat_review", D1, reason="pseudo_defeat")
          .event("11-02 10:05", "dispatched", "dispatched", D2).hold(D2, "11-02 10:05")
          .event("11-02 11:00", "acknowledged", "acknowledged", D2)
          .event("11-03 10:00", "appeal_filed", "acknowledged", D2, appealing_dealer_id=D1)
          .event("11-04 10:00", "raw_lead_merged", "acknowledged", D2).raw("website", "11-04 10:00", 50.0, "merged")
          .event("11-05 10:00", "appeal_decided", "acknowledged", D2, outcome="upheld", appealing_dealer_id=D1)
          .clock("receipt", D1, "10-28 10:05", "10-28 12:05", "met")  # outside the period
          .clock("defeat_review", None, "10-31 20:00", "11-05 00:00", "met")
          .clock("receipt", D2, "11-02 10:05", "11-02 12:05", "met")
          .now("acknowledged", "engaged", D2))
    L8 = (Story("L8", "11-10 09:50", "website", "B", region="South")
          .event("11-10 10:00", "dispatched", "dispatched", G).hold(G, "11-10 10:00", "11-18 11:00", "pseudo_defeat")
          .event("11-10 10:05", "acknowledged", "acknowledged", G)
          .event("11-10 10:10", "follow_up_logged", "contacted", G)
          .event("11-17 11:00", "stall_detected", "contacted", G)
          .event("11-17 11:00", "defeat_submitted", "defeat_review", G, source="stall")
          .event("11-18 11:00", "defeat_decided", "defeat_review", G, verdict="pseudo_defeat")
          .event("11-18 11:00", "holding_ended", "defeat_review", G, reason="pseudo_defeat")
          .event("11-18 11:00", "sent_to_call_center", "call_center")
          .event("11-19 10:00", "appeal_filed", "call_center", appealing_dealer_id=G)
          .clock("receipt", G, "11-10 10:00", "11-10 12:00", "met")
          .clock("first_response", G, "11-10 10:00", "11-10 10:15", "met")
          .clock("first_deep_contact", G, "11-10 10:00", "11-11 10:00", "lapsed")
          .clock("store_invitation", G, "11-10 10:00", "11-17 10:00", "lapsed")
          .clock("stall", G, "11-10 10:10", "11-17 11:00", "lapsed")
          .clock("defeat_review", None, "11-17 11:00", "11-20 00:00", "met")
          .clock("appeal_window", None, "11-18 11:00", "11-20 00:00", "met")
          .clock("appeal_review", None, "11-19 10:00", "11-24 00:00", None)  # running, overdue
          .now("call_center", "contacted", None))
    L9 = (Story("L9", "11-12 09:50", "autohome", "B", series="A7")
          .event("11-12 10:00", "cleansing_started", "cleansing")
          .event("11-12 20:00", "cleansing_recorded", "cleansing", outcome="verified")
          .event("11-12 20:05", "dispatched", "dispatched", D2).hold(D2, "11-12 20:05")
          .event("11-12 20:10", "acknowledged", "acknowledged", D2)
          .event("11-12 20:15", "follow_up_logged", "engaged", D2)
          .event("11-13 10:00", "transfer_requested", "transfer_review", D2)
          .event("11-14 09:00", "transfer_rejected", "engaged", D2)
          .event("11-15 10:00", "invited", "invited", D2)
          .event("11-16 10:00", "visited", "visited", D2)
          .clock("cleansing", None, "11-12 10:00", "11-13 10:00", "met")
          .clock("receipt", D2, "11-12 20:05", "11-12 22:05", "met")
          .clock("first_response", D2, "11-12 20:05", "11-12 20:20", "met")
          .clock("first_deep_contact", D2, "11-12 20:05", "11-13 20:05", "met")
          .clock("transfer_review", None, "11-13 10:00", "11-14 10:00", "met")
          .clock("store_invitation", D2, "11-12 20:05", "11-19 20:05", "met")
          .now("visited", "visited", D2))
    L10 = (Story("L10", "11-20 09:50", "website", "C")
           .event("11-20 10:00", "cleansing_started", "cleansing")
           .clock("cleansing", None, "11-20 10:00", "11-21 10:00", None)  # running, overdue
           .now("cleansing", "cleansing", None))
    L11 = (Story("L11", "12-01 00:30", "website", "H")  # Nov 30 16:30 UTC: December in Shanghai
           .event("12-01 00:30", "dispatched", "dispatched", D1).hold(D1, "12-01 00:30")
           .event("12-01 01:00", "acknowledged", "acknowledged", D1)
           .clock("receipt", D1, "12-01 00:30", "12-01 02:30", "met")
           .clock("first_response", D1, "12-01 00:30", "12-01 00:45", "lapsed")
           .now("acknowledged", "acknowledged", D1))
    L12 = (Story("L12", "11-01 00:55", "douyin", "H")  # Oct 31 16:55 UTC: November in Shanghai
           .event("11-01 01:00", "dispatched", "dispatched", D1).hold(D1, "11-01 01:00")
           .event("11-01 02:00", "acknowledged", "acknowledged", D1)
           .event("11-25 10:00", "transfer_requested", "transfer_review", D1)
           .clock("receipt", D1, "11-01 01:00", "11-01 03:00", "met")
           .clock("first_response", D1, "11-01 01:00", "11-01 01:15", "lapsed")
           .clock("first_deep_contact", D1, "11-01 01:00", "11-02 01:00", "lapsed")
           .clock("store_invitation", D1, "11-01 01:00", "11-08 01:00", None)  # paused in review: overdue
           .clock("transfer_review", None, "11-25 10:00", "11-26 10:00", None)  # running, overdue
           .now("transfer_review", "acknowledged", D1))
    return [*L1, *L2, *L3, *L4, *L5, *L6, *L7, *L8, *L9, *L10, *L11, *L12]


def seed_story(engine) -> None:
    with Session(engine) as session:
        for row in story_rows():
            session.add(row)
        session.commit()


NO_TEMPORAL = object()  # the dashboards only read the database


@asynccontextmanager
async def dashboards_api(engine, policy=None):
    app = create_app(client=NO_TEMPORAL, engine=engine, policy=policy or load_policy(), task_queue="unused")
    app.dependency_overrides[dashboards.current_time] = lambda: NOW
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://leadflow") as http:
            yield http


def auth(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id)}"}


async def get(http, path: str, user: str = "ops", **params) -> dict:
    response = await http.get(f"/v1/dashboards/{path}", params={**NOV, **params}, headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


approx = pytest.approx


# --------------------------------------------------------------------------- the figures


async def check_funnel(http) -> None:
    report = await get(http, "funnel")
    # created in November (Shanghai): L1-L6, L8, L9, L10, L12 = 10 (L7: Oct 28; L11: Dec 1 00:30 local)
    assert report["leads"] == 10
    assert report["period"] == {"from": "2026-11-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00"}
    # furthest: L1 won, L2 L5 L6 engaged, L9 visited, L4 L8 contacted, L12 acknowledged, L3 dispatched, L10 cleansing
    steps = {s["stage"]: s["leads"] for s in report["steps"]}
    assert steps == {"new": 10, "cleansing": 10, "dispatched": 9, "acknowledged": 8, "assigned": 7, "contacted": 7,
                     "engaged": 5, "invited": 2, "visited": 2, "test_driven": 1, "quoted": 1, "ordered": 1, "won": 1,
                     "delivered": 0, "completed": 0}
    by_stage = {s["stage"]: s for s in report["steps"]}
    assert by_stage["new"]["conversion_from_previous"] is None
    assert by_stage["dispatched"]["conversion_from_previous"] == approx(9 / 10)
    assert by_stage["engaged"]["conversion_from_previous"] == approx(5 / 7)
    assert by_stage["engaged"]["conversion_from_top"] == approx(5 / 10)
    assert by_stage["completed"]["conversion_from_previous"] is None  # 0 delivered
    now = {s["stage"]: s["leads"] for s in report["current_stages"] if s["leads"]}
    assert now == {"won": 1, "contacted": 1, "nurturing": 1, "defeat_review": 1, "dormant": 1, "acknowledged": 1,
                   "call_center": 1, "visited": 1, "cleansing": 1, "transfer_review": 1}
    kinds = {s["stage"]: s["kind"] for s in report["current_stages"]}
    assert kinds["completed"] == "end" and kinds["closed_lost"] == "end" and kinds["public_pool"] == "side"
    assert len(report["current_stages"]) == 26  # every stage, zeros included
    # filters on the lead row now: held by D1 now: L1, L4, L12; created through douyin: L2, L5, L12 (L1 only merged
    # a douyin raw lead); grade H: L1, L5, L12; region South: L8
    assert (await get(http, "funnel", dealer_id=D1))["leads"] == 3
    assert (await get(http, "funnel", channel="douyin"))["leads"] == 3
    assert (await get(http, "funnel", grade="H"))["leads"] == 3
    south = await get(http, "funnel", region="South")
    assert south["leads"] == 1 and {s["stage"]: s["leads"] for s in south["steps"]}["contacted"] == 1
    assert (await get(http, "funnel", series="A7"))["leads"] == 3  # L3, L5, L9


async def check_sla(http) -> None:
    report = await get(http, "sla")
    clocks = {c["clock"]: c for c in report["clocks"]}
    assert report["as_of"] == NOW.isoformat()

    def figures(name):
        c = clocks[name]
        return c["runs"], c["met"], c["lapsed"], c["cancelled"], c["running"], c["overdue_now"]

    # receipt, deadlines in Nov: met L1 L2(D1) L2(D2) L4 L5 L6(D1) L6(D2) L7(D2) L8 L9 L12 = 11; lapsed L3(D1);
    # cancelled L3(D2, declined); L7(D1, Oct 28) and L11 (Dec 1) are outside -> 11 / (11 + 1)
    assert figures("receipt") == (13, 11, 1, 1, 0, 0)
    assert clocks["receipt"]["compliance"] == approx(11 / 12)
    # first response: met L1 L2(D1) L4 L5 L8 L9 = 6; lapsed L2(D2) L3(D2) L3(D1) L6 L12 = 5 -> 6/11
    assert figures("first_response") == (11, 6, 5, 0, 0, 0)
    assert clocks["first_response"]["compliance"] == approx(6 / 11)
    # first deep contact: met L1 L2(D1) L5 L9; lapsed L4 L8 L12; running L2(D2), deadline Nov 6: overdue -> 4/7
    assert figures("first_deep_contact") == (8, 4, 3, 0, 1, 1)
    assert clocks["first_deep_contact"]["compliance"] == approx(4 / 7)
    # store invitation: met L1 L9; lapsed L4 L8; cancelled L2(D1) L5; running L2(D2, due Nov 29) and L12 (overdue)
    assert figures("store_invitation") == (8, 2, 2, 2, 2, 1)
    assert clocks["store_invitation"]["compliance"] == 0.5
    assert figures("stall") == (2, 0, 2, 0, 0, 0) and clocks["stall"]["compliance"] == 0  # L4, L8
    assert figures("public_pool") == (1, 1, 0, 0, 0, 0)  # L1
    assert figures("transfer_review") == (3, 2, 0, 0, 1, 1)  # L2, L9 met; L12 waiting
    assert figures("defeat_review") == (5, 4, 0, 0, 1, 1)  # L5 L6 L7 L8 met; L4 waiting
    assert figures("appeal_review") == (2, 1, 0, 0, 1, 1)  # L6 met; L8 waiting
    assert figures("cleansing") == (3, 2, 0, 0, 1, 1)  # L3 L9 met; L10 waiting
    assert figures("appeal_window") == (1, 1, 0, 0, 0, 0)  # L8
    assert figures("grade_cadence") == (0, 0, 0, 0, 0, 0) and clocks["grade_cadence"]["compliance"] is None
    # all clocks: runs 13+11+1+8+8+2+3+5+2+3+1 = 57; met 11+6+1+4+2+0+2+4+1+2+1 = 34; lapsed 1+5+3+2+2 = 13
    o = report["overall"]
    assert (o["runs"], o["met"], o["lapsed"], o["cancelled"], o["running"], o["overdue_now"]) == (57, 34, 13, 3, 7, 6)
    assert o["compliance"] == approx(34 / 47)

    # D-SH-2's clocks only (no OEM clock): receipt met L2 L6 L7 L9, cancelled L3; first response met L9,
    # lapsed L2 L3; deep contact met L9, running L2 (overdue); invitation met L9, running L2 (not due)
    d2 = await get(http, "sla", dealer_id=D2)
    d2_clocks = {c["clock"]: c for c in d2["clocks"]}
    assert d2_clocks["receipt"]["compliance"] == 1.0 and d2_clocks["receipt"]["cancelled"] == 1
    assert d2_clocks["first_response"]["compliance"] == approx(1 / 3)
    assert d2_clocks["transfer_review"]["runs"] == 0
    d2o = d2["overall"]
    assert (d2o["runs"], d2o["met"], d2o["lapsed"], d2o["cancelled"], d2o["running"], d2o["overdue_now"]) == (12, 7, 2,
                                                                                                              1, 2, 1)

    # weekly receipt series (Monday weeks, Shanghai time): Nov 1 is a Sunday -> week of Oct 26: L12 met;
    # week of Nov 2: met L1 L2(D1) L2(D2) L4 L5 L7(D2) = 6, lapsed L3(D1), cancelled L3(D2); week of Nov 9:
    # met L6(D1) L6(D2) L8 L9 = 4
    weekly = await get(http, "sla", clock="receipt", bucket="week")
    assert [c["clock"] for c in weekly["clocks"]] == ["receipt"]
    points = [(p["bucket_start"], p["met"], p["lapsed"], p["cancelled"], p["compliance"]) for p in weekly["series"]]
    assert points == [("2026-10-26", 1, 0, 0, 1.0), ("2026-11-02", 6, 1, 1, approx(6 / 7)),
                      ("2026-11-09", 4, 0, 0, 1.0)]
    # daily first response: L12's deadline Nov 1 01:15 local (Oct 31 in UTC) falls on Nov 1
    daily = await get(http, "sla", clock="first_response", bucket="day")
    days = {p["bucket_start"]: (p["met"], p["lapsed"]) for p in daily["series"]}
    assert days["2026-11-01"] == (0, 1) and "2026-10-31" not in days
    assert days["2026-11-04"] == (0, 2)  # L3 at D2 and D1
    monthly = await get(http, "sla", bucket="month")
    assert {p["bucket_start"] for p in monthly["series"]} == {"2026-11-01"}
    assert sum(p["met"] for p in monthly["series"]) == 34


async def check_scorecards(http) -> None:
    report = await get(http, "scorecards")
    assert report["weights"] == {"conversion": 0.3, "store_visit": 0.2, "deal": 0.2, "follow_up_timeliness": 0.1,
                                 "status_update_accuracy": 0.1, "defeat_report_compliance": 0.05, "cooperation": 0.05}
    ranking = [(c["dealer_id"], c["rank"], c["total"]) for c in report["dealers"]]
    # D-HZ-1 received nothing: listed last, unranked (its compliance measures would count as perfect)
    assert ranking == [(D1, 1, 45.0), (D2, 2, 36.0), (G, 3, 13.3), ("D-HZ-1", None, 30.0)]
    cards = {c["dealer_id"]: {m["name"]: m for m in c["measures"]} for c in report["dealers"]}

    def nd(dealer, name):
        m = cards[dealer][name]
        return m["numerator"], m["denominator"]

    # D-SH-1 received 7 leads in Nov: L1 L2 L3 L4 L5 L6 L12 (L7: Oct 28, L11: Dec 1)
    # engaged under D1: L1 L2 L5 L6 -> 4/7; visited and won: L1 -> 1/7 each (L2 got no further at D1)
    assert nd(D1, "conversion") == (4, 7) and nd(D1, "store_visit") == (1, 7) and nd(D1, "deal") == (1, 7)
    # timeliness: first_response met L1 L2 L4 L5 / lapsed L3 L6 L12; public_pool met L1; deep contact met L1 L2 L5 /
    # lapsed L4 L12; invitation met L1 / lapsed L4 (L2 L5 cancelled, L12 running) -> 9 / (9 + 6) = 0.6
    assert nd(D1, "follow_up_timeliness") == (9, 15) and cards[D1]["follow_up_timeliness"]["value"] == approx(0.6)
    # accuracy: one stall lapse (L4) for 7 received -> 1 - 1/7 = 6/7
    assert nd(D1, "status_update_accuracy") == (1, 7)
    assert cards[D1]["status_update_accuracy"]["value"] == approx(6 / 7)
    # defeat applications decided in Nov: L5 true, L6 pseudo but overturned, L7 pseudo upheld -> 2/3
    # (L4 went to review by the stall clock and is not decided)
    assert nd(D1, "defeat_report_compliance") == (2, 3)
    # receipt: met L1 L2 L4 L5 L6 L12, lapsed L3 -> 6/7
    assert nd(D1, "cooperation") == (6, 7)
    # total = 100 x (0.3x4/7 + 0.2x1/7 + 0.2x1/7 + 0.1x0.6 + 0.1x6/7 + 0.05x2/3 + 0.05x6/7)
    #       = 100 x (2.5/7 + 0.06 + 0.0333...) = 45.047... -> 45.0
    assert cards[D1]["conversion"]["points"] == approx(30 * 4 / 7)
    # D-SH-2 received L2 L3 L6 L7 L9 = 5; engaged and visited under D2: L9 only -> 1/5, 1/5, won 0/5
    assert nd(D2, "conversion") == (1, 5) and nd(D2, "store_visit") == (1, 5) and nd(D2, "deal") == (0, 5)
    # timeliness: first_response met L9 / lapsed L2 L3; deep contact met L9; invitation met L9 -> 3/5
    assert nd(D2, "follow_up_timeliness") == (3, 5)
    assert nd(D2, "status_update_accuracy") == (0, 5) and cards[D2]["status_update_accuracy"]["value"] == 1.0
    # no defeat decided -> null, counted as 1; receipt met L2 L6 L7 L9 (L3 cancelled by the decline) -> 4/4
    assert cards[D2]["defeat_report_compliance"]["value"] is None
    assert cards[D2]["defeat_report_compliance"]["counted_as"] == 1.0
    assert nd(D2, "cooperation") == (4, 4)
    # total = 6 + 4 + 0 + 6 + 10 + 5 + 5 = 36.0
    # D-GZ-1 received L8: contacted only -> 0/1 x3; timeliness met first_response / lapsed deep contact and
    # invitation -> 1/3; one stall lapse -> 1 - 1/1 = 0; L8's defeat came from the stall clock -> not an
    # application: null (1.0); receipt 1/1. Total = 100 x (0.1x1/3 + 0.05 + 0.05) = 13.33 -> 13.3
    assert nd(G, "follow_up_timeliness") == (1, 3) and cards[G]["status_update_accuracy"]["value"] == 0
    assert nd(G, "defeat_report_compliance") == (0, 0)
    # D-HZ-1 received nothing: funnel measures null and counted 0, compliance measures null and counted 1 -> 30.0
    hz = cards["D-HZ-1"]
    assert hz["conversion"]["value"] is None and hz["conversion"]["counted_as"] == 0
    assert hz["cooperation"]["value"] is None and hz["cooperation"]["counted_as"] == 1
    assert [c["received_leads"] for c in report["dealers"]] == [7, 5, 1, 0]

    one = await get(http, f"scorecards/{G}")
    assert (one["rank"], one["ranked_out_of"], one["total"]) == (3, 3, 13.3)
    south = await get(http, "scorecards", region="South")
    assert [(c["dealer_id"], c["rank"], c["ranked_out_of"]) for c in south["dealers"]] == [(G, 1, 1)]


async def check_dispatch(http) -> None:
    report = await get(http, "dispatch")
    # holdings started in Nov: L1 L2(D1) L2(D2) L3(D2) L3(D1) L4 L5 L6(D1) L6(D2) L7(D2) L8 L9 L12 = 13
    # (L7 at D1 started Oct 28, L11 Dec 1); not matched: L2(D1) transferred, L3(D2) declined, L3(D1) receipt lapsed
    total = report["total"]
    assert (total["started"], total["matched"]) == (13, 10) and total["match_rate"] == approx(10 / 13)
    assert total["by_end_reason"] == {"open": 7, "transferred": 1, "declined": 1, "receipt_lapsed": 1,
                                      "true_defeat": 1, "pseudo_defeat": 2, "reassigned": 0}
    by_dealer = await get(http, "dispatch", group_by="dealer")
    # D1: L1 L2 L3 L4 L5 L6 L12 = 7, minus L2 (transferred) and L3 (receipt lapsed) = 5
    # D2: L2 L3 L6 L7 L9 = 5, minus L3 (declined) = 4; G: L8 = 1, pseudo-defeat still counts as matched
    assert [(g["key"], g["started"], g["matched"]) for g in by_dealer["groups"]] == [(G, 1, 1), (D1, 7, 5), (D2, 5, 4)]
    assert by_dealer["groups"][1]["by_end_reason"]["receipt_lapsed"] == 1
    by_region = await get(http, "dispatch", group_by="region")
    assert [(g["key"], g["started"], g["matched"]) for g in by_region["groups"]] == [("East", 12, 9), ("South", 1, 1)]
    assert (await get(http, "dispatch", region="South"))["total"]["started"] == 1
    assert (await get(http, "dispatch", dealer_id=D2))["total"]["by_end_reason"]["declined"] == 1


async def check_reviews(http) -> None:
    queues = {q["queue"]: q for q in (await get(http, "reviews"))["queues"]}

    def speed(name):
        q = queues[name]
        return q["open_now"], q["decided"], q["avg_hours"], q["max_hours"]

    # cleansing: L10 waits since Nov 20 10:00 (8 d 2 h before now = 194 h); decided: L3 after 3 min (0.05 h), L9
    # after 10 h -> avg 5.025; L3's second record, at the call center on Nov 6, follows a decision, not a request:
    # not counted
    assert speed("cleansing") == (1, 2, approx(10.05 / 2), approx(10))
    assert datetime.fromisoformat(queues["cleansing"]["oldest_waiting_since"]) == at("11-20 10:00")
    assert queues["cleansing"]["oldest_waiting_hours"] == approx(194)
    # transfer: L12 waits since Nov 25 10:00 (74 h); decided: L2 approved after 6 h, L9 rejected after 23 h
    assert speed("transfer_review") == (1, 2, approx(14.5), approx(23))
    assert queues["transfer_review"]["oldest_waiting_hours"] == approx(74)
    # defeat review: L4 waits since Nov 13 10:10 (15 d 1 h 50 min); decided: L5 48 h, L6 24 h, L7 38 h (asked Oct 31
    # 20:00, decided Nov 2 10:00), L8 24 h -> avg 134/4 = 33.5, max 48
    assert speed("defeat_review") == (1, 4, approx(33.5), approx(48))
    assert queues["defeat_review"]["oldest_waiting_hours"] == approx(15 * 24 + 1 + 50 / 60)
    # appeals: L8's waits since Nov 19 10:00 (218 h); decided: L6 overturned after 30 h, L7 upheld after 48 h
    assert speed("appeal_review") == (1, 2, approx(39), approx(48))
    assert queues["appeal_review"]["oldest_waiting_hours"] == approx(218)

    # the requests of D-SH-1: transfer L12 waiting, L2 decided (6 h); defeat L4 waiting, L5 L6 L7 decided
    # (48 + 24 + 38 = 110 h / 3); its appeals of L6 and L7 (filed while D-SH-2 held the leads) decided
    d1 = {q["queue"]: q for q in (await get(http, "reviews", dealer_id=D1))["queues"]}
    assert (d1["cleansing"]["open_now"], d1["cleansing"]["decided"]) == (0, 0)
    assert (d1["transfer_review"]["open_now"], d1["transfer_review"]["decided"],
            d1["transfer_review"]["avg_hours"]) == (1, 1, approx(6))
    assert (d1["defeat_review"]["open_now"], d1["defeat_review"]["decided"]) == (1, 3)
    assert d1["defeat_review"]["avg_hours"] == approx(110 / 3)
    assert (d1["appeal_review"]["open_now"], d1["appeal_review"]["decided"]) == (0, 2)
    d2 = {q["queue"]: q for q in (await get(http, "reviews", dealer_id=D2))["queues"]}
    assert (d2["appeal_review"]["open_now"], d2["appeal_review"]["decided"]) == (0, 0)
    assert (d2["transfer_review"]["decided"], d2["transfer_review"]["avg_hours"]) == (1, approx(23))


async def check_channels(http) -> None:
    report = await get(http, "channels")
    rows = {c["channel"]: c for c in report["channels"]}
    assert list(rows) == ["autohome", "douyin", "website"]

    def figures(c):
        return (c["raw_leads"], c["raw_leads_with_cost"], c["acquisition_cost"], c["leads"], c["won_leads"],
                c["cost_per_lead"], c["cost_per_deal"])

    # website in Nov: L1 100, L3 100, L6 (no cost), L7's merge 50, L8 100, L10 100 = 450 over 6 leads; won: L1
    assert figures(rows["website"]) == (6, 5, 450.0, 6, 1, 75.0, 450.0)
    # douyin: L2 80, L5 80, L12 80 and L1's merge 80 = 320 over 4 leads (L2 L5 L12 L1); won: L1
    assert figures(rows["douyin"]) == (4, 4, 320.0, 4, 1, 80.0, 320.0)
    # autohome: L4 150, L9 150 = 300 over 2 leads; none won (L7's Oct 28 raw lead is outside the period)
    assert figures(rows["autohome"]) == (2, 2, 300.0, 2, 0, 150.0, None)
    # all: 12 raw leads, 1070 CNY, 11 distinct leads (L1 counted once), 1 won
    assert figures(report["total"]) == (12, 11, 1070.0, 11, 1, approx(1070 / 11), 1070.0)
    # a period given in UTC: L12 (Oct 31 16:55 UTC) drops out, L11 (Nov 30 16:30 UTC) comes in
    utc = await get(http, "channels", **{"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
    counts = {c["channel"]: c["raw_leads"] for c in utc["channels"]}
    assert counts == {"autohome": 2, "douyin": 3, "website": 7}
    assert (await get(http, "channels", region="South"))["total"]["raw_leads"] == 1  # L8


FIGURES = (check_funnel, check_sla, check_scorecards, check_dispatch, check_reviews, check_channels)


@pytest.mark.parametrize("check", FIGURES, ids=lambda f: f.__name__)
async def test_the_dashboard_figures_match_the_hand_count(engine, check):
    seed_story(engine)
    async with dashboards_api(engine) as http:
        await check(http)


@pytest.mark.postgres
async def test_the_same_figures_on_postgresql(pg_engine):
    seed_story(pg_engine)
    async with dashboards_api(pg_engine) as http:
        for check in FIGURES:
            await check(http)


# --------------------------------------------------------------------------- period, policy, access, validation


async def test_the_default_period_is_the_current_month_in_shanghai_time(engine):
    seed_story(engine)
    async with dashboards_api(engine) as http:
        default = await http.get("/v1/dashboards/funnel", headers=auth("ops"))
        assert default.json() == await get(http, "funnel")
        assert default.json()["period"]["from"] == "2026-11-01T00:00:00+08:00"
        only_from = (await http.get("/v1/dashboards/funnel", params={"from": "2026-11-02"}, headers=auth("ops"))).json()
        assert only_from["period"]["to"] == "2026-12-01T00:00:00+08:00" and only_from["leads"] == 9  # not L12


async def test_the_scorecard_weights_come_from_the_policy(engine):
    seed_story(engine)
    conversion_only = Scorecard(conversion=1.0, store_visit=0, deal=0, follow_up_timeliness=0,
                                status_update_accuracy=0, defeat_report_compliance=0, cooperation=0)
    policy = load_policy().model_copy(update={"scorecard": conversion_only})
    async with dashboards_api(engine, policy) as http:
        report = await get(http, "scorecards")
        # conversion only: D1 4/7 = 57.14 -> 57.1; D2 1/5 -> 20.0; G and D-HZ-1 0
        assert [(c["dealer_id"], c["total"]) for c in report["dealers"]] == [(D1, 57.1), (D2, 20.0),
                                                                            (G, 0.0), ("D-HZ-1", 0.0)]
        assert [c["rank"] for c in report["dealers"]] == [1, 2, 3, None]  # D-HZ-1 received nothing: unranked
    defeats_only = Scorecard(conversion=0, store_visit=0, deal=0, follow_up_timeliness=0,
                             status_update_accuracy=0, defeat_report_compliance=1.0, cooperation=0)
    async with dashboards_api(engine, load_policy().model_copy(update={"scorecard": defeats_only})) as http:
        report = await get(http, "scorecards")
        ranks = {c["dealer_id"]: (c["rank"], c["total"]) for c in report["dealers"]}
        tied = [d for d, (_, total) in ranks.items() if total == 100.0 and ranks[d][0] is not None]
        assert len(tied) >= 2 and len({ranks[d][0] for d in tied}) == 1  # equal totals share a rank


def test_scorecard_weights_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        Scorecard(conversion=0.5)


@pytest.mark.parametrize("user", ["d-sh-1-mgr", "d-sh-1-opslead"])
async def test_a_dealer_sees_only_its_own_figures(engine, user):
    seed_story(engine)
    async with dashboards_api(engine) as http:
        funnel = await get(http, "funnel", user)
        assert funnel["filters"]["dealer_id"] == D1 and funnel["leads"] == 3  # L1, L4, L12 held by D1 now
        sla = await get(http, "sla", user)
        assert sla["filters"]["dealer_id"] == D1 and sla["overall"]["runs"] == 26  # D1's clocks only
        # (L1 5, L2 4, L3 2, L4 5, L5 4, L6 2, L12 4; no OEM clock)
        ranked = await http.get("/v1/dashboards/scorecards", params=NOV, headers=auth(user))
        assert [(c["dealer_id"], c["rank"], c["ranked_out_of"]) for c in ranked.json()["dealers"]] == [(D1, 1, 3)]
        for other in (D2, G, "D-HZ-1", "Minhang", "Tianhe", "Hangzhou"):
            assert other not in ranked.text
        assert (await get(http, f"scorecards/{D1}", user))["total"] == 45.0
        for path in (f"scorecards/{D2}", "scorecards/D-NOPE"):
            assert (await http.get(f"/v1/dashboards/{path}", params=NOV, headers=auth(user))).status_code == 404
        for path in ("funnel", "sla", "dispatch", "reviews", "channels", "scorecards"):
            other = await http.get(f"/v1/dashboards/{path}", params={**NOV, "dealer_id": D2}, headers=auth(user))
            assert other.status_code == 404, path
        dispatch = await get(http, "dispatch", user, group_by="dealer")
        assert [g["key"] for g in dispatch["groups"]] == [D1]
        channels = await get(http, "channels", user)
        assert channels["total"]["leads"] == 3  # L1 (website + douyin), L4, L12


async def test_consultants_get_403_and_nobody_gets_in_without_a_token(engine):
    async with dashboards_api(engine) as http:
        for path in ("funnel", "sla", "scorecards", f"scorecards/{D1}", "dispatch", "reviews", "channels"):
            assert (await http.get(f"/v1/dashboards/{path}", headers=auth("d-sh-1-c1"))).status_code == 403, path
            assert (await http.get(f"/v1/dashboards/{path}")).status_code == 401, path
        for user in ("rm-east", "rev-1", "cc", "ops-head"):
            assert (await http.get("/v1/dashboards/funnel", headers=auth(user))).status_code == 200, user


@pytest.mark.parametrize("path, params, field", [
    ("funnel", {"grade": "Z"}, "grade"),
    ("funnel", {"channel": "pigeon"}, "channel"),
    ("sla", {"clock": "tea_break"}, "clock"),
    ("sla", {"bucket": "year"}, "bucket"),
    ("dispatch", {"group_by": "city"}, "group_by"),
    ("funnel", {"from": "2026-12-01", "to": "2026-11-01"}, "to"),
    ("funnel", {"from": "yesterday"}, "from"),
    ("reviews", {"region": "Atlantis"}, "region"),
    ("channels", {"brand": "Zephyr"}, "brand"),
    ("dispatch", {"dealer_id": "D-NOPE"}, "dealer_id"),
    ("scorecards", {"region": "Atlantis"}, "region"),
])
async def test_a_bad_filter_is_422_naming_the_field(engine, path, params, field):
    async with dashboards_api(engine) as http:
        response = await http.get(f"/v1/dashboards/{path}", params=params, headers=auth("ops"))
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][:2] == ["query", field]


async def test_the_definitions_are_in_the_openapi_docs(engine):
    async with dashboards_api(engine) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
        assert "furthest stage" in paths["/v1/dashboards/funnel"]["get"]["description"]
        assert "met / (met + lapsed)" in paths["/v1/dashboards/sla"]["get"]["description"]
        assert "counts it as 0 for conversion" in paths["/v1/dashboards/scorecards"]["get"]["description"]
        assert "receipt_lapsed" in paths["/v1/dashboards/dispatch"]["get"]["description"]
        assert "latest request event" in paths["/v1/dashboards/reviews"]["get"]["description"]
        assert "cost_per_deal" in paths["/v1/dashboards/channels"]["get"]["description"]
