"""The replay gate: replay real histories from your cluster against this code, before a deploy.

    python -m ops.replay                                    # every running lead (ExecutionStatus="Running")
    python -m ops.replay --query 'LeadStage="defeat_review"' --limit 500 --parallel 4

It connects like the worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY or TEMPORAL_TLS_CERT/KEY,
so Temporal Cloud too), lists the workflows the visibility query finds, fetches each history, and replays it with
the SDK's Replayer against the workflow classes this checkout's worker registers, through the same data converter
(LEADFLOW_CODEC_KEYS: encrypted payloads are decrypted by the codec). Fetching and replaying run in parallel; a
progress bar goes to stderr.

Every history that does not replay is reported with its workflow id, the event where the code and the history part
ways, and the patch that is probably missing: the code changed what a running workflow does without a
`workflow.patched(...)` guard, or a patch call was removed while runs that took it are still open (registry:
workflows/patches.py). Exit status: 0 all replayed, 1 some did not (do not deploy), 2 the gate could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from workflows.patches import PATCHES

PATCH_MARKER = "core_patch"  # the marker name the SDK records for workflow.patched()
LOCAL_ACTIVITY_MARKER = "core_local_activity"
_EVENT_ID = re.compile(r"\bevent[ _]id[\s:=#]*(\d+)", re.IGNORECASE)
_LOCAL_ACTIVITY = re.compile(r"\bLocalActivity\((\d+)\)")
_SEQUENCED = [(re.compile(r"\b(?:Schedule)?Activity\((\d+)\)"), "activity_task_scheduled_event_attributes"),
              (re.compile(r"\b(?:Start)?Timer\((\d+)\)"), "timer_started_event_attributes"),
              (re.compile(r"\bChildWorkflow\((\d+)\)"), "start_child_workflow_execution_initiated_event_attributes")]


@dataclass
class Finding:
    workflow_id: str
    run_id: str
    event: str  # "event 12 (ActivityTaskScheduled)" or "unknown event"
    error: str
    patches_in_history: list[str]
    hint: str


@dataclass
class Report:
    replayed: int = 0
    findings: list[Finding] = field(default_factory=list)
    fetch_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.fetch_errors


def _marker_json(event, key: str) -> list[dict]:
    """The JSON objects in one detail of a marker event (core writes them in clear, not through the codec)."""
    marker = event.marker_recorded_event_attributes
    if key not in marker.details:
        return []
    found = []
    for payload in marker.details[key].payloads:
        try:
            value = json.loads(payload.data)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def _markers(history: WorkflowHistory, name: str):
    for event in history.events:
        if (event.HasField("marker_recorded_event_attributes")
                and event.marker_recorded_event_attributes.marker_name == name):
            yield event


def patches_in(history: WorkflowHistory) -> list[str]:
    """The patch ids this history recorded (workflow.patched() markers), in order."""
    found: list[str] = []
    for event in _markers(history, PATCH_MARKER):
        for data in _marker_json(event, "patch-data") + _marker_json(event, "patch_data"):
            patch_id = data.get("id")
            if isinstance(patch_id, str) and patch_id not in found:
                found.append(patch_id)
    return found


def _describe(event) -> str:
    kind = (event.WhichOneof("attributes") or "").removesuffix("_event_attributes")
    kind = "".join(part.title() for part in kind.split("_"))
    if event.HasField("marker_recorded_event_attributes"):
        for data in _marker_json(event, "data"):
            if "activity_type" in data:
                return f"event {event.event_id} (local activity {data['activity_type']})"
    if event.HasField("activity_task_scheduled_event_attributes"):
        return f"event {event.event_id} (activity {event.activity_task_scheduled_event_attributes.activity_type.name})"
    return f"event {event.event_id} ({kind})"


def event_named(history: WorkflowHistory, error: str) -> str:
    """The history event the failure points at: by its id when the message names one, else by the command's
    sequence number (core names e.g. `LocalActivity(1)`, `ScheduleActivity(3)`, `Timer(2)`)."""
    if match := _EVENT_ID.search(error):
        event_id = int(match.group(1))
        return next((_describe(e) for e in history.events if e.event_id == event_id), f"event {event_id}")
    if match := _LOCAL_ACTIVITY.search(error):
        seq = int(match.group(1))
        for event in _markers(history, LOCAL_ACTIVITY_MARKER):
            if any(d.get("seq") == seq for d in _marker_json(event, "data")):
                return _describe(event)
    for pattern, field_name in _SEQUENCED:
        if match := pattern.search(error):
            nth = int(match.group(1))
            events = [e for e in history.events if e.WhichOneof("attributes") == field_name]
            if 0 < nth <= len(events):
                return _describe(events[nth - 1])
    return "unknown event"


def hint_for(history_patches: Sequence[str], registry: Sequence[str]) -> str:
    gone = [p for p in history_patches if p not in registry]
    if gone:
        return (f"the history took patch {', '.join(repr(p) for p in gone)}, which the code no longer calls: it was "
                "removed while runs that took it are still open (keep it, or deprecate_patch it first)")
    return ("the code changed what this workflow does at that event without a guard: put the new behaviour behind "
            "a new `workflow.patched(\"<id>\")` (and register it in workflows/patches.py); the history holds "
            f"patches {list(history_patches) or 'none'}")


def diagnose(history: WorkflowHistory, failure: BaseException, registry: Sequence[str]) -> Finding:
    error = str(failure) or type(failure).__name__
    held = patches_in(history)
    return Finding(workflow_id=history.workflow_id, run_id=history.run_id, event=event_named(history, error),
                   error=error.strip().splitlines()[0][:500], patches_in_history=held, hint=hint_for(held, registry))


async def fetch_histories(client: Client, query: str, limit: int | None, parallel: int,
                          on_listed: Callable[[int], None], errors: list[str]) -> AsyncIterator[WorkflowHistory]:
    """Each listed workflow's history, fetched `parallel` at a time, yielded as it arrives."""
    executions = [w async for w in client.list_workflows(query, limit=limit)]
    on_listed(len(executions))
    gate = asyncio.Semaphore(parallel)

    async def fetch(workflow_id: str, run_id: str) -> WorkflowHistory | None:
        async with gate:
            try:
                return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            except Exception as exc:  # noqa: BLE001 - one unreadable history is reported, the rest go on
                errors.append(f"{workflow_id}: history not fetched: {exc}")
                return None

    for done in asyncio.as_completed([fetch(w.id, w.run_id) for w in executions]):
        history = await done
        if history is not None:
            yield history


async def replay(histories: AsyncIterator[WorkflowHistory], workflows: Sequence[type], converter: DataConverter,
                 parallel: int, on_replayed: Callable[[], None], registry: Sequence[str] = tuple(PATCHES),
                 **replayer_options) -> Report:
    """Replay every history on `parallel` replayers at once; nondeterminism and failures become findings."""
    report = Report()
    queue: asyncio.Queue[WorkflowHistory | None] = asyncio.Queue(maxsize=parallel * 4)

    async def feed() -> None:
        try:
            async for history in histories:
                await queue.put(history)
        finally:
            for _ in range(parallel):
                await queue.put(None)

    async def from_queue() -> AsyncIterator[WorkflowHistory]:
        while (history := await queue.get()) is not None:
            yield history

    async def lane() -> None:
        replayer = Replayer(workflows=list(workflows), data_converter=converter, **replayer_options)
        async with replayer.workflow_replay_iterator(from_queue()) as results:
            async for result in results:
                report.replayed += 1
                if result.replay_failure is not None:
                    report.findings.append(diagnose(result.history, result.replay_failure, registry))
                on_replayed()

    feeder = asyncio.create_task(feed())
    try:
        await asyncio.gather(*(lane() for _ in range(parallel)))
    finally:
        await feeder
    return report


async def run_gate(client: Client, query: str, limit: int | None, parallel: int, workflows: Sequence[type],
                   progress: bool = True, **replayer_options) -> Report:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    errors: list[str] = []
    with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not progress, transient=False) as bar:
        task = bar.add_task("replay", total=None)
        histories = fetch_histories(client, query, limit, parallel * 2,
                                    lambda n: bar.update(task, total=n), errors)
        report = await replay(histories, workflows, client.data_converter, parallel,
                              lambda: bar.advance(task), **replayer_options)
    report.fetch_errors = errors
    return report


def print_report(report: Report, out=sys.stdout) -> None:
    for f in report.findings:
        print(f"NONDETERMINISM {f.workflow_id} (run {f.run_id}) at {f.event}\n  {f.error}\n  probably: {f.hint}",
              file=out)
    for line in report.fetch_errors:
        print(f"NOT FETCHED {line}", file=out)
    verdict = "ok: safe to deploy" if report.ok else "FAILED: do not deploy this code"
    print(f"{report.replayed} histories replayed, {len(report.findings)} nondeterministic, "
          f"{len(report.fetch_errors)} not fetched: {verdict}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--query", default='ExecutionStatus="Running"',
                        help='a visibility query (default: every running workflow)')
    parser.add_argument("--limit", type=int, default=1000, help="at most this many workflows (0: all)")
    parser.add_argument("--parallel", type=int, default=4, help="replayers at once (fetches: twice as many)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.parallel < 1 or args.limit < 0:
        parser.error("--parallel is at least 1 and --limit at least 0")

    from core.settings import get_settings
    from core.temporal_client import connect
    from worker import SANDBOX, WORKFLOWS

    async def go() -> Report:
        client = await connect(get_settings())
        return await run_gate(client, args.query, args.limit or None, args.parallel, WORKFLOWS,
                              progress=not args.no_progress, workflow_runner=SANDBOX)

    try:
        report = asyncio.run(go())
    except Exception as exc:  # noqa: BLE001 - the gate could not run at all: say why, exit 2
        print(f"error: the replay gate could not run: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    from ops.cli import exit_now

    exit_now(main())  # not sys.exit: the Temporal client's threads can abort the interpreter's teardown (-6)
