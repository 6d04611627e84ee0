"""A lapsed clock stays on the lead and in the lists, in red with how late, until the awaited action happens
(issue 13 section 4); a paused clock shows as paused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.overdue import Run, still_lapsed
from tests.test_api import api, auth, body

T0 = datetime(2026, 12, 6, 9, tzinfo=UTC)


def test_a_lapse_that_only_alerted_stays_until_its_action_and_one_that_moved_the_lead_does_not():
    lapsed = Run("first_response", T0, T0 + timedelta(minutes=15), T0 + timedelta(minutes=15), "lapsed", "D-1")
    assert still_lapsed("acknowledged", "acknowledged", "D-1", [lapsed], []) == [lapsed]
    late_follow_up = [("follow_up_logged", T0 + timedelta(minutes=40))]
    assert still_lapsed("contacted", "contacted", "D-1", [lapsed], late_follow_up) == []
    assert still_lapsed("acknowledged", "acknowledged", "D-2", [lapsed], []) == []  # another holding now
    assert still_lapsed("closed_lost", "engaged", "D-1", [lapsed], []) == []
    deep = Run("first_deep_contact", T0, T0 + timedelta(days=1), T0 + timedelta(days=1), "lapsed", "D-1")
    assert still_lapsed("contacted", "contacted", "D-1", [deep], []) == [deep]
    assert still_lapsed("engaged", "engaged", "D-1", [deep], []) == []  # the stage it waited for
    receipt = Run("receipt", T0, T0 + timedelta(hours=2), T0 + timedelta(hours=2), "lapsed", "D-1")
    assert still_lapsed("dispatched", "dispatched", "D-1", [receipt], []) == []  # it redispatched: nothing awaited
    again = Run("grade_cadence", T0, T0 + timedelta(days=3), T0 + timedelta(days=3), "lapsed", "D-1")
    rerun = Run("grade_cadence", T0 + timedelta(days=4), T0 + timedelta(days=7), None, None, "D-1")
    assert still_lapsed("contacted", "contacted", "D-1", [again], []) == [again]
    assert still_lapsed("contacted", "contacted", "D-1", [again, rerun], []) == []


async def test_a_lapsed_first_response_stays_red_on_the_lead_and_in_the_list_until_the_follow_up(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(520), headers=auth("ops"))).json()["lead_id"]
        await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-sh-1-mgr"))
        await L.sleep(timedelta(minutes=16))
        await L.settle(lead_id)
        detail = (await http.get(f"/v1/leads/{lead_id}", headers=auth("d-sh-1-mgr"))).json()
        lapsed = [c for c in detail["clocks"] if c["lapsed"]]
        assert [c["name"] for c in lapsed] == ["first_response"] and lapsed[0]["deadline"]
        listed = (await http.get("/v1/clocks", params={"lead_id": lead_id}, headers=auth("d-sh-1-mgr"))).json()
        assert [c["name"] for c in listed[0]["clocks"] if c["lapsed"]] == ["first_response"]
        assert all(not c["lapsed"] for c in detail["clocks"] if c["name"] != "first_response")
        done = await http.post(f"/v1/leads/{lead_id}/log-follow-up", json={"channel": "call", "duration_minutes": 3},
                               headers=auth("d-sh-1-mgr"))
        assert done.status_code == 200, done.text
        await L.settle(lead_id)
        detail = (await http.get(f"/v1/leads/{lead_id}", headers=auth("d-sh-1-mgr"))).json()
        assert [c["name"] for c in detail["clocks"] if c["lapsed"]] == []
