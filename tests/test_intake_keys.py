"""One source id = one submission (SPEC 2): a channel's external id reused with other content is refused with a
409 naming the field, creates nothing and says nothing about whose lead took the id first."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, func, select
from temporalio.service import RPCError

from db.models import Lead
from domain.customers import normalize_phone
from ops.import_csv import import_csv
from tests.test_api import api, auth, body
from workflows import gateway
from workflows.lead_ids import new_lead_id

REUSED = {"detail": "此外部编号已在渠道「官网」用于另一条内容不同的提交，新的提交须使用新的外部编号",
          "code": "error.external_id_reused", "params": {"channel": "website"}, "kind": "external_id_reused",
          "field": "external_id"}


def leads(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Lead)).one()


async def _described(L, lead_id: str) -> bool:
    try:
        await L.client.get_workflow_handle(lead_id).describe()
        return True
    except RPCError:
        return False


async def test_the_same_external_id_with_another_phone_is_refused_and_creates_nothing(env, engine):
    async with api(env, engine) as (http, L):
        first = await http.post("/v1/leads", json=body(1910), headers=auth("ops"))
        assert first.status_code == 200 and first.json()["outcome"] == "created"
        before = leads(engine)
        other = body(1911, external_id="web-1910")  # another customer under the first one's source id
        for user in ("ops", "d-sh-1-mgr", "d-gz-1-mgr"):  # whoever asks: the same words, no lead, no dealer
            again = await http.post("/v1/leads", json=other, headers=auth(user))
            assert (again.status_code, again.json()) == (409, REUSED), again.text
        assert not await _described(L, new_lead_id("Aurora", normalize_phone(other["phone"])))
        assert leads(engine) == before


async def test_the_same_submission_again_is_the_same_answer(env, engine):
    async with api(env, engine) as (http, L):
        first = await http.post("/v1/leads", json=body(1912), headers=auth("ops"))
        spaced = body(1912) | {"phone": "138 0000 1912"}  # the same phone, written otherwise: the same content
        again = await http.post("/v1/leads", json=spaced, headers=auth("ops"))
        assert again.status_code == 200 and again.json()["lead_id"] == first.json()["lead_id"]
        assert again.json()["repeat"] is True
        changed = await http.post("/v1/leads", json=body(1912, note="changed"), headers=auth("ops"))
        assert changed.status_code == 409 and changed.json()["field"] == "external_id"


async def test_a_batch_refuses_the_later_item_reusing_an_external_id(env, engine):
    async with api(env, engine) as (http, L):
        items = [body(1913), body(1914, external_id="web-1913"), body(1915)]
        answer = await http.post("/v1/leads/batch", json={"items": items}, headers=auth("ops"))
        results = answer.json()["results"]
        assert [r["status"] for r in results] == ["created", "conflict", "created"]
        assert results[1]["errors"] == [{"loc": ["external_id"], "msg": REUSED["detail"], "code": REUSED["code"],
                                         "params": REUSED["params"], "kind": "external_id_reused"}]
        assert results[1]["lead_id"] is None
        assert not await _described(L, new_lead_id("Aurora", normalize_phone(items[1]["phone"])))
        again = await http.post("/v1/leads/batch", json={"items": items[:1]}, headers=auth("ops"))
        assert again.json()["results"][0]["repeat"] is True  # the batch sent again: idempotent


async def test_the_csv_import_refuses_a_reused_external_id_in_the_file_and_against_earlier_submissions(
        env, engine, tmp_path: Path):
    async with api(env, engine) as (http, L):
        taken = await http.post("/v1/leads", json=body(1916, channel="csv_import", external_id="row-a"),
                                headers=auth("ops"))
        assert taken.status_code == 200
        path = tmp_path / "leads.csv"
        path.write_text("external_id,客户姓名,手机号,城市,意向车系\n"
                        "row-a,Other,13800001917,Shanghai,A5\n"  # the id the API took, other content
                        "row-b,First,13800001918,Shanghai,A5\n"
                        "row-b,Second,13800001919,Shanghai,A5\n", encoding="utf-8")  # reused within the file
        report = await import_csv(L.client, L.task_queue, L.policy, path, brand="Aurora", engine=engine)
        assert sorted(r.line for r in report.bad) == [2, 4]
        assert all("external_id was already used" in (r.reason or "") for r in report.bad)
        assert report.outcomes == {"created": 1}
        for phone in ("+8613800001917", "+8613800001919"):
            assert not await _described(L, new_lead_id("Aurora", phone))


async def test_a_raw_lead_the_engine_refuses_gives_its_external_id_back(env, engine, monkeypatch):
    async with api(env, engine) as (http, L):
        submit = gateway.submit_raw_lead

        async def refusing(*args, **kwargs):
            raise gateway.ActionRefused("refused for the test", "invalid")

        monkeypatch.setattr(gateway, "submit_raw_lead", refusing)
        refused = await http.post("/v1/leads", json=body(1924, note="wrong"), headers=auth("ops"))
        assert refused.status_code == 422
        monkeypatch.setattr(gateway, "submit_raw_lead", submit)
        corrected = await http.post("/v1/leads", json=body(1924), headers=auth("ops"))  # same id, corrected content
        assert corrected.status_code == 200 and corrected.json()["outcome"] == "created", corrected.text
