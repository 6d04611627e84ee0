"""Owner care's messages reach the owner by SMS (issue 17: "a message to the owner goes through the product's
notification channels, SMS first"): on the OEM's gateway for owners (its own template and signature, never the
staff's), to the owner's phone read when it is sent, in Chinese with how to unsubscribe, never at night, and only
with consent. The touchpoint's activity queues it and starts its sending, here with real ledger rows, the real
Tencent Cloud request and a local receiver; the lab test in tests/test_owner_care.py runs it end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

import core.settings
from activities.owner_care import OwnerCareActivities, OwnershipProjection, TouchRequest
from channels.delivery import PushActivities, personal_targets, queue_owner_message
from db.models import Customer, Dealer, OwnerConsent, OwnerTask, PushDelivery
from domain.owner_care import OwnershipState, Purpose, Touchpoint, TouchpointKind
from domain.push import FlushRequest
from tests.push_fixtures import add_target, channel_keys  # noqa: F401
from tests.push_receivers import Receiver

SHANGHAI_10AM = datetime(2027, 3, 8, 2, 0, tzinfo=UTC)
SHANGHAI_11PM = datetime(2027, 3, 8, 15, 0, tzinfo=UTC)
PHONE = "13800001799"
SMS = {"secret_id": "id", "secret_key": "k", "sdk_app_id": "1", "sign_name": "s", "template_id": "t"}
OK = {"Response": {"SendStatusSet": [{"SerialNo": "sn-owner", "Code": "Ok"}], "RequestId": "r"}}


class Push:
    """The worker's PushStarter as the activity sees it, the sending workflow replaced by a record of its start."""

    def __init__(self):
        self.flushes: list[tuple[str, list[str]]] = []

    def queue_owner_message(self, session, row, due):
        return queue_owner_message(session, row, due)

    def flush(self, notice, targets):
        self.flushes.append((notice, targets))


@pytest.fixture
def receivers():
    owners, staff = Receiver(OK), Receiver(OK)
    yield owners, staff
    owners.close()
    staff.close()


def gateways(engine, owners: Receiver, staff: Receiver) -> None:
    add_target(engine, "sms-staff", "sms", {"endpoint": f"{staff.url}/", **SMS}, scope="oem", dealer_id=None)
    add_target(engine, "sms-owners", "sms", {"endpoint": f"{owners.url}/", **SMS}, scope="oem", dealer_id=None,
               roles=["owner"])


def ownership(engine, n: int, *, consent: bool = True) -> OwnershipState:
    state = OwnershipState(ownership_id=f"owner-lead-sms-{n}", lead_id=f"lead-sms-{n}", customer_key=f"ck-sms-{n}",
                           brand="aurora", dealer_id="D-SMS-1", delivered_at=SHANGHAI_10AM - timedelta(days=91))
    with Session(engine) as session:
        session.merge(Dealer(id="D-SMS-1", name="极光浦东店", brand="aurora", region="东区", city="上海市"))
        session.add(Customer(customer_key=state.customer_key, phone=PHONE, name="车主",
                             first_seen_at=state.delivered_at, last_seen_at=state.delivered_at))
        if consent:
            session.add(OwnerConsent(customer_key=state.customer_key, purpose="service", granted=True,
                                     at=state.delivered_at, source="delivery_form"))
        session.commit()
    OwnerCareActivities(engine).record_ownership(OwnershipProjection(state=state, upcoming=[], workflow_id="w",
                                                                     run_id="r"))
    return state


def touch(engine, push, state: OwnershipState, at: datetime):
    point = Touchpoint(key="first_maintenance", kind=TouchpointKind.FIRST_MAINTENANCE, due_at=at,
                       purpose=Purpose.SERVICE)
    return OwnerCareActivities(engine, push).touch(TouchRequest(state=state, touchpoint=point, at=at,
                                                                task_due_at=at + timedelta(days=3)))


def send(engine, notice: str, targets: list[str], now: datetime):
    with httpx.Client() as http:
        return PushActivities(engine, http).push_flush(FlushRequest(notice=notice, target_ids=targets, now=now))


def test_a_consented_reminder_goes_to_the_owners_phone_on_the_owners_gateway_in_chinese(engine, receivers):
    owners, staff = receivers
    gateways(engine, owners, staff)
    push = Push()
    result = touch(engine, push, ownership(engine, 1), SHANGHAI_10AM)
    assert result.message_sent
    [(notice, targets)] = push.flushes
    assert targets == ["sms-owners"]
    assert send(engine, notice, targets, SHANGHAI_10AM).sent == 1
    assert staff.requests == [] and len(owners.requests) == 1
    body = json.loads(owners.requests[0]["body"])
    text = body["TemplateParamSet"][0]
    assert body["PhoneNumberSet"] == [PHONE] and body["SignName"] == "s"
    assert text == "尊敬的车主，您的爱车已到首次保养时间，欢迎预约极光浦东店到店保养。回复TD退订"
    with Session(engine) as session:
        [row] = session.exec(select(PushDelivery)).all()
    assert (row.status, row.provider_message_id, row.user_id) == ("sent", "sn-owner", None)
    assert PHONE not in row.text + row.key + row.notice  # the ledger keeps no phone: it is read when sent
    # a retried activity queues and sends nothing twice
    touch(engine, push, ownership_like(1), SHANGHAI_10AM)
    assert send(engine, notice, targets, SHANGHAI_10AM + timedelta(minutes=1)).sent == 0
    assert len(owners.requests) == 1


def ownership_like(n: int) -> OwnershipState:
    return OwnershipState(ownership_id=f"owner-lead-sms-{n}", lead_id=f"lead-sms-{n}", customer_key=f"ck-sms-{n}",
                          brand="aurora", dealer_id="D-SMS-1", delivered_at=SHANGHAI_10AM - timedelta(days=91))


def test_a_reminder_due_at_night_waits_for_eight_in_the_morning(engine, receivers):
    owners, staff = receivers
    gateways(engine, owners, staff)
    push = Push()
    touch(engine, push, ownership(engine, 2), SHANGHAI_11PM)
    [(notice, targets)] = push.flushes
    pending = send(engine, notice, targets, SHANGHAI_11PM)
    assert pending.sent == 0 and owners.requests == []
    morning = datetime(2027, 3, 9, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert pending.pending_until == morning  # the sending workflow sleeps till then on a durable timer
    assert send(engine, notice, targets, morning).sent == 1 and len(owners.requests) == 1
    with Session(engine) as session:
        task = session.exec(select(OwnerTask).where(OwnerTask.ownership_id == "owner-lead-sms-2")).one()
    assert task.created_at.replace(tzinfo=UTC) == SHANGHAI_11PM, "the dealer's task is not held"


def test_without_consent_nothing_is_queued_and_without_an_owners_gateway_nothing_is_sent(engine, receivers):
    owners, staff = receivers
    add_target(engine, "sms-staff", "sms", {"endpoint": f"{staff.url}/", **SMS}, scope="oem", dealer_id=None)
    push = Push()
    result = touch(engine, push, ownership(engine, 3, consent=False), SHANGHAI_10AM)
    assert not result.message_sent and result.note == "owner.no_consent" and push.flushes == []
    result = touch(engine, push, ownership(engine, 4), SHANGHAI_10AM)  # consented, but no gateway for owners
    assert result.message_sent and push.flushes == []  # recorded in the read model; never on the staff's gateway
    with Session(engine) as session:
        assert session.exec(select(PushDelivery)).all() == []
    assert staff.requests == []


def test_the_staffs_sms_never_goes_through_the_owners_gateway(engine, receivers):
    owners, staff = receivers
    add_target(engine, "sms-owners", "sms", {"endpoint": f"{owners.url}/", **SMS}, scope="oem", dealer_id=None,
               roles=["owner"])
    with Session(engine) as session:
        assert personal_targets(session, "d-sh-1-c1", ["sms"]) == []
    gateways_only_staff = Receiver(OK)
    try:
        add_target(engine, "sms-staff", "sms", {"endpoint": f"{gateways_only_staff.url}/", **SMS}, scope="oem",
                   dealer_id=None)
        with Session(engine) as session:
            assert [t.id for t in personal_targets(session, "d-sh-1-c1", ["sms"])] == ["sms-staff"]
    finally:
        gateways_only_staff.close()


def test_the_unsubscribe_link_is_in_the_message_when_the_portal_has_a_public_address(engine, receivers, monkeypatch):
    owners, staff = receivers
    gateways(engine, owners, staff)
    monkeypatch.setenv("LEADFLOW_PUBLIC_URL", "https://leads.example.cn/")
    core.settings.get_settings.cache_clear()
    try:
        push = Push()
        state = ownership(engine, 5)
        touch(engine, push, state, SHANGHAI_10AM)
        [(notice, targets)] = push.flushes
        send(engine, notice, targets, SHANGHAI_10AM)
    finally:
        monkeypatch.delenv("LEADFLOW_PUBLIC_URL")
        core.settings.get_settings.cache_clear()
    from db.models import Ownership
    with Session(engine) as session:
        token = session.get(Ownership, state.ownership_id).unsubscribe_token
    text = json.loads(owners.requests[0]["body"])["TemplateParamSet"][0]
    assert text.endswith(f"回复TD退订 https://leads.example.cn/v1/owner-care/unsubscribe/{token}")
