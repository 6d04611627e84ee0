"""The owner-care workflow: one per delivered vehicle (`owner-<lead id>`), for years (issue 17, SPEC 10).

Started by the lead workflow when the lead is delivered (patch `owner-care`), as an abandoned child: it outlives
the lead. It sleeps until the next touchpoint or task deadline of its schedule (`domain.owner_care`, pure), fires
what is due (a task for the dealer's people, a message to the owner if consented; the trade-in review also
creates a lead through the normal intake, once), and wakes early for a DMS event, an edit, a new policy or a
stop. It continues as new at least every `continue_every` (yearly), carrying its state, so its history stays
small however long the owner keeps the car. A sleeping ownership holds no worker memory once evicted from the
worker's workflow cache: it is a timer on the server.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.owner_care import (
        LapseRequest,
        OwnerCareActivities,
        OwnershipProjection,
        TouchRequest,
        TradeInActivities,
        TradeInResult,
    )
    from domain import owner_care as oc
    from domain.messages import CodedError

    # the input, result, policy change and stop request: built once per worker, not once per run (workflows/messages)
    from workflows.messages import OwnerCareInput, OwnerCareResult, PolicyChange, StopRequest

TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60))
OWNER_CARE = "owner-care"  # the patch in the lead workflow that starts this one at delivery
LOCAL_START = "owner-care-local-start"  # the patch: a first run's first projection is a local activity

__all__ = ["LOCAL_START", "OWNER_CARE", "OwnerCareInput", "OwnerCareResult", "OwnerCareWorkflow", "PolicyChange",
           "StopRequest", "ownership_id_for"]


def ownership_id_for(lead_id: str) -> str:
    return f"owner-{lead_id}"


@workflow.defn
class OwnerCareWorkflow:
    @workflow.init
    def __init__(self, inp: OwnerCareInput) -> None:
        self.state = inp.state
        self.policy = inp.policy
        self.version = inp.policy_version
        self._changes = 0  # events, edits, policy changes, stop: wake the loop
        self._seen = 0

    @workflow.run
    async def run(self, inp: OwnerCareInput) -> OwnerCareResult:
        started = workflow.now()
        written = await self._project(local=inp.run_started_at is None and workflow.patched(LOCAL_START))
        while not self.state.stopped:
            now = workflow.now()
            fire, missed = oc.due(self.state, self.policy, now) if self.policy.enabled else ([], [])
            for t in missed:
                self.state = oc.mark_fired(self.state, t, self.policy, now, task=False)
            for t in fire:
                await self._fire(t)
            for key, lapse_at in sorted(self.state.open_tasks.items()):
                if lapse_at <= workflow.now():
                    await workflow.execute_activity_method(OwnerCareActivities.lapse_task,
                                                           LapseRequest(state=self.state, key=key, at=workflow.now()),
                                                           start_to_close_timeout=TIMEOUT, retry_policy=RETRY)
                    self.state = self.state.model_copy(
                        update={"open_tasks": {k: v for k, v in self.state.open_tasks.items() if k != key}})
            if fire or missed:
                await self._project()
            if self._seen < self._changes:
                self._seen = self._changes
                await self._project()
                continue
            renew_at = started + self.policy.continue_every / self.state.time_scale
            if workflow.now() >= renew_at or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._seen == self._changes:
                    workflow.continue_as_new(OwnerCareInput(state=self.state, policy=self.policy,
                                                            policy_version=self.version, run_started_at=workflow.now()))
                continue
            wake = oc.next_wake(self.state, self.policy) if self.policy.enabled else None
            wake = renew_at if wake is None else min(wake, renew_at)
            # the first timer of a new ownership counts from when its row was written (in this same task), not from
            # the task's start: the server starts it when the task completes (None, or already past: the task's start)
            since = written if written is not None and workflow.now() < written < wake else workflow.now()
            written = None
            timeout = (wake - since).total_seconds()
            if timeout > 0:
                try:
                    await workflow.wait_condition(lambda: self._seen < self._changes, timeout=timeout)
                except TimeoutError:
                    pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._project()
        return OwnerCareResult(ownership_id=self.state.ownership_id, stopped=self.state.stopped,
                               fired=sorted(self.state.fired), trade_in_lead_id=self.state.trade_in_lead_id)

    async def _fire(self, t: oc.Touchpoint) -> None:
        now = workflow.now()
        due_at = now + self.policy.task_due / self.state.time_scale
        await workflow.execute_activity_method(OwnerCareActivities.touch,
                                               TouchRequest(state=self.state, touchpoint=t, at=now, task_due_at=due_at),
                                               start_to_close_timeout=TIMEOUT, retry_policy=RETRY)
        self.state = oc.mark_fired(self.state, t, self.policy, now)
        if t.kind == oc.TouchpointKind.TRADE_IN_REVIEW and self.state.trade_in_lead_id is None:
            result: TradeInResult = await workflow.execute_activity_method(
                TradeInActivities.create_trade_in_lead, self.state, start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RETRY)
            self.state = self.state.model_copy(update={"trade_in_lead_id": result.lead_id})
        workflow.logger.info("owner touchpoint", extra={"ownership_id": self.state.ownership_id, "kind": t.kind.value})

    async def _project(self, local: bool = False) -> datetime | None:
        """The ownership's read-model row. local=True (a first run's first projection, patch `owner-care-local-start`):
        a local activity, written in the first workflow task itself, so a new ownership costs the server one
        workflow task (row, then its timer) instead of two and an activity; answers when the row was written
        (recorded in the task's marker). Safe as a local write, unlike the lead's writes (see LeadWorkflow._activity):
        the row is a function of the run's input alone (no clock, no decision), so a task that dies and runs again
        writes the same row, and the start it describes is already in the history. Every later projection stays a
        remote activity (None)."""
        info = workflow.info()
        req = OwnershipProjection(
            state=self.state, upcoming=oc.upcoming(self.state, self.policy) if self.policy.enabled else [],
            workflow_id=info.workflow_id, run_id=info.run_id,
            code_valid_days=self.policy.referral_code_valid_for.total_seconds() / 86400)
        if local:
            return await workflow.execute_local_activity_method(OwnerCareActivities.record_new_ownership, req,
                                                                start_to_close_timeout=TIMEOUT, retry_policy=RETRY)
        await workflow.execute_activity_method(OwnerCareActivities.record_ownership, req,
                                               start_to_close_timeout=TIMEOUT, retry_policy=RETRY)
        return None

    # ------------------------------------------------------------------ from outside

    @workflow.update
    async def dms_event(self, event: oc.OwnerEvent) -> list[oc.Touchpoint]:
        """A DMS event (service visit, mileage, renewed insurance); a repeated event id changes nothing.
        Answers the schedule after it."""
        try:
            moved = oc.apply_event(self.state, event, workflow.now())
        except ValueError as err:
            raise ApplicationError(str(err), type="Refused.invalid", non_retryable=True) from None
        if moved is not None and not self.state.stopped:
            self.state = moved
            self._changes += 1
        return oc.upcoming(self.state, self.policy)

    @dms_event.validator
    def _validate_event(self, event: oc.OwnerEvent) -> None:
        self._refuse_when_stopped()
        if event.event_id not in self.state.event_ids:
            try:
                oc.apply_event(self.state, event, workflow.now())
            except ValueError as err:  # validators are not in the history: what they say may change
                said = {"code": err.code, "params": err.params} if isinstance(err, CodedError) else {}
                raise ApplicationError(str(err), said, type="Refused.invalid", non_retryable=True) from None

    @workflow.update
    async def edit(self, change: oc.OwnershipEdit) -> list[oc.Touchpoint]:
        """The dealer edits the insurance expiry or enters the owner's birthday."""
        update = {k: v for k, v in change.model_dump().items() if v is not None}
        self.state = self.state.model_copy(update=update)
        self._changes += 1
        return oc.upcoming(self.state, self.policy)

    @edit.validator
    def _validate_edit(self, change: oc.OwnershipEdit) -> None:
        self._refuse_when_stopped()

    def _refuse_when_stopped(self) -> None:
        if self.state.stopped:
            raise ApplicationError(f"owner care stopped: {self.state.stopped}",
                                   {"code": "error.owner_care_stopped", "params": {"reason": self.state.stopped}},
                                   type="Refused.stage", non_retryable=True)

    @workflow.signal
    def policy_changed(self, change: PolicyChange) -> None:
        """A new policy version's `[owner_care]` table: the schedule follows it from now on."""
        self.policy, self.version = change.policy, change.version
        self.state = self.state.model_copy(update={"policy_version": change.version})
        self._changes += 1

    @workflow.update
    async def stop(self, req: StopRequest) -> oc.OwnershipState:
        """Stop owner care for this vehicle (sold, scrapped, ...): open tasks are cancelled, the reason kept."""
        if not self.state.stopped:
            self.state = self.state.model_copy(update={"stopped": req.reason, "stopped_at": workflow.now()})
            self._changes += 1
        return self.state

    @workflow.query
    def ownership(self) -> oc.OwnershipState:
        return self.state

    @workflow.query
    def schedule(self) -> list[oc.Touchpoint]:
        return oc.upcoming(self.state, self.policy)
