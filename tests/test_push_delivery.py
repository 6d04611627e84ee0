"""Push delivery against local receivers: the per-target limiter and digests (a burst of 100 alerts on an injected
clock), retries, broken targets, quiet hours, escalation of unread SLA alerts, the ledger."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, col, select

from activities.notify import NotifyActivities
from channels.delivery import PushActivities
from db.models import Notification, PushDelivery, PushRequest, PushTarget
from domain.push import EscalateRequest, FlushRequest, PlanRequest, compose, next_slot, notice_key, quiet_until
from tests.push_fixtures import CONSULTANT, add_preference, add_target, channel_keys, notice  # noqa: F401
from tests.push_receivers import Receiver

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def wecom():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def push(engine):
    with httpx.Client() as http:
        yield PushActivities(engine, http)


def deliver(engine, push, req, now):
    NotifyActivities(engine).notify(req)
    plan = push.push_plan(PlanRequest(request=req, now=now))  # plans, then the first flush
    return plan, plan


def ledger(engine) -> list[PushDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(PushDelivery).order_by(col(PushDelivery.id))).all())


def test_next_slot_is_a_sliding_window():
    sent = [T0 + timedelta(seconds=i) for i in range(20)]
    assert next_slot(sent[:19], [(20, 60)], T0 + timedelta(seconds=19)) == T0 + timedelta(seconds=19)
    assert next_slot(sent, [(20, 60)], T0 + timedelta(seconds=20)) == T0 + timedelta(seconds=60)
    assert next_slot(sent[:5], [(100, 60), (5, 1)], T0 + timedelta(seconds=4.5)) == T0 + timedelta(seconds=4.5)


def test_quiet_hours_span_midnight_in_shanghai():
    night = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 23:00 Shanghai
    assert quiet_until(night, "22:00", "08:00") == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
    assert quiet_until(T0, "22:00", "08:00") is None


def test_a_digest_carries_what_fits_and_says_how_many():
    text, n = compose(["提醒一", "提醒二", "提醒三"], 4096)
    assert n == 3 and text.startswith("3 条新提醒…") and "提醒三" in text
    text, n = compose(["长" * 100] * 50, 4096)
    assert 1 < n < 50 and len(text.encode()) <= 4096


def test_a_burst_of_100_alerts_to_one_wecom_robot(engine, push, wecom):
    """100 SLA alerts in 30 s to one robot: at most 20 requests in any minute, every alert in some message."""
    add_target(engine, "wc-1", "wecom", {"webhook_url": f"{wecom.url}/cgi-bin/webhook/send?key=SECRETKEY"})
    waiting: dict[str, datetime] = {}  # notice -> when its workflow flushes again
    for i in range(100):
        now = T0 + timedelta(seconds=0.3 * i)
        req = notice(i + 1, now, lead=f"L-burst{i:03d}")
        for key, at in sorted(waiting.items(), key=lambda kv: kv[1]):  # the sleeping workflows whose timers fired
            if at <= now:
                result = push.push_flush(FlushRequest(notice=key, target_ids=["wc-1"], now=at))
                waiting.pop(key) if result.pending_until is None else waiting.__setitem__(key, result.pending_until)
        _, result = deliver(engine, push, req, now)
        if result.pending_until:
            waiting[notice_key(req)] = result.pending_until
    while waiting:  # time goes on: each workflow wakes at its own time
        key, at = min(waiting.items(), key=lambda kv: kv[1])
        result = push.push_flush(FlushRequest(notice=key, target_ids=["wc-1"], now=at))
        waiting.pop(key) if result.pending_until is None else waiting.__setitem__(key, result.pending_until)

    with Session(engine) as session:
        times = sorted(r.at.replace(tzinfo=UTC) for r in session.exec(select(PushRequest)).all())
    assert len(times) == len(wecom.requests) and 20 < len(times) < 30, times
    assert all(sum(1 for t in times if start <= t < start + timedelta(seconds=60)) <= 20 for start in times)
    bodies = [json.loads(r["body"]) for r in wecom.requests]
    texts = "\n".join(b["markdown"]["content"] for b in bodies)
    assert all(f"burst{i:03d}" in texts for i in range(100))  # nothing lost
    assert Counter(r.status for r in ledger(engine)) == {"sent": 100}
    assert any(b["markdown"]["content"].split("\n")[0].endswith("条新提醒…") for b in bodies)  # merged, not dropped
    assert all(len(b["markdown"]["content"].encode()) <= 4096 for b in bodies)


def test_5xx_is_retried_with_backoff_and_4xx_is_not(engine, push, wecom):
    add_target(engine, "wc-1", "wecom", {"webhook_url": f"{wecom.url}/send?key=K"})
    wecom.status = 502
    _, result = deliver(engine, push, notice(1, T0), T0)
    row = ledger(engine)[0]
    assert row.status == "queued" and row.attempts == 1 and result.pending_until == T0 + timedelta(seconds=2)
    wecom.status = 200
    push.push_flush(FlushRequest(notice=row.notice, target_ids=["wc-1"], now=result.pending_until))
    row = ledger(engine)[0]
    assert row.status == "sent" and row.attempts == 2 and row.sent_at is not None
    wecom.status = 400
    _, result = deliver(engine, push, notice(2, T0 + timedelta(minutes=1)), T0 + timedelta(minutes=1))
    row = ledger(engine)[1]
    assert row.status == "failed" and row.attempts == 1 and result.pending_until is None
    assert len(wecom.requests) == 3


def test_a_target_failing_repeatedly_breaks_and_its_owner_is_alerted(engine, push, wecom):
    add_target(engine, "wc-1", "wecom", {"webhook_url": f"{wecom.url}/send?key=K"})
    wecom.status = 503
    _, result = deliver(engine, push, notice(1, T0), T0)
    for _ in range(10):
        if result.pending_until is None:
            break
        result = push.push_flush(FlushRequest(notice="L-push-1:1:first_response", target_ids=["wc-1"],
                                              now=result.pending_until))
    assert len(wecom.requests) == 5
    with Session(engine) as session:
        target = session.get(PushTarget, "wc-1")
        alert = session.exec(select(Notification).where(Notification.kind == "push_target_broken")).one()
    assert target.status == "broken" and ledger(engine)[0].status == "failed"
    assert alert.recipient_role == "dealer_manager" and alert.dealer_id == "D-SH-1" and "wc-1" in alert.message
    assert "K" not in alert.message.replace("wc-1", "")


def test_quiet_hours_hold_a_notice_but_not_an_sla_alert(engine, push):
    r = Receiver(status=201)
    try:
        add_target(engine, "wp-1", "webpush", {"endpoint": f"{r.url}/p/1", "p256dh": _browser_key(),
                                               "auth": "MDEyMzQ1Njc4OWFiY2RlZg", "vapid_private_key": _vapid()},
                   scope="user", dealer_id=None, user_id=CONSULTANT)
        add_preference(engine, CONSULTANT, channels=["webpush"], quiet_start="00:00", quiet_end="23:59")
        _, held = deliver(engine, push, notice(1, T0, kind="lead_assigned"), T0)
        _, urgent = deliver(engine, push, notice(2, T0), T0)
        rows = ledger(engine)
        assert rows[0].status == "queued" and rows[0].due_at.replace(tzinfo=UTC) > T0 and held.pending_until > T0
        assert rows[1].status == "sent" and urgent.pending_until is None and len(r.requests) == 1
    finally:
        r.close()


def test_an_unread_sla_alert_escalates_to_sms_and_a_read_one_does_not(engine, push, wecom):
    sms = Receiver({"Response": {"SendStatusSet": [{"SerialNo": "s-1", "Code": "Ok"}], "RequestId": "r"}})
    try:
        add_target(engine, "wc-1", "wecom", {"webhook_url": f"{wecom.url}/send?key=K"})
        add_target(engine, "sms-1", "sms", {"endpoint": f"{sms.url}/", "secret_id": "id", "secret_key": "k",
                                            "sdk_app_id": "1", "sign_name": "s", "template_id": "t"},
                   scope="oem", dealer_id=None)
        add_preference(engine, CONSULTANT, channels=["wecom"], escalate_to="sms", mobile="+8613800000001")
        plan, _ = deliver(engine, push, notice(1, T0), T0)
        assert plan.escalate and plan.targets == ["wc-1"]
        assert json.loads(wecom.requests[0]["body"])["text"]["mentioned_mobile_list"] == ["+8613800000001"]
        later = T0 + timedelta(minutes=10)
        targets = push.push_escalate(EscalateRequest(request=notice(1, T0), minutes=10, now=later))
        push.push_flush(FlushRequest(notice="L-push-1:1:first_response", target_ids=targets, now=later))
        assert targets == ["sms-1"] and len(sms.requests) == 1
        assert json.loads(sms.requests[0]["body"])["TemplateParamSet"][0].startswith("【升级】10 分钟未读")
        assert ledger(engine)[-1].provider_message_id == "s-1"
        # the second alert is read in time: no SMS
        deliver(engine, push, notice(2, T0), T0)
        with Session(engine) as session:
            for n in session.exec(select(Notification).where(Notification.idempotency_key.startswith("L-push-1:2:"))):
                n.read_at = T0 + timedelta(minutes=1)
                session.add(n)
            session.commit()
        assert push.push_escalate(EscalateRequest(request=notice(2, T0), minutes=10, now=later)) == []
        assert len(sms.requests) == 1
    finally:
        sms.close()


def test_a_claim_left_by_a_dead_worker_is_never_sent_again(engine, push, wecom):
    add_target(engine, "wc-1", "wecom", {"webhook_url": f"{wecom.url}/send?key=K"})
    req = notice(1, T0)
    NotifyActivities(engine).notify(req)
    plan = push._plan(req)  # noqa: SLF001 - the claim below stands in for the first flush
    with Session(engine) as session:  # what a worker killed after its claim leaves behind
        row = session.exec(select(PushDelivery)).one()
        row.status, row.sending_at, row.attempts = "sending", T0, 1
        session.add(row)
        session.commit()
    later = T0 + timedelta(minutes=5)
    result = push.push_flush(FlushRequest(notice=notice_key(req), target_ids=plan.targets, now=later))
    assert result.pending_until is None and wecom.requests == []
    assert ledger(engine)[0].status == "uncertain"


def _browser_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from channels.webpush import b64u
    key = ec.generate_private_key(ec.SECP256R1())
    return b64u(key.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint))


def _vapid() -> str:
    from channels.webpush import new_vapid_key
    return new_vapid_key()
