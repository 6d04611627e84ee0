"""The HTTP API drives the lead workflow: intake, actions, detail, inbox, and clear errors."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta

import httpx

from api.app import create_app
from tests.conftest import token_for
from tests.fixtures import raw_lead
from tests.harness import lab


@asynccontextmanager
async def api(env, engine, record: str | None = None):
    async with lab(env, engine, record=record) as L:
        app = create_app(client=env.client, engine=engine, policy=L.policy, task_queue=L.task_queue)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://leadflow") as http:
                yield http, L


def auth(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id)}"}


def body(n: int, **overrides) -> dict:
    return raw_lead(n, **overrides).model_dump(mode="json", exclude_none=True)


async def test_intake_creates_a_lead_and_answers_its_id_then_merges_the_next_raw_lead(env, engine):
    async with api(env, engine) as (http, L):
        first = await http.post("/v1/leads", json=body(501), headers=auth("ops"))
        assert first.status_code == 200, first.text
        assert first.json()["outcome"] == "created" and first.json()["stage"] == "dispatched"
        again = await http.post("/v1/leads", json=body(501, external_id="app-9", channel="app"), headers=auth("ops"))
        assert again.json() == first.json() | {"outcome": "merged"}
        same = await http.post("/v1/leads", json=body(501), headers=auth("ops"))
        assert same.json()["outcome"] == "created"  # same channel + external id: the same answer


async def test_lead_detail_shows_stage_dealer_grade_score_open_clocks_and_timeline(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(502), headers=auth("ops"))).json()["lead_id"]
        detail = (await http.get(f"/v1/leads/{lead_id}", headers=auth("ops"))).json()
        assert detail["lead_id"] == lead_id == detail["workflow_id"]
        assert detail["stage"] == "dispatched" and detail["dealer_id"] == "D-SH-1"
        assert detail["grade"] in {"H", "A", "B"} and 0 <= detail["score"] <= 100
        assert {i["name"] for i in detail["score_items"]} >= {"timeframe", "series_named"}
        clocks = {c["name"]: c for c in detail["clocks"]}
        assert set(clocks) == {"receipt", "first_response", "first_deep_contact", "store_invitation"}
        assert all(c["deadline"] for c in clocks.values())
        assert [e["kind"] for e in detail["timeline"]][:3] == ["lead_created", "scored", "dispatched"]
        assert detail["allowed_actions"] == ["reassign"]  # what lead ops may do now


async def test_actions_move_the_lead_and_the_detail_follows(env, engine):
    async with api(env, engine, record="api-actions") as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(503), headers=auth("ops"))).json()["lead_id"]
        ack = await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-sh-1-mgr"))
        assert ack.status_code == 200 and ack.json()["stage"] == "acknowledged"
        assigned = await http.post(f"/v1/leads/{lead_id}/assign", json={"consultant_id": "d-sh-1-c1"},
                                   headers=auth("d-sh-1-mgr"))
        assert assigned.json()["consultant_id"] == "d-sh-1-c1"
        call = await http.post(f"/v1/leads/{lead_id}/log-follow-up", json={"channel": "call", "duration_minutes": 6},
                               headers=auth("d-sh-1-c1"))
        assert call.json()["stage"] == "engaged"
        detail = (await http.get(f"/v1/leads/{lead_id}", headers=auth("d-sh-1-c1"))).json()
        assert "invite" in detail["allowed_actions"] and "acknowledge" not in detail["allowed_actions"]
        # the header names who holds it: the dealer and the consultant by name, not by id (issue 13)
        assert (detail["dealer_name"], detail["consultant_name"]) == ("Aurora Pudong", "王磊")


async def test_an_action_the_stage_forbids_is_409_with_the_reason(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(504), headers=auth("ops"))).json()["lead_id"]
        won = await http.post(f"/v1/leads/{lead_id}/record-win", json={"payment": "cash", "amount": 200000},
                              headers=auth("d-sh-1-mgr"))
        assert won.status_code == 409
        assert won.json()["detail"] == "线索处于「已分发」阶段，不能「记录成交」"  # zh-CN by default (issue 13)
        assert won.json()["code"] == "refused.stage" and won.json()["params"] == {"action": "record_win",
                                                                                  "stage": "dispatched"}
        again = await http.post(f"/v1/leads/{lead_id}/record-win", json={"payment": "cash", "amount": 200000},
                                headers=auth("d-sh-1-mgr") | {"Accept-Language": "en"})
        assert again.json()["detail"] == "Record win is not allowed while the lead is dispatched"


async def test_another_dealer_gets_404_on_actions_and_reads_as_for_an_unknown_lead(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(505), headers=auth("ops"))).json()["lead_id"]
        ack = await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-gz-1-mgr"))
        assert (ack.status_code, ack.json()) == (404, {"detail": f"未找到线索 {lead_id}", "code": "error.not_found",
                                                       "params": {"thing": "lead", "id": lead_id}})
        assert (await http.get(f"/v1/leads/{lead_id}", headers=auth("d-gz-1-mgr"))).status_code == 404
        listed = (await http.get("/v1/leads", headers=auth("d-gz-1-mgr"))).json()
        assert lead_id not in [lead["lead_id"] for lead in listed["items"]] and listed["total"] == 0
        assert (await http.get(f"/v1/leads/{lead_id}", headers=auth("d-sh-1-mgr"))).status_code == 200


async def test_bad_input_is_422_naming_the_field(env, engine):
    async with api(env, engine) as (http, L):
        bad_phone = await http.post("/v1/leads", json=body(506, phone="12345"), headers=auth("ops"))
        assert bad_phone.status_code == 422 and bad_phone.json()["detail"][0]["loc"] == ["body", "phone"]
        no_brand = body(507)
        del no_brand["brand"]
        missing = await http.post("/v1/leads", json=no_brand, headers=auth("ops"))
        assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "brand"]
        lead_id = (await http.post("/v1/leads", json=body(508), headers=auth("ops"))).json()["lead_id"]
        wrong_enum = await http.post(f"/v1/leads/{lead_id}/log-follow-up", json={"channel": "pigeon"},
                                     headers=auth("d-sh-1-mgr"))
        assert wrong_enum.status_code == 422 and wrong_enum.json()["detail"][0]["loc"] == ["body", "channel"]


async def test_unknown_lead_is_404_and_no_token_is_401(env, engine):
    async with api(env, engine) as (http, L):
        assert (await http.post("/v1/leads/lead-nope/acknowledge", headers=auth("d-sh-1-mgr"))).status_code == 404
        assert (await http.get("/v1/leads/lead-nope", headers=auth("ops"))).status_code == 404
        assert (await http.post("/v1/leads", json=body(509))).status_code == 401
        assert (await http.post("/v1/leads", json=body(509),
                                headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_a_lapsed_first_response_clock_lands_in_the_inboxes(env, engine):
    async with api(env, engine, record="api-first-response-lapsed") as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(510), headers=auth("ops"))).json()["lead_id"]
        await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-sh-1-mgr"))
        await L.sleep(timedelta(minutes=16))
        await L.settle(lead_id)
        inbox = (await http.get("/v1/inbox", headers=auth("rm-east"))).json()
        assert [n["kind"] for n in inbox if n["lead_id"] == lead_id] == ["first_response"]
        other_region = (await http.get("/v1/inbox", headers=auth("rm-south"))).json()
        assert not [n for n in other_region if n["lead_id"] == lead_id]
        detail = (await http.get(f"/v1/leads/{lead_id}", headers=auth("ops"))).json()
        assert detail["sla_breached"] is True
