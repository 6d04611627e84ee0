"""A lab for lead scenarios: a worker on its own task queue, the gateway, and read-model helpers."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, col, select
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from db.models import DealerPenalty, Lead, Notification, TimelineEntry
from domain import commands as c
from domain.customers import InvalidPhone, normalize_phone
from domain.models import Actor, LeadState, RawLead
from domain.policy import Policy, load_policy
from tests.fixtures import OPS
from worker import build_worker
from workflows import gateway, lead_ids

# the last history event of a workflow that waits (for a timer or a person) with nothing in flight
WAITING = {"workflow_task_completed", "timer_started", "upsert_workflow_search_attributes",
           "workflow_execution_update_completed"}


class Lab:
    def __init__(self, env: WorkflowEnvironment, engine, task_queue: str, policy: Policy):
        self.env, self.client, self.engine = env, env.client, engine
        self.task_queue, self.policy = task_queue, policy
        self.started: set[str] = set()

    async def intake(self, raw: RawLead, actor: Actor = OPS) -> c.IntakeResult:
        try:
            phone = normalize_phone(raw.phone)
            self.started.add(await lead_ids.resolve(self.client, raw.brand, phone))
        except InvalidPhone:
            pass
        return await gateway.submit_raw_lead(self.client, self.task_queue, self.policy, raw, actor)

    async def record_histories(self, name: str) -> None:
        """Write this scenario's histories under tests/histories/ (replayed by tests/test_replay.py)."""
        for i, lead_id in enumerate(sorted(self.leads())):
            await self.quiet(lead_id)
            await self.record_workflow(lead_id, f"{name}-{i}")

    async def record_workflow(self, workflow_id: str, name: str) -> None:
        """Write one workflow's history as tests/histories/<name>.json (a push workflow, beside the leads')."""
        HISTORIES.mkdir(exist_ok=True)
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        await decode_payloads(history.events, self.client.data_converter.payload_codec)  # reviewable, like code
        (HISTORIES / f"{name}.json").write_text(history.to_json())

    def leads(self) -> set[str]:
        return self.started | {row.lead_id for row in self._rows(select(Lead))}  # incl. those taken in through the API

    async def quiet(self, lead_id: str) -> None:
        """Wait (at most ~2 s real time) until the workflow has no workflow task or activity in flight."""
        handle = self.client.get_workflow_handle(lead_id)
        for _ in range(400):
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return
            kind = (await handle.fetch_history()).events[-1].WhichOneof("attributes") or ""
            last = kind.removesuffix("_event_attributes")
            if last in WAITING and not description.raw_description.pending_activities:
                return
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        """End this lab's workflows: the shared test server skips time only when no workflow waits on a
        worker. Terminating one in the middle of a workflow task (as right after continue-as-new) would
        leave the server unable to skip time for every later test, so each is left quiet first."""
        for lead_id in self.leads():
            for workflow_id in (lead_id, f"owner-{lead_id}"):  # and the vehicle's owner care (issue 17)
                try:
                    await self.quiet(workflow_id)
                    await self.client.get_workflow_handle(workflow_id).terminate("test finished")
                except RPCError:
                    pass  # never started (a refused intake, not delivered) or already completed

    async def act(self, lead_id: str, actor: Actor, command) -> c.ActionResult:
        return await gateway.act(self.client, lead_id, c.CommandEnvelope(actor=actor, command=command))

    async def refusal(self, lead_id: str, actor: Actor, command) -> gateway.ActionRefused:
        before = await self.state(lead_id)
        try:
            await self.act(lead_id, actor, command)
        except gateway.ActionRefused as refused:
            after = await self.state(lead_id)
            assert after == before, "a refused action must change nothing"
            return refused
        raise AssertionError(f"{command.action} was accepted")

    async def state(self, lead_id: str) -> LeadState:
        return await gateway.current_state(self.client, lead_id)

    async def sleep(self, delta: timedelta) -> None:
        await self.env.sleep(delta)

    async def settle(self, lead_id: str) -> LeadState:
        """Let the workflow finish what a lapse started (activities run in real time)."""
        await self.env.sleep(timedelta(milliseconds=1))
        return await self.state(lead_id)

    def handle(self, lead_id: str):
        return gateway.handle(self.client, lead_id)

    # -- the read model
    def _rows(self, query):
        with Session(self.engine) as session:
            return list(session.exec(query).all())

    def timeline(self, lead_id: str) -> list[str]:
        query = select(TimelineEntry).where(col(TimelineEntry.lead_id) == lead_id).order_by(col(TimelineEntry.seq))
        return [e.kind for e in self._rows(query)]

    def events(self, lead_id: str, kind: str) -> list[TimelineEntry]:
        return self._rows(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id, TimelineEntry.kind == kind))

    def lead_row(self, lead_id: str) -> Lead | None:
        with Session(self.engine) as session:
            return session.get(Lead, lead_id)

    def notifications(self, lead_id: str, kind: str | None = None) -> list[Notification]:
        query = select(Notification).where(Notification.lead_id == lead_id)
        if kind:
            query = query.where(Notification.kind == kind)
        return self._rows(query.order_by(col(Notification.id)))

    def alerts(self, lead_id: str) -> list[str]:
        return [e.data["alert"] for e in self.events(lead_id, "alert_raised")]

    def penalties(self, dealer_id: str) -> list[DealerPenalty]:
        return self._rows(select(DealerPenalty).where(DealerPenalty.dealer_id == dealer_id)
                          .order_by(col(DealerPenalty.created_at), col(DealerPenalty.penalty_id)))


def payloads_in(messages) -> list[Payload]:
    """Every Payload anywhere in these protobuf messages (a history's events), in place."""
    found: list[Payload] = []
    todo = list(messages)
    while todo:
        message = todo.pop()
        for field, value in message.ListFields():
            if field.type != field.TYPE_MESSAGE:
                continue
            if field.message_type.GetOptions().map_entry:
                by_message = field.message_type.fields_by_name["value"].type == field.TYPE_MESSAGE
                items = list(value.values()) if by_message else []
            else:
                items = list(value) if field.is_repeated else [value]
            for item in items:
                (found if item.DESCRIPTOR.full_name == Payload.DESCRIPTOR.full_name else todo).append(item)
    return found


async def decode_payloads(messages, codec) -> None:
    """Decode, in place, every Payload anywhere in these protobuf messages (a history's events)."""
    found = payloads_in(messages)
    if codec is not None and found:
        for payload, decoded in zip(found, await codec.decode(found), strict=True):
            payload.CopyFrom(decoded)

HISTORIES = Path(__file__).with_name("histories")
RECORDING = {"on": False}  # set by `pytest --record-histories`


@asynccontextmanager
async def lab(env: WorkflowEnvironment, engine, policy: Policy | None = None, record: str | None = None):
    """A worker on a fresh task queue; with `record`, the scenario's histories become replay fixtures."""
    task_queue = f"leads-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with build_worker(env.client, task_queue, engine, executor):
            the_lab = Lab(env, engine, task_queue, policy or load_policy(time_scale=1))
            try:
                yield the_lab
                if record and RECORDING["on"]:
                    await the_lab.record_histories(record)
            finally:
                await the_lab.close()
