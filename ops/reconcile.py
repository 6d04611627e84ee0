"""Compare the read model with the lead workflows, report drift per lead, and repair it.

    python -m ops.reconcile                  # report only
    python -m ops.reconcile --repair         # rewrite the drifted leads
    python -m ops.reconcile --since 24h      # running leads and those closed in the last 24 h
    python -m ops.reconcile --lead lead-aurora-... --lead ...

The workflows are the truth. A running lead answers the `lead` query (a worker must run); a closed
one is read from the end of its history: the last state its workflow projected. For each lead the
read model must hold its row exactly as the projection writes it (`activities.projection.lead_row`:
stage, dealer, consultant, grade, seq, clocks, deadlines, ...), one timeline row per event 1..seq,
and an open `clock_run` row for each running clock and for no other. Holdings, raw leads, the
customer and penalties are not compared (a repair rewrites them too). Read-model rows of open leads
without a workflow are orphans; rows of closed leads missing from visibility are counted, not
touched: retention deleted their history, the row is the only record left.

A lead whose read model differs may just be busy (its projection is on the way): it is looked at
again after `--settle` seconds, and reported only if it is quiet (nothing pending in its workflow)
and still differs.

--repair writes each drifted lead through the projection activity's own code
(`ProjectionActivities.record_lead`) from the workflow's state; timeline events and clock-run
endings older than the state's recent events are recovered from the projection requests in the
lead's histories (every run of it). An orphan row (with its timeline, clock runs, holdings and raw
leads) is deleted; notifications, penalties and webhook deliveries are kept. Each repaired lead is
checked again.

The dealers' and consultants' limit counters and reservation ledger (db/limits.py) are compared with the
read model's open leads when every lead is reconciled (not with --lead); --repair rebuilds them from those.

Exit code: 0 consistent, 1 drift found (listed, repaired or not), 2 error (Temporal or the
database unreachable, a running lead that does not answer its query: is a worker running?).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.projection import ProjectionActivities, lead_row
from db.engine import aware
from db.models import ClockRun, HoldingRow, Lead, RawLeadRow, TimelineEntry
from domain.durations import parse_duration
from domain.models import ClockEnd, LeadState, ProjectionRequest, TimelineEvent
from domain.stages import END_STAGES, LeadStage
from workflows.lead import LeadWorkflow

CHUNK = 500  # leads compared per database round trip
JSON_COLUMNS = {"clocks", "score_items", "detail"}
ROW_COLUMNS = [c.name for c in Lead.__table__.columns]  # type: ignore[attr-defined]  # set by SQLModel's metaclass


# --------------------------------------------------------------------------- what is compared


@dataclass
class Truth:
    """A lead as its workflow has it."""

    lead_id: str
    run_id: str
    running: bool
    state: LeadState | None  # None: started, no raw lead taken in yet


@dataclass
class Observed:
    """A lead as the read model has it."""

    row: Lead | None = None
    timeline: dict[int, str] = field(default_factory=dict)  # seq -> kind
    open_clocks: dict[tuple[str, datetime], datetime | None] = field(default_factory=dict)  # (clock, start) -> deadline


@dataclass
class Drift:
    """What differs for one lead; the sets say what a repair has to write or remove."""

    problems: list[str] = field(default_factory=list)
    missing_seqs: set[int] = field(default_factory=set)
    extra_seqs: set[int] = field(default_factory=set)
    wrong_kind_seqs: set[int] = field(default_factory=set)
    stale_open_clocks: set[tuple[str, datetime]] = field(default_factory=set)
    row_ahead: bool = False

    def __bool__(self) -> bool:
        return bool(self.problems)


@dataclass
class Finding:
    lead_id: str
    problems: list[str]
    orphan: bool = False
    repaired: bool | None = None  # None: not attempted
    left: list[str] = field(default_factory=list)  # what a repair could not fix


@dataclass
class Report:
    checked: int = 0
    running: int = 0
    closed: int = 0
    empty: int = 0
    retained: int = 0
    busy: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 2 if self.errors else 1 if self.findings else 0

    def lines(self) -> list[str]:
        out = []
        for f in self.findings:
            text = f"{'orphan' if f.orphan else 'drift'} {f.lead_id}: {'; '.join(f.problems)}"
            if f.repaired is True:
                text += " -> repaired"
            elif f.repaired is False:
                text += f" -> NOT repaired: {'; '.join(f.left)}"
            out.append(text)
        out += [f"busy {lead_id}: still changing, not compared" for lead_id in self.busy]
        out += [f"error {e}" for e in self.errors]
        repaired = sum(1 for f in self.findings if f.repaired)
        orphans = sum(1 for f in self.findings if f.orphan)
        out.append(
            f"checked {self.checked} leads ({self.running} running, {self.closed} closed; {self.empty} not taken in "
            "yet); "
            f"{len(self.findings)} drifted ({orphans} orphan rows), {repaired} repaired; {len(self.busy)} busy; "
            f"{self.retained} closed rows kept without a workflow history (retention); {len(self.errors)} errors")
        return out


def _same(column: str, have, want) -> bool:
    if isinstance(have, datetime) or isinstance(want, datetime):
        return aware(have) == aware(want)
    return have == want


def _show(value) -> str:
    return repr(aware(value).isoformat() if isinstance(value, datetime) else value)


def _seqs(seqs: Iterable[int]) -> str:
    """1,2,3,7 -> '1-3, 7'"""
    out: list[str] = []
    run: list[int] = []
    for q in sorted(seqs):
        if run and q == run[-1] + 1:
            run.append(q)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [q]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def compare(truth: Truth, seen: Observed) -> Drift:
    """The differences between a lead's workflow state and its read model (pure)."""
    drift, s = Drift(), truth.state
    if s is None:  # callers compare only leads that have been taken in
        raise ValueError(f"{truth.lead_id}: no state to compare yet")
    if seen.row is None:
        drift.problems.append("no read-model row")
    else:
        want = lead_row(ProjectionRequest(state=s, events=[], workflow_id=truth.lead_id, run_id=truth.run_id))
        row = seen.row
        if row.last_seq != s.seq:
            drift.row_ahead = row.last_seq > s.seq
            drift.problems.append(f"read model at seq {row.last_seq}, workflow at {s.seq}")
        for column in ROW_COLUMNS:
            if column == "last_seq":
                continue
            have, wanted = getattr(row, column), getattr(want, column)
            if not _same(column, have, wanted):
                drift.problems.append(f"{column} differs" if column in JSON_COLUMNS
                                      else f"{column}: read model {_show(have)}, workflow {_show(wanted)}")
    want_seqs = set(range(1, s.seq + 1))
    drift.missing_seqs = want_seqs - set(seen.timeline)
    drift.extra_seqs = set(seen.timeline) - want_seqs
    drift.wrong_kind_seqs = {e.seq for e in s.recent if e.seq in seen.timeline and seen.timeline[e.seq] != e.kind}
    if drift.missing_seqs:
        drift.problems.append(f"timeline lacks seq {_seqs(drift.missing_seqs)}")
    if drift.extra_seqs:
        drift.problems.append(f"timeline has seq {_seqs(drift.extra_seqs)} the workflow never emitted")
    if drift.wrong_kind_seqs:
        drift.problems.append(f"timeline seq {_seqs(drift.wrong_kind_seqs)} of another kind")
    running = {(c.name, c.started_at): c.deadline for c in s.clocks.values()}
    open_runs = {(name, aware(started)): aware(deadline) for (name, started), deadline in seen.open_clocks.items()}
    missing_runs = [name for name, started in running if (name, started) not in open_runs]
    drift.stale_open_clocks = {key for key in open_runs if key not in running}
    moved = [key[0] for key, deadline in running.items() if key in open_runs and open_runs[key] != deadline]
    if missing_runs:
        drift.problems.append(f"no open clock run for {', '.join(sorted(missing_runs))}")
    if drift.stale_open_clocks:
        drift.problems.append("clock runs still open that ended: "
                              f"{', '.join(sorted(n for n, _ in drift.stale_open_clocks))}")
    if moved:
        drift.problems.append(f"clock run deadline differs for {', '.join(sorted(moved))}")
    return drift


# --------------------------------------------------------------------------- the read model


def observe(engine: Engine, lead_ids: list[str]) -> dict[str, Observed]:
    seen = {lead_id: Observed() for lead_id in lead_ids}
    with Session(engine) as session:
        for row in session.exec(select(Lead).where(col(Lead.lead_id).in_(lead_ids))):
            seen[row.lead_id].row = row
        for lead_id, seq, kind in session.exec(select(TimelineEntry.lead_id, TimelineEntry.seq, TimelineEntry.kind)
                                               .where(col(TimelineEntry.lead_id).in_(lead_ids))):
            seen[lead_id].timeline[seq] = kind
        for lead_id, clock, started, deadline in session.exec(
                select(ClockRun.lead_id, ClockRun.clock, ClockRun.started_at, ClockRun.deadline)
                .where(col(ClockRun.lead_id).in_(lead_ids), col(ClockRun.ended_at).is_(None))):
            seen[lead_id].open_clocks[(clock, aware(started))] = aware(deadline)
    return seen


def _row_ids(engine: Engine, since: datetime | None, lead_ids: list[str] | None = None) -> dict[str, str]:
    """lead id -> stage of every read-model row (updated since `since`; of these leads)."""
    query = select(Lead.lead_id, Lead.stage)
    if since is not None:
        query = query.where(Lead.updated_at >= since)
    if lead_ids is not None:
        query = query.where(col(Lead.lead_id).in_(lead_ids))
    with Session(engine) as session:
        return dict(session.exec(query).all())


def _delete_orphan(engine: Engine, lead_id: str) -> None:
    with Session(engine) as session:
        for model in (TimelineEntry, ClockRun, HoldingRow, RawLeadRow):
            session.exec(delete(model).where(col(model.lead_id) == lead_id))
        session.exec(delete(Lead).where(col(Lead.lead_id) == lead_id))
        session.commit()


def _clear_for_projection(engine: Engine, lead_id: str, seq: int, drop_seqs: set[int], row_ahead: bool) -> None:
    """What the projection never overwrites: timeline rows it did not write, a row ahead of the workflow."""
    with Session(engine) as session:
        if drop_seqs:
            session.exec(delete(TimelineEntry).where(col(TimelineEntry.lead_id) == lead_id,
                                                     col(TimelineEntry.seq).in_(drop_seqs)))
        if row_ahead:
            row = session.get(Lead, lead_id)
            if row is None:  # row_ahead: compare() read this row
                raise LookupError(f"{lead_id}: the read-model row went away during the repair")
            row.last_seq = seq  # so the projection's never-go-back guard lets the workflow's state in
            session.add(row)
        session.commit()


# --------------------------------------------------------------------------- the workflows


async def projections(client: Client, lead_id: str, run_id: str | None, all_runs: bool,
                      last_only: bool = False) -> tuple[list[ProjectionRequest], bool]:
    """The projection requests the lead's workflow scheduled, oldest first (from this run back through the
    runs it continued from, with `all_runs`), and whether every run's history was still there."""
    found: list[ProjectionRequest] = []
    complete = True
    while run_id:
        try:
            history = await client.get_workflow_handle(lead_id, run_id=run_id).fetch_history()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            complete = False
            break
        inputs, previous = [], None
        for event in history.events:
            if event.HasField("workflow_execution_started_event_attributes"):
                previous = event.workflow_execution_started_event_attributes.continued_execution_run_id or None
            elif event.HasField("activity_task_scheduled_event_attributes"):
                attrs = event.activity_task_scheduled_event_attributes
                if attrs.activity_type.name == "record_lead":
                    inputs.append(attrs.input.payloads)
        if last_only:
            inputs = inputs[-1:]
        decoded = [(await client.data_converter.decode(p, [ProjectionRequest]))[0] for p in inputs]
        found = decoded + found
        run_id = previous if all_runs else None
    return found, complete


async def last_projection(client: Client, lead_id: str, run_id: str) -> ProjectionRequest | None:
    """The last projection a (closed) run scheduled: read from the end of its history, a page of events at a
    time (the whole history, where the server cannot read it backwards)."""
    token = b""
    try:
        while True:
            page = await client.workflow_service.get_workflow_execution_history_reverse(
                GetWorkflowExecutionHistoryReverseRequest(
                    namespace=client.namespace, execution=WorkflowExecution(workflow_id=lead_id, run_id=run_id),
                    maximum_page_size=25, next_page_token=token))
            for event in page.history.events:
                attrs = event.activity_task_scheduled_event_attributes
                if (event.HasField("activity_task_scheduled_event_attributes")
                        and attrs.activity_type.name == "record_lead"):
                    return (await client.data_converter.decode(attrs.input.payloads, [ProjectionRequest]))[0]
            if not page.next_page_token:
                return None
            token = page.next_page_token
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            raise
    requests, _ = await projections(client, lead_id, run_id, all_runs=False, last_only=True)
    return requests[-1] if requests else None


async def truth_of(client: Client, lead_id: str, run_id: str, running: bool, rpc_timeout: timedelta) -> Truth:
    if running:
        handle = client.get_workflow_handle_for(LeadWorkflow.run, lead_id, run_id=run_id)
        state = await handle.query(LeadWorkflow.lead, rpc_timeout=rpc_timeout)
        return Truth(lead_id, run_id, True, state)
    last = await last_projection(client, lead_id, run_id)
    return Truth(lead_id, run_id, False, last.state if last else None)


async def _executions(client: Client, since: datetime | None) -> dict[str, tuple[str, bool]]:
    """lead id -> (run id, running) of every lead workflow in visibility (the newest run of each)."""
    query = 'WorkflowType="LeadWorkflow" AND ExecutionStatus!="ContinuedAsNew"'
    if since is not None:
        query += (' AND (ExecutionStatus="Running" OR '
                  f'CloseTime>="{since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}")')
    found: dict[str, tuple[str, bool, datetime]] = {}
    async for w in client.list_workflows(query):
        if w.status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
            continue
        known = found.get(w.id)
        if known is None or w.start_time > known[2]:
            found[w.id] = (w.run_id, w.status == WorkflowExecutionStatus.RUNNING, w.start_time)
    return {k: (run_id, running) for k, (run_id, running, _) in found.items()}


async def _describe(client: Client, lead_id: str):
    try:
        return await client.get_workflow_handle(lead_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


# --------------------------------------------------------------------------- reconcile


class Reconciler:
    def __init__(self, client: Client, engine: Engine, *, repair: bool = False, concurrency: int = 32,
                 settle: float = 2.0, rpc_timeout: float = 10.0):
        self.client, self.engine, self.repair = client, engine, repair
        self.limit = asyncio.Semaphore(concurrency)
        self.settle, self.rpc_timeout = settle, timedelta(seconds=rpc_timeout)
        self.report = Report()

    async def run(self, since: datetime | None = None, lead_ids: list[str] | None = None) -> Report:
        report = self.report
        if lead_ids is None:
            executions = await _executions(self.client, since)
            rows = await asyncio.to_thread(_row_ids, self.engine, since)
        else:
            executions = {}
            for lead_id, d in zip(lead_ids, await asyncio.gather(*(self._limited(_describe(self.client, i))
                                                                   for i in lead_ids)), strict=True):
                if d is not None:
                    executions[lead_id] = (d.run_id, d.status == WorkflowExecutionStatus.RUNNING)
            rows = await asyncio.to_thread(_row_ids, self.engine, None, lead_ids)
        await self._orphans(executions, rows)
        suspects: dict[str, Truth] = {}
        ids = sorted(executions)
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            truths = await asyncio.gather(*(self._truth(i, *executions[i]) for i in chunk))
            seen = await asyncio.to_thread(observe, self.engine, chunk)
            for truth in truths:
                if truth is None:
                    continue
                report.checked += 1
                if truth.state is None:
                    report.empty += 1
                    continue
                report.running += truth.running
                report.closed += not truth.running
                if compare(truth, seen[truth.lead_id]):
                    suspects[truth.lead_id] = truth
        await self._confirm(suspects)
        if lead_ids is None:  # the dealers' and consultants' limit counters (db/limits.py), against the open leads
            await self._limit_counters()
        return report

    async def _limit_counters(self) -> None:
        from db import limits

        drift = await asyncio.to_thread(limits.counter_drift, self.engine)
        if drift and self.repair:
            await asyncio.to_thread(limits.repair_counters, self.engine, datetime.now(UTC))
            left = await asyncio.to_thread(limits.counter_drift, self.engine)
            self.report.findings.append(Finding("limit-counters", drift, repaired=not left, left=left))
        elif drift:
            self.report.findings.append(Finding("limit-counters", drift))

    async def _limited(self, awaitable):
        async with self.limit:
            return await awaitable

    async def _truth(self, lead_id: str, run_id: str, running: bool) -> Truth | None:
        async with self.limit:
            try:
                return await truth_of(self.client, lead_id, run_id, running, self.rpc_timeout)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return None  # gone since it was listed (retention)
                what = "query" if running else "history"
                self.report.errors.append(f"{lead_id}: the {what} failed ({err.status.name if err.status else ''}: "
                                          f"{err.message}){'; is a worker running?' if running else ''}")
                return None

    async def _orphans(self, executions: dict, rows: dict[str, str]) -> None:
        """Rows without a workflow. Closed ones are counted (retention deleted their history); open ones are looked
        up by id first (visibility may lag a lead started a moment ago)."""
        missing = [lead_id for lead_id in rows if lead_id not in executions]
        self.report.retained += sum(1 for i in missing if LeadStage(rows[i]) in END_STAGES)
        candidates = [i for i in missing if LeadStage(rows[i]) not in END_STAGES]
        described = await asyncio.gather(*(self._limited(_describe(self.client, i)) for i in candidates))
        for lead_id, d in zip(candidates, described, strict=True):
            if d is not None:
                executions[lead_id] = (d.run_id, d.status == WorkflowExecutionStatus.RUNNING)
            else:
                finding = Finding(lead_id, [f"open read-model row (stage {rows[lead_id]}) and no workflow"],
                                  orphan=True)
                if self.repair:
                    await asyncio.to_thread(_delete_orphan, self.engine, lead_id)
                    finding.repaired = (await asyncio.to_thread(observe, self.engine, [lead_id]))[lead_id].row is None
                self.report.findings.append(finding)

    async def _confirm(self, suspects: dict[str, Truth]) -> None:
        """A running lead that differs may be mid-change: looked at again once it is quiet."""
        if any(t.running for t in suspects.values()) and self.settle > 0:
            await asyncio.sleep(self.settle)
        results = await asyncio.gather(*(self._confirm_one(t) for t in suspects.values()))
        self.report.findings += [f for f in results if f is not None]

    async def _confirm_one(self, truth: Truth) -> Finding | None:
        async with self.limit:
            try:
                if truth.running:
                    d = await self.client.get_workflow_handle(truth.lead_id).describe()
                    raw = d.raw_description
                    if raw.pending_activities or raw.HasField("pending_workflow_task"):
                        self.report.busy.append(truth.lead_id)
                        return None
                    truth = await truth_of(self.client, truth.lead_id, d.run_id,
                                           d.status == WorkflowExecutionStatus.RUNNING, self.rpc_timeout)
                drift = compare(truth, (await asyncio.to_thread(observe, self.engine, [truth.lead_id]))[truth.lead_id])
                if not drift:
                    return None
                finding = Finding(truth.lead_id, drift.problems)
                if self.repair:
                    await self._repair(truth, drift)
                    left = compare(truth,
                                   (await asyncio.to_thread(observe, self.engine, [truth.lead_id]))[truth.lead_id])
                    finding.repaired, finding.left = not left, left.problems
                return finding
            except RPCError as err:
                self.report.errors.append(f"{truth.lead_id}: {err.message}")
                return None

    async def _repair(self, truth: Truth, drift: Drift) -> None:
        s = truth.state
        if s is None:  # a drift was found by compare(), which needs a state
            raise ValueError(f"{truth.lead_id}: no state to repair from")
        needed = drift.missing_seqs | drift.wrong_kind_seqs
        events: dict[int, TimelineEvent] = {e.seq: e for e in s.recent}
        ends: list[ClockEnd] = []
        if needed - set(events) or drift.stale_open_clocks:
            requests, _ = await projections(self.client, truth.lead_id, truth.run_id, all_runs=True)
            for req in requests:
                events.update({e.seq: e for e in req.events})
                ends += req.clock_ends
        wanted = [events[q] for q in sorted(needed) if q in events]
        if any(e.kind == "penalty_recorded" for e in wanted):  # re-merged penalties must stay revoked
            wanted += [e for e in events.values() if e.kind == "penalty_revoked" and e.seq not in needed]
        stale = {(name, aware(started)) for name, started in drift.stale_open_clocks}
        await asyncio.to_thread(_clear_for_projection, self.engine, truth.lead_id, s.seq,
                                drift.extra_seqs | drift.wrong_kind_seqs, drift.row_ahead)
        request = ProjectionRequest(state=s.model_copy(update={"recent": []}), events=wanted,
                                    clock_ends=[e for e in ends if (e.name, e.started_at) in stale],
                                    workflow_id=truth.lead_id, run_id=truth.run_id)
        await asyncio.to_thread(ProjectionActivities(self.engine).record_lead, request)


async def reconcile(client: Client, engine: Engine, *, repair: bool = False, since: datetime | None = None,
                    lead_ids: list[str] | None = None, concurrency: int = 32, settle: float = 2.0,
                    rpc_timeout: float = 10.0) -> Report:
    """Compare (and with `repair`, fix) the read model against the lead workflows: every lead in
    visibility (running, or closed since `since`), or just `lead_ids`."""
    reconciler = Reconciler(client, engine, repair=repair, concurrency=concurrency, settle=settle,
                            rpc_timeout=rpc_timeout)
    return await reconciler.run(since=since, lead_ids=lead_ids)


# --------------------------------------------------------------------------- the command


def parse_since(text: str, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> datetime:
    """'24h', '7d' (that long ago) or an ISO 8601 time (UTC unless it says otherwise)."""
    try:
        return now() - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration or an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ops.reconcile", description=__doc__.split("\n\n")[0])
    p.add_argument("--repair", action="store_true",
                   help="rewrite drifted leads from their workflows; delete orphan rows")
    p.add_argument("--since", type=parse_since, help="only leads running or closed since then: '24h', '7d' or ISO 8601")
    p.add_argument("--lead", action="append", dest="lead_ids", metavar="LEAD_ID", help="only this lead (repeatable)")
    p.add_argument("--concurrency", type=int, default=32, help="workflows queried at once (default 32)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds before a differing lead is looked at again")
    p.add_argument("--rpc-timeout", type=float, default=10.0, help="seconds a query may take")
    return p


async def main(argv: list[str] | None = None) -> int:
    from core.settings import get_settings
    from core.temporal_client import connect
    from db.engine import make_engine

    args = parser().parse_args(argv)
    settings = get_settings()
    try:
        client = await connect(settings)
        engine = make_engine(settings.database_url)
        report = await reconcile(client, engine, repair=args.repair, since=args.since, lead_ids=args.lead_ids,
                                 concurrency=args.concurrency, settle=args.settle, rpc_timeout=args.rpc_timeout)
    except Exception as err:  # noqa: BLE001 - unreachable Temporal or database: exit 2 with the reason
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line, flush=True)
    return report.exit_code


if __name__ == "__main__":
    from ops.cli import exit_now

    exit_now(asyncio.run(main()))  # not sys.exit: the Temporal client's threads can abort the teardown (-6)
