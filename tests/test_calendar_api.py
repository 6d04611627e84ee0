"""The calendar API (issue 12): lead ops list, upload, edit and confirm; bad uploads are refused whole, with the
row and field named; nobody else may touch it; every change is audited; /metrics tells a provisional year."""

from __future__ import annotations

import json

import pytest

from tests.test_api import api, auth

GOOD = [{"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
        {"date": "2027-02-13", "kind": "workday", "name": "春节调休"}]

BAD_UPLOADS = [  # (what, body, content type, loc)
    ("an empty file", "", "text/csv", ["body", "file"]),
    ("an empty list", "[]", "application/json", ["body", "file"]),
    ("a date given twice with different kinds",
     json.dumps(GOOD + [{"date": "2027-02-13", "kind": "holiday"}]), "application/json", ["body", "row", 3, "date"]),
    ("a date outside the year", "date,kind\n2027-01-01,holiday\n2028-01-01,holiday\n", "text/csv",
     ["body", "row", 2, "date"]),
    ("a non-date", "date,kind\n2027-01-01,holiday\n2027-13-01,holiday\n", "text/csv", ["body", "row", 2, "date"]),
    ("an unknown kind", json.dumps([{"date": "2027-01-01", "kind": "day off"}]), "application/json",
     ["body", "row", 1, "kind"]),
]


@pytest.mark.parametrize(("what", "content", "content_type", "loc"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
async def test_a_bad_upload_is_refused_with_its_row_and_field_and_changes_nothing(env, engine, what, content,
                                                                                  content_type, loc):
    async with api(env, engine) as (http, L):
        before = (await http.get("/v1/calendar/2027", headers=auth("ops"))).json()
        answer = await http.post("/v1/calendar/2027/schedule?confirm=true", content=content.encode(),
                                 headers={**auth("ops"), "Content-Type": content_type})
        assert answer.status_code == 422, what
        assert answer.json()["detail"][0]["loc"] == loc, answer.text
        assert (await http.get("/v1/calendar/2027", headers=auth("ops"))).json() == before, "nothing half-applied"
        assert (await http.get("/v1/calendar/2027/audit", headers=auth("ops"))).json() == []


async def test_lead_ops_list_edit_upload_and_confirm_a_year_and_each_change_is_audited(env, engine):
    async with api(env, engine) as (http, L):
        ops, head = auth("ops"), auth("ops-head")
        year = (await http.get("/v1/calendar/2027", headers=ops)).json()
        assert (year["state"], year["seeded_from"]) == ("provisional", "computed")
        assert {"date": "2027-01-01", "kind": "holiday", "name": "元旦", "source": "computed"} in year["days"]
        put = await http.put("/v1/calendar/days/2027-02-13", json={"kind": "workday", "name": "春节调休"}, headers=ops)
        assert put.status_code == 200
        assert {"date": "2027-02-13", "kind": "workday", "name": "春节调休", "source": "lead_ops"} in put.json()["days"]
        assert (await http.delete("/v1/calendar/days/2027-02-13", headers=ops)).status_code == 200
        assert (await http.delete("/v1/calendar/days/2027-02-13", headers=ops)).status_code == 404
        csv_text = "date,kind,name\n" + "\n".join(f"{d['date']},{d['kind']},{d['name']}" for d in GOOD)
        uploaded = await http.post("/v1/calendar/2027/schedule", content=csv_text.encode(),
                                   headers={**ops, "Content-Type": "text/csv"})
        assert uploaded.status_code == 200, uploaded.text
        assert [d["date"] for d in uploaded.json()["days"]] == ["2027-01-01", "2027-02-13"]
        assert uploaded.json()["state"] == "provisional"
        confirmed = (await http.post("/v1/calendar/2027/confirm", headers=head)).json()
        assert (confirmed["state"], confirmed["confirmed_by"]) == ("confirmed", "ops-head")
        audit = (await http.get("/v1/calendar/2027/audit", headers=ops)).json()
        assert [(a["action"], a["actor"]) for a in audit] == [
            ("set_day", "ops"), ("delete_day", "ops"), ("upload", "ops"), ("confirm", "ops-head")]
        assert audit[2]["after"]["days"] == {"2027-01-01": "holiday", "2027-02-13": "workday"}
        assert "2027-02-06" in audit[2]["before"]["days"]


async def test_only_lead_ops_may_see_or_change_the_calendar(env, engine):
    async with api(env, engine) as (http, L):
        for user in ("d-sh-1-mgr", "d-sh-1-c1", "rev-1", "rm-east", "cc"):
            assert (await http.get("/v1/calendar/2027", headers=auth(user))).status_code == 403, user
            answer = await http.post("/v1/calendar/2027/schedule", json=GOOD, headers=auth(user))
            assert answer.status_code == 403, user
            assert (await http.post("/v1/calendar/2027/confirm", headers=auth(user))).status_code == 403, user
        assert (await http.get("/v1/calendar/2027/audit", headers=auth("ops"))).json() == []
        assert (await http.get("/v1/calendar/1999", headers=auth("ops"))).status_code == 422


async def test_metrics_say_whether_next_year_is_confirmed(env, engine):
    async with api(env, engine) as (http, L):
        for year in (2026, 2027):  # seeded by a look (this year and the next are reported anyway)
            await http.get(f"/v1/calendar/{year}", headers=auth("ops"))
        assert 'leadflow_calendar_year_confirmed{year="2027"} 0.0' in (await http.get("/metrics")).text
        assert 'leadflow_calendar_year_confirmed{year="2026"} 1.0' in (await http.get("/metrics")).text
        await http.post("/v1/calendar/2027/confirm", headers=auth("ops"))
        assert 'leadflow_calendar_year_confirmed{year="2027"} 1.0' in (await http.get("/metrics")).text
