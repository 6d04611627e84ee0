"""A lead's SLA alert on the push channels, on the time-skipping server: the consultant's 15-minute alert reaches
the dealer team's WeCom robot in Chinese, once in the ledger; unread, it escalates to SMS after the policy's
minutes; read in time, it does not."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowExecutionStatus

from db.models import Notification, PushDelivery
from tests.fixtures import raw_lead
from tests.harness import RECORDING, lab
from tests.push_fixtures import CONSULTANT, add_preference, add_target, channel_keys  # noqa: F401
from tests.push_receivers import Receiver
from tests.test_clocks import assigned, sleep_until

pytestmark = pytest.mark.asyncio


def setup_channels(engine, wecom: Receiver, sms: Receiver) -> None:
    add_target(engine, "wc-team", "wecom", {"webhook_url": f"{wecom.url}/cgi-bin/webhook/send?key=TEAMKEY"})
    add_target(engine, "sms-oem", "sms", {"endpoint": f"{sms.url}/", "secret_id": "id", "secret_key": "k",
                                          "sdk_app_id": "1", "sign_name": "s", "template_id": "t"},
               scope="oem", dealer_id=None)
    add_preference(engine, CONSULTANT, channels=["wecom"], escalate_to="sms", mobile="+8613800000001")


async def first_response_push(L, lead_id: str):
    s = await L.state(lead_id)
    await sleep_until(L, s.clocks["first_response"].deadline)
    await L.settle(lead_id)
    row = next(n for n in L.notifications(lead_id, kind="first_response") if n.recipient_user_id == CONSULTANT)
    seq = row.idempotency_key.split(":")[1]
    return row, L.client.get_workflow_handle(f"push:{lead_id}:{seq}:first_response")


async def finished(L, handle) -> int:
    """The push workflow's result, skipping time past its escalation timer (10 minutes)."""
    await L.sleep(timedelta(minutes=11))
    for _ in range(100):
        if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        await asyncio.sleep(0.1)
    raise AssertionError("the push workflow did not finish")


async def test_an_unread_fifteen_minute_alert_reaches_wecom_then_escalates_to_sms(env, engine):
    wecom, sms = Receiver(), Receiver({"Response": {"SendStatusSet": [{"SerialNo": "sn-1", "Code": "Ok"}]}})
    try:
        setup_channels(engine, wecom, sms)
        async with lab(env, engine) as L:
            lead_id, _ = await assigned(L, 901)
            _, handle = await first_response_push(L, lead_id)
            assert await finished(L, handle) == 2  # the robot, then the SMS after 10 unread minutes (time skipped)
            if RECORDING["on"]:  # its plan, first flush, escalation timer and second flush (tests/test_replay.py)
                await L.record_workflow(handle.id, "v7-push-escalated")
        robot = [b for b in map(json.loads, (r["body"] for r in wecom.requests))
                 if "超时提醒" in json.dumps(b, ensure_ascii=False)]
        assert len(robot) == 1 and robot[0]["text"]["content"].startswith("【超时提醒】首次响应")
        assert len(wecom.requests) == 3  # the dispatch and the assignment reached the team's robot before
        assert robot[0]["text"]["mentioned_mobile_list"] == ["+8613800000001"]
        assert len(sms.requests) == 1
        assert json.loads(sms.requests[0]["body"])["TemplateParamSet"][0].startswith("【升级】10 分钟未读")
        with Session(engine) as session:
            rows = session.exec(select(PushDelivery).where(PushDelivery.kind == "first_response")).all()
        assert (sorted((r.target_id, r.status, r.level) for r in rows)
                == [("sms-oem", "sent", 1), ("wc-team", "sent", 0)])
        sent = {r.level: r.sent_at for r in rows}
        assert sent[1] - sent[0] >= timedelta(minutes=10)
    finally:
        wecom.close()
        sms.close()


async def test_a_read_alert_does_not_escalate(env, engine):
    wecom, sms = Receiver(), Receiver({"Response": {"SendStatusSet": [{"SerialNo": "sn-1", "Code": "Ok"}]}})
    try:
        setup_channels(engine, wecom, sms)
        async with lab(env, engine) as L:
            lead_id, _ = await assigned(L, 902)
            row, handle = await first_response_push(L, lead_id)
            with Session(engine) as session:
                n = session.get(Notification, row.id)
                n.read_at = n.created_at
                session.add(n)
                session.commit()
            assert await finished(L, handle) == 1
        assert len(wecom.requests) == 3 and sms.requests == []
    finally:
        wecom.close()
        sms.close()


async def test_the_calendar_warning_reaches_the_oem_robot(env, engine):
    """The calendar check's alert (head of lead ops) goes through the same path: inbox row, then the OEM's robot."""
    import uuid
    from datetime import datetime

    from domain.calendar import SHANGHAI
    from domain.models import CalendarCheck
    from workflows.calendar import CalendarCheckWorkflow

    robot = Receiver({"code": 0, "msg": "success"})
    try:
        add_target(engine, "fs-oem", "feishu", {"webhook_url": f"{robot.url}/open-apis/bot/v2/hook/X", "secret": "s"},
                   scope="oem", dealer_id=None, roles=["head_of_lead_ops"])
        async with lab(env, engine) as L:
            result = await L.client.execute_workflow(
                CalendarCheckWorkflow.run, CalendarCheck(as_of=datetime(2026, 11, 2, 9, tzinfo=SHANGHAI)),
                id=f"calendar-check-{uuid.uuid4()}", task_queue=L.task_queue)
            assert result.alerted == 1
            handle = L.client.get_workflow_handle("push:calendar-2027:20261102:calendar_unconfirmed")
            for _ in range(100):
                if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
                    break
                await asyncio.sleep(0.1)
        assert len(robot.requests) == 1
        assert json.loads(robot.requests[0]["body"])["content"]["text"].startswith("2027 年节假日安排尚未确认")
    finally:
        robot.close()


async def test_an_alert_with_nothing_to_push_starts_no_push_workflow(env, engine):
    """Issue 15: with no push target for its recipients, a notice's PushWorkflow would plan nothing and end; it is
    not started (a workflow's cost per alert, at intake too). Once a robot covers the recipients, it is."""
    from temporalio.service import RPCError

    async def push_workflow_of(L, lead_id: str, kind: str):
        row = L.notifications(lead_id, kind=kind)[0]
        handle = L.client.get_workflow_handle(f"push:{lead_id}:{row.idempotency_key.split(':')[1]}:{kind}")
        try:
            return (await handle.describe()).status
        except RPCError:
            return None

    robot = Receiver({"errcode": 0, "errmsg": "ok"})
    try:
        async with lab(env, engine) as L:
            lead_id = (await L.intake(raw_lead(905))).lead_id
            assert L.notifications(lead_id, kind="lead_dispatched")  # the inbox rows are there, as ever
            assert await push_workflow_of(L, lead_id, "lead_dispatched") is None
            add_target(engine, "wc-team", "wecom", {"webhook_url": f"{robot.url}/cgi-bin/webhook/send?key=K"})
            other = (await L.intake(raw_lead(906))).lead_id
            assert await push_workflow_of(L, other, "lead_dispatched") is not None
            for _ in range(100):  # it delivers and ends (nothing left open on the shared test server)
                if await push_workflow_of(L, other, "lead_dispatched") == WorkflowExecutionStatus.COMPLETED:
                    break
                await asyncio.sleep(0.1)
        assert len(robot.requests) == 1
    finally:
        robot.close()
