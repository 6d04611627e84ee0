"""The live stream's one listener per API process (issue 13 section 6): the cost follows the changes, not the
open pages.

One `StreamHub` per process learns what changed in the read model and fans each change out to the open
streams allowed to see it:

- PostgreSQL: the projection and notify activities `pg_notify` on `leadflow_changes` (activities/db.py) in
  the transaction that writes; the hub LISTENs on one connection and reads the change once per wake-up (plus
  a slow safety read, `SAFETY_SECONDS`, for a notification lost with a dropped connection).
- SQLite (and PostgreSQL while the listening connection is down): one shared read every `POLL_SECONDS`.

A read is one query over `lead.updated_at` (indexed) and one over new inbox rows, whatever the number of
streams. With no stream open nothing is read: a change only marks the hub behind, and the next stream to open
waits for one catch-up read of everything since (published into the kept changes, so a `Last-Event-ID` from
before the quiet spell still resumes). An API process that only takes in leads pays nothing per change.
Fan-out decides per stream with the lists' rules (`domain.visibility.may_see_lead`, the inbox's addressing):
a dealer's stream gets `lead` for a lead it may see now, `lead` with stage null for one that left its sight
with this change, nothing about any other lead. An idle stream costs a timer for its heartbeat.

Every event carries an id `<process epoch>-<n>`. A reconnect with `Last-Event-ID` from this process, while
the events since are still kept (`KEEP` changes), replays what that stream may see and says
`ready {resumed: true}`; otherwise `resumed: false` and the page reloads what it shows.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from activities.db import CHANGES_CHANNEL
from core.logging import get_logger
from db.engine import aware
from db.models import Lead, Notification
from domain import visibility
from domain.messages import CATALOG, LANGS, notice_params, render
from domain.models import Actor
from domain.stages import DEALER_ROLES, END_STAGES, Role

log = get_logger("api.stream")

POLL_SECONDS = 1.0  # the shared read without LISTEN/NOTIFY (SQLite)
SAFETY_SECONDS = 10.0  # PostgreSQL: a read even without a notification
LOOKBACK = timedelta(minutes=2)  # a projection committed late (a retried activity) is still noticed
NOTIFICATION_LOOKBACK = 200  # ids: a notification committed out of order is still noticed
KEEP = 20_000  # changes kept for Last-Event-ID resumption
QUEUE_LIMIT = 1000  # a stream that falls this far behind is ended (the page reconnects and reloads)


@dataclass(frozen=True)
class Sight:
    """What decides who may see a lead: its holder, consultant and stage."""

    dealer_id: str | None
    consultant_id: str | None
    stage: str


@dataclass(frozen=True)
class Change:
    seq: int
    kind: str  # lead | notification | inbox (a read state changed)
    data: dict[str, Any]
    before: Sight | None = None  # lead: who could see it before this change (None: not known to this process)
    after: Sight | None = None
    note: dict[str, Any] | None = None  # notification: the row


def addressed(actor: Actor, note: dict[str, Any]) -> bool:
    """The inbox's addressing (api.routes.inbox.addressed_to) for one row, in Python."""
    if note.get("recipient_user_id") is not None:
        return note["recipient_user_id"] == actor.user_id
    if note.get("recipient_role") != actor.role.value:
        return False
    if actor.role in DEALER_ROLES:
        return note.get("dealer_id") == actor.dealer_id
    if actor.role == Role.REGIONAL_MANAGER:
        return note.get("region") == actor.region
    return True


def shares_inbox(actor: Actor, reader: dict[str, Any]) -> bool:
    """Whether `actor`'s inbox may have changed when `reader` marked rows read: the reader's own rows, and the rows
    addressed to its role (within its dealer or region), which are read for the whole role."""
    if reader.get("user_id") == actor.user_id:
        return True
    if reader.get("role") != actor.role.value:
        return False
    if actor.role in DEALER_ROLES:
        return reader.get("dealer_id") == actor.dealer_id
    if actor.role == Role.REGIONAL_MANAGER:
        return reader.get("region") == actor.region
    return True


def events_for(actor: Actor, change: Change) -> list[tuple[str, dict[str, Any]]]:
    """What one stream gets of one change: the same rules as the lists and the inbox."""
    if change.kind == "lead":
        if change.after is not None and visibility.may_see_lead(actor.role, actor.dealer_id, actor.user_id,
                                                                change.after):
            return [("lead", change.data)]
        if change.before is not None and visibility.may_see_lead(actor.role, actor.dealer_id, actor.user_id,
                                                                 change.before):
            return [("lead", {"lead_id": change.data["lead_id"], "stage": None, "updated_at": None})]
        return []
    if change.kind == "inbox":  # someone's read state changed: the streams that share those rows recount
        return [("inbox", {})] if shares_inbox(actor, change.data) else []
    if change.note is None or not addressed(actor, change.note):  # (a notification's change carries its row)
        return []
    shown = visibility.notification(actor.role, actor.dealer_id, change.note)
    return [] if shown is None else [("notification", change.data)]


@dataclass(eq=False)
class Subscriber:
    actor: Actor
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False

    def offer(self, seq: int, events: list[tuple[str, dict[str, Any]]]) -> None:
        for event in events:
            try:
                self.queue.put_nowait((seq, *event))
            except asyncio.QueueFull:
                self.overflowed = True


class StreamHub:
    def __init__(self, engine, poll_seconds: float = POLL_SECONDS, safety_seconds: float = SAFETY_SECONDS,
                 exiting: Callable[[], bool] = lambda: False):
        self.engine, self.exiting = engine, exiting
        self.poll_seconds, self.safety_seconds = poll_seconds, safety_seconds
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self.kept: deque[Change] = deque(maxlen=KEEP)
        self.subscribers: set[Subscriber] = set()
        self.wake = asyncio.Event()
        self.listening = False
        self.reads = 0  # shared reads done (tests and the benchmark look)
        self._tasks: list[asyncio.Task] = []
        self._started = False
        self._sights: dict[str, Sight] = {}
        self._seen: dict[str, tuple[int, datetime]] = {}
        self._lead_cursor: datetime | None = None
        self._note_cursor = 0
        self._seen_notes: set[int] = set()
        # a change came while no stream was open and was not read: the next stream catches up first
        self._behind = False
        self._reading = asyncio.Lock()  # one read at a time (the loop's and a new stream's catch-up)
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---------------------------------------------------------------- life

    @property
    def started(self) -> bool:
        return self._started

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._begin)
        self._tasks.append(asyncio.create_task(self._run(), name="stream-hub"))
        if self.engine.dialect.name == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen(), name="stream-hub-listen"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # never hold the app's shutdown up for long (a listener stuck on a dead connection)
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks.clear()
        self._started = False
        self._end_all()

    def _begin(self) -> None:
        """Everything up to now is seen: only later changes become events."""
        with Session(self.engine) as session:
            self._lead_cursor = session.exec(select(func.max(Lead.updated_at))).one()
            self._note_cursor = session.exec(select(func.max(Notification.id))).one() or 0
            # who may see each open lead now, so a change that takes one out of a stream's sight is told
            for lead_id, dealer, consultant, stage in session.exec(select(
                    Lead.lead_id, Lead.dealer_id, Lead.consultant_id, Lead.stage).where(
                    col(Lead.stage).notin_([s.value for s in END_STAGES]))).all():
                self._sights[lead_id] = Sight(dealer, consultant, stage)
            if self._lead_cursor is not None:
                for lead_id, seq, at in session.exec(select(Lead.lead_id, Lead.last_seq, Lead.updated_at).where(
                        Lead.updated_at >= self._lead_cursor - LOOKBACK)).all():
                    self._seen[lead_id] = (seq, at)
            self._seen_notes = {i for i in session.exec(select(Notification.id).where(
                col(Notification.id) > self._note_cursor - NOTIFICATION_LOOKBACK)).all() if i is not None}

    async def _listen(self) -> None:
        """PostgreSQL: one connection LISTENing; while it is down the hub polls."""
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANGES_CHANNEL}")
                    self.listening = True
                    self.wake.set()  # read once: what changed while not listening
                    async for note in conn.notifies():
                        if note.payload:  # another process's reader marked inbox rows read
                            self._heard_read(note.payload)
                        else:
                            self.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - the database went away: poll until it is back
                log.warning("stream listener down; polling", error=repr(err))
            self.listening = False
            await asyncio.sleep(5)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_read = 0.0
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), 1.0)
            except TimeoutError:
                pass
            if self.exiting():  # the server is shutting down: end every stream so it need not wait for them
                self._end_all()
            if not self.wake.is_set() and loop.time() < next_read:
                continue
            self.wake.clear()
            next_read = loop.time() + (self.safety_seconds if self.listening else self.poll_seconds)
            if not self.subscribers:  # nobody listens: read nothing now (the next stream catches up first)
                self._behind = True
                continue
            try:
                await self._read_and_publish()
            except Exception as err:  # noqa: BLE001 - a failed read is retried at the next wake-up
                log.warning("stream read failed", error=repr(err))

    async def _read_and_publish(self) -> None:
        async with self._reading:
            self._behind = False  # (a change committed during the read wakes the loop again)
            try:
                changes = await asyncio.to_thread(self._read)
            except BaseException:
                self._behind = True
                raise
            for change in changes:
                self._publish(change)

    async def catch_up(self) -> None:
        """Before a new stream: what changed while no stream was open is read now, in one read, and kept like any
        change (so a `Last-Event-ID` from before resumes); the stream then starts level with the read model.
        Nothing to do while streams are open (the loop reads every change) or after a failed read (the stream
        starts anyway; the loop's next read catches up and tells it)."""
        if not self._behind:
            return
        try:
            await self._read_and_publish()
        except Exception as err:  # noqa: BLE001 - the stream still opens: the loop's next read catches up
            log.warning("stream read failed", error=repr(err))
            self.wake.set()

    def _end_all(self) -> None:
        for sub in list(self.subscribers):
            sub.overflowed = True  # its stream ends at its next wake-up
            if not sub.queue.full():
                sub.queue.put_nowait((self.seq, "__end__", {}))

    # ---------------------------------------------------------------- reading and fanning out

    def _read(self) -> list[Change]:
        """One shared read: the leads whose read model moved, the new inbox rows."""
        self.reads += 1
        out: list[Change] = []
        with Session(self.engine) as session:
            query = select(  # type: ignore[call-overload]  # sqlmodel types select() for 1-4 columns
                Lead.lead_id, Lead.stage, Lead.updated_at, Lead.last_seq, Lead.dealer_id, Lead.consultant_id)
            if self._lead_cursor is not None:
                query = query.where(Lead.updated_at >= self._lead_cursor - LOOKBACK)
            for lead_id, stage, updated_at, seq, dealer, consultant in session.exec(query).all():
                if self._seen.get(lead_id, (None,))[0] != seq:
                    after = Sight(dealer, consultant, stage)
                    before = self._sights.get(lead_id)
                    self._sights[lead_id] = after
                    out.append(Change(0, "lead", {"lead_id": lead_id, "stage": stage,
                                                  "updated_at": aware(updated_at).isoformat()}, before, after))
                self._seen[lead_id] = (seq, updated_at)
                if self._lead_cursor is None or updated_at > self._lead_cursor:
                    self._lead_cursor = updated_at
            if self._lead_cursor is not None:
                horizon = self._lead_cursor - LOOKBACK
                self._seen = {k: v for k, v in self._seen.items() if v[1] >= horizon}
            # the ids of the look-back window first (plain integers), then only the rows not seen yet
            ids = session.exec(select(Notification.id).where(
                col(Notification.id) > self._note_cursor - NOTIFICATION_LOOKBACK)).all()
            unseen = sorted(i for i in ids if i is not None and i not in self._seen_notes)
            notes = session.exec(select(Notification).where(col(Notification.id).in_(unseen)).order_by(
                col(Notification.id))).all() if unseen else []
            for note in notes:
                if note.id is None:  # (a stored row has its id)
                    continue
                self._seen_notes.add(note.id)
                row = note.model_dump()
                # the notice in each language, rendered once for every stream (the page shows its reader's)
                params = notice_params(note.lead_id, note.message, note.data)
                texts = {lang: render(note.kind, params, lang) if note.kind in CATALOG else note.message
                         for lang in LANGS}
                out.append(Change(0, "notification", {k: row[k] for k in ("id", "kind", "lead_id", "message")}
                                  | {"texts": texts}, note=row))
                self._note_cursor = max(self._note_cursor, note.id)
            horizon_id = self._note_cursor - NOTIFICATION_LOOKBACK
            self._seen_notes = {i for i in self._seen_notes if i > horizon_id}
        return out

    def _publish(self, change: Change) -> None:
        self.seq += 1
        change = Change(self.seq, change.kind, change.data, change.before, change.after, change.note)
        self.kept.append(change)
        for sub in self.subscribers:
            events = events_for(sub.actor, change)
            if events:
                sub.offer(change.seq, events)

    def tell_read(self, reader: Actor, session: Session | None = None) -> None:
        """`reader` marked inbox rows read (called from a request's worker thread): the open streams sharing those
        rows get `inbox` and recount their badge. This process's at once; on PostgreSQL, with `session`, every
        other API process's too, through a `pg_notify` carrying the reader (`_heard_read`)."""
        data = {"user_id": reader.user_id, "role": reader.role.value, "dealer_id": reader.dealer_id,
                "region": reader.region}
        if session is not None and session.get_bind().dialect.name == "postgresql":
            payload = json.dumps({"read": data, "from": self.epoch})
            session.execute(text("SELECT pg_notify(:channel, :payload)"),
                            {"channel": CHANGES_CHANNEL, "payload": payload})
            session.commit()
        if not self._started or self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._publish, Change(0, "inbox", data))
        except RuntimeError:  # the loop has closed (the process is stopping): nobody is listening
            pass

    def _heard_read(self, payload: str) -> None:
        """Another API process's `tell_read`: its reader's streams here recount too (our own was told at once)."""
        try:
            message = json.loads(payload)
            data = message["read"]
        except (ValueError, KeyError, TypeError):
            self.wake.set()
            return
        if message.get("from") != self.epoch:
            self._publish(Change(0, "inbox", {k: data.get(k) for k in ("user_id", "role", "dealer_id", "region")}))

    # ---------------------------------------------------------------- streams

    def event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def subscribe(self, actor: Actor, last_event_id: str | None = None) -> tuple[Subscriber, bool]:
        """A new stream; with a Last-Event-ID of this process still kept, the events since are queued first."""
        sub = Subscriber(actor)
        resumed = False
        if self._behind:  # a change came after its catch-up read (or that read failed): the loop reads it now
            self.wake.set()
        if last_event_id:
            epoch, _, n = last_event_id.partition("-")
            if epoch == self.epoch and n.isdigit():
                since = int(n)
                oldest = self.kept[0].seq if self.kept else self.seq + 1
                if since <= self.seq and since >= oldest - 1:
                    for change in self.kept:
                        if change.seq > since:
                            sub.offer(change.seq, events_for(actor, change))
                    resumed = not sub.overflowed
        self.subscribers.add(sub)
        return sub, resumed

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
