"""The push workflow: one per notice (its activities live in channels/delivery.py, named here by their names:
workflows do not import the channels room), delivering it on every channel its people are reached on. The `notify`
activity starts it (workflow id `push:<lead>:<event>:<kind>`, so a retried activity starts nothing new) right
after writing the inbox rows, for every notice: a lead's, and the calendar check's warning. The lead workflows
themselves do not change (no patch, no extra workflow task or history event in a lead).

plan (ledger rows) and a first flush in one activity -> flush each target within its limits, sleeping on durable
timers until the limiter or a back-off lets the notice's held rows go (they leave inside whichever digest is sent
first) -> for an SLA alert, after `escalate_unread_minutes`, queue it on the next channel of everyone who has not
read it, and flush again.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.models import NotifyRequest
    from domain.push import (
        EscalateRequest,
        FlushInput,
        FlushRequest,
        FlushResult,
        PlanRequest,
        PushInput,
        PushPlan,
        notice_key,
    )

TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
MAX_ROUNDS = 500  # a notice whose rows never leave (a target held for hours) stops polling; the rows stay queued


@workflow.defn
class PushWorkflow:
    @workflow.run
    async def run(self, inp: PushInput) -> int:
        req = inp.request
        plan: PushPlan = await workflow.execute_activity(
            "push_plan", PlanRequest(request=req, now=workflow.now()), result_type=PushPlan,
            start_to_close_timeout=TIMEOUT, retry_policy=RETRY)
        sent = plan.sent
        if plan.pending_until is not None:
            await workflow.sleep(max(timedelta(milliseconds=100), plan.pending_until - workflow.now()))
            sent += await self._flush(req, plan.targets)
        if plan.escalate and inp.escalate_after_s > 0:
            await workflow.sleep(timedelta(seconds=inp.escalate_after_s))
            targets: list[str] = await workflow.execute_activity(
                "push_escalate",
                EscalateRequest(request=req, minutes=round(inp.escalate_after_s / 60), now=workflow.now()),
                result_type=list[str], start_to_close_timeout=TIMEOUT, retry_policy=RETRY)
            sent += await self._flush(req, targets)
        return sent

    async def _flush(self, req: NotifyRequest, targets: list[str]) -> int:
        return await flush(notice_key(req), targets)


async def flush(notice: str, targets: list[str]) -> int:
    """Send the notice's queued rows on these targets, sleeping on durable timers while the limiter, a back-off
    or quiet hours hold them; the number of requests made."""
    sent = 0
    for _ in range(MAX_ROUNDS):
        if not targets:
            break
        result: FlushResult = await workflow.execute_activity(
            "push_flush", FlushRequest(notice=notice, target_ids=targets, now=workflow.now()),
            result_type=FlushResult, start_to_close_timeout=TIMEOUT, retry_policy=RETRY)
        sent += result.sent
        if result.pending_until is None:
            break
        await workflow.sleep(max(timedelta(milliseconds=100), result.pending_until - workflow.now()))
    return sent


@workflow.defn
class PushFlushWorkflow:
    """Rows already queued in the ledger, sent within their targets' limits: an owner's message (owner care's
    touchpoint activity queues it, then starts this as `push:<notice>`; quiet hours hold it on a durable timer)."""

    @workflow.run
    async def run(self, inp: FlushInput) -> int:
        return await flush(inp.notice, inp.target_ids)


@workflow.defn
class PushTestWorkflow:
    """The configuration pages' "send a test message": one request to one target, from the worker (the API never
    sends). Answers "sent", "failed: <why>" or "rate limited: …"."""

    @workflow.run
    async def run(self, target_id: str) -> str:
        answer: str = await workflow.execute_activity("push_test", target_id, result_type=str,
                                                      start_to_close_timeout=TIMEOUT,
                                                      retry_policy=RetryPolicy(maximum_attempts=1))
        return answer
