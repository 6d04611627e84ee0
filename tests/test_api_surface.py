"""The integration API: batch intake, lists (filters, sorting, pages), review queues, master data."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from db.models import Consultant, Dealer
from tests.test_api import api, auth, body


async def _lead(http, n: int, **overrides) -> str:
    answer = await http.post("/v1/leads", json=body(n, **overrides), headers=auth("ops"))
    assert answer.status_code == 200, answer.text
    return answer.json()["lead_id"]


# ------------------------------------------------------------------ intake

async def test_a_batch_is_answered_item_by_item_and_bad_items_do_not_stop_the_good(env, engine):
    async with api(env, engine) as (http, L):
        items = [body(700), body(701, phone="12345"), {k: v for k, v in body(702).items() if k != "brand"},
                 body(700), body(700, external_id="app-700", channel="app"), body(703) | {"channel": "pigeon"}]
        answer = await http.post("/v1/leads/batch", json={"items": items}, headers=auth("ops"))
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["index"] for r in results] == list(range(6))
        assert [r["status"] for r in results] == ["created", "invalid", "invalid", "created", "merged", "invalid"]
        assert results[1]["errors"][0]["loc"] == ["phone"] and results[2]["errors"][0]["loc"] == ["brand"]
        assert results[5]["errors"][0]["loc"] == ["channel"]
        assert results[0]["lead_id"] == results[3]["lead_id"] == results[4]["lead_id"]
        assert [results[0]["repeat"], results[3]["repeat"]] == [False, True]  # one customer's items run in order
        assert answer.json()["counts"] == {"created": 2, "invalid": 3, "merged": 1}
        state = await L.state(results[0]["lead_id"])
        assert [t.key for t in state.touchpoints] == ["website:web-700", "app:app-700"]


async def test_one_customers_items_in_a_batch_are_taken_in_the_batchs_order_others_alongside(env, engine):
    channels = ["website", "app", "mini_program", "douyin", "autohome", "yiche", "live_stream", "referral"]
    async with api(env, engine) as (http, L):
        items = [body(720, external_id=f"{ch}-720", channel=ch) for ch in channels]
        items[3:3] = [body(721), body(722)]  # other customers in between
        answer = await http.post("/v1/leads/batch", json={"items": items}, headers=auth("ops"))
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        mine = [r for i, r in enumerate(results) if i not in (3, 4)]
        assert [r["status"] for r in mine] == ["created"] + ["merged"] * (len(channels) - 1)
        assert [results[3]["status"], results[4]["status"]] == ["created", "created"]
        state = await L.state(mine[0]["lead_id"])
        assert [t.key for t in state.touchpoints] == [f"{ch}:{ch}-720" for ch in channels]


async def test_a_batch_over_1000_items_or_empty_is_422_and_takes_nothing(env, engine):
    async with api(env, engine) as (http, L):
        too_many = await http.post("/v1/leads/batch", json={"items": [body(710)] * 1001}, headers=auth("ops"))
        assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["body", "items"]
        empty = await http.post("/v1/leads/batch", json={"items": []}, headers=auth("ops"))
        assert empty.status_code == 422
        assert (await http.get("/v1/leads", headers=auth("ops"))).json()["total"] == 0
        assert (await http.post("/v1/leads/batch", json={"items": [body(711)]},
                                headers=auth("rev-1"))).status_code == 403


async def test_the_same_raw_lead_after_its_lead_closed_gets_the_same_answer_not_a_new_lead(env, engine):
    async with api(env, engine) as (http, L):
        no_city = body(712)
        del no_city["city"]
        first = (await http.post("/v1/leads", json=no_city, headers=auth("ops"))).json()
        assert first["stage"] == "cleansing"
        closed = await http.post(f"/v1/leads/{first['lead_id']}/record-cleansing",
                                 json={"outcome": "invalid", "note": "fake number"}, headers=auth("cc"))
        assert closed.status_code == 200 and closed.json()["stage"] == "closed_invalid"
        await L.handle(first["lead_id"]).result()
        again = (await http.post("/v1/leads", json=no_city, headers=auth("ops"))).json()
        assert again == first | {"repeat": True, "stage": "closed_invalid"}
        fresh = (await http.post("/v1/leads", json=no_city | {"external_id": "web-712b"}, headers=auth("ops"))).json()
        assert fresh["lead_id"] == first["lead_id"] + "-r2" and fresh["previous_lead_id"] == first["lead_id"]
        assert fresh["outcome"] == "created" and not fresh["repeat"]
        L.started.add(fresh["lead_id"])


# ------------------------------------------------------------------ lists

async def test_lists_filter_sort_and_page_and_count_every_match(env, engine):
    async with api(env, engine) as (http, L):
        a5 = [await _lead(http, n) for n in (720, 721, 722)]
        a7 = await _lead(http, 723, series="A7", channel="douyin", external_id="dy-723")
        gz = await _lead(http, 724, city="Guangzhou")
        await http.post(f"/v1/leads/{a5[0]}/acknowledge", headers=auth("d-sh-1-mgr"))

        async def ids(**query) -> dict:
            answer = await http.get("/v1/leads", params=query, headers=auth("ops"))
            assert answer.status_code == 200, answer.text
            return answer.json()

        everything = await ids()
        assert everything["total"] == 5 and everything["next_offset"] is None
        assert {i["lead_id"] for i in (await ids(series="A7"))["items"]} == {a7}
        assert {i["lead_id"] for i in (await ids(channel="douyin"))["items"]} == {a7}
        assert {i["lead_id"] for i in (await ids(dealer_id="D-GZ-1"))["items"]} == {gz}
        assert {i["lead_id"] for i in (await ids(region="South"))["items"]} == {gz}
        assert {i["lead_id"] for i in (await ids(stage="acknowledged"))["items"]} == {a5[0]}
        assert (await ids(stage=["acknowledged", "dispatched"]))["total"] == 5
        page1, page2 = await ids(limit=2, sort="created_at"), await ids(limit=2, offset=2, sort="created_at")
        assert page1["total"] == 5 and page1["next_offset"] == 2 and page2["next_offset"] == 4
        assert [i["lead_id"] for i in page1["items"] + page2["items"]] == [*a5, a7]
        newest_first = [i["lead_id"] for i in (await ids(sort="-created_at"))["items"]]
        assert newest_first == [gz, a7, *reversed(a5)]
        scores = [i["score"] for i in (await ids(sort="-score"))["items"]]
        assert scores == sorted(scores, reverse=True)
        urgent = (await ids(sort="next_deadline"))["items"]
        assert [i["next_deadline"] for i in urgent] == sorted(i["next_deadline"] for i in urgent)
        assert all(i["phone_masked"].count("*") == 4 for i in urgent)

        await L.sleep(timedelta(minutes=16))  # every first response lapses but ...
        await http.post(f"/v1/leads/{a5[0]}/log-follow-up", json={"channel": "call"}, headers=auth("d-sh-1-mgr"))
        for lead_id in [*a5, a7, gz]:
            await L.settle(lead_id)
        breached = await ids(breached_clock="first_response")
        assert breached["total"] == 5
        assert (await ids(breached_clock="receipt"))["total"] == 0
        assert (await ids(sla_breached=True))["total"] == 5


async def test_bad_list_parameters_are_422_naming_the_parameter(env, engine):
    async with api(env, engine) as (http, L):
        for query, field in (({"stage": "limbo"}, "stage"), ({"sort": "phone"}, "sort"), ({"limit": 0}, "limit"),
                             ({"limit": 501}, "limit"), ({"breached_clock": "nope"}, "breached_clock"),
                             ({"channel": "pigeon"}, "channel"), ({"offset": -1}, "offset")):
            answer = await http.get("/v1/leads", params=query, headers=auth("ops"))
            assert answer.status_code == 422 and answer.json()["detail"][0]["loc"][:2] == ["query", field], query


async def test_a_dealer_lists_only_its_leads_and_a_consultant_only_its_own_and_the_pool(env, engine):
    async with api(env, engine) as (http, L):
        sh = [await _lead(http, n) for n in (730, 731)]
        await _lead(http, 732, city="Guangzhou")
        await http.post(f"/v1/leads/{sh[0]}/acknowledge", headers=auth("d-sh-1-mgr"))
        await http.post(f"/v1/leads/{sh[0]}/assign", json={"consultant_id": "d-sh-1-c1"}, headers=auth("d-sh-1-mgr"))
        mine = (await http.get("/v1/leads", headers=auth("d-sh-1-mgr"))).json()
        assert {i["lead_id"] for i in mine["items"]} == set(sh) and mine["total"] == 2
        c1 = (await http.get("/v1/leads", headers=auth("d-sh-1-c1"))).json()
        assert [i["lead_id"] for i in c1["items"]] == [sh[0]] and c1["total"] == 1
        assert (await http.get("/v1/leads", params={"dealer_id": "D-GZ-1"},
                               headers=auth("d-sh-1-mgr"))).json()["total"] == 0


# ------------------------------------------------------------------ queues

async def test_a_transfer_request_waits_in_lead_ops_queue_with_its_deadline(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = await _lead(http, 740)
        await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-sh-1-mgr"))
        asked = await http.post(f"/v1/leads/{lead_id}/request-transfer", json={"reason": "other", "text": "too far"},
                                headers=auth("d-sh-1-mgr"))
        assert asked.status_code == 200, asked.text
        summary = {q["queue"]: q for q in (await http.get("/v1/queues", headers=auth("ops"))).json()}
        assert summary["transfer_review"]["waiting"] == 1 and summary["transfer_review"]["overdue"] == 0
        items = (await http.get("/v1/queues/transfer_review", headers=auth("ops"))).json()
        assert [i["lead"]["lead_id"] for i in items] == [lead_id]
        assert items[0]["request"]["reason"] == "other" and items[0]["deadline"] is not None
        assert not items[0]["overdue"]
        assert (await http.get("/v1/queues/transfer_review", headers=auth("d-sh-1-mgr"))).status_code == 403
        assert (await http.get("/v1/queues/transfer_review", headers=auth("rev-1"))).status_code == 403
        assert "transfer_review" not in {q["queue"] for q in (await http.get("/v1/queues", headers=auth("cc"))).json()}
        assert (await http.get("/v1/queues/limbo", headers=auth("ops"))).status_code == 422
        decided = await http.post(f"/v1/leads/{lead_id}/review-transfer",
                                  json={"approve": False, "explanation": "stay"},
                                  headers=auth("ops"))
        assert decided.status_code == 200
        assert (await http.get("/v1/queues/transfer_review", headers=auth("ops"))).json() == []


async def test_the_public_pool_queue_is_the_dealers_own(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = await _lead(http, 741)
        await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-sh-1-mgr"))
        await http.post(f"/v1/leads/{lead_id}/assign", json={"consultant_id": "d-sh-1-c1"}, headers=auth("d-sh-1-mgr"))
        await L.sleep(timedelta(hours=2, minutes=1))  # no follow-up after assignment: into the public pool
        assert (await L.settle(lead_id)).stage == "public_pool"
        pool = (await http.get("/v1/queues/public_pool", headers=auth("d-sh-1-c2"))).json()
        assert [i["lead"]["lead_id"] for i in pool] == [lead_id]
        assert (await http.get("/v1/queues/public_pool", headers=auth("d-sh-2-c1"))).json() == []
        claimed = await http.post(f"/v1/leads/{lead_id}/claim", headers=auth("d-sh-1-c2"))
        assert claimed.status_code == 200 and claimed.json()["consultant_id"] == "d-sh-1-c2"


# ------------------------------------------------------------------ master data

async def test_lead_ops_keep_the_dealer_network_and_a_manager_keeps_stock_and_team(env, engine):
    async with api(env, engine) as (http, L):
        changed = await http.patch("/v1/dealers/D-SH-2", json={"capacity": 5, "choice_right": False,
                                                                "service_cities": ["Shanghai", "Suzhou"]},
                                   headers=auth("ops"))
        assert changed.status_code == 200 and changed.json()["capacity"] == 5 and not changed.json()["choice_right"]
        assert (await http.patch("/v1/dealers/D-SH-2", json={"capacity": 6},
                                 headers=auth("d-sh-2-mgr"))).status_code == 403
        bad = await http.patch("/v1/dealers/D-SH-2", json={"stock": {"Z9": 1}}, headers=auth("ops"))
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "stock"]
        null = await http.patch("/v1/dealers/D-SH-2", json={"capacity": None}, headers=auth("ops"))
        assert null.status_code == 422 and null.json()["detail"][0]["loc"] == ["body", "capacity"]
        stock = await http.put("/v1/dealers/D-SH-1/stock", json={"stock": {"A5": 0, "A7": 9}},
                               headers=auth("d-sh-1-mgr"))
        assert stock.status_code == 200 and stock.json()["stock"] == {"A5": 0, "A7": 9}
        assert (await http.put("/v1/dealers/D-SH-2/stock", json={"stock": {"A5": 1}},
                               headers=auth("d-sh-1-mgr"))).status_code == 404
        created = await http.post("/v1/dealers", json={"id": "D-SZ-1", "name": "Suzhou", "brand": "aurora",
                                                       "region": "East", "city": "Suzhou", "series": ["A5"]},
                                  headers=auth("ops"))
        assert created.status_code == 201 and created.json()["capacity"] == 50
        assert (await http.post("/v1/dealers", json={"id": "D-SZ-1", "name": "x", "brand": "aurora", "region": "East",
                                                     "city": "Suzhou"}, headers=auth("ops"))).status_code == 409
        listed = (await http.get("/v1/dealers", params={"region": "East"}, headers=auth("ops"))).json()
        assert {d["id"] for d in listed} == {"D-SH-1", "D-SH-2", "D-HZ-1", "D-SZ-1"}
        assert [d["id"] for d in (await http.get("/v1/dealers", headers=auth("d-sh-1-c1"))).json()] == ["D-SH-1"]
        with Session(engine) as session:
            assert session.get(Dealer, "D-SH-1").stock == {"A5": 0, "A7": 9}  # what dispatch reads


async def test_a_manager_adds_a_consultant_whose_token_works_and_takes_them_off_duty(env, engine):
    async with api(env, engine) as (http, L):
        added = await http.post("/v1/dealers/D-SH-1/consultants",
                                json={"user_id": "d-sh-1-c3", "name": "Zhao", "series": ["A7"], "max_open_leads": 3},
                                headers=auth("d-sh-1-mgr"))
        assert added.status_code == 201, added.text
        token = added.json()["token"]
        me = await http.get("/v1/leads", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["total"] == 0
        bad = await http.post("/v1/dealers/D-SH-1/consultants", json={"user_id": "x1", "name": "X", "series": ["Z9"]},
                              headers=auth("d-sh-1-mgr"))
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "series"]
        off = await http.patch("/v1/consultants/d-sh-1-c3", json={"on_duty": False}, headers=auth("d-sh-1-mgr"))
        assert off.status_code == 200 and off.json()["on_duty"] is False
        assert (await http.patch("/v1/consultants/d-sh-1-c3", json={"on_duty": True},
                                 headers=auth("d-sh-2-mgr"))).status_code == 404
        team = (await http.get("/v1/dealers/D-SH-1/consultants", headers=auth("d-sh-1-mgr"))).json()
        assert {c["user_id"]: (c["series"], c["max_open_leads"], c["on_duty"]) for c in team}["d-sh-1-c3"] == (["A7"],
                                                                                                               3, False)
        with Session(engine) as session:
            assert session.get(Consultant, "d-sh-1-c3").on_duty is False  # what auto-assignment reads
