"""Faults: lead lifecycles while the worker is SIGKILLed at random points and restarted, and the Temporal
dev server is SIGKILLed and restarted on its SQLite file.

A real stack in subprocesses: `temporal server start-dev --db-filename <tmp>/temporal.db` and `python
worker.py`, its read model in a PostgreSQL database of its own (an SQLite file without PostgreSQL).
Clocks run 300 times faster, and the leads' policy sets the clocks these lifecycles wait for (first
response, receipt, public pool) to 1 hour: they lapse after 12 s; every other clock to 30 days, so none
comes due during a run. A webhook subscriber on 127.0.0.1 takes dispatches, alerts and review decisions.
Each lead follows one of five lifecycles, drawn by a seeded random generator:

  win       acknowledge, assign, follow up, order, win, deliver, revisit: completed
  invalid   no city: cleansing at the call center, judged invalid: closed_invalid
  ignore    a Guangzhou lead nobody acknowledges: its one dealer's receipt clock lapses, no dealer is
            left, the lead goes to the call center
  pool      acknowledged and assigned, never followed up: the public-pool clock sends it to the pool
  transfer  acknowledged, transfer requested and approved, acknowledged by the next dealer

The drivers act like people and read what people see (the search attributes): a refused action (a
clock re-dispatched the lead meanwhile) is planned again; a call that got no answer (server or worker
down) is sent again as the same update id, so it is applied once. A worker that exits by itself is
restarted, as compose does (one started while the server is down exits at once: counted).

Afterwards, once nothing is pending and no clock is due for QUIET_FOR, it asserts:
  - none lost: exactly one LeadWorkflow per lead, each in its lifecycle's end state (stage, open or
    completed, how every holding ended: only receipt lapses besides the one transfer);
  - every clock fired: none past its deadline unfired (`quiet` never returns), none before its
    deadline, no clock run lapsed twice, every lapse also a `clock_run` row, and the lapses each
    lifecycle must have (ignore: one first-response and one receipt; pool: one public-pool and a
    first-response per holding; every lifecycle: a receipt lapse per holding it ended);
  - decided once: one `dispatched` event per holding; timeline seqs 1..seq, no gap, no repeat;
  - notifications: each row belongs to its event (`notified_<kind>`, or `alert_raised` of that
    alert), and every notifying event has its rows;
  - webhooks: no fan-out but completed ones, every delivery row `delivered`, every dispatch, alert
    and review decision received, and an event received twice only if its first copy arrived at
    most 2 s before (0.5 s after) a worker kill (the at-least-once window: 2xx seen, record not yet
    written), with identical bytes, so a receiver deduplicating by id sees it once;
  - `python -m ops.reconcile --since 1d` exits 0 with no drift; then a deleted row, an edited
    stage and an orphan row are found, repaired, and a second pass is clean.

Size (defaults in brackets; the README has the numbers of bigger runs):
  LEADFLOW_FAULT_LEADS [80]  LEADFLOW_FAULT_WORKER_KILLS [4]  LEADFLOW_FAULT_SERVER_KILLS [1]
  LEADFLOW_FAULT_SEED [6]  printed; it fixes the lifecycles, arrival times, kill times and downtimes
  (where a kill lands inside a lifecycle still depends on the machine's speed).
The default takes 60-70 s on 2 busy cores (about 80 CPU-seconds in the server and the workers, about
1 per lead); it cannot take less than about 45 s: a killed worker's activities are retried only when
their 30-s start-to-close timeout runs out.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from activities.webhooks import ALERT_RAISED, DISPATCHED, REVIEW_DECIDED
from core.settings import Settings
from core.temporal_client import connect
from db.engine import aware, init_db, make_engine
from db.models import (
    ClockRun,
    Consultant,
    Dealer,
    Lead,
    Notification,
    TimelineEntry,
    User,
    WebhookDelivery,
    WebhookSubscription,
)
from domain import commands as c
from domain.clocks import SURVIVE_END
from domain.models import Actor, LeadState
from domain.policy import Clocks, Policy, load_policy
from domain.stages import LeadStage, Role
from ops.reconcile import last_projection, reconcile
from tests.conftest import POSTGRES_URL, _binary, free_port, seed
from tests.fixtures import CALL_CENTER, OPS, raw_lead
from workflows import gateway
from workflows import search_attributes as sa
from workflows.lead import LeadWorkflow
from workflows.search_attributes import cli_flags
from workflows.webhooks import REVIEW_DECISIONS

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
LEADS = int(os.environ.get("LEADFLOW_FAULT_LEADS", "80"))
WORKER_KILLS = int(os.environ.get("LEADFLOW_FAULT_WORKER_KILLS", "4"))
SERVER_KILLS = int(os.environ.get("LEADFLOW_FAULT_SERVER_KILLS", "1"))
SEED = int(os.environ.get("LEADFLOW_FAULT_SEED", "6"))
TIME_SCALE = 300
TASK_QUEUE = "faults"
# dispatches, alerts and review decisions: every one is a fan-out workflow (stage changes too would double the work)
WEBHOOK_TYPES = [DISPATCHED, ALERT_RAISED, REVIEW_DECIDED]
SPREAD = max(15.0, LEADS / 12)  # seconds over which the leads arrive; the kills fall in it and a little after
GOALS = {"win": 0.45, "invalid": 0.10, "ignore": 0.15, "pool": 0.15, "transfer": 0.15}
EXTRA_DEALERS = [f"D-SX-{i:02d}" for i in range(1, 13)]  # more Shanghai dealers: a re-dispatched lead finds one
OVERDUE_GRACE = timedelta(seconds=5)  # a due clock fires within this (the worker is up, nothing pending)
# no clock due this long after the checks begin: they and the reconciliation see one moment
QUIET_FOR = timedelta(seconds=30)
DUPLICATE_WINDOW = (2.0, 0.5)  # a receipt this long before (after) a worker kill may be resent: 2xx seen, not recorded
# SQLite skips fsync: a SIGKILLed server loses nothing the OS already has (only a power cut would); with an
# fsync per transaction about half as many lifecycles fit in the time
SERVER_PRAGMAS = ["synchronous=OFF"]
# a failure past these, not a hang (the default run needs about 65 s in all on 2 busy cores)
DRIVE_LIMIT = SPREAD + 150 + LEADS * 1.0  # seconds for every lifecycle to reach its end
QUIET_LIMIT = 120 + LEADS * 0.5  # then for nothing to be pending and no clock to be due for QUIET_FOR


# --------------------------------------------------------------------------- the stack


@dataclass
class Kill:
    at: float  # time.time()
    what: str  # worker | server
    down_s: float


class Stack:
    """The dev server and the worker as processes of their own (each in its own process group)."""

    def __init__(self, tmp: Path, database_url: str):
        self.tmp, self.database_url = tmp, database_url
        self.address = f"127.0.0.1:{free_port()}"
        self.server: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.kills: list[Kill] = []
        self.worker_starts = 0
        self.unexpected_exits: list[str] = []
        self.connect_failures = 0
        self.worker_log_from = 0

    def _spawn(self, cmd: list[str], log: str, env: dict | None = None) -> subprocess.Popen:
        out = open(self.tmp / log, "ab")
        try:
            return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            out.close()

    def start_server(self) -> None:
        port = self.address.rsplit(":", 1)[1]
        self.server = self._spawn([_binary("temporal"), "server", "start-dev", "--db-filename",
                                   str(self.tmp / "temporal.db"),
                                   "--ip", "127.0.0.1", "--port", port, "--headless", "--log-level", "error",
                                   *cli_flags(),
                                   *[f for p in SERVER_PRAGMAS for f in ("--sqlite-pragma", p)]],
                                  "server.log")

    def start_worker(self) -> None:
        log = self.tmp / "worker.log"
        self.worker_log_from = log.stat().st_size if log.exists() else 0
        env = os.environ | {"TEMPORAL_ADDRESS": self.address, "DATABASE_URL": self.database_url,
                            "LEADFLOW_TASK_QUEUE": TASK_QUEUE, "LEADFLOW_TIME_SCALE": str(TIME_SCALE),
                            "LEADFLOW_WORKER_METRICS_ADDRESS": "off", "LEADFLOW_LOG_LEVEL": "WARNING",
                            # the SDK's sticky timeout, as the rest of the suite: after a SIGKILL the dead worker's
                            # sticky tasks come back after 10 s, not production's 60 (tests/test_restart.py)
                            "LEADFLOW_STICKY_TIMEOUT_SECONDS": "10"}
        self.worker = self._spawn([sys.executable, "worker.py"], "worker.log", env)
        self.worker_starts += 1

    @staticmethod
    def _kill(proc: subprocess.Popen | None, sig=signal.SIGKILL) -> None:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)
        if proc is not None:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def check_worker(self) -> None:
        """A worker that exits by itself is restarted, as compose's `restart: unless-stopped` does. One that
        started while the server was down exits at once (the SDK's connect does not wait): counted; any
        other exit is a finding (the test fails on it)."""
        if self.worker is not None and self.worker.poll() is not None:
            with open(self.tmp / "worker.log", "rb") as f:
                f.seek(self.worker_log_from)
                output = f.read().decode(errors="replace")
            if self.worker.returncode == 1 and "Failed client connect" in output:
                self.connect_failures += 1
            else:
                self.unexpected_exits.append(f"worker exited with code {self.worker.returncode}: {output[-2000:]}")
            self.start_worker()

    async def kill_worker(self, down_s: float) -> None:
        self.kills.append(Kill(time.time(), "worker", down_s))
        self._kill(self.worker)
        await asyncio.sleep(down_s)
        self.start_worker()

    async def kill_server(self, down_s: float) -> None:
        self.kills.append(Kill(time.time(), "server", down_s))
        self._kill(self.server)
        await asyncio.sleep(down_s)
        self.start_server()

    def stop(self) -> None:
        self._kill(self.worker, signal.SIGTERM)
        self._kill(self.server, signal.SIGTERM)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


async def wait_for_server(client: Client, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=2))
            return
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def connected(address: str, timeout: float = 30) -> Client:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await connect(Settings(temporal_address=address, task_queue=TASK_QUEUE))
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


# --------------------------------------------------------------------------- the read model and its master data


def database(tmp: Path) -> tuple[str, Callable[[], None]]:
    """A PostgreSQL database of this run's own when PostgreSQL answers, else an SQLite file."""
    name = f"leadflow_faults_{os.getpid()}"
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
            # no WAL flush per commit: a killed worker loses nothing the server acknowledged (a PostgreSQL crash could)
            conn.execute(text(f"ALTER DATABASE {name} SET synchronous_commit = off"))
    except Exception:  # noqa: BLE001 - no PostgreSQL here: the worker's default store
        admin.dispose()
        return f"sqlite:///{tmp / 'leadflow.db'}", lambda: None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}", drop


def seed_network(engine, webhook_url: str) -> None:
    seed(engine)
    with Session(engine) as session:
        for i, dealer_id in enumerate(EXTRA_DEALERS):
            session.merge(Dealer(id=dealer_id, name=f"Aurora Shanghai {i + 1}", brand="Aurora", region="East",
                                 city="Shanghai", latitude=31.2 + i / 100, longitude=121.4 + i / 100,
                                 series=["A5", "A7"],
                                 stock={"A5": 3 + i % 4}, conversion_90d=0.1 + i / 100, rating=4.0))
        session.flush()
        for dealer_id in EXTRA_DEALERS:
            slug = dealer_id.lower()
            for suffix, role in (("mgr", Role.DEALER_MANAGER), ("opslead", Role.DEALER_OPS_LEAD),
                                 ("c1", Role.CONSULTANT), ("c2", Role.CONSULTANT)):
                session.merge(User(id=f"{slug}-{suffix}", name=f"{dealer_id} {suffix}", role=role.value,
                                   dealer_id=dealer_id))
        session.flush()
        for dealer_id in EXTRA_DEALERS:
            for n in (1, 2):
                session.merge(Consultant(user_id=f"{dealer_id.lower()}-c{n}", dealer_id=dealer_id))
        for dealer in session.exec(select(Dealer)):
            dealer.capacity = 100_000  # hundreds of open leads on a few dealers: capacity is not what is tested
            session.add(dealer)
        session.add(WebhookSubscription(id="wh-faults", name="faults", url=webhook_url, secret="whsec_faults",
                                        event_types=WEBHOOK_TYPES, created_at=datetime.now(UTC)))
        session.commit()


# --------------------------------------------------------------------------- a webhook receiver


class Receiver:
    """Answers 200 to every POST and records (event id, body, when)."""

    def __init__(self):
        self.got: list[tuple[str, bytes, float]] = []
        lock, got = threading.Lock(), self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    got.append((json.loads(body)["id"], body, time.time()))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- people acting on leads


def dealer_actor(dealer_id: str, who: str = "mgr") -> Actor:
    role = Role.CONSULTANT if who.startswith("c") else Role.DEALER_MANAGER
    return Actor(user_id=f"{dealer_id.lower()}-{who}", role=role, dealer_id=dealer_id)


@dataclass
class View:
    """What a person sees of the lead: its stage and dealer (search attributes, or an action's answer)."""

    stage: LeadStage
    dealer_id: str | None
    running: bool = True


def next_action(goal: str, v: View, transferred: bool) -> tuple[Actor, Any] | str | None:
    """What a person does next for this lifecycle; None: the lead is where it should end; "wait": a clock's turn."""
    stage, dealer = v.stage, v.dealer_id
    S = LeadStage
    if goal == "invalid":
        if stage == S.CLEANSING:
            return CALL_CENTER, c.RecordCleansing(outcome=c.CleansingOutcome.INVALID, note="fake number")
        return None if stage == S.CLOSED_INVALID else "wait" if stage == S.NEW else "unexpected"
    if goal == "ignore":
        return None if stage == S.CALL_CENTER else "wait" if stage in (S.NEW, S.DISPATCHED) else "unexpected"
    if stage == S.COMPLETED:
        return None
    if dealer is None:  # between two dealers (a clock or a transfer ended the holding, the dispatch is on its way)
        return "wait" if stage in (S.NEW, S.DISPATCHED, S.TRANSFER_REVIEW) else "unexpected"
    if stage == S.DISPATCHED:
        return dealer_actor(dealer), c.Acknowledge()
    if goal == "transfer":
        if stage == S.ACKNOWLEDGED:
            return None if transferred else (dealer_actor(dealer), c.RequestTransfer(
                reason=c.TransferReason.OTHER, text="the customer lives closer to another dealer"))
        if stage == S.TRANSFER_REVIEW:
            return OPS, c.ReviewTransfer(approve=True, explanation="ok")
        return "unexpected"
    if goal == "pool":
        if stage == S.ACKNOWLEDGED:
            return dealer_actor(dealer), c.Assign(consultant_id=f"{dealer.lower()}-c1")
        return "wait" if stage == S.ASSIGNED else None if stage == S.PUBLIC_POOL else "unexpected"
    me = dealer_actor(dealer, "c1")
    steps = {
        S.ACKNOWLEDGED: (dealer_actor(dealer), c.Assign(consultant_id=me.user_id)),
        S.PUBLIC_POOL: (me, c.Claim()),
        S.ASSIGNED: (me, c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=5, note="needs captured")),
        S.CONTACTED: (me, c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=5)),
        S.ENGAGED: (me, c.RecordOrder(deposit=5_000)),  # invited, visited, test-driven, quoted: in one go
        S.ORDERED: (me, c.RecordWin(payment=c.PaymentMethod.CASH, amount=210_000)),
        S.WON: (me, c.RecordDelivery(vin="LVX123")),
        S.DELIVERED: (me, c.LogRevisit(note="happy customer")),
    }
    return steps.get(stage, "unexpected")


TRANSPORT = (RPCError, asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError)


@dataclass
class Drive:
    n: int
    goal: str
    start_after: float
    lead_id: str | None = None
    actions: int = 0
    refusals: int = 0
    resends: int = 0
    problem: str | None = None
    took: float = 0.0  # seconds from its intake to its lifecycle's end
    intake_s: float = 0.0
    ended_at: float = 0.0


TESTED_CLOCKS = ("first_response", "receipt", "public_pool")


def fault_policy() -> Policy:
    """The default policy with the clocks these lifecycles wait for at 1 hour (12 s at the time scale) and
    every other clock at 30 days (2.4 h): none of those comes due during a run, so once the lifecycles
    have ended the leads settle and the checks see one moment."""
    policy = load_policy(time_scale=TIME_SCALE)
    hour, month = timedelta(hours=1), timedelta(days=30)
    durations = {name: hour if name in TESTED_CLOCKS else month for name in Clocks.model_fields
                 if name != "grade_cadence"}
    cadence = policy.clocks.grade_cadence.model_copy(update={grade: month for grade in ("H", "A", "B", "C")})
    return policy.model_copy(update={"clocks": policy.clocks.model_copy(update=durations | {"grade_cadence": cadence})})


class Drivers:
    def __init__(self, client: Client, seed_: int):
        self.client, self.policy = client, fault_policy()
        self.rng = random.Random(seed_)
        goals = list(GOALS)
        self.drives = [Drive(n, self.rng.choices(goals, weights=list(GOALS.values()))[0], self.rng.uniform(0, SPREAD))
                       for n in range(1, LEADS + 1)]

    async def _retry(self, d: Drive, make, timeout: float = 30):
        """A call the server may not answer (it is down, the worker is): sent again until it is."""
        for attempt in range(200):
            try:
                return await asyncio.wait_for(make(), timeout)
            except TRANSPORT:
                d.resends += 1
                await asyncio.sleep(min(0.2 * (attempt + 1), 2))
        raise AssertionError(f"lead {d.n}: no answer after 200 attempts")

    async def view(self, d: Drive) -> View:
        """From the search attributes the workflow keeps current: the server answers, no worker needed."""
        lead_id = d.lead_id
        assert lead_id is not None, "viewed before intake"
        description = await self._retry(d, lambda: self.client.get_workflow_handle(lead_id).describe())
        attributes = description.typed_search_attributes
        return View(LeadStage(attributes.get(sa.LEAD_STAGE) or "new"), attributes.get(sa.DEALER_ID),
                    description.status == WorkflowExecutionStatus.RUNNING)

    async def transferred_before(self, d: Drive) -> bool:
        assert d.lead_id is not None, "asked before intake"
        handle = self.client.get_workflow_handle_for(LeadWorkflow.run, d.lead_id)
        s = await self._retry(d, lambda: handle.query(LeadWorkflow.lead, rpc_timeout=timedelta(seconds=10)))
        return any(h.end_reason == "transferred" for h in s.past_holdings)

    async def drive(self, d: Drive, deadline: float) -> None:
        await asyncio.sleep(d.start_after)
        rng = random.Random(SEED * 100_003 + d.n)
        fields = {"city": None} if d.goal == "invalid" else {"city": "Guangzhou"} if d.goal == "ignore" else {}
        raw = raw_lead(d.n, **fields)
        asked = time.monotonic()
        result = await self._retry(d, lambda: gateway.submit_raw_lead(self.client, TASK_QUEUE, self.policy, raw, OPS))
        d.lead_id = result.lead_id
        taken_in = time.monotonic()
        d.intake_s = taken_in - asked
        handle = self.client.get_workflow_handle_for(LeadWorkflow.run, d.lead_id)
        view, transferred = View(LeadStage(result.stage), result.dealer_id), False
        while True:
            step = next_action(d.goal, view, transferred)
            if step is None:
                d.took, d.ended_at = time.monotonic() - taken_in, time.monotonic()
                return
            if time.monotonic() > deadline:
                break
            if step == "unexpected":
                d.problem = f"{d.goal} lead {d.lead_id} in stage {view.stage.value} (running={view.running})"
                return
            if step == "wait":
                await asyncio.sleep(2)
                view = await self.view(d)
                continue
            if not view.running:
                d.problem = f"{d.goal} lead {d.lead_id} closed in stage {view.stage.value}"
                return
            assert not isinstance(step, str), step  # "wait" and "unexpected" are handled above
            actor, command = step
            if command.action == "request_transfer" and await self.transferred_before(d):
                transferred = True  # the approval went through, its answer was lost (a kill)
                continue
            # a resend (no answer came) is the same update, applied once; a new decision is a new update
            update_id = f"{d.lead_id}:{d.actions}:{d.refusals}:{view.stage.value}:{command.action}"
            try:
                done = await asyncio.wait_for(handle.execute_update(
                    LeadWorkflow.act, c.CommandEnvelope(actor=actor, command=command), id=update_id), 30)
                d.actions += 1
                transferred = transferred or command.action == "review_transfer"
                assert done.stage is not None  # the engine's own actions: it always says the stage
                view = View(LeadStage(done.stage), done.dealer_id)
            except WorkflowUpdateFailedError:
                d.refusals += 1  # the lead moved on meanwhile (a clock): planned again from what it is now
                if d.refusals > 50:
                    d.problem = (f"{d.goal} lead {d.lead_id}: {command.action} refused again and again in "
                                 f"{view.stage.value}")
                    return
                await asyncio.sleep(0.5)
                view = await self.view(d)
            except TRANSPORT:
                d.resends += 1  # the server or the worker is down: planned again from what it is now, then resent
                await asyncio.sleep(0.5)
                view = await self.view(d)
            await asyncio.sleep(rng.uniform(0, 0.2))
        d.problem = f"{d.goal} lead {d.lead_id} did not reach its end in time: {view} after {d.actions} actions"


async def projected_state(client: Client, lead_id: str, run_id: str) -> LeadState | None:
    """A closed lead's state: the last one its workflow projected."""
    last = await last_projection(client, lead_id, run_id)
    return last.state if last else None


async def chaos(stack: Stack, client: Client, rng: random.Random, stop: asyncio.Event) -> None:
    """SIGKILL the worker (and the server) at seeded random moments; restart after a seeded downtime."""
    plan = sorted([(rng.uniform(1, SPREAD + 3), "worker", rng.uniform(0.2, 2.5)) for _ in range(WORKER_KILLS)]
                  + [(rng.uniform(SPREAD * 0.3, SPREAD * 0.8), "server",
                      rng.uniform(0.5, 2.0)) for _ in range(SERVER_KILLS)])
    began = time.monotonic()
    for at, what, down in plan + [(float("inf"), "", 0.0)]:
        while time.monotonic() < began + at and not stop.is_set():
            stack.check_worker()  # a worker that dies by itself is restarted (and reported)
            await asyncio.sleep(min(0.5, max(0.0, began + at - time.monotonic())))
        if stop.is_set():
            return
        if what == "worker":
            await stack.kill_worker(down)
        else:
            await stack.kill_server(down)
            await wait_for_server(client)


# --------------------------------------------------------------------------- afterwards


async def snapshot(client: Client, lead_id: str) -> tuple[LeadState, WorkflowExecutionStatus, bool]:
    """The lead's state (running: its query; closed: its last projection) and whether anything is pending."""
    d = await client.get_workflow_handle(lead_id).describe()
    if d.status != WorkflowExecutionStatus.RUNNING:
        projected = await projected_state(client, lead_id, d.run_id)
        assert projected is not None and d.status is not None, f"{lead_id} closed without a projection"
        return projected, d.status, False
    raw = d.raw_description
    # a delivered lead's owner-care workflow is a child left to outlive it (years): not pending work of the lead
    children = [c for c in raw.pending_children if not c.workflow_id.startswith("owner-")]
    pending = bool(raw.pending_activities or children or raw.HasField("pending_workflow_task"))
    state = await client.get_workflow_handle_for(LeadWorkflow.run, lead_id).query(
        LeadWorkflow.lead, rpc_timeout=timedelta(seconds=10))
    assert state is not None, f"{lead_id} has not been taken in"
    return state, d.status, pending


async def quiet(client: Client, lead_ids: list[str],
                deadline: float) -> dict[str, tuple[LeadState, WorkflowExecutionStatus]]:
    """Wait until nothing moves: no workflow task, activity or child pending, no fan-out running, no clock due
    within QUIET_FOR, and every lead as it was one look before (so the checks and the reconciliation see one
    moment); the leads' states then."""
    before: list | None = None
    while True:
        found = await asyncio.gather(*(snapshot(client, i) for i in lead_ids))
        same = before is not None and [f[0].seq for f in found] == [f[0].seq for f in before]
        before = found
        horizon = datetime.now(UTC) + QUIET_FOR
        busy = [i for i, (_, _, pending) in zip(lead_ids, found, strict=True) if pending]
        due = [(i, ck.name, ck.deadline) for i, (s, status, _) in zip(lead_ids, found, strict=True)
               if status == WorkflowExecutionStatus.RUNNING for ck in s.clocks.values()
               if ck.running and ck.deadline is not None and ck.deadline < horizon]
        overdue = [x for x in due if x[2] < datetime.now(UTC) - OVERDUE_GRACE]
        fanouts = (await client.count_workflows('WorkflowType="WebhookFanout" AND ExecutionStatus="Running"')).count
        if not busy and not due and not fanouts and same:
            return {i: (s, status) for i, (s, status, _) in zip(lead_ids, found, strict=True)}
        assert time.monotonic() < deadline, (f"never quiet: {len(busy)} leads busy {busy[:5]}, clocks due soon "
                                             f"{due[:5]}, "
                                             f"clocks past their deadline, never fired: {overdue[:5]}, {fanouts} "
                                             "fan-outs running")
        await asyncio.sleep(1)


def rows(engine, model, *where):
    with Session(engine) as session:
        return list(session.exec(select(model).where(*where)).all())


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


async def test_leads_survive_worker_and_server_kills(tmp_path, receiver):
    print(f"\nfaults: seed {SEED} (LEADFLOW_FAULT_SEED), {LEADS} leads, {WORKER_KILLS} worker kills, "
          f"{SERVER_KILLS} server kills, time scale {TIME_SCALE}; logs in {tmp_path}", flush=True)
    began, wall_began = time.monotonic(), time.time()
    database_url, drop_database = database(tmp_path)
    engine = make_engine(database_url)
    init_db(engine)
    seed_network(engine, receiver.url)
    stack = Stack(tmp_path, database_url)
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []
    try:
        stack.start_server()
        client = await connected(stack.address)
        await wait_for_server(client)
        stack.start_worker()
        drivers = Drivers(client, SEED)
        print(f"faults: lifecycles {dict(Counter(d.goal for d in drivers.drives))}; set up in "
              f"{time.monotonic() - began:.1f} s",
              flush=True)
        chaos_task = asyncio.create_task(chaos(stack, client, random.Random(SEED + 1), stop))
        hard_deadline = time.monotonic() + DRIVE_LIMIT
        tasks = [asyncio.create_task(drivers.drive(d, hard_deadline)) for d in drivers.drives]
        await asyncio.gather(*tasks)
        driven_s = time.monotonic() - began
        slow = sorted(drivers.drives, key=lambda d: -d.ended_at)[:5]
        print("faults: last to end " + ", ".join(
            f"{d.goal} at {d.ended_at - began:.0f} s (arrived {d.start_after:.0f} s, intake {d.intake_s:.1f} s, "
            f"took {d.took:.0f} s, {d.resends} resends)" for d in slow), flush=True)
        print("faults: kills at " + ", ".join(f"{k.what} {k.at - wall_began:.1f} s (down {k.down_s:.1f} s)"
                                               for k in stack.kills), flush=True)
        stop.set()
        await chaos_task
        drives = drivers.drives
        problems = [d.problem for d in drives if d.problem]
        assert not problems, f"{len(problems)} leads off their lifecycle:\n" + "\n".join(problems[:20])
        lead_ids = [d.lead_id for d in drives]
        assert len(set(lead_ids)) == LEADS
        states = await quiet(client, lead_ids, time.monotonic() + QUIET_LIMIT)
        now = quiet_at = datetime.now(UTC)
        settled_s = time.monotonic() - began

        # -- no lead lost: every lead a workflow, in its lifecycle's end state
        listed = (await client.count_workflows(
            'WorkflowType="LeadWorkflow" AND ExecutionStatus!="ContinuedAsNew"')).count
        assert listed == LEADS, f"{listed} lead workflows for {LEADS} leads"
        wrong = []
        for d in drives:
            s, status = states[d.lead_id]
            running = status == WorkflowExecutionStatus.RUNNING
            # how holdings ended: a slow acknowledgment (a kill) may let a receipt clock re-dispatch, nothing else may
            ended = Counter(h.end_reason for h in s.past_holdings)
            lapsed_only = set(ended) <= {"receipt_lapsed"}
            ok = {
                "win": s.stage == LeadStage.COMPLETED and lapsed_only and (not running or set(s.clocks) <= SURVIVE_END),
                "invalid": s.stage == LeadStage.CLOSED_INVALID and not running and not s.past_holdings
                  and not s.holding,
                "ignore": s.stage == LeadStage.CALL_CENTER and running and not s.holding
                and [(h.dealer_id, h.end_reason) for h in s.past_holdings] == [("D-GZ-1", "receipt_lapsed")],
                "pool": s.stage == LeadStage.PUBLIC_POOL and running and lapsed_only,
                "transfer": s.stage == LeadStage.ACKNOWLEDGED and running and ended["transferred"] == 1
                and set(ended) <= {"transferred", "receipt_lapsed"},
            }[d.goal]
            if not ok:
                wrong.append(f"{d.goal} {d.lead_id}: {s.stage.value} {status.name} "
                             f"{[h.end_reason for h in s.past_holdings]}")
        assert not wrong, "\n".join(wrong)

        # -- every due clock fired: none overdue, none early, none twice, each lapse in the read model
        # (a clock past its deadline and never fired would have kept `quiet` from returning)
        timeline = defaultdict(list)
        for e in rows(engine, TimelineEntry, TimelineEntry.lead_id.in_(lead_ids)):
            timeline[e.lead_id].append(e)
        lapses = [(e.lead_id, e.data["clock"], datetime.fromisoformat(e.data["deadline"]), aware(e.at))
                  for events in timeline.values() for e in events if e.kind == "clock_lapsed"]
        early = [x for x in lapses if x[3] < x[2]]
        assert not early, f"clocks fired before their deadline: {early[:10]}"
        twice = [k for k, n in Counter(x[:3] for x in lapses).items() if n > 1]
        assert not twice, f"clock runs lapsed twice: {twice[:10]}"
        lapsed_runs = {(r.lead_id, r.clock, aware(r.deadline)) for r in rows(engine, ClockRun,
                                                                             ClockRun.outcome == "lapsed")}
        differ = lapsed_runs ^ {x[:3] for x in lapses}
        recent = {i: [(e.seq, e.kind, e.at) for e in sorted(timeline[i], key=lambda e: e.seq)][-6:]
                  for i in {x[0] for x in differ}}
        assert not differ, (f"lapses in clock_run and the timeline differ: {sorted(differ)[:5]}; quiet at {quiet_at}; "
                            + "; ".join(f"{i}: {events}" for i, events in recent.items()))
        by_clock = Counter(x[1] for x in lapses)
        for d in drives:  # the lapses each lifecycle must have had, given how its holdings ended
            s, _ = states[d.lead_id]
            have = Counter(x[1] for x in lapses if x[0] == d.lead_id)
            holdings = len(s.past_holdings) + (s.holding is not None)
            receipts = sum(1 for h in s.past_holdings if h.end_reason == "receipt_lapsed")
            ok = have["receipt"] == receipts and {
                "win": have["first_response"] <= holdings,
                "invalid": not have,
                "ignore": have == {"receipt": 1, "first_response": 1},
                "pool": have["public_pool"] == 1 and have["first_response"] == holdings,  # nobody ever followed up
                "transfer": have["first_response"] >= 1,  # the last dealer's, never followed up
            }[d.goal]
            assert ok, (f"{d.goal} {d.lead_id}: lapses {dict(have)}, {holdings} holdings, {receipts} ended by the "
                        "receipt clock")
        lateness = sorted((x[3] - x[2]).total_seconds() for x in lapses) or [0.0]

        # -- every dispatch decided once; every notifying event notified, no notification without its event
        for lead_id, (s, _) in states.items():
            dispatched = sum(1 for e in timeline[lead_id] if e.kind == "dispatched")
            assert dispatched == len(s.past_holdings) + (s.holding is not None), lead_id
            assert [e.seq for e in sorted(timeline[lead_id], key=lambda e: e.seq)] == list(range(1, s.seq + 1)), lead_id
        events = {(e.lead_id, e.seq): e for evs in timeline.values() for e in evs}
        notifications = rows(engine, Notification, Notification.lead_id.in_(lead_ids))
        notified = defaultdict(list)
        for n in notifications:
            seq = int(n.idempotency_key.split(":")[1])
            notified[(n.lead_id, seq)].append(n)
            e = events.get((n.lead_id, seq))
            assert e is not None and (e.kind == f"notified_{n.kind}"
                                      or (e.kind == "alert_raised" and e.data["alert"] == n.kind)
                                      ), (f"notification {n.idempotency_key} ({n.kind}) has no such event: "
                                          f"{e and e.kind}")
        notifying = [k for k, e in events.items() if e.kind == "alert_raised" or e.kind.startswith("notified_")]
        unnotified = [k for k in notifying if k not in notified]
        assert not unnotified, f"notifying events without a notification: {unnotified[:10]}"

        # -- webhooks: every event delivered and recorded; a resend only inside the at-least-once window
        fanouts_failed = (await client.count_workflows(
            'WorkflowType="WebhookFanout" AND ExecutionStatus!="Completed"')).count
        assert fanouts_failed == 0
        deliveries = {d.event_id: d for d in rows(engine, WebhookDelivery,
                                                  WebhookDelivery.subscription_id == "wh-faults")}
        assert {d.status for d in deliveries.values()} == {"delivered"}
        received = defaultdict(list)
        for event_id, body, at in receiver.got:
            received[event_id].append((body, at))
        assert set(received) == set(deliveries)
        expected_ids = set()
        for (lead_id, seq), e in events.items():
            if e.kind == "dispatched":
                expected_ids.add(f"{lead_id}:{seq}:lead.dispatched")
            elif e.kind == "alert_raised":
                expected_ids.add(f"{lead_id}:{seq}:lead.alert_raised")
            elif e.kind in REVIEW_DECISIONS:
                expected_ids.add(f"{lead_id}:{seq}:lead.review_decided")
        assert expected_ids <= set(received), ("webhook events never delivered: "
                                               f"{sorted(expected_ids - set(received))[:10]}")
        worker_kills = [k.at for k in stack.kills if k.what == "worker"]
        before, after = DUPLICATE_WINDOW
        resent = {i: copies for i, copies in received.items() if len(copies) > 1}
        for event_id, copies in resent.items():
            assert len({body for body, _ in copies}) == 1, f"{event_id} resent with another body"
            first = copies[0][1]
            assert any(first - after <= k <= first + before for k in worker_kills), (
                f"{event_id} received {len(copies)} times; its first copy at {first:.3f} is not just before a worker "
                f"kill ({[round(k, 3) for k in worker_kills]})")

        # -- the checks above saw one moment: no lead moved while they ran
        again = await asyncio.gather(*(snapshot(client, i) for i in lead_ids))
        moved = [(i, states[i][0].seq, s.seq) for i, (s, _, _) in zip(lead_ids, again,
                                                                      strict=True) if s.seq != states[i][0].seq]
        assert not moved, f"leads moved during the checks (lead, seq then, seq now): {moved[:5]}; quiet at {quiet_at}"

        # -- the read model matches the workflows: the command, then drift injected and repaired
        cli_env = os.environ | {"TEMPORAL_ADDRESS": stack.address, "DATABASE_URL": database_url,
                                "LEADFLOW_TASK_QUEUE": TASK_QUEUE}
        command = [sys.executable, "-m", "ops.reconcile", "--since", "1d", "--settle", "1"]
        done = await asyncio.to_thread(subprocess.run, command, cwd=ROOT, env=cli_env, capture_output=True, text=True,
                                       timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        summary = done.stdout.strip().splitlines()[-1]
        assert summary.startswith(f"checked {LEADS} leads"), summary
        assert "; 0 drifted (0 orphan rows), 0 repaired; 0 busy;" in summary and summary.endswith("; 0 errors"), summary

        victim, edited = lead_ids[0], lead_ids[1]
        with Session(engine) as session:
            session.delete(session.get(Lead, victim))
            row = session.get(Lead, edited)
            row.stage = "won"
            session.add(row)
            session.add(Lead(lead_id="lead-aurora-orphan", brand="Aurora", customer_key="k", customer_name="x",
                             phone="+8613800009999", channel="website", stage="dispatched", furthest_stage="dispatched",
                             created_at=now, updated_at=now, workflow_id="lead-aurora-orphan", run_id="r"))
            session.commit()
        repaired = await reconcile(client, engine, repair=True, settle=1)
        assert {f.lead_id for f in repaired.findings} == {victim, edited, "lead-aurora-orphan"}, repaired.lines()
        assert all(f.repaired for f in repaired.findings) and repaired.exit_code == 1, repaired.lines()
        again = await reconcile(client, engine, settle=1)
        assert again.exit_code == 0 and again.checked == LEADS and not again.busy, again.lines()

        print(f"faults: {LEADS} leads, {len(worker_kills)} worker kills, {SERVER_KILLS} server kills, "
              f"{stack.worker_starts} worker starts ({stack.connect_failures} exited at once: the server was down); "
              f"driven in {driven_s:.0f} s, quiet at {settled_s:.0f} s, "
              f"total {time.monotonic() - began:.0f} s; {sum(d.actions for d in drives)} actions, "
              f"{sum(d.refusals for d in drives)} refused and re-planned, {sum(d.resends for d in drives)} calls "
              "resent; "
              f"clock lapses {dict(by_clock)}, lateness median {lateness[len(lateness) // 2]:.1f} s max "
              f"{lateness[-1]:.1f} s; "
              f"{len(notifications)} notifications; {len(receiver.got)} webhook posts of {len(received)} events, "
              f"{len(resent)} resent (all within {before} s before a worker kill); reconcile: {summary}", flush=True)
        assert not stack.unexpected_exits, stack.unexpected_exits
        stack.stop()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)  # every server and worker, each waited for
        own = resource.getrusage(resource.RUSAGE_SELF)
        print(f"faults: CPU {used.ru_utime + used.ru_stime:.0f} s in the servers and workers, "
              f"{own.ru_utime + own.ru_stime:.0f} s in this test process", flush=True)
    except BaseException:
        traceback.print_exc()
        print(f"--- worker log (tail)\n{stack.log_tail('worker.log')}\n--- server log "
              f"(tail)\n{stack.log_tail('server.log')}")
        raise
    finally:
        for task in tasks:
            task.cancel()
        stop.set()
        stack.stop()
        engine.dispose()
        drop_database()
