"""Owner care after delivery (issue 17) in the time-skipping lab: the schedule over 37 months, the trade-in
lead, DMS events, consent, stopping, a new policy; and the pure schedule's rules."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest_asyncio
from sqlmodel import Session, col, select

from db.models import Customer, Lead, Notification, OwnerConsent, Ownership, OwnerTask, PushDelivery, ReferralCode
from domain import commands as c
from domain import owner_care as oc
from domain.models import RawLead
from domain.policy import OwnerCare, load_policy
from domain.push import quiet_until
from tests.fixtures import consultant, manager, raw_lead
from tests.harness import HISTORIES, RECORDING, decode_payloads, lab
from tests.push_fixtures import add_target, channel_keys  # noqa: F401
from tests.push_receivers import Receiver
from workflows.owner_care import OwnerCareResult, PolicyChange, StopRequest, ownership_id_for

DAY = timedelta(days=1)


@pytest_asyncio.fixture(scope="module")
async def env():
    """Its own time-skipping server: 37 months of skipped time, and owner-care workflows that live on, stay out of the
    suite's shared one (and whatever a test before left outstanding there cannot hold this module's time still)."""
    from temporalio.testing import WorkflowEnvironment

    from tests.conftest import _binary, register, suite_converter

    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"), data_converter=suite_converter())
    await register(environment.client)
    async with environment:
        yield environment


async def delivered_lead(L, n: int, raw: RawLead | None = None, **delivery) -> tuple[str, datetime]:
    lead_id = (await L.intake(raw or raw_lead(n))).lead_id
    mgr, cons = manager("D-SH-1"), consultant("D-SH-1")
    await L.act(lead_id, mgr, c.Acknowledge())
    await L.act(lead_id, mgr, c.Assign(consultant_id=cons.user_id))
    for command in (c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=8), c.RecordOrder(deposit=5000),
                    c.RecordWin(payment=c.PaymentMethod.CASH, amount=200_000),
                    c.RecordDelivery(vin="LAURORA000000017", **delivery)):
        await L.act(lead_id, cons, command)
    state = await L.state(lead_id)
    delivered = next(e for e in state.recent if e.kind == "delivered").at
    await ownership_row(L, lead_id)
    return lead_id, delivered


async def record_owner(L, lead_id: str, name: str, run_ids: list[str] | None = None) -> None:
    """Write the owner-care workflow's histories (each run given, else the latest) for tests/test_replay.py."""
    if not RECORDING["on"]:
        return
    wid = ownership_id_for(lead_id)
    await L.quiet(wid)
    for i, run_id in enumerate(run_ids or [None]):
        history = await L.client.get_workflow_handle(wid, run_id=run_id).fetch_history()
        await decode_payloads(history.events, L.client.data_converter.payload_codec)
        (HISTORIES / f"{name}-{i}.json").write_text(history.to_json())


async def ownership_row(L, lead_id: str, tries: int = 200) -> Ownership:
    for _ in range(tries):
        with Session(L.engine) as session:
            row = session.get(Ownership, ownership_id_for(lead_id))
        if row is not None:
            return row
        await L.env.sleep(timedelta(milliseconds=1))
    raise AssertionError("no ownership row")


def tasks(L, lead_id: str) -> list[OwnerTask]:
    with Session(L.engine) as session:
        return list(session.exec(select(OwnerTask).where(OwnerTask.ownership_id == ownership_id_for(lead_id))
                                 .order_by(col(OwnerTask.created_at), col(OwnerTask.task_id))).all())


def owner_messages(L, lead_id: str) -> list[Notification]:
    with Session(L.engine) as session:
        return list(session.exec(select(Notification).where(Notification.lead_id == ownership_id_for(lead_id),
                                                             Notification.recipient_role == "owner")).all())


def consent(L, customer_key: str, purpose: str, granted: bool = True, at: datetime | None = None) -> None:
    with Session(L.engine) as session:
        session.add(OwnerConsent(customer_key=customer_key, purpose=purpose, granted=granted,
                                 at=at or datetime.now(UTC), source="delivery_form"))
        session.commit()


def aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def test_37_months_after_delivery_every_touchpoint_fires_at_its_time(env, engine):
    async with lab(env, engine) as L:
        lead_id, d = await delivered_lead(L, 1701)
        key = (await L.state(lead_id)).customer_key
        consent(L, key, "service", at=d)
        consent(L, key, "marketing", at=d)
        handle = L.client.get_workflow_handle(ownership_id_for(lead_id))
        await handle.execute_update("edit", oc.OwnershipEdit(birthday=date(1990, 5, 20)))
        runs: list[str] = []
        for _ in range(38):
            await L.sleep(30 * DAY)
            run = (await ownership_row(L, lead_id)).run_id
            runs += [] if run in runs else [run]
        await L.sleep(3 * DAY)
        done = {t.touchpoint_key: aware(t.created_at) for t in tasks(L, lead_id)}
        expected = {"first_maintenance": d + 91 * DAY, "trade_in": oc.add_months(d, 36)}
        expected |= {f"anniversary:{n}": oc.add_months(d, 12 * n) for n in (1, 2, 3)}
        maintenance = d + 91 * DAY
        for _ in range(2):
            maintenance += 365 * DAY
            expected[f"maintenance:{maintenance.date()}"] = maintenance
        expiry = (d + 365 * DAY).date()
        for _ in range(3):
            expected[f"insurance:{expiry}"] = datetime.combine(expiry, oc.SHANGHAI_MORNING) - 30 * DAY
            expiry += timedelta(days=365)
        first_birthday = date(d.year if (d.month, d.day) < (5, 20) else d.year + 1, 5, 20)
        for y in range(3):
            day = first_birthday.replace(year=first_birthday.year + y)
            if datetime.combine(day, oc.SHANGHAI_MORNING) <= d + 37 * 31 * DAY:
                expected[f"birthday:{day.year}"] = datetime.combine(day, oc.SHANGHAI_MORNING)
        expected = {k: v for k, v in expected.items() if v <= d + 38 * 30 * DAY}
        assert set(done) == set(expected), (sorted(done), sorted(expected))
        for k, at in expected.items():
            assert abs(done[k] - at) < timedelta(minutes=1), (k, done[k], at)
        assert len(runs) >= 4, "continued as new at least yearly (3 times in 37 months)"
        messages = owner_messages(L, lead_id)
        assert len(messages) == len(expected) and all(m.data["to_owner"] for m in messages)
        assert {m.data["purpose"] for m in messages} == {"service", "marketing"}
        # nobody did the tasks: each lapsed after task_due and was alerted to the dealer's people
        with Session(L.engine) as session:
            lapsed = session.exec(select(Notification).where(Notification.kind == "owner_care_task_lapsed",
                                                             Notification.lead_id == ownership_id_for(lead_id))).all()
        assert {n.data["task_id"] for n in lapsed} == {t.task_id for t in tasks(L, lead_id)}
        assert all(t.status == "lapsed" for t in tasks(L, lead_id))
        # the trade-in review made a lead through the normal intake, once, and it was dispatched
        trade_in = (await ownership_row(L, lead_id)).trade_in_lead_id
        assert trade_in and trade_in != lead_id
        with Session(L.engine) as session:
            row = session.get(Lead, trade_in)
            assert row.channel == "owner_care"
            leads = session.exec(select(Lead).where(Lead.customer_key == key)).all()
        assert len(leads) == 2, "created once"
        first_dispatch = L.events(trade_in, "dispatched")[0]
        assert first_dispatch.dealer_id == "D-SH-1", "dispatched, to the delivering dealer first"
        state = await L.state(trade_in)
        assert next(i for i in state.score_items if i.name == "repeat_customer").points > 0
        await record_owner(L, lead_id, "v6-owner-37-months", runs[:2])


@pytest_asyncio.fixture
async def fresh_env():
    """A time-skipping server whose clock has not been skipped yet: the local activity's wall clock (when the row was
    written) is then comparable with the workflow's time (after a skip the workflow counts from its task's start)."""
    from temporalio.testing import WorkflowEnvironment

    from tests.conftest import _binary, register, suite_converter

    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"), data_converter=suite_converter())
    await register(environment.client)
    async with environment:
        yield environment


async def test_a_new_ownership_writes_its_row_in_its_first_workflow_task_then_sleeps(fresh_env, engine):
    """Patch owner-care-local-start: the first row is a local activity of the first workflow task (a marker), not a
    remote activity and a second task, so a new ownership costs the server one task before its timer (issue 17's
    fleet of 100,000). The later projections stay remote activities."""
    from temporalio.api.enums.v1 import EventType as E

    async with lab(fresh_env, engine) as L:
        lead_id, _ = await delivered_lead(L, 1710)
        handle = L.client.get_workflow_handle(ownership_id_for(lead_id))
        row = await ownership_row(L, lead_id)  # written inside the first task, before that task completes
        await L.quiet(handle.id)
        history = list((await handle.fetch_history()).events)
        events = [e.event_type for e in history]
        first_timer = events.index(E.EVENT_TYPE_TIMER_STARTED)
        before = events[:first_timer]
        assert before.count(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1, "one workflow task before it sleeps"
        assert E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in before
        assert before.count(E.EVENT_TYPE_MARKER_RECORDED) == 2, "the patch marker and the local activity's"
        assert row.run_id == (await handle.describe()).run_id and row.status == "active" and row.next_due_at
        # the timer counts from when the row was written, not from the task's start (the server starts it when the
        # task completes, after the write): from the task's start it would end as much past the due time
        marker = next(e.marker_recorded_event_attributes for e in history
                      if e.event_type == E.EVENT_TYPE_MARKER_RECORDED
                      and "activity" in e.marker_recorded_event_attributes.marker_name)
        written = aware((await L.client.data_converter.decode(marker.details["result"].payloads, [datetime]))[0])
        timer = history[first_timer].timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        assert abs(timer - (aware(row.next_due_at) - written)) < timedelta(microseconds=100)
        with Session(L.engine) as session:  # the first write also made the owner's referral code
            assert session.exec(select(ReferralCode).where(ReferralCode.ownership_id == row.ownership_id)).first()
        await L.sleep(92 * DAY)  # the first maintenance fires: its projection is a remote activity again
        events = [e.event_type for e in (await handle.fetch_history()).events]
        assert E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED in events
        assert "first_maintenance" in {t.touchpoint_key for t in tasks(L, lead_id)}
        await record_owner(L, lead_id, "v7-owner-local-start")


async def test_a_service_visit_before_the_first_maintenance_reminder_stops_it(env, engine):
    async with lab(env, engine, record="v6-owner-delivered") as L:
        lead_id, d = await delivered_lead(L, 1702)
        handle = L.client.get_workflow_handle(ownership_id_for(lead_id))
        await L.sleep(60 * DAY)
        event = oc.OwnerEvent(event_id="dms-1", kind=oc.OwnerEventKind.SERVICE_VISIT, mileage_km=3000)
        schedule = await handle.execute_update("dms_event", event, result_type=list[oc.Touchpoint])
        assert "first_maintenance" not in {t.key for t in schedule}
        again = await handle.execute_update("dms_event", event, result_type=list[oc.Touchpoint])
        assert again == schedule, "the same event id changes nothing"
        await L.sleep(60 * DAY)
        assert "first_maintenance" not in {t.touchpoint_key for t in tasks(L, lead_id)}
        yearly = next(t for t in schedule if t.kind == oc.TouchpointKind.MAINTENANCE)
        assert abs(yearly.due_at - (d + 60 * DAY + 365 * DAY)) < timedelta(hours=1), "a year after the visit"
        await record_owner(L, lead_id, "v6-owner-service-visit")


async def test_reported_mileage_brings_the_first_maintenance_forward(env, engine):
    async with lab(env, engine) as L:
        lead_id, d = await delivered_lead(L, 1703)
        handle = L.client.get_workflow_handle(ownership_id_for(lead_id))
        await L.sleep(20 * DAY)
        event = oc.OwnerEvent(event_id="dms-km", kind=oc.OwnerEventKind.MILEAGE, mileage_km=2500)
        schedule = await handle.execute_update("dms_event", event, result_type=list[oc.Touchpoint])
        first = next(t for t in schedule if t.key == "first_maintenance")
        assert abs(first.due_at - (d + 40 * DAY)) < timedelta(hours=1), "5,000 km at 2,500 km per 20 days"
        await L.sleep(21 * DAY)
        assert "first_maintenance" in {t.touchpoint_key for t in tasks(L, lead_id)}


async def test_without_consent_no_message_goes_out_but_the_task_exists(env, engine):
    async with lab(env, engine) as L:
        lead_id, d = await delivered_lead(L, 1704)
        key = (await L.state(lead_id)).customer_key
        consent(L, key, "service", at=d)
        consent(L, key, "service", granted=False, at=d + DAY)  # withdrawn (a TD reply): the newest wins
        await L.sleep(92 * DAY)
        [task] = tasks(L, lead_id)
        assert task.kind == "first_maintenance" and not task.message_sent and "consent" in task.message_note
        assert owner_messages(L, lead_id) == []
        with Session(L.engine) as session:
            inbox = session.exec(select(Notification).where(Notification.kind == "owner_care_task")).all()
        assert inbox and all(n.dealer_id == "D-SH-1" for n in inbox), "the dealer's people got the task"


async def test_a_consented_reminder_reaches_the_owners_phone_by_sms_from_the_worker(env, engine):
    """End to end: the touchpoint's activity queues the owner's SMS on the owners' gateway and starts its sending
    workflow, which sends it (after the owners' quiet hours, if it fell in them) to the owner's phone."""
    owners = Receiver({"Response": {"SendStatusSet": [{"SerialNo": "sn-1", "Code": "Ok"}], "RequestId": "r"}})
    try:
        add_target(engine, "sms-owners", "sms", {"endpoint": f"{owners.url}/", "secret_id": "id", "secret_key": "k",
                                                 "sdk_app_id": "1", "sign_name": "s", "template_id": "t"},
                   scope="oem", dealer_id=None, roles=["owner"])
        async with lab(env, engine) as L:
            lead_id, d = await delivered_lead(L, 1707)
            key = (await L.state(lead_id)).customer_key
            consent(L, key, "service", at=d)
            await L.sleep(92 * DAY)
            [message] = owner_messages(L, lead_id)
            handle = L.client.get_workflow_handle(f"push:owner:{message.idempotency_key}")
            await L.sleep(timedelta(hours=12))  # past the quiet hours, if the reminder fell in them
            assert await handle.result() == 1
            if RECORDING["on"]:  # the owner's message sending (PushFlushWorkflow, tests/test_replay.py)
                await L.record_workflow(handle.id, "v7-push-owner-sms")
        with Session(engine) as session:
            phone = session.get(Customer, key).phone
            sent = session.exec(select(PushDelivery)).one()
        body = json.loads(owners.requests[0]["body"])
        assert len(owners.requests) == 1 and body["PhoneNumberSet"] == [phone]
        assert body["TemplateParamSet"][0].startswith("尊敬的车主，您的爱车已到首次保养时间")
        created = aware(message.created_at)
        assert aware(sent.sent_at) - (quiet_until(created, *oc.OWNER_QUIET_HOURS) or created) < timedelta(minutes=1)
    finally:
        owners.close()


async def test_a_task_done_in_time_does_not_lapse(env, engine):
    async with lab(env, engine) as L:
        lead_id, d = await delivered_lead(L, 1705)
        await L.sleep(92 * DAY)
        with Session(L.engine) as session:
            task = session.exec(select(OwnerTask)).one()
            task.status, task.done_at = "done", d + 92 * DAY
            session.add(task)
            session.commit()
        await L.sleep(5 * DAY)
        with Session(L.engine) as session:
            assert not session.exec(select(Notification).where(Notification.kind == "owner_care_task_lapsed")).all()


async def test_stopped_for_one_vehicle_with_the_reason_and_a_new_policy_reaches_a_running_one(env, engine):
    async with lab(env, engine) as L:
        lead_id, d = await delivered_lead(L, 1706)
        handle = L.client.get_workflow_handle(ownership_id_for(lead_id))
        await handle.signal("policy_changed", PolicyChange(
            policy=OwnerCare(first_maintenance_after=timedelta(days=30)), version="2027-01"))
        await L.sleep(31 * DAY)
        assert [t.touchpoint_key for t in tasks(L, lead_id)] == ["first_maintenance"]
        await handle.execute_update("stop", StopRequest(reason="sold"))
        result = await L.client.get_workflow_handle(handle.id, result_type=OwnerCareResult).result()
        assert result.stopped == "sold"
        row = await ownership_row(L, lead_id)
        assert row.status == "stopped" and row.stop_reason == "sold" and row.upcoming == []
        assert tasks(L, lead_id)[0].status == "cancelled"
        await record_owner(L, lead_id, "v6-owner-policy-stop")


# ------------------------------------------------------------------ the pure schedule


def _state(**kw) -> oc.OwnershipState:
    base = dict(ownership_id="owner-x", lead_id="x", customer_key="k", brand="Aurora", dealer_id="D",
                delivered_at=datetime(2027, 1, 10, 3, tzinfo=UTC))
    return oc.OwnershipState(**(base | kw))


def test_every_switch_turns_its_touchpoint_off():
    everything = {t.kind for t in oc.upcoming(_state(birthday=date(1990, 3, 1)), OwnerCare())}
    assert everything == set(oc.TouchpointKind)
    off = OwnerCare(first_maintenance=False, yearly_maintenance=False, insurance_renewal=False, anniversary=False,
                    birthday=False, trade_in_review=False)
    assert oc.upcoming(_state(birthday=date(1990, 3, 1)), off) == []
    assert oc.TouchpointKind.BIRTHDAY not in {t.kind for t in oc.upcoming(_state(), OwnerCare())}, "only when known"


def test_old_policies_without_the_owner_care_table_load_with_defaults():
    raw = load_policy().model_dump(mode="json", exclude={"owner_care"})
    from domain.policy import Policy

    assert Policy.model_validate(raw).owner_care == OwnerCare()


def test_a_touchpoint_switched_on_long_after_its_time_is_skipped_not_sent():
    s = _state()
    fire, missed = oc.due(s, OwnerCare(), s.delivered_at + 200 * DAY)
    assert {t.key for t in missed} == {"first_maintenance"} and fire == []


async def test_a_new_policy_version_is_pushed_to_running_ownerships(env, engine):
    from ops.owner_care import push_policy

    async with lab(env, engine) as L:
        lead_id, d = await delivered_lead(L, 1707)
        policy = load_policy().model_copy(update={
            "version": "2027-02", "owner_care": OwnerCare(first_maintenance_after=timedelta(days=10))})
        assert await push_policy(L.client, L.engine, policy) == {"active": 1, "signalled": 1, "not_running": 0}
        await L.sleep(11 * DAY)
        assert [t.touchpoint_key for t in tasks(L, lead_id)] == ["first_maintenance"]
        state = await L.client.get_workflow_handle(ownership_id_for(lead_id)).query(
            "ownership", result_type=oc.OwnershipState)
        assert state.policy_version == "2027-02"


async def test_the_insurance_expiry_and_birthday_given_at_delivery_start_the_schedule(env, engine):
    async with lab(env, engine) as L:
        expiry = (await L.env.get_current_time()).date() + timedelta(days=200)
        lead_id, d = await delivered_lead(L, 1708, insurance_expiry=expiry, owner_birthday=date(1988, 2, 29))
        await L.quiet(ownership_id_for(lead_id))
        schedule = await L.client.get_workflow_handle(ownership_id_for(lead_id)).query(
            "schedule", result_type=list[oc.Touchpoint])
        keys = {t.key for t in schedule}
        assert f"insurance:{expiry}" in keys and any(k.startswith("birthday:") for k in keys)
        insurance = next(t for t in schedule if t.kind == oc.TouchpointKind.INSURANCE_RENEWAL)
        assert insurance.due_at == datetime.combine(expiry - timedelta(days=30), oc.SHANGHAI_MORNING), \
            "30 days before, at 09:00 Shanghai"
