"""Outbound webhooks (SPEC 7): lead events POSTed to subscribers, signed, retried by Temporal, sent once.

A real HTTP receiver runs on 127.0.0.1 in a thread. Every test waits for the fan-outs its leads
started (retry backoffs are skipped by the test server): a fan-out left waiting for a stopped
worker would stop the shared server from skipping time for every later test.
Each test takes its own raw_lead numbers (1100-1199).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment

from activities.webhook_signature import InvalidSignature, signed_headers, verify_signature
from activities.webhooks import DeliveryRequest, WebhookActivities, WebhookEvent, WebhookLead
from db.models import WebhookDelivery, WebhookSubscription
from domain import commands as c
from domain.models import LeadState, TimelineEvent
from domain.stages import LeadStage
from tests.fixtures import OPS, manager, raw_lead
from tests.test_api import api, auth, body
from workflows.messages import FanoutResult
from workflows.webhooks import WebhookFanout, webhook_events

# ------------------------------------------------------------------ a receiver


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return self.payload["type"]


class Receiver:
    """Records every POST; `fail(path, 500, 500)` answers the next two POSTs to that path with 500."""

    def __init__(self):
        self.requests: list[Received] = []
        self.planned: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), data))
                    plan = receiver.planned.get(self.path) or []
                    code = plan.pop(0) if plan else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def fail(self, path: str, *codes: int) -> None:
        self.planned[path] = list(codes)

    def received(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# ------------------------------------------------------------------ helpers


def fanout_ids(history) -> list[str]:
    return [e.start_child_workflow_execution_initiated_event_attributes.workflow_id
            for e in history.events if e.HasField("start_child_workflow_execution_initiated_event_attributes")]


async def fanned_out(L, lead_id: str, strict: bool = True) -> list[FanoutResult]:
    """Wait (real time, briefly) until the lead is quiet, then until every fan-out it started has finished.
    Retry backoffs are not skipped here: a test that expects retries moves server time itself."""
    await L.quiet(lead_id)
    results = []
    for workflow_id in fanout_ids(await L.client.get_workflow_handle(lead_id).fetch_history()):
        handle = L.client.get_workflow_handle_for(WebhookFanout.run, workflow_id)
        for _ in range(300):
            status = (await handle.describe()).status
            if status != WorkflowExecutionStatus.RUNNING:
                break
            await asyncio.sleep(0.01)
        else:
            await handle.terminate("the test stopped waiting")
        if status == WorkflowExecutionStatus.COMPLETED:
            results.append(await handle.result())
        elif strict:
            raise AssertionError(f"{workflow_id} did not complete: {status.name}")
    return results


@asynccontextmanager
async def hooks_api(env, engine, record: str | None = None):
    """The API and a lab; on the way out no fan-out of the lab's leads is left running."""
    async with api(env, engine, record=record) as (http, L):
        try:
            yield http, L
        finally:
            for lead_id in L.leads():
                await fanned_out(L, lead_id, strict=False)


async def subscribe(http, url: str, **fields) -> tuple[str, str]:
    answer = await http.post("/v1/webhooks", json={"name": "crm", "url": url, **fields}, headers=auth("ops"))
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], answer.json()["secret"]


async def take_in(http, n: int) -> str:
    answer = await http.post("/v1/leads", json=body(n), headers=auth("ops"))
    assert answer.status_code == 200, answer.text
    return answer.json()["lead_id"]


def deliveries(engine, subscription_id: str) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)))


def has(data: dict, expected: dict) -> bool:
    return data.items() >= expected.items()


def assert_no_customer_data(requests: list[Received], n: int) -> None:
    raw = raw_lead(n)
    for r in requests:
        text = r.body.decode()
        assert raw.customer_name not in text and raw.phone not in text, text


# ------------------------------------------------------------------ delivery, end to end


def _activity_types(history) -> tuple[list[str], list[str]]:
    """The activities a history ran: (remote ones, local ones read from their markers)."""
    remote = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
              if e.HasField("activity_task_scheduled_event_attributes")]
    local = [json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)["activity_type"]
             for e in history.events if e.HasField("marker_recorded_event_attributes")
             and e.marker_recorded_event_attributes.marker_name == "core_local_activity"]
    return remote, local


async def test_the_projection_answers_the_subscribers_so_no_lookup_costs_an_action(env, engine, receiver):
    """Temporal Cloud bills every activity, local ones included: the subscriber look-up rides on the
    projection (one activity per settled batch), with or without subscribers: neither a remote nor a local
    activity of its own."""
    async with hooks_api(env, engine) as (http, L):
        quiet_lead = await take_in(http, 1150)
        await fanned_out(L, quiet_lead)
        await subscribe(http, receiver.url("/all"))
        lead_id = await take_in(http, 1151)
        [result] = await fanned_out(L, lead_id)
        assert {d.status for d in result.deliveries} == {"delivered"}
        for lead in (quiet_lead, lead_id):
            remote, local = _activity_types(await L.client.get_workflow_handle(lead).fetch_history())
            assert remote == ["record_lead"] and local == ["score_lead", "dispatch_lead"], (remote, local)


async def test_a_dispatched_lead_posts_signed_dispatched_and_stage_changed_events(env, engine, receiver):
    async with hooks_api(env, engine, record="webhooks-delivered") as (http, L):
        sub_id, secret = await subscribe(http, receiver.url("/all"))
        assert secret.startswith("whsec_")
        lead_id = await take_in(http, 1101)
        [result] = await fanned_out(L, lead_id)

        got = sorted(receiver.received("/all"), key=lambda r: r.type)
        assert [r.type for r in got] == ["lead.dispatched", "lead.stage_changed"]
        seq = L.events(lead_id, "dispatched")[0].seq
        for r in got:
            event_id = r.payload["id"]
            assert event_id == f"{lead_id}:{seq}:{r.type}" == r.headers["X-Leadflow-Event-Id"]
            assert verify_signature(secret, r.headers, r.body) == event_id
            with pytest.raises(InvalidSignature):
                verify_signature(secret, r.headers, r.body.replace(b"D-SH-1", b"D-SH-2"))
            with pytest.raises(InvalidSignature):
                verify_signature("whsec_other", r.headers, r.body)
            assert r.payload["lead"] == {"lead_id": lead_id, "brand": "Aurora", "stage": "dispatched",
                                         "dealer_id": "D-SH-1", "grade": r.payload["lead"]["grade"], "region": "East"}
        dispatched, changed = got
        assert dispatched.payload["data"]["dealer_name"] == "Aurora Pudong"
        assert "candidates" not in dispatched.payload["data"]
        assert dispatched.payload["message"]["code"] == "timeline.dispatched"  # code + params next to the text
        assert dispatched.payload["message"]["params"]["dealer_name"] == "Aurora Pudong"
        text = dispatched.payload["message"]["text"]
        assert text["zh-CN"].startswith("派发给 Aurora Pudong：")
        assert text["en"].startswith("Dispatched to Aurora Pudong: ")
        assert has(changed.payload["data"], {"from_stage": "new", "to_stage": "dispatched", "event": "dispatched"})
        assert_no_customer_data(got, 1101)

        assert {d.status for d in result.deliveries} == {"delivered"}
        records = (await http.get(f"/v1/webhooks/{sub_id}/deliveries", headers=auth("ops"))).json()
        assert sorted((d["event_type"], d["status"], d["attempts"], d["last_status_code"]) for d in records) == [
            ("lead.dispatched", "delivered", 1, 200), ("lead.stage_changed", "delivered", 1, 200)]


async def test_a_lapsed_first_response_clock_posts_an_alert_raised_event(env, engine, receiver):
    async with hooks_api(env, engine) as (http, L):
        _, secret = await subscribe(http, receiver.url("/alerts"), event_types=["lead.alert_raised"])
        lead_id = await take_in(http, 1102)
        await fanned_out(L, lead_id)
        assert receiver.received("/alerts") == []  # no alert yet

        await L.sleep(timedelta(minutes=16))
        await L.settle(lead_id)
        await fanned_out(L, lead_id)

        [alert] = receiver.received("/alerts")
        seq = L.events(lead_id, "alert_raised")[0].seq
        assert alert.payload["id"] == f"{lead_id}:{seq}:lead.alert_raised"
        assert verify_signature(secret, alert.headers, alert.body) == alert.payload["id"]
        assert alert.payload["data"]["alert"] == "first_response"
        assert "regional_manager" in alert.payload["data"]["roles"]
        assert_no_customer_data([alert], 1102)


async def test_a_transfer_review_posts_a_review_decided_event(env, engine, receiver):
    async with hooks_api(env, engine) as (http, L):
        await subscribe(http, receiver.url("/reviews"), event_types=["lead.review_decided", "lead.stage_changed"])
        lead_id = await take_in(http, 1103)
        await L.act(lead_id, manager("D-SH-1"), c.RequestTransfer(reason=c.TransferReason.OTHER, text="too busy"))
        await L.act(lead_id, OPS, c.ReviewTransfer(approve=False, explanation="keep it, call today"))
        await fanned_out(L, lead_id)

        got = receiver.received("/reviews")
        [review] = [r for r in got if r.type == "lead.review_decided"]
        seq = L.events(lead_id, "transfer_rejected")[0].seq
        assert review.payload["id"] == f"{lead_id}:{seq}:lead.review_decided"
        assert has(review.payload["data"], {"review": "transfer", "decision": "rejected", "event": "transfer_rejected",
                                               "explanation": "keep it, call today", "actor": "ops"})
        changes = sorted((r.payload["seq"], r.payload["data"]["from_stage"], r.payload["data"]["to_stage"])
                         for r in got if r.type == "lead.stage_changed")
        assert [(a, b) for _, a, b in changes] == [
            ("new", "dispatched"), ("dispatched", "transfer_review"), ("transfer_review", "dispatched")]


async def test_a_dealers_subscription_hears_nothing_of_the_dealer_that_held_the_lead_before(env, engine, receiver):
    async with hooks_api(env, engine) as (http, L):
        for dealer in ("D-SH-2", "D-HZ-1"):  # whichever gets the lead after the transfer
            await subscribe(http, receiver.url(f"/{dealer}"), dealer_id=dealer)
        await subscribe(http, receiver.url("/oem"))
        lead_id = await take_in(http, 1930)
        first = (await L.state(lead_id)).dealer_id
        assert first == "D-SH-1"
        await L.act(lead_id, manager(first), c.RequestTransfer(reason=c.TransferReason.OTHER, text="too busy"))
        await L.act(lead_id, OPS, c.ReviewTransfer(approve=True, explanation="ok"))
        second = (await L.settle(lead_id)).dealer_id
        await fanned_out(L, lead_id)

        got = receiver.received(f"/{second}")
        assert "lead.dispatched" in [r.type for r in got]
        for r in got:
            assert "D-SH-1" not in r.body.decode() and "Aurora Pudong" not in r.body.decode(), r.payload
        assert [r for r in got if r.type == "lead.dispatched"][0].payload["data"].get("reason") is None
        oem = receiver.received("/oem")  # the OEM's subscription hears it all
        assert any(r.type == "lead.review_decided" and r.payload["data"]["dealer_id"] == first for r in oem)


def test_a_dealer_subscription_is_not_sent_an_event_about_another_dealer(engine, receiver):
    row = _subscription(engine, receiver.url("/dealer"))
    with Session(engine) as session:
        sub = session.get(WebhookSubscription, row.id)
        sub.dealer_id = "D-SH-2"
        session.add(sub)
        session.commit()
    result = ActivityEnvironment().run(WebhookActivities(engine).deliver_webhook, _delivery(1931))  # about D-SH-1
    assert result.status == "skipped" and receiver.received("/dealer") == []


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt_with_the_same_id(env, engine, receiver):
    async with hooks_api(env, engine) as (http, L):
        sub_id, secret = await subscribe(http, receiver.url("/flaky"), event_types=["lead.dispatched"])
        receiver.fail("/flaky", 500, 503)
        lead_id = await take_in(http, 1104)
        await L.sleep(timedelta(seconds=10))  # the backoff: 2 s, then 4 s (server time)
        [result] = await fanned_out(L, lead_id)

        attempts = receiver.received("/flaky")
        assert len(attempts) == 3
        assert len({a.headers["X-Leadflow-Event-Id"] for a in attempts}) == 1
        assert {a.payload["id"] for a in attempts} == {attempts[0].headers["X-Leadflow-Event-Id"]}
        assert len({a.body for a in attempts}) == 1  # the same event, re-signed per attempt
        assert all(verify_signature(secret, a.headers, a.body) for a in attempts)
        assert [d.status for d in result.deliveries] == ["delivered"]
        [record] = deliveries(engine, sub_id)
        assert (record.status, record.attempts, record.last_status_code) == ("delivered", 3, 200)


async def test_a_receiver_answering_410_is_not_retried_and_the_delivery_is_failed(env, engine, receiver):
    async with hooks_api(env, engine) as (http, L):
        sub_id, _ = await subscribe(http, receiver.url("/gone"), event_types=["lead.dispatched"])
        receiver.fail("/gone", 410, 410, 410)
        lead_id = await take_in(http, 1105)
        [result] = await fanned_out(L, lead_id)

        assert len(receiver.received("/gone")) == 1
        assert [d.status for d in result.deliveries] == ["failed"]
        [record] = deliveries(engine, sub_id)
        assert (record.status, record.attempts, record.last_status_code) == ("failed", 1, 410)
        assert "410" in record.last_error


async def test_subscriptions_get_only_the_event_types_brands_and_dealers_they_asked_for(env, engine, receiver):
    async with hooks_api(env, engine) as (http, L):
        await subscribe(http, receiver.url("/all"))
        await subscribe(http, receiver.url("/dispatched"), event_types=["lead.dispatched"])
        await subscribe(http, receiver.url("/other-brand"), brand="Zephyr")
        await subscribe(http, receiver.url("/pudong"), dealer_id="D-SH-1")
        await subscribe(http, receiver.url("/tianhe"), dealer_id="D-GZ-1")
        lead_id = await take_in(http, 1106)
        await fanned_out(L, lead_id)

        assert sorted(r.type for r in receiver.received("/all")) == ["lead.dispatched", "lead.stage_changed"]
        assert [r.type for r in receiver.received("/dispatched")] == ["lead.dispatched"]
        assert receiver.received("/other-brand") == [] and receiver.received("/tianhe") == []
        assert len(receiver.received("/pudong")) == 2


async def test_a_subscription_gets_only_events_after_it_exists(env, engine, receiver):
    async with hooks_api(env, engine) as (http, L):
        lead_id = await take_in(http, 1107)
        assert await fanned_out(L, lead_id) == []  # nobody subscribed: no fan-out at all

        await subscribe(http, receiver.url("/late"))
        await L.act(lead_id, manager("D-SH-1"), c.Acknowledge())
        await fanned_out(L, lead_id)

        [changed] = receiver.received("/late")
        assert changed.type == "lead.stage_changed"
        assert has(changed.payload["data"], {"from_stage": "dispatched", "to_stage": "acknowledged"})
        assert changed.payload["id"] == f"{lead_id}:{L.events(lead_id, 'acknowledged')[0].seq}:lead.stage_changed"


async def test_a_deactivated_subscription_receives_nothing(env, engine, receiver):
    async with hooks_api(env, engine) as (http, L):
        sub_id, _ = await subscribe(http, receiver.url("/off"))
        deleted = await http.delete(f"/v1/webhooks/{sub_id}", headers=auth("ops"))
        assert deleted.status_code == 200 and deleted.json()["active"] is False
        lead_id = await take_in(http, 1108)
        assert await fanned_out(L, lead_id) == []
        assert receiver.received("/off") == []
        assert [w["id"] for w in (await http.get("/v1/webhooks", headers=auth("ops"))).json()] == []
        listed = (await http.get("/v1/webhooks?include_inactive=true", headers=auth("ops"))).json()
        assert [(w["id"], w["active"]) for w in listed] == [(sub_id, False)]


# ------------------------------------------------------------------ the delivery activity


def _subscription(engine, url: str, active: bool = True) -> WebhookSubscription:
    row = WebhookSubscription(id="wh-test", name="crm", url=url, secret="whsec_test", active=active,
                              created_at=datetime.now(UTC))
    with Session(engine, expire_on_commit=False) as session:
        session.add(row)
        session.commit()
    return row


def _delivery(n: int) -> DeliveryRequest:
    lead = WebhookLead(lead_id=f"lead-{n}", brand="Aurora", stage="dispatched", dealer_id="D-SH-1")
    event = WebhookEvent(id=f"lead-{n}:3:lead.dispatched", type="lead.dispatched", seq=3,
                         occurred_at=datetime(2026, 5, 6, 9, 0, tzinfo=UTC), data={"dealer_id": "D-SH-1"})
    return DeliveryRequest(subscription_id="wh-test", lead=lead, event=event)


def test_delivering_an_already_delivered_event_again_sends_nothing(engine, receiver):
    _subscription(engine, receiver.url("/once"))
    deliver = WebhookActivities(engine).deliver_webhook
    first = ActivityEnvironment().run(deliver, _delivery(1109))  # a sync activity: run() answers directly
    again = ActivityEnvironment().run(deliver, _delivery(1109))
    assert (first.status, again.status) == ("delivered", "already_delivered")
    assert len(receiver.received("/once")) == 1
    [record] = deliveries(engine, "wh-test")
    assert (record.status, record.attempts) == ("delivered", 1)


def test_a_subscription_deactivated_before_an_attempt_is_not_called(engine, receiver):
    _subscription(engine, receiver.url("/off"), active=False)
    result = ActivityEnvironment().run(WebhookActivities(engine).deliver_webhook, _delivery(1110))
    assert result.status == "skipped" and receiver.received("/off") == []


# ------------------------------------------------------------------ what a batch publishes (pure)


def _event(seq: int, kind: str, stage: LeadStage, **data) -> TimelineEvent:
    return TimelineEvent(seq=seq, at=datetime(2026, 5, 6, 9, seq, tzinfo=UTC), kind=kind, stage=stage, actor="cc",
                         role="call_center", data=data)


def test_a_batch_publishes_decisions_dispatches_and_stage_changes_without_customer_data():
    now = datetime(2026, 5, 6, 9, 0, tzinfo=UTC)
    state = LeadState(lead_id="lead-x", brand="Aurora", customer_key="k",
                      profile=raw_lead(1111, phone="+8613800001111"),
                      created_at=now, updated_at=now, stage=LeadStage.DISPATCHED, grade="A")
    events = [
        _event(5, "cleansing_recorded", LeadStage.CLEANSING, outcome="verified",
               note="reached Customer 1111 on 13800001111",
               corrections={"phone": "13800001111", "customer_name": "Customer 1111", "city": "Shanghai"}),
        _event(6, "scored", LeadStage.CLEANSING, score=80),
        _event(7, "dispatched", LeadStage.DISPATCHED, dealer_name="Aurora Pudong",
               candidates=[{"dealer_id": "D-SH-2"}]),
        _event(8, "notified_lead_dispatched", LeadStage.DISPATCHED),
    ]
    out = webhook_events(state, LeadStage.CLEANSING, events)
    assert [e.id for e in out] == [
        "lead-x:5:lead.review_decided", "lead-x:7:lead.dispatched", "lead-x:7:lead.stage_changed"]
    review, dispatched, changed = out
    assert has(review.data, {"review": "cleansing", "decision": "verified", "corrections": {"city": "Shanghai"},
                                "note": "reached [redacted] on [redacted]"})
    assert "candidates" not in dispatched.data
    assert has(changed.data, {"from_stage": "cleansing", "to_stage": "dispatched"})
    text = json.dumps([e.model_dump(mode="json") for e in out])
    assert "13800001111" not in text and "Customer 1111" not in text
    # the stage the last event leaves counts even when a later move emitted nothing
    moved = webhook_events(state.model_copy(update={"stage": LeadStage.ACKNOWLEDGED}), LeadStage.DISPATCHED, events[3:])
    assert [(e.id, e.data["to_stage"]) for e in moved] == [("lead-x:8:lead.stage_changed", "acknowledged")]
    assert webhook_events(state, LeadStage.DISPATCHED, events[3:]) == []


def test_a_signature_is_refused_when_stale_tampered_or_missing():
    headers = signed_headers("s3cret", "lead-x:1:lead.dispatched", b"{}", timestamp=int(time.time()))
    assert verify_signature("s3cret", {k.lower(): v for k, v in headers.items()}, b"{}") == "lead-x:1:lead.dispatched"
    with pytest.raises(InvalidSignature):
        verify_signature("s3cret", headers, b"{}", now=time.time() + 301)
    with pytest.raises(InvalidSignature):
        verify_signature("s3cret", headers | {"X-Leadflow-Event-Id": "lead-x:2:lead.dispatched"}, b"{}")
    with pytest.raises(InvalidSignature):
        verify_signature("s3cret", {"X-Leadflow-Event-Id": "lead-x:1:lead.dispatched"}, b"{}")


# ------------------------------------------------------------------ the API


async def test_only_lead_ops_manage_webhooks_and_bad_input_is_422_naming_the_field(env, engine, receiver):
    async with hooks_api(env, engine) as (http, L):
        good = {"name": "crm", "url": receiver.url("/x")}
        for user in ("d-sh-1-mgr", "d-sh-1-c1", "d-sh-1-opslead", "rev-1", "cc", "rm-east"):
            assert (await http.post("/v1/webhooks", json=good, headers=auth(user))).status_code == 403, user
            assert (await http.get("/v1/webhooks", headers=auth(user))).status_code == 403, user
        assert (await http.post("/v1/webhooks", json=good)).status_code == 401

        bad_url = await http.post("/v1/webhooks", json=good | {"url": "ftp://example.com/x"}, headers=auth("ops"))
        assert bad_url.status_code == 422 and bad_url.json()["detail"][0]["loc"] == ["body", "url"]
        bad_kind = await http.post("/v1/webhooks", json=good | {"event_types": ["lead.won"]}, headers=auth("ops"))
        assert bad_kind.status_code == 422 and bad_kind.json()["detail"][0]["loc"] == ["body", "event_types"]
        assert "lead.won" in bad_kind.json()["detail"][0]["msg"]
        bad_dealer = await http.post("/v1/webhooks", json=good | {"dealer_id": "D-NOPE"}, headers=auth("ops"))
        assert bad_dealer.status_code == 422 and bad_dealer.json()["detail"][0]["loc"] == ["body", "dealer_id"]

        sub_id, secret = await subscribe(http, receiver.url("/x"))
        shown = (await http.get(f"/v1/webhooks/{sub_id}", headers=auth("ops-head"))).json()
        assert shown["id"] == sub_id and "secret" not in shown
        unnamed = await http.post("/v1/webhooks", json={"url": "https://crm.example.com/in"}, headers=auth("ops"))
        assert unnamed.status_code == 201 and unnamed.json()["name"] == "crm.example.com"
        rotated = (await http.post(f"/v1/webhooks/{sub_id}/rotate-secret", headers=auth("ops"))).json()
        assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
        assert (await http.get("/v1/webhooks/wh-nope", headers=auth("ops"))).status_code == 404

