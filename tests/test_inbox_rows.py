"""Inbox rows people can act on (issue 13 section 4): the customer's name, grade and stage, the lead it opens,
and one row for the repeats of one alert for one lead."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from api.inbox_rows import collapse
from db.models import Notification
from tests.test_api import api, auth, body


def test_repeats_of_one_alert_for_one_lead_collapse_into_the_newest_row():
    rows = [{"id": 3, "lead_id": "a", "kind": "stall"}, {"id": 2, "lead_id": "a", "kind": "stall"},
            {"id": 1, "lead_id": "b", "kind": "stall"}, {"id": 0, "lead_id": "a", "kind": "first_response"}]
    assert [(r["id"], r["repeats"]) for r in collapse(rows)] == [(3, 2), (1, 1), (0, 1)]


async def test_an_inbox_row_names_the_customer_grade_and_stage_and_repeats_collapse(env, engine):
    async with api(env, engine) as (http, L):
        lead = (await http.post("/v1/leads", json=body(560, customer_name="李雷"), headers=auth("ops"))).json()
        with Session(engine) as session:  # the same alert twice more (as a lapse repeated on a later run)
            for n in range(2):
                session.add(Notification(idempotency_key=f"again-{n}", lead_id=lead["lead_id"], kind="lead_dispatched",
                                         recipient_role="dealer_manager", dealer_id="D-SH-1", message="新线索",
                                         created_at=datetime.now(UTC)))
            session.commit()
        inbox = (await http.get("/v1/inbox", headers=auth("d-sh-1-mgr"))).json()
        rows = [r for r in inbox if r["lead_id"] == lead["lead_id"] and r["kind"] == "lead_dispatched"]
        assert len(rows) == 1 and rows[0]["repeats"] == 3
        assert (rows[0]["customer_name"], rows[0]["stage"]) == ("李雷", "dispatched") and rows[0]["grade"]


async def test_the_unread_count_is_the_inbox_rows_and_reading_one_reads_its_repeats(env, engine):
    """The badge counts what the inbox shows: an alert repeated for one lead is one unread row; reading it (the
    newest) reads its repeats; "mark all read" answers how many rows it read."""
    async with api(env, engine) as (http, L):
        lead = (await http.post("/v1/leads", json=body(561, customer_name="韩梅梅"), headers=auth("ops"))).json()
        mgr = auth("d-sh-1-mgr")
        before = (await http.get("/v1/inbox/unread-count", headers=mgr)).json()["unread"]
        with Session(engine) as session:
            for n in range(2):
                session.add(Notification(idempotency_key=f"repeat-{n}", lead_id=lead["lead_id"], kind="stall",
                                         recipient_role="dealer_manager", dealer_id="D-SH-1", message="stall",
                                         created_at=datetime.now(UTC)))
            session.commit()
        assert (await http.get("/v1/inbox/unread-count", headers=mgr)).json()["unread"] == before + 1
        row = next(r for r in (await http.get("/v1/inbox", headers=mgr)).json() if r["kind"] == "stall")
        assert row["repeats"] == 2 and row["read_at"] is None
        assert (await http.post(f"/v1/inbox/{row['id']}/read", headers=mgr)).status_code == 200
        assert (await http.get("/v1/inbox/unread-count", headers=mgr)).json()["unread"] == before
        assert (await http.post("/v1/inbox/read-all", headers=mgr)).json()["unread"] == before
        assert (await http.get("/v1/inbox/unread-count", headers=mgr)).json()["unread"] == 0
