"""Policies as versioned data (issue 16): drafting with validation that names the key path, approval rights, new
leads on the active version, migrating running leads (time-skipping server), and a simulation through the API."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session

from api.app import create_app
from api.routes.policies import migrate_leads
from db import policies as pol
from db.models import PolicySimulation
from domain.policy import load_policy
from domain.policy_versions import PolicyProblem, apply_changes, check_draft, document_of
from tests.fixtures import OPS, raw_lead
from tests.test_api import api, auth, body

SHIPPED = document_of(load_policy(time_scale=1))


def problems(changes: dict) -> dict[str, str]:
    with pytest.raises(PolicyProblem) as e:
        check_draft(apply_changes(SHIPPED, changes))
    return dict(e.value.problems)


def test_a_draft_is_refused_naming_the_key_path_and_why():
    assert "positive" in problems({"clocks": {"receipt": "-PT2H"}})["clocks.receipt"]
    assert "not a duration" in problems({"clocks": {"receipt": "-2h"}})["clocks.receipt"]
    assert problems({"clocks": {"receit": "2h"}})["clocks.receit"] == "unknown key"
    assert problems({"surprise": 1})["surprise"] == "unknown key"
    assert "sum to 1" in problems({"dispatch": {"weights": {**SHIPPED["dispatch"]["weights"], "stock": 0.5}}})[
        "dispatch.weights"]
    assert "at most 1" in problems({"rules": {"decline_quota": 1.5}})["rules.decline_quota"]
    assert "fall strictly" in problems({"scoring": {"thresholds": {"H": 40, "A": 45, "B": 30}}})["scoring.thresholds"]
    assert problems({"scoring": {"items": {**SHIPPED["scoring"]["items"], "horoscope": 3}}})[
        "scoring.items.horoscope"] == "unknown scoring item"
    assert "negative" in problems({"scoring": {"items": {**SHIPPED["scoring"]["items"], "timeframe": -1}}})[
        "scoring.items.timeframe"]
    assert "positive" in problems({"clocks": {"grade_cadence": {"H": "PT0S"}}})["clocks.grade_cadence.H"]
    assert problems({"time_scale": 60})["time_scale"] == "set by the engine, not by a policy"
    check_draft(SHIPPED)  # the shipped policy is sane


async def test_policy_api_drafting_approval_rights_and_audit(env, engine):
    async with api(env, engine) as (http, L):
        listing = await http.get("/v1/policies", headers=auth("ops"))
        assert listing.status_code == 200
        assert [(v["version"], v["status"], v["author"]) for v in listing.json()] == [(1, "active", "system")]

        bad = await http.post("/v1/policies/drafts", headers=auth("ops"),
                              json={"reason": "faster", "changes": {"clocks": {"receipt": "-PT1H"}}})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "changes", "clocks", "receipt"]
        assert bad.json()["detail"][0]["path"] == "clocks.receipt"
        unknown = await http.post("/v1/policies/drafts", headers=auth("ops"),
                                  json={"reason": "typo", "changes": {"clocks": {"receit": "1h"}}})
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["code"] == "invalid.policy.unknown_key"
        assert unknown.json()["detail"][0]["msg"] == "未知的配置项"
        assert (await http.post("/v1/policies/drafts", headers=auth("ops"),
                                json={"reason": "neither"})).status_code == 422

        for dealer in ("d-sh-1-mgr", "d-sh-1-c1"):
            assert (await http.get("/v1/policies", headers=auth(dealer))).status_code == 403
            assert (await http.post("/v1/policies/drafts", headers=auth(dealer),
                                    json={"reason": "x", "changes": {}})).status_code == 403

        made = await http.post("/v1/policies/drafts", headers=auth("ops"),
                               json={"reason": "收紧接收确认时限", "changes": {"clocks": {"receipt": "1h"}}})
        assert made.status_code == 201, made.text
        draft = made.json()
        assert (draft["version"], draft["status"], draft["author"], draft["base_version"]) == (2, "draft", "ops", 1)
        # the changed setting, and the same in words for people (zh-CN by default): issue 13
        assert draft["diff"] == [{"path": "clocks.receipt", "before": "PT2H", "after": "PT1H",
                                  "label": "计时 · 接收确认", "before_text": "2小时", "after_text": "1小时"}]

        # approval: not by lead ops, not by a dealer, not by the draft's own author
        assert (await http.post("/v1/policies/2/approve", headers=auth("ops"), json={})).status_code == 403
        assert (await http.post("/v1/policies/2/approve", headers=auth("d-sh-1-mgr"), json={})).status_code == 403
        own = await http.post("/v1/policies/drafts", headers=auth("ops-head"),
                              json={"reason": "mine", "changes": {"clocks": {"receipt": "3h"}}})
        refused = await http.post(f"/v1/policies/{own.json()['version']}/approve", headers=auth("ops-head"), json={})
        assert refused.status_code == 403 and refused.json()["code"] == "error.policy_own_author"
        assert (await http.post("/v1/policies/99/approve", headers=auth("ops-head"), json={})).status_code == 404

        ok = await http.post("/v1/policies/2/approve", headers=auth("ops-head"), json={"note": "同意"})
        assert ok.status_code == 200 and ok.json()["status"] == "active" and ok.json()["approved_by"] == "ops-head"
        assert ok.json()["effective_from"] is not None
        assert (await http.post("/v1/policies/2/approve", headers=auth("ops-head"), json={})).status_code == 409
        statuses = {v["version"]: v["status"] for v in (await http.get("/v1/policies", headers=auth("ops"))).json()}
        assert statuses == {1: "superseded", 2: "active", 3: "draft"}
        rejected = await http.post("/v1/policies/3/reject", headers=auth("ops-head"), json={"note": "no"})
        assert rejected.json()["status"] == "rejected"

        audit = (await http.get("/v1/policies/audit", headers=auth("ops"))).json()
        assert [(a["version"], a["action"], a["actor"]) for a in audit] == [
            (1, "seeded", "system"), (2, "drafted", "ops"), (3, "drafted", "ops-head"), (2, "approved", "ops-head"),
            (3, "rejected", "ops-head")]

        # new leads take the active version at intake
        lead = (await http.post("/v1/leads", json=body(1601), headers=auth("ops"))).json()
        state = await L.state(lead["lead_id"])
        receipt = state.clocks["receipt"]
        assert receipt.deadline - receipt.started_at == timedelta(hours=1)
        migrating = await http.post("/v1/policies/1/migrations", headers=auth("ops"),
                                    json={"query": "Region='East'", "reason": "back"})
        assert migrating.status_code == 409  # a superseded version takes no leads


async def test_running_leads_migrated_to_a_new_version_say_so_and_follow_it(env, engine):
    async with api(env, engine, record="v6-policy-migration") as (http, L):
        lead_id = (await L.intake(raw_lead(1602))).lead_id  # under the shipped policy: receipt 2 h
        before = await L.settle(lead_id)
        first_receipt = before.clocks["receipt"]
        assert first_receipt.deadline - first_receipt.started_at == timedelta(hours=2)
        with pol.Session(engine) as session:
            pol.ensure_seeded(session, L.policy, before.created_at)
            v2 = pol.draft(session, "ops", "faster receipt", before.created_at, changes={"clocks": {"receipt": "30m"}})
            pol.approve(session, v2.version, "ops-head", before.created_at)
            new_policy = pol.policy_of(pol.get(session, v2.version))
        await migrate_leads(L.client, [lead_id], new_policy, "华东区试点", OPS)
        await asyncio.sleep(0.2)
        s = await L.settle(lead_id)
        assert s.clocks["receipt"].deadline == first_receipt.deadline, "a running clock keeps its deadline"
        migrated = L.events(lead_id, "policy_migrated")
        assert [(e.data["from_version"], e.data["to_version"], e.data["reason"], e.actor) for e in migrated] == [
            (L.policy.version, str(v2.version), "华东区试点", "ops")]
        assert "迁移到版本" in migrated[0].data["message"]
        # the receipt lapses on its old deadline; the next dealer's receipt clock runs under the new version
        await L.sleep(first_receipt.deadline - await L.env.get_current_time() + timedelta(seconds=1))
        s = await L.settle(lead_id)
        fresh = s.clocks["receipt"]
        assert fresh.started_at > first_receipt.deadline - timedelta(seconds=1)
        assert fresh.deadline - fresh.started_at == timedelta(minutes=30)
        # the same signal again changes nothing (the lead is on that version already)
        await migrate_leads(L.client, [lead_id], new_policy, "again", OPS)
        await asyncio.sleep(0.2)
        await L.settle(lead_id)
        assert len(L.events(lead_id, "policy_migrated")) == 1


async def test_a_simulation_started_through_the_api_reports_progress_and_the_report(env, engine):
    async with api(env, engine) as (http, L):
        start = await L.env.get_current_time()
        ids = [(await http.post("/v1/leads", json=body(1610 + i), headers=auth("ops"))).json()["lead_id"]
               for i in range(3)]
        for lead_id in ids:
            await L.settle(lead_id)
        await L.sleep(timedelta(hours=3))
        for lead_id in ids:
            await L.settle(lead_id)
            await L.quiet(lead_id)
        made = await http.post("/v1/policies/drafts", headers=auth("ops"),
                               json={"reason": "try", "changes": {"clocks": {"receipt": "1h"}}})
        end = await L.env.get_current_time()
        started = await http.post("/v1/simulations", headers=auth("ops"), json={
            "version": made.json()["version"], "start": (start - timedelta(minutes=1)).isoformat(),
            "end": end.isoformat(), "workers": 1})
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        for _ in range(300):
            view = (await http.get(f"/v1/simulations/{run_id}", headers=auth("ops"))).json()
            if view["status"] != "running":
                break
            await asyncio.sleep(0.1)
        assert view["status"] == "done", view
        assert view["done"] == view["total"] == 3
        r = view["report"]
        assert r["leads"] == 3
        # nobody acknowledged in 3 hours: reality 1 receipt lapse per lead (at 2 h); the draft (1 h) lapses at 1 h
        # and 2 h, and the third dealer's at 3 h when the period's end is past it
        assert r["reality"]["sla_lapses"]["receipt"] == 3
        assert r["draft"]["sla_lapses"]["receipt"] in (6, 9)
        assert r["differing_leads"] == 3 and r["differing"][0]["why"]
        assert (await http.get(f"/v1/simulations/{run_id}", headers=auth("d-sh-1-mgr"))).status_code == 403
        assert (await http.get("/v1/simulations/nope", headers=auth("ops"))).status_code == 404
        # kept in the read model: another API process (a new app on the same database) answers for it
        async with second_api(env, engine, L) as second:
            again = (await second.get(f"/v1/simulations/{run_id}", headers=auth("ops"))).json()
            assert again["report"] == view["report"] and again["by"] == "ops"
            listed = (await second.get("/v1/simulations", headers=auth("ops"))).json()
            assert [(s["id"], s["status"], s["report"]) for s in listed] == [(run_id, "done", None)]


@asynccontextmanager
async def second_api(env, engine, L):
    """Another API process on the same database."""
    other = create_app(client=env.client, engine=engine, policy=L.policy, task_queue=L.task_queue)
    async with other.router.lifespan_context(other):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://leadflow") as http:
            yield http


async def test_a_simulation_whose_process_stopped_reads_as_failed_and_says_so(env, engine):
    """A run is `running` while its process beats (every 10 s); one silent for a minute died with its process."""
    now = datetime.now(UTC)
    with Session(engine) as session:
        for sim_id, beat in (("alive", now - timedelta(seconds=5)), ("gone", now - timedelta(minutes=5))):
            session.add(PolicySimulation(id=sim_id, version=1, status="running", started_at=now - timedelta(minutes=6),
                                         period_start=now - timedelta(days=30), period_end=now, by="ops",
                                         heartbeat_at=beat))
        session.commit()
    async with api(env, engine) as (http, _):
        alive = (await http.get("/v1/simulations/alive", headers=auth("ops"))).json()
        gone = (await http.get("/v1/simulations/gone", headers=auth("ops"))).json()
        gone_en = (await http.get("/v1/simulations/gone?lang=en", headers=auth("ops"))).json()
    assert alive["status"] == "running" and alive["error"] is None
    assert (gone["status"], gone["error_code"]) == ("failed", "error.simulation_interrupted")
    assert gone["error"] == "模拟运行所在的服务进程已停止，请重新运行"
    assert gone_en["error"] == "the process running the simulation stopped; run it again"
