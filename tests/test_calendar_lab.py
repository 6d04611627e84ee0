"""The working-day calendar on the time-skipping server (issue 12): reviews across New Year and the Spring
Festival 2027, a provisional year in the timeline and alerted once, a correction that moves a running lead's
deadline (which then lapses at the new time), and the daily check that warns from 1 November.

These scenarios move the clock to December 2026 and February 2027, so they run on a time-skipping server of
their own: the session's shared server keeps its clock for the other tests. The scenarios run in file order
(each only moves forward). The dates are absolute: once the machine's clock is past them they cannot be reached
(the server's clock never goes back), and the scenarios skip, saying so.
"""

from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session, select
from temporalio.client import ScheduleRange
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from db.metrics import collect
from db.models import Notification
from domain import commands as c
from domain.calendar import SHANGHAI
from domain.models import CalendarCheck
from tests.conftest import _binary, suite_converter, token_for
from tests.fixtures import consultant, manager, raw_lead
from tests.harness import lab
from workflows.calendar import CalendarCheckWorkflow
from workflows.search_attributes import register

MIN = timedelta(minutes=1)


@pytest_asyncio.fixture(scope="module")
async def cal_env():
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"), data_converter=suite_converter())
    await register(environment.client)
    async with environment:
        yield environment


def at(y, m, d, h=0, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=SHANGHAI)


async def travel_to(L, moment: datetime) -> None:
    now = await L.env.get_current_time()
    if now > moment:
        pytest.skip(f"the server's clock ({now:%Y-%m-%d}) is already past {moment:%Y-%m-%d}")
    await L.sleep(moment - now)


async def in_defeat_review(L, n: int):
    r = await L.intake(raw_lead(n))
    s = await L.state(r.lead_id)
    dealer = s.dealer_id
    await L.act(r.lead_id, manager(dealer), c.Acknowledge())
    await L.act(r.lead_id, manager(dealer), c.Assign(consultant_id=consultant(dealer).user_id))
    await L.act(r.lead_id, consultant(dealer), c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=5))
    await L.act(r.lead_id, consultant(dealer), c.ApplyForDefeat(reason_code=c.DefeatReason.NO_SHORT_TERM_PLAN,
                                                                note="no purchase this year"))
    await L.act(r.lead_id, manager(dealer), c.ReviewDefeatApplication(approve=True, note="agreed"))
    s = await L.settle(r.lead_id)
    assert s.stage == "defeat_review" and s.clocks["defeat_review"].deadline is not None
    return r.lead_id, s


def head_alerts(L, kind: str) -> list[Notification]:
    with Session(L.engine) as session:
        return list(session.exec(select(Notification).where(Notification.kind == kind)).all())


async def test_reviews_filed_across_new_year_2027_end_after_the_holiday_and_say_the_year_is_provisional(cal_env,
                                                                                                        engine):
    async with lab(cal_env, engine, record="calendar-provisional") as L:
        await travel_to(L, at(2026, 12, 29, 10))  # a Tuesday
        first, s = await in_defeat_review(L, 1201)
        # Wed 30, Thu 31, (New Year's Day, the weekend), Mon 4 Jan: not the end of 1 January
        assert s.clocks["defeat_review"].deadline == at(2027, 1, 5)
        assert s.clocks["defeat_review"].deadline != at(2027, 1, 2)
        entries = L.events(first, "calendar_provisional")
        assert [e.data["message"] for e in entries] == ["2027 年节假日安排尚未确认，截止时间按推算日历计算"]
        second, s = await in_defeat_review(L, 1202)
        assert L.events(second, "calendar_provisional"), "each lead's timeline says so"
        # ... but the head of lead ops is alerted once for the year, not once per lead
        alerts = head_alerts(L, "calendar_provisional")
        assert [(n.recipient_role, n.recipient_user_id, n.lead_id) for n in alerts] == [
            ("head_of_lead_ops", "ops-head", "calendar-2027")]
        with Session(L.engine) as session:  # and /metrics counts the provisional deadlines
            metrics = {m.name: m for m in collect(session, await L.env.get_current_time())}
        assert [(s.labels, s.value) for s in metrics["leadflow_calendar_provisional_deadlines"].samples
                if s.name.endswith("_total")] == [({"year": "2027"}, 2)]


@asynccontextmanager
async def api(env, engine, record: str | None = None):
    async with lab(env, engine, record=record) as L:
        app = create_app(client=env.client, engine=engine, policy=L.policy, task_queue=L.task_queue)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://leadflow") as http:
                yield http, L


OPS_AUTH = {"Authorization": f"Bearer {token_for('ops')}"}
SCHEDULE_2027 = [  # as lead ops would type the State Council's schedule in (a make-up Saturday on 13 Feb)
    {"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
    *({"date": f"2027-02-{d:02d}", "kind": "holiday", "name": "春节"} for d in range(5, 11)),
    {"date": "2027-02-13", "kind": "workday", "name": "春节调休"},
]


async def test_a_confirmed_upload_moves_a_running_review_which_lapses_at_the_new_time(cal_env, engine):
    async with api(cal_env, engine, record="calendar-correction") as (http, L):
        await travel_to(L, at(2027, 2, 4, 10))  # Thursday before the Spring Festival
        lead_id, s = await in_defeat_review(L, 1203)
        old = s.clocks["defeat_review"].deadline
        assert old == at(2027, 2, 16), "Thu 11, Fri 12, Mon 15 after the computed holiday of 5-10 Feb"
        r = await http.post("/v1/calendar/2027/schedule?confirm=true", content=json.dumps(SCHEDULE_2027),
                            headers={**OPS_AUTH, "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "confirmed" and r.json()["leads_signalled"]
        for _ in range(200):  # the fan-out workflow signals the lead, which projects the move
            await L.settle(lead_id)
            if L.events(lead_id, "deadline_moved"):
                break
        s = await L.state(lead_id)
        new = s.clocks["defeat_review"].deadline
        assert new == at(2027, 2, 14), "Thu 11, Fri 12 and the make-up Saturday 13"
        moved = L.events(lead_id, "deadline_moved")
        assert [e.data["message"] for e in moved] == [
            "截止时间由 2027-02-16 00:00 调整为 2027-02-14 00:00（线索运营上传了 2027 年节假日安排）"]
        await L.sleep(new - await L.env.get_current_time() - MIN)
        await L.settle(lead_id)
        assert "defeat_review" not in L.alerts(lead_id)
        await L.sleep(2 * MIN)
        await L.settle(lead_id)
        assert "defeat_review" in L.alerts(lead_id), "it lapsed at the new deadline, two days before the old one"


async def check(L, moment: datetime):
    return await L.client.execute_workflow(CalendarCheckWorkflow.run, CalendarCheck(as_of=moment),
                                           id=f"calendar-check-{uuid.uuid4()}", task_queue=L.task_queue)


async def test_the_daily_check_warns_from_1_november_until_next_year_is_confirmed(cal_env, engine):
    # the schedule's action, run directly with the dates around 1 November (the schedule itself: test below)
    async with lab(cal_env, engine) as L:
        assert (await check(L, at(2026, 10, 31, 9))).alerted == 0, "not before 1 November"
        first = await check(L, at(2026, 11, 1, 9))
        assert (first.year, first.state, first.alerted) == (2027, "provisional", 1)
        assert (await check(L, at(2026, 11, 1, 9, 5))).alerted == 0, "once a day"
        assert (await check(L, at(2026, 11, 2, 9))).alerted == 1, "and again the next day"
        alerts = head_alerts(L, "calendar_unconfirmed")
        assert {(n.recipient_user_id, n.lead_id) for n in alerts} == {("ops-head", "calendar-2027")}
        assert len(alerts) == 2
        from db import calendar as cal

        with Session(L.engine) as session:
            cal.confirm_year(session, 2027, "ops", at(2026, 11, 2, 10))
        stopped = await check(L, at(2026, 11, 3, 9))
        assert (stopped.state, stopped.alerted) == ("confirmed", 0)
        assert len(head_alerts(L, "calendar_unconfirmed")) == 2


async def test_the_worker_creates_the_daily_check_schedule_once_at_09_00_shanghai():
    # Schedules need a real server (the time-skipping one has none): a dev server, as tests/test_visibility.py
    from worker import ensure_calendar_schedule
    from workflows.calendar import SCHEDULE_ID

    env = await WorkflowEnvironment.start_local(dev_server_existing_path=_binary("temporal"),
                                                data_converter=suite_converter(), dev_server_log_level="error")
    async with env:
        assert await ensure_calendar_schedule(env.client, "leads") is True
        assert await ensure_calendar_schedule(env.client, "leads") is False, "a second worker leaves it alone"
        described = await env.client.get_schedule_handle(SCHEDULE_ID).describe()
        spec = described.schedule.spec
        assert spec.time_zone_name == "Asia/Shanghai"
        (every_day,) = spec.calendars  # the cron "0 9 * * *" as the server keeps it
        assert (every_day.hour[0].start, every_day.minute[0].start, every_day.day_of_week[0]) == (9, 0,
                                                                                                  ScheduleRange(0, 6))
        action = described.schedule.action
        assert (action.workflow, action.task_queue) == ("CalendarCheckWorkflow", "leads")
