"""The live stream's one listener per API process (issue 13 section 6): one read per change whatever the number
of open streams, fan-out by the lists' visibility, resumption from Last-Event-ID, and PostgreSQL's NOTIFY
waking the listener (no polling)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from activities.db import announce_change
from api.stream import StreamHub
from db.models import Lead, Notification
from tests.fixtures import actor

T0 = datetime(2026, 12, 6, 8, tzinfo=UTC)


def lead(n: int, dealer: str, stage: str = "acknowledged", seq: int = 1, consultant: str | None = None) -> Lead:
    lead_id = f"lead-aurora-{n:020x}"
    return Lead(lead_id=lead_id, brand="Aurora", customer_key=f"k{n}", customer_name=f"客户{n}", phone="+8613800000000",
                channel="website", stage=stage, furthest_stage=stage, dealer_id=dealer, consultant_id=consultant,
                created_at=T0, updated_at=T0 + timedelta(seconds=seq), last_seq=seq, workflow_id=lead_id, run_id="r")


def write(engine, *rows) -> None:
    with Session(engine) as session:
        for row in rows:
            session.merge(row)
        announce_change(session)
        session.commit()


def drain(sub) -> list[tuple[str, dict]]:
    out = []
    while not sub.queue.empty():
        _, event, data = sub.queue.get_nowait()
        out.append((event, data))
    return out


def step(hub: StreamHub) -> None:
    for change in hub._read():
        hub._publish(change)


def test_one_read_serves_every_stream_and_each_gets_only_what_it_may_see(engine):
    write(engine, lead(1, "D-SH-1"), lead(2, "D-GZ-1"))
    hub = StreamHub(engine)
    hub._begin()
    oem = [hub.subscribe(actor("ops"))[0] for _ in range(300)]
    sh = [hub.subscribe(actor("d-sh-1-mgr"))[0] for _ in range(300)]
    gz = [hub.subscribe(actor("d-gz-1-mgr"))[0] for _ in range(300)]
    step(hub)
    assert hub.reads == 1 and all(drain(s) == [] for s in oem + sh + gz)  # nothing changed: nothing sent
    write(engine, lead(1, "D-SH-1", stage="assigned", seq=2))
    step(hub)
    assert hub.reads == 2  # one read for 900 streams
    assert all([e[1]["stage"] for e in drain(s)] == ["assigned"] for s in oem + sh)
    assert all(drain(s) == [] for s in gz)  # another dealer's lead: not a word
    # the lead moves to the other dealer: the first learns it left its sight, the other sees it arrive
    write(engine, lead(1, "D-GZ-1", stage="dispatched", seq=3))
    step(hub)
    assert drain(sh[0]) == [("lead", {"lead_id": lead(1, "x").lead_id, "stage": None, "updated_at": None})]
    assert [e[1]["stage"] for e in drain(gz[0])] == ["dispatched"]
    # an inbox row goes to whom it is addressed, as the inbox
    with Session(engine) as session:
        session.add(Notification(idempotency_key="n1", lead_id=lead(2, "x").lead_id, kind="lead_dispatched",
                                 recipient_role="dealer_manager", dealer_id="D-GZ-1", message="新线索", created_at=T0))
        session.commit()
    step(hub)
    told = [e for e in drain(gz[2]) if e[0] == "notification"][0][1]
    assert told["message"] == "新线索"
    # the notice in the reader's words, both languages (a toast shows the page's; never the engine's raw message)
    assert told["texts"]["zh-CN"].startswith("新线索 ") and told["texts"]["en"].startswith("New lead ")
    assert all(e[0] != "notification" for s in sh[1:] + oem[1:] for e in drain(s))


def test_a_reconnect_with_last_event_id_gets_what_it_missed_and_nothing_else(engine):
    write(engine, lead(1, "D-SH-1"), lead(2, "D-GZ-1"))
    hub = StreamHub(engine)
    hub._begin()
    sub, resumed = hub.subscribe(actor("d-sh-1-mgr"))
    assert resumed is False
    write(engine, lead(1, "D-SH-1", stage="assigned", seq=2))
    step(hub)
    seq, _, _ = sub.queue.get_nowait()
    last_id = hub.event_id(seq)
    hub.unsubscribe(sub)  # the connection drops; meanwhile both leads move
    write(engine, lead(1, "D-SH-1", stage="contacted", seq=3), lead(2, "D-GZ-1", stage="assigned", seq=2))
    step(hub)
    again, resumed = hub.subscribe(actor("d-sh-1-mgr"), last_id)
    assert resumed is True and [(e, d["stage"]) for e, d in drain(again)] == [("lead", "contacted")]
    stale, resumed = hub.subscribe(actor("d-sh-1-mgr"), "another-process-7")
    assert resumed is False and drain(stale) == []


@pytest.mark.postgres
async def test_postgresql_notify_wakes_the_listener_without_polling(pg_engine):
    write(pg_engine, lead(1, "D-SH-1"))
    hub = StreamHub(pg_engine, poll_seconds=60, safety_seconds=60)
    await hub.start()
    try:
        for _ in range(100):
            if hub.listening:
                break
            await asyncio.sleep(0.05)
        assert hub.listening
        # no stream open: a change wakes the hub but it reads nothing (the intake does not pay for the pages)
        await asyncio.to_thread(write, pg_engine, lead(2, "D-SH-1"))
        await asyncio.sleep(1.5)
        assert hub.reads == 0
        await hub.catch_up()  # the first stream reads once what it missed
        assert hub.reads == 1
        sub, _ = hub.subscribe(actor("ops"))
        await asyncio.sleep(0.3)
        reads = hub.reads
        await asyncio.sleep(1.5)
        assert hub.reads == reads  # idle: no read at all
        began = asyncio.get_running_loop().time()
        await asyncio.to_thread(write, pg_engine, lead(1, "D-SH-1", stage="assigned", seq=2))
        seq, event, data = await asyncio.wait_for(sub.queue.get(), 3)
        assert (event, data["stage"]) == ("lead", "assigned")
        assert asyncio.get_running_loop().time() - began < 1.0
    finally:
        await hub.stop()


async def test_with_no_stream_open_nothing_is_read_and_the_next_stream_catches_up_first(engine):
    """An API process that only takes in leads pays no read per change; the first stream after the quiet spell
    waits for one catch-up read, and a Last-Event-ID from before the spell still resumes (issue 15)."""
    write(engine, lead(1, "D-SH-1"), lead(2, "D-GZ-1"))
    hub = StreamHub(engine, poll_seconds=0.05)
    await hub.start()
    try:
        sub, _ = hub.subscribe(actor("d-sh-1-mgr"))
        write(engine, lead(1, "D-SH-1", stage="assigned", seq=2))
        seq, _, _ = await asyncio.wait_for(sub.queue.get(), 3)  # a stream is open: the poll reads the change
        last_id = hub.event_id(seq)
        hub.unsubscribe(sub)
        reads = hub.reads
        write(engine, lead(1, "D-SH-1", stage="contacted", seq=3), lead(2, "D-GZ-1", stage="assigned", seq=2))
        await asyncio.sleep(1.5)  # polls with nobody listening (the loop wakes every second at most)
        assert hub.reads == reads
        await hub.catch_up()  # the next stream: one read of everything since
        assert hub.reads == reads + 1
        again, resumed = hub.subscribe(actor("d-sh-1-mgr"), last_id)
        assert resumed is True and [(e, d["stage"]) for e, d in drain(again)] == [("lead", "contacted")]
        await hub.catch_up()  # level already: nothing to read
        assert hub.reads == reads + 1
        write(engine, lead(1, "D-SH-1", stage="won", seq=4))  # and with a stream open, each change is read
        _, event, data = await asyncio.wait_for(again.queue.get(), 3)
        assert (event, data["stage"]) == ("lead", "won")
    finally:
        await hub.stop()


async def test_a_read_state_change_reaches_the_streams_sharing_those_rows_and_no_other_dealer(engine):
    """Marking inbox rows read (api/routes/inbox.py) tells this process's streams of the same person, and of the
    people the role-addressed rows are shared with (same role, same dealer or region), to recount their badge;
    another dealer's streams, another role's, learn nothing."""
    hub = StreamHub(engine)
    await hub.start()
    try:
        me_phone, me_desk = hub.subscribe(actor("d-sh-1-mgr"))[0], hub.subscribe(actor("d-sh-1-mgr"))[0]
        colleague = hub.subscribe(actor("d-sh-1-c1"))[0]  # same dealer, another role: not its rows
        other_dealer = hub.subscribe(actor("d-sh-2-mgr"))[0]
        rm_east, rm_south = hub.subscribe(actor("rm-east"))[0], hub.subscribe(actor("rm-south"))[0]
        hub.tell_read(actor("d-sh-1-mgr"))
        await asyncio.to_thread(hub.tell_read, actor("rm-east"))  # from a request's worker thread, as the API does
        await asyncio.sleep(0.05)
        assert drain(me_phone) == drain(me_desk) == [("inbox", {})]
        assert drain(colleague) == drain(other_dealer) == drain(rm_south) == []
        assert drain(rm_east) == [("inbox", {})]
    finally:
        await hub.stop()


@pytest.mark.postgres
async def test_a_read_in_one_api_process_recounts_the_badge_in_every_other(pg_engine):
    """Two API processes (two hubs) on one PostgreSQL: marking rows read through one tells the reader's streams
    on the other too (pg_notify carries the reader), once each; another dealer's streams learn nothing."""
    here, there = StreamHub(pg_engine, safety_seconds=60), StreamHub(pg_engine, safety_seconds=60)
    await here.start()
    await there.start()
    try:
        for _ in range(100):
            if here.listening and there.listening:
                break
            await asyncio.sleep(0.05)
        assert here.listening and there.listening
        desk, phone = here.subscribe(actor("d-sh-1-mgr"))[0], there.subscribe(actor("d-sh-1-mgr"))[0]
        other_dealer = there.subscribe(actor("d-sh-2-mgr"))[0]
        with Session(pg_engine) as session:
            await asyncio.to_thread(here.tell_read, actor("d-sh-1-mgr"), session)
        assert await asyncio.wait_for(phone.queue.get(), 2) == (there.seq, "inbox", {})
        await asyncio.sleep(0.3)
        assert drain(desk) == [("inbox", {})]  # told at once, not again by its own notification
        assert drain(phone) == drain(other_dealer) == []
    finally:
        await here.stop()
        await there.stop()
