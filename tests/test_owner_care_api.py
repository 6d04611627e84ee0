"""Owner care, consent and referrals through the HTTP API (issue 17): codes and their refusals, attribution and
rewards, isolation between dealers, consent and unsubscribing, DMS events, tasks."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import Session, func, select

from activities.projection import _reward_tiers
from api.app import create_app
from db import referrals
from db.models import Lead, Notification, OwnerConsent, Referral, ReferralCode, ReferralReward
from domain import commands as c
from tests.conftest import token_for
from tests.fixtures import consultant, manager, raw_lead
from tests.harness import lab
from tests.test_owner_care import delivered_lead
from workflows.owner_care import ownership_id_for

DAY = timedelta(days=1)


@asynccontextmanager
async def api(env, engine):
    async with lab(env, engine) as L:
        app = create_app(client=env.client, engine=engine, policy=L.policy, task_queue=L.task_queue)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://leadflow") as http:
                yield http, L


def auth(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id)}"}


def body(n: int, **overrides) -> dict:
    return raw_lead(n, **overrides).model_dump(mode="json", exclude_none=True)


def count(L, model, *where) -> int:
    with Session(L.engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


async def test_referral_codes_bad_ones_refused_with_the_reason_a_good_one_attributed_and_rewarded_once(env, engine):
    async with api(env, engine) as (http, L):
        owner_lead, _ = await delivered_lead(L, 1711)
        oid = ownership_id_for(owner_lead)
        card = (await http.get(f"/v1/ownerships/{oid}", headers=auth("ops"))).json()
        code = card["referral_code"]
        assert code and card["referral_link"].endswith(code)

        leads_before = count(L, Lead)
        unknown = await http.post("/v1/leads", json=body(1712, referral_code="NOSUCHCD"), headers=auth("ops"))
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "referral_code"]
        own = await http.post("/v1/leads", json=body(1711, external_id="web-own", referral_code=code),
                              headers=auth("ops"))
        assert (own.status_code == 409 and own.json()["kind"] == "self_referral"
                and own.json()["code"] == "error.self_referral")
        with Session(L.engine) as session:
            row = session.get(ReferralCode, code)
            expired_code = ReferralCode(code="EXPIRED2", ownership_id=oid, customer_key=row.customer_key,
                                        dealer_id=row.dealer_id, created_at=row.created_at,
                                        expires_at=datetime(2020, 1, 1, tzinfo=UTC))
            session.add(expired_code)
            session.commit()
        expired = await http.post("/v1/leads", json=body(1712, referral_code="EXPIRED2"), headers=auth("ops"))
        assert expired.status_code == 409 and expired.json()["kind"] == "referral_expired"
        assert count(L, Lead) == leads_before and count(L, Referral) == 0, "nothing half-applied"
        # the same submission, corrected, is taken (its external id was not claimed by the refusals)
        good = await http.post("/v1/leads", json=body(1712, referral_code=code.lower()), headers=auth("ops"))
        assert good.status_code == 200, good.text
        referred = good.json()["lead_id"]
        L.started.add(referred)
        detail = (await http.get(f"/v1/leads/{referred}", headers=auth("ops"))).json()
        assert L.lead_row(referred).channel == "referral"
        assert detail["customer"]["referral_code"] == code and detail["channel"] == "referral"

        # won: the referrer earns the first tier's reward, once, and the referrer's dealer is told
        mgr, cons = manager("D-SH-1"), consultant("D-SH-1")
        await L.act(referred, mgr, c.Acknowledge())
        await L.act(referred, mgr, c.Assign(consultant_id=cons.user_id))
        for command in (c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=8), c.RecordOrder(deposit=5000),
                        c.RecordWin(payment=c.PaymentMethod.CASH, amount=200_000)):
            await L.act(referred, cons, command)
        await L.quiet(referred)
        with Session(L.engine) as session:  # won again (a retried projection, a second won event): still once
            assert referrals.on_won(session, referred, datetime.now(UTC), _reward_tiers()) is None
            session.commit()
            rewards = session.exec(select(ReferralReward)).all()
            told = session.exec(select(Notification).where(Notification.kind == "referral_reward")).all()
        assert ([(r.lead_id, r.nth, r.reward, r.state) for r in rewards]
                == [(referred, 1, "maintenance_voucher", "earned")])
        assert told and all(n.dealer_id == "D-SH-1" for n in told)
        issued = await http.post(f"/v1/rewards/{rewards[0].reward_id}/issue", headers=auth("d-sh-1-mgr"))
        assert issued.status_code == 200 and issued.json()["state"] == "issued"
        again = await http.post(f"/v1/rewards/{rewards[0].reward_id}/issue", headers=auth("d-sh-1-mgr"))
        assert again.status_code == 409
        card = (await http.get(f"/v1/ownerships/{oid}", headers=auth("ops"))).json()
        assert card["referrals"] == [{"lead_id": referred, "attributed_at": card["referrals"][0]["attributed_at"],
                                      "won": True}]
        created = L.lead_row(referred).created_at
        window = {"from": (created - DAY).date().isoformat(), "to": (created + 2 * DAY).date().isoformat()}
        channels = (await http.get("/v1/dashboards/channels", params=window, headers=auth("ops"))).json()
        assert "referral" in {ch["channel"] for ch in channels["channels"]}
        board = (await http.get("/v1/dashboards/owner-care", headers=auth("ops"))).json()
        assert board["referrals"] == 1 and board["referrals_won"] == 1 and board["rewards_by_state"] == {"issued": 1}


def test_reward_tiers_step_with_the_number_of_won_referrals():
    tiers = _reward_tiers()
    assert [referrals.tier_for(n, tiers) for n in (1, 2, 3, 4)] == [
        "maintenance_voucher", "maintenance_voucher", "charger", "charger"]


async def test_another_dealer_sees_an_ownership_exactly_like_an_unknown_one(env, engine):
    async with api(env, engine) as (http, L):
        lead_id, _ = await delivered_lead(L, 1713)
        oid = ownership_id_for(lead_id)
        assert (await http.get(f"/v1/ownerships/{oid}", headers=auth("d-sh-1-mgr"))).status_code == 200
        theirs = await http.get(f"/v1/ownerships/{oid}", headers=auth("d-sh-2-mgr"))
        unknown = await http.get("/v1/ownerships/owner-nothing", headers=auth("d-sh-2-mgr"))
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json()["detail"].replace(oid, "X") == unknown.json()["detail"].replace("owner-nothing", "X")
        assert (await http.get("/v1/ownerships", headers=auth("d-sh-2-mgr"))).json() == []
        event = {"event_id": "dms-x", "kind": "service_visit"}
        assert (await http.post(f"/v1/ownerships/{oid}/events", json=event,
                                headers=auth("d-sh-2-mgr"))).status_code == 404
        assert (await http.post(f"/v1/ownerships/{oid}/stop", json={"reason": "x"},
                                headers=auth("d-sh-2-mgr"))).status_code == 404


async def test_consent_unsubscribe_by_reply_and_link_dms_events_and_tasks(env, engine):
    async with api(env, engine) as (http, L):
        lead_id, _ = await delivered_lead(L, 1714)
        oid = ownership_id_for(lead_id)
        given = await http.post(f"/v1/ownerships/{oid}/consent",
                                json={"purpose": "service", "granted": True, "source": "delivery_form"},
                                headers=auth("d-sh-1-mgr"))
        assert given.status_code == 200 and {c["purpose"]: c["granted"] for c in given.json()}["service"] is True
        bad = await http.post(f"/v1/ownerships/{oid}/consent", json={"purpose": "spam", "granted": True, "source": "x"},
                              headers=auth("d-sh-1-mgr"))
        assert bad.status_code == 422
        reply = await http.post("/v1/owner-care/sms-reply", json={"phone": "13800001714", "text": "退订"},
                                headers=auth("ops"))
        assert reply.json() == {"unsubscribed": True}
        now = (await http.get(f"/v1/ownerships/{oid}/consent", headers=auth("d-sh-1-mgr"))).json()
        assert not any(c["granted"] for c in now) and {c["source"] for c in now} == {"sms_reply"}
        event = {"event_id": "dms-1714", "kind": "service_visit", "mileage_km": 1200}
        first = await http.post(f"/v1/ownerships/{oid}/events", json=event, headers=auth("d-sh-1-mgr"))
        assert first.status_code == 200 and first.json()["repeat"] is False
        assert "first_maintenance" not in {t["key"] for t in first.json()["upcoming"]}
        second = await http.post(f"/v1/ownerships/{oid}/events", json=event, headers=auth("d-sh-1-mgr"))
        assert second.json()["repeat"] is True and second.json()["upcoming"] == first.json()["upcoming"]
        missing = await http.post(f"/v1/ownerships/{oid}/events", json={"event_id": "dms-2", "kind": "mileage"},
                                  headers=auth("d-sh-1-mgr"))
        assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "mileage_km"]
        await http.post(f"/v1/ownerships/{oid}/consent",
                        json={"purpose": "marketing", "granted": True, "source": "app"}, headers=auth("d-sh-1-mgr"))
        await L.sleep(366 * DAY)  # the anniversary (marketing): a task for the consultant; consent given again
        tasks = (await http.get("/v1/owner-care/tasks?status=all", headers=auth("d-sh-1-mgr"))).json()
        assert tasks and all(t["seconds_left"] is not None for t in tasks)
        anniversary = next(t for t in tasks if t["kind"] == "anniversary")
        assert anniversary["message_sent"] is True
        other = (await http.get("/v1/owner-care/tasks?status=all", headers=auth("d-sh-2-mgr"))).json()
        assert other == []
        with Session(L.engine) as session:
            token = session.exec(select(OwnerConsent)).first() and session.get(
                __import__("db.models", fromlist=["Ownership"]).Ownership, oid).unsubscribe_token
        link = await http.get(f"/v1/owner-care/unsubscribe/{token}")
        assert link.json() == {"unsubscribed": True}
        now = (await http.get(f"/v1/ownerships/{oid}/consent", headers=auth("d-sh-1-mgr"))).json()
        assert not any(c["granted"] for c in now)


async def test_referral_codes_in_a_batch_are_checked_item_by_item(env, engine):
    async with api(env, engine) as (http, L):
        owner_lead, _ = await delivered_lead(L, 1715)
        code = (await http.get(f"/v1/ownerships/{ownership_id_for(owner_lead)}",
                               headers=auth("ops"))).json()["referral_code"]
        items = [body(1716, referral_code="NOSUCHCD"), body(1715, external_id="web-own-b", referral_code=code),
                 body(1717, referral_code=code)]
        answer = (await http.post("/v1/leads/batch", json={"items": items}, headers=auth("ops"))).json()
        statuses = [r["status"] for r in answer["results"]]
        assert statuses == ["invalid", "refused", "created"], answer
        assert answer["results"][0]["errors"][0]["loc"] == ["referral_code"]
        assert answer["results"][1]["errors"][0]["kind"] == "self_referral"
        referred = answer["results"][2]["lead_id"]
        L.started.add(referred)
        with Session(L.engine) as session:
            assert [r.lead_id for r in session.exec(select(Referral)).all()] == [referred]
        assert L.lead_row(referred).channel == "referral"
