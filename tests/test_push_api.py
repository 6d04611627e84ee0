"""The push API: channel configuration by OEM lead ops and a dealer manager (secrets never shown, other
scopes invisible), the test message sent by the worker, preferences, Web Push subscriptions, the inbox's
read state."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, col, select

from db.models import Notification, PushTarget
from tests.push_fixtures import channel_keys  # noqa: F401
from tests.push_receivers import Receiver
from tests.test_api import api, auth, body

pytestmark = pytest.mark.asyncio


async def test_a_dealer_manager_configures_the_team_robot_and_sends_a_test_message(env, engine):
    r = Receiver()
    try:
        async with api(env, engine) as (http, L):
            created = await http.post("/v1/push/targets", headers=auth("d-sh-1-mgr"), json={
                "kind": "wecom", "name": "浦东店群", "config": {"webhook_url": f"{r.url}/send?key=ROBOTKEY"}})
            assert created.status_code == 201, created.text
            target = created.json()
            assert target["scope"] == "dealer" and target["dealer_id"] == "D-SH-1"
            assert "ROBOTKEY" not in created.text
            with Session(engine) as session:
                assert "ROBOTKEY" not in session.get(PushTarget, target["id"]).secret  # encrypted at rest
            listed = await http.get("/v1/push/targets", headers=auth("d-sh-1-mgr"))
            assert [t["id"] for t in listed.json()] == [target["id"]] and "ROBOTKEY" not in listed.text
            tested = await http.post(f"/v1/push/targets/{target['id']}/test", headers=auth("d-sh-1-mgr"))
            assert tested.json() == {"result": "sent"}
            assert json.loads(r.requests[0]["body"])["markdown"]["content"].startswith("Leadflow 测试消息")
            # another dealer's manager, the OEM and a consultant: unknown / forbidden
            other = await http.post(f"/v1/push/targets/{target['id']}/test", headers=auth("d-sh-2-mgr"))
            assert other.status_code == 404
            assert (await http.get("/v1/push/targets", headers=auth("d-sh-2-mgr"))).json() == []
            assert (await http.get("/v1/push/targets", headers=auth("d-sh-1-c1"))).status_code == 403
            sms = await http.post("/v1/push/targets", headers=auth("d-sh-1-mgr"), json={
                "kind": "sms", "name": "x", "config": {"secret_id": "a", "secret_key": "b", "sdk_app_id": "c",
                                                       "sign_name": "d", "template_id": "e"}})
            assert sms.status_code == 403
            bad = await http.post("/v1/push/targets", headers=auth("ops"), json={
                "kind": "dingtalk", "name": "x", "config": {"webhook_url": "https://oapi.dingtalk.com/robot/send"}})
            assert bad.status_code == 422 and "secret" in bad.text
            assert (await http.delete(f"/v1/push/targets/{target['id']}", headers=auth("ops"))).status_code == 404
            assert (await http.delete(f"/v1/push/targets/{target['id']}", headers=auth("d-sh-1-mgr"))).json()["done"]
    finally:
        r.close()


async def test_lead_ops_configure_the_owners_sms_gateway_apart_from_the_staffs(env, engine):
    sms = {"secret_id": "a", "secret_key": "b", "sdk_app_id": "c", "sign_name": "极光车主服务", "template_id": "e"}
    async with api(env, engine) as (http, L):
        owners = await http.post("/v1/push/targets", headers=auth("ops"), json={
            "kind": "sms", "name": "车主短信", "audience": "owners", "config": sms})
        assert owners.status_code == 201, owners.text
        assert (owners.json()["audience"], owners.json()["roles"]) == ("owners", ["owner"])
        staff = await http.post("/v1/push/targets", headers=auth("ops"), json={"kind": "sms", "name": "员工短信",
                                                                              "config": sms})
        assert (staff.json()["audience"], staff.json()["roles"]) == ("staff", [])
        for wrong in ({"kind": "wecom", "config": {"webhook_url": "https://qyapi.weixin.qq.com/x"}},
                      {"kind": "sms", "roles": ["lead_ops"], "config": sms}):
            bad = await http.post("/v1/push/targets", headers=auth("ops"),
                                  json={"name": "x", "audience": "owners", **wrong})
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "audience"], bad.text
            assert bad.json()["detail"][0]["code"] == "invalid.owners_gateway"


async def test_preferences_and_web_push_subscriptions(env, engine):
    async with api(env, engine) as (http, L):
        me = auth("d-sh-1-c1")
        put = await http.put("/v1/push/preferences", headers=me, json={
            "channels": ["webpush"], "escalate_to": "sms", "quiet_start": "22:00", "quiet_end": "08:00",
            "mobile": "+8613800000001"})
        assert put.status_code == 200, put.text
        assert put.json()["mobile_set"] == "…0001" and "mobile" not in {k for k, v in put.json().items() if v}
        bad = await http.put("/v1/push/preferences", headers=me, json={"quiet_start": "25:00", "quiet_end": "08:00"})
        assert bad.status_code == 422 and "quiet_start" in bad.text
        sub = {"endpoint": "https://push.example.com/s/abc", "keys": {"p256dh": "B" * 87, "auth": "A" * 22}}
        first = await http.post("/v1/push/subscriptions", headers=me, json=sub)
        again = await http.post("/v1/push/subscriptions", headers=me, json=sub)
        assert first.status_code == 201 and first.json()["id"] == again.json()["id"]
        with Session(engine) as session:
            assert len(session.exec(select(PushTarget).where(PushTarget.user_id == "d-sh-1-c1")).all()) == 1
        gone = await http.post("/v1/push/subscriptions/delete", headers=me, json={"endpoint": sub["endpoint"]})
        assert gone.json()["done"] is True
        with Session(engine) as session:
            assert session.exec(select(PushTarget).where(PushTarget.user_id == "d-sh-1-c1")).all() == []


async def test_the_inbox_read_state(env, engine):
    async with api(env, engine) as (http, L):
        lead = (await http.post("/v1/leads", json=body(950), headers=auth("ops"))).json()
        mgr = auth("d-sh-1-mgr") if lead["dealer_id"] == "D-SH-1" else auth(f"{lead['dealer_id'].lower()}-mgr")
        count = (await http.get("/v1/inbox/unread-count", headers=mgr)).json()["unread"]
        assert count >= 1
        inbox = (await http.get("/v1/inbox", headers=mgr)).json()
        read = await http.post(f"/v1/inbox/{inbox[0]['id']}/read", headers=mgr)
        assert read.status_code == 200 and read.json()["id"] == inbox[0]["id"]
        assert (await http.get("/v1/inbox/unread-count", headers=mgr)).json()["unread"] == count - 1
        assert (await http.post(f"/v1/inbox/{inbox[0]['id']}/read", headers=auth("d-sh-2-mgr"))).status_code == 404
        assert (await http.post("/v1/inbox/999999/read", headers=mgr)).status_code == 404
        assert (await http.post("/v1/inbox/read-all", headers=mgr)).json()["unread"] == count - 1
        assert (await http.get("/v1/inbox/unread-count", headers=mgr)).json()["unread"] == 0
        with Session(engine) as session:
            assert all(n.read_at for n in session.exec(
                select(Notification).where(col(Notification.recipient_user_id) == "d-sh-1-mgr")))
