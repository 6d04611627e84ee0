"""The lead workflow: one durable workflow per lead (唯一线索), for its whole life.

The workflow orchestrates; `domain.lifecycle` decides. Every change follows one path:
decide (pure) -> commit the new state -> carry out the effects (activities) -> project the
state and timeline into the read model -> answer the waiting person. Clocks are durable timers:
the loop sleeps until the earliest deadline or until something happens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.assignment import AssignmentActivities
    from activities.calendar import CalendarActivities
    from activities.dispatch import DispatchActivities
    from activities.notify import NotifyActivities
    from activities.projection import ProjectionActivities
    from activities.scoring import ScoringActivities
    from domain import commands as c
    from domain import lifecycle as lc
    from domain.calendar import touches
    from domain.clocks import CLOCKS
    from domain.models import (
        Actor,
        CalendarChange,
        ClaimRequest,
        ClockEnd,
        ConsultantRequest,
        DeadlineRequest,
        DeclineQuotaRequest,
        DispatchRequest,
        LeadState,
        NotifyRequest,
        ProjectionRequest,
        ScoreRequest,
        TimelineEvent,
    )
    from domain.owner_care import OwnershipState
    from domain.simulate import fact as policy_fact
    from domain.stages import LeadStage, Role
    from workflows import search_attributes as sa

    # the lead's input, result and signals: pydantic classes built once per worker, not once per workflow run
    # (defined in this sandboxed module, every new run's sandbox built their schemas again: ~7 % of the worker's
    # CPU at intake, py-spy)
    from workflows.messages import AppealSignal, LeadInput, LeadOutcome, PolicyMigrationSignal, ReassignSignal

    # likewise the owner-care and webhook modules the lead calls into: imported in the sandbox, every new run built
    # their pydantic classes and workflow definitions again (~10 % of the worker's CPU at intake, py-spy, issue 15).
    # Their own workflows' runs still import them in their own sandbox.
    from workflows.owner_care import OwnerCareInput, OwnerCareWorkflow, ownership_id_for
    from workflows.webhooks import publish as publish_webhooks
    from workflows.webhooks import webhook_event_types

ACTIVITY_TIMEOUT = timedelta(seconds=30)
CALENDAR_TABLE = "calendar-table"  # the patch: a provisional calendar year shows in the timeline and is alerted
CALENDAR_CORRECTION = "calendar-correction"  # the patch: a corrected calendar moves open working-day deadlines
POLICY_FACTS = "policy-facts"  # the patch: the decider's inputs are recorded (lead_fact) for the what-if simulator
POLICY_MIGRATION = "policy-migration"  # the patch: the migrate_policy signal moves a running lead to another version
LOCAL_ACTIVITIES = "local-activities"  # the patch: a run that began with it runs its reads as local activities
ATOMIC_LIMITS = "atomic-limits"  # the patch: dealer/consultant limits are spent in the ledger (db/limits.py)
SPENDING_IN_TURN = "spending-in-turn"  # the patch: two spending actions woken at once still take turns
# the patch: a run that began with it writes its alerts with the read model
NOTIFY_IN_PROJECTION = "notify-in-projection"
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
A = TypeVar("A")  # an activity's argument ...
R = TypeVar("R")  # ... and its result


class EngineBug(Exception):
    """A programming error met while running a lead (an effect without a handler, say). It is not an
    ApplicationError, so it fails the workflow *task*, never the lead's workflow: Temporal retries the task, and
    the lead carries on where it was once a worker with the fix is deployed. Any other unexpected exception in the
    workflow's code (a KeyError, a pydantic ValidationError) does the same. Only Temporal's failure errors fail a
    workflow: this one raises ApplicationError only to refuse an update (which fails the update, not the lead), and
    its activities retry without end instead of failing for good."""


def refusal_error(refused: lc.Refused) -> ApplicationError:
    # details: the message code and its parameters, so the API answers in the reader's language (issue 13)
    return ApplicationError(refused.reason, {"code": refused.code, "params": refused.params},
                            type=f"Refused.{refused.kind}", non_retryable=True)


@workflow.defn
class LeadWorkflow:
    @workflow.init
    def __init__(self, inp: LeadInput) -> None:
        self.lead_id = inp.lead_id
        self.customer_key = inp.customer_key
        self.policy = inp.policy
        self._state: LeadState | None = inp.state  # None until the intake update takes the lead in
        self.previous_lead_id = inp.previous_lead_id
        self._effects: deque[lc.Effect] = deque()
        self._events: list[TimelineEvent] = []  # decided, not yet in the read model
        self._clock_ends: list[ClockEnd] = []  # likewise
        self._committed = 0  # transitions committed ...
        self._settled = 0  # ... and carried out (effects run, read model written)
        self._search: dict[str, object] = {}
        self._went_dormant = False
        self._local = False
        self._spending = False  # a person's action is spending a shared limit (decline, claim): one at a time
        self._inline_notify = False
        # alerts carried out with the next read-model write (notify-in-projection)
        self._notifications: list[NotifyRequest] = []
        self._projected_stage = inp.state.stage if inp.state is not None else LeadStage.NEW  # for webhooks
        self._facts: list[dict[str, Any]] = []  # the decider's inputs, not yet in the read model (patch policy-facts)
        self._fact_key = (-1, 0)
        self._delivery: c.RecordDelivery | None = None  # the delivery's data, for the owner-care workflow

    @property
    def state(self) -> LeadState:
        """The lead's state. What reads it runs once intake has set it (the loop and the handlers wait for
        `_taken_in`); a read before that is a bug in this code, which fails the task, never the lead."""
        if self._state is None:
            raise EngineBug("the lead's state was read before intake set it")
        return self._state

    @state.setter
    def state(self, value: LeadState) -> None:
        self._state = value

    def _taken_in(self) -> bool:
        return self._state is not None

    # ------------------------------------------------------------------ the loop

    @workflow.run
    async def run(self, inp: LeadInput) -> LeadOutcome:
        self._local = workflow.patched(LOCAL_ACTIVITIES)  # decided once per run, in its first task
        self._inline_notify = workflow.patched(NOTIFY_IN_PROJECTION)  # likewise
        await workflow.wait_condition(self._taken_in)
        if inp.state is not None:  # continued as new: the read model learns the new run id
            self._committed += 1
        while True:
            await self._settle()
            if lc.is_finished(self.state):
                break
            if self._went_dormant or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._settle()
                if not self._effects and self._committed == self._settled:
                    workflow.continue_as_new(LeadInput(
                        lead_id=self.lead_id, customer_key=self.customer_key, policy=self.policy, state=self.state))
            await self._sleep_until_next_deadline()
            for name in lc.due_clocks(self.state, workflow.now()):
                if lc.is_due(self.state, name, workflow.now()):
                    penalize = workflow.patched("sla-penalties")  # SLA breaches count against the dealer
                    self._commit(lc.lapse(self.state, name, self.policy, workflow.now(), sla_penalties=penalize))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._settle()
        s = self.state
        return LeadOutcome(lead_id=self.lead_id, stage=s.stage, dealer_id=s.dealer_id,
                           previous_lead_id=s.previous_lead_id,
                           touchpoints={t.key: t.outcome for t in s.touchpoints})

    async def _sleep_until_next_deadline(self) -> None:
        deadline = lc.next_deadline(self.state)
        timeout = None if deadline is None else (deadline - workflow.now()).total_seconds()
        if timeout is not None and timeout <= 0:
            return
        try:
            await workflow.wait_condition(lambda: self._committed > self._settled, timeout=timeout)
        except TimeoutError:
            pass

    async def _activity(self, fn: Callable[[Any, A], R], arg: A, *, local: bool = False) -> R:
        """Run one of the lead's activities (short database reads and writes, a calendar computation).

        local=True, since patch `local-activities`: the reads the lead decides on (score, dispatch,
        consultant, decline quota) and the calendar run as local activities, in the workflow task that asks
        for them, recorded as markers when the task completes: no round trip to the server each. They
        change nothing, so a task that dies and runs again just reads again. The writes (alerts and the
        read model) stay remote activities: they are scheduled by a recorded task, so they only ever
        write what the history holds. (A local write would run before its task is recorded; a retried
        task decides again at a later time and the first attempt's rows would describe events that never
        happened: the fault test showed that drift.) Runs begun before the patch stay remote to their end."""
        if local and self._local:
            return await workflow.execute_local_activity_method(fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT,
                                                                retry_policy=RETRY)
        return await workflow.execute_activity_method(fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT,
                                                      retry_policy=RETRY)

    def _record(self, kind: str, **data: Any) -> None:
        """A fact for the what-if simulator: what the decider is about to be given (domain/simulate.py)."""
        if not workflow.patched(POLICY_FACTS):
            return
        seq = self._state.seq if self._state is not None else 0
        n = self._fact_key[1] + 1 if self._fact_key[0] == seq else 0
        self._fact_key = (seq, n)
        item = policy_fact(kind, workflow.now(), **data)
        item["seq"] = seq * 1000 + n
        self._facts.append(item)

    def _commit(self, t: lc.Transition) -> int:
        self.state = t.state
        self._events.extend(t.events)
        self._clock_ends.extend(t.clock_ends)
        self._effects.extend(t.effects)
        self._went_dormant = self._went_dormant or any(e.kind == "went_dormant" for e in t.events)
        for e in t.events:  # workflow.logger stays silent while replaying
            workflow.logger.info("lead event", extra={"lead_id": self.lead_id, "kind": e.kind, "stage": e.stage.value,
                                                      "event_seq": e.seq, "dealer_id": e.dealer_id})
        self._committed += 1
        return self._committed

    async def _settle(self) -> None:
        """Carry out everything committed so far: effects, then the read model and search attributes."""
        while self._committed > self._settled:
            target = self._committed
            while self._effects:
                await self._carry_out(self._effects.popleft())
            if self._committed > target:
                continue  # effects committed more: carry those out before projecting
            await self._project()
            self._settled = target

    async def _carry_out(self, effect: lc.Effect) -> None:
        s, now = self.state, workflow.now()
        if isinstance(effect, lc.ScoreEffect):
            scored = await self._activity(ScoringActivities.score_lead, ScoreRequest(
                lead_id=s.lead_id, customer_key=s.customer_key, raw=s.profile,
                touchpoint_channels=[t.channel for t in s.touchpoints], behaviour=s.behaviour,
                policy_items=self.policy.scoring.items, thresholds=self.policy.scoring.thresholds), local=True)
            self._record("scored", result=scored, then=effect.then)
            self._commit(lc.on_scored(self.state, scored, effect.then, self.policy, workflow.now()))
        elif isinstance(effect, lc.DispatchEffect):
            d = self.policy.dispatch
            dispatched = await self._activity(DispatchActivities.dispatch_lead, DispatchRequest(
                lead_id=s.lead_id, brand=s.brand, series=s.profile.series, city=s.profile.city,
                latitude=s.profile.latitude, longitude=s.profile.longitude,
                preferred_dealer_id=s.profile.preferred_dealer_id, exclude_dealer_ids=s.held_by,
                weights=d.weights, penalty_window_days=d.penalty_window.total_seconds() / 86400,
                max_penalties=d.max_penalties, default_radius_km=d.default_radius_km,
                as_of=now, forced_dealer_id=effect.forced_dealer_id,
                holding=len(s.held_by) if workflow.patched(ATOMIC_LIMITS) else None, since_seq=s.seq), local=True)
            self._record("dispatched", result=dispatched)
            self._commit(lc.on_dispatched(self.state, dispatched, self.policy, workflow.now()))
        elif isinstance(effect, lc.DeadlineEffect):
            counted = await self._activity(CalendarActivities.working_day_deadline,
                                           self._deadline_request(effect.started_at, effect.working_days), local=True)
            provisional = counted.provisional_years if workflow.patched(CALENDAR_TABLE) else []
            self._record("deadline", clock=effect.clock, started_at=effect.started_at, deadline=counted.deadline)
            self._commit(lc.on_deadline(self.state, effect.clock, effect.started_at, counted.deadline,
                                        self.policy, workflow.now(), provisional_years=provisional))
        elif isinstance(effect, lc.AssignEffect):
            picked = await self._activity(AssignmentActivities.pick_consultant, ConsultantRequest(
                lead_id=s.lead_id, dealer_id=s.dealer_id, series=s.profile.series,
                holding=len(s.held_by) - 1 if workflow.patched(ATOMIC_LIMITS) else None, since_seq=s.seq), local=True)
            self._record("consultant", result=picked)
            self._commit(lc.on_consultant_picked(self.state, picked, self.policy, workflow.now()))
        elif isinstance(effect, lc.NotifyEffect):
            request = effect.request.model_copy(update={"at": now})
            if self._inline_notify:  # written by the projection that follows in this settle: no round trip of its own
                self._notifications.append(request)
            else:
                await self._activity(NotifyActivities.notify, request)
        else:  # a new effect type without a handler: a bug in this code, not in the lead
            raise EngineBug(f"no handler for effect {type(effect).__name__}")

    def _deadline_request(self, start: datetime, working_days: int) -> DeadlineRequest:
        return DeadlineRequest(start=start, working_days=working_days,
                               extra_holidays=self.policy.calendar.extra_holidays,
                               extra_workdays=self.policy.calendar.extra_workdays,
                               time_scale=self.policy.time_scale)

    async def _project(self) -> None:
        events, self._events = self._events, []
        clock_ends, self._clock_ends = self._clock_ends, []
        notifications, self._notifications = self._notifications, []
        info = workflow.info()
        stage_before = self._projected_stage
        # The projection also answers which webhook subscribers want this batch (one activity where there
        # were an activity and a local activity: 12 fewer billable actions in a typical lifecycle).
        # Histories recorded before it replay the separate look-up.
        inline = workflow.patched("webhook-targets-in-projection")
        kinds = webhook_event_types(self.state, stage_before, events) if inline else []
        facts, self._facts = self._facts, []
        request = ProjectionRequest(state=self.state.model_copy(update={"recent": []}), events=events,
                                    clock_ends=clock_ends, workflow_id=info.workflow_id, run_id=info.run_id,
                                    webhook_event_types=kinds, notifications=notifications, facts=facts)
        targets = await self._activity(ProjectionActivities.record_lead, request)
        self._upsert_search_attributes()
        self._projected_stage = self.state.stage
        # starts a fan-out only when someone subscribes
        await publish_webhooks(self.state, stage_before, events, targets=targets if inline else None)
        delivered = next((e for e in events if e.kind == "delivered"), None)
        if delivered is not None and workflow.patched("owner-care"):  # issue 17: owner care after the keys
            await self._start_owner_care(delivered.at)

    async def _start_owner_care(self, delivered_at: datetime) -> None:
        """The vehicle's owner-care workflow, an abandoned child: it lives on for years after the lead ends."""
        care = self.policy.owner_care
        if not care.enabled:
            return
        s = self.state
        state = OwnershipState(
            ownership_id=ownership_id_for(self.lead_id), lead_id=self.lead_id, customer_key=s.customer_key,
            brand=s.brand, dealer_id=s.dealer_id, consultant_id=s.consultant_id, region=s.region,
            series=s.profile.series, delivered_at=delivered_at, policy_version=self.policy.version,
            time_scale=self.policy.time_scale,
            insurance_expiry=self._delivery.insurance_expiry if self._delivery else None,
            birthday=self._delivery.owner_birthday if self._delivery else None)
        try:
            await workflow.start_child_workflow(
                OwnerCareWorkflow.run, OwnerCareInput(state=state, policy=care, policy_version=self.policy.version),
                id=state.ownership_id, parent_close_policy=ParentClosePolicy.ABANDON)
        except WorkflowAlreadyStartedError:  # started before (a lead delivered once more): it is the same vehicle
            pass

    def _upsert_search_attributes(self) -> None:
        s = self.state
        wanted: dict[SearchAttributeKey[Any], Any] = {
            sa.LEAD_STAGE: s.stage.value, sa.DEALER_ID: s.dealer_id, sa.LEAD_GRADE: s.grade,
            sa.BRAND: s.brand, sa.REGION: s.region, sa.SLA_BREACHED: s.sla_breached,
        }
        updates: list[SearchAttributeUpdate[Any]] = []
        for key, value in wanted.items():
            if self._search.get(key.name) != value:
                updates.append(key.value_set(value) if value is not None else key.value_unset())
                self._search[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)

    async def _wait_settled(self, mark: int) -> None:
        await workflow.wait_condition(lambda: self._settled >= mark)

    # ------------------------------------------------------------------ intake

    @workflow.update
    async def intake(self, req: c.IntakeRequest) -> c.IntakeResult:
        """A raw lead for this customer and brand: creates the lead, or merges into it (SPEC 2)."""
        now = workflow.now()
        if self._state is None:
            self._record("intake", raw=req.raw, actor=req.actor, customer_key=self.customer_key,
                         previous_lead_id=self.previous_lead_id, policy_version=self.policy.version)
            mark = self._commit(lc.start_lead(self.lead_id, self.customer_key, req.raw, self.policy, now, req.actor,
                                              previous_lead_id=self.previous_lead_id))
            outcome = "created"
        else:
            previous = lc.duplicate_outcome(self.state, req.raw)
            if previous is not None:  # the same external id from the same channel: same answer
                return c.IntakeResult(lead_id=self.lead_id, outcome=previous, stage=self.state.stage.value,
                                      dealer_id=self.state.dealer_id, consultant_id=self.state.consultant_id,
                                      previous_lead_id=self.state.previous_lead_id, repeat=True)
            try:
                t = lc.merge_raw_lead(self.state, req.raw, self.policy, now, req.actor)
            except lc.Refused as refused:
                raise refusal_error(refused) from None
            self._record("intake", raw=req.raw, actor=req.actor)
            mark, outcome = self._commit(t), t.message
        await self._wait_settled(mark)
        return c.IntakeResult(lead_id=self.lead_id, outcome=outcome, stage=self.state.stage.value,
                              previous_lead_id=self.state.previous_lead_id, dealer_id=self.state.dealer_id,
                              consultant_id=self.state.consultant_id)

    @workflow.update
    async def record_behaviour(self, req: c.BehaviourRequest) -> c.IntakeResult:
        """A behaviour signal for this customer (page view, test-drive booking...): counted and rescored."""
        await workflow.wait_condition(self._taken_in)
        try:
            t = lc.record_behaviour(self.state, req.event, self.policy, workflow.now(), req.actor)
        except lc.Refused as refused:
            raise refusal_error(refused) from None
        if t is None:
            return c.IntakeResult(lead_id=self.lead_id, outcome="duplicate", stage=self.state.stage.value)
        self._record("behaviour", event=req.event, actor=req.actor)
        await self._wait_settled(self._commit(t))
        return c.IntakeResult(lead_id=self.lead_id, outcome="recorded", stage=self.state.stage.value)

    # ------------------------------------------------------------------ people's actions

    @workflow.update
    async def act(self, envelope: c.CommandEnvelope) -> c.ActionResult:
        """A person's action on the lead; the validator has already checked the stage allows it."""
        action = envelope.command.action
        if action == "record_delivery" and isinstance(envelope.command, c.RecordDelivery):  # its data starts the
            self._delivery = envelope.command  # vehicle's owner care (issue 17)
        spends = action in ("decline", "claim") and workflow.patched(ATOMIC_LIMITS)
        if spends:  # one spending action at a time, each decided again after the one before it committed
            await workflow.wait_condition(lambda: not self._spending)
            # Two actions that arrive in one activation (two consultants claiming one pool lead at once) are both
            # woken by the same sweep of conditions, both having seen "not spending", so both reserved at once:
            # the loser's reservation moved the winner's slot (db/limits.locked tells the rest). The second one
            # to run looks again and waits its turn; then it is decided again, and refused before it spends.
            while self._spending and workflow.patched(SPENDING_IN_TURN):
                await workflow.wait_condition(lambda: not self._spending)
            self._spending = True
        try:
            if spends:
                try:
                    lc.decide(self.state, envelope, self.policy, workflow.now())  # nothing is spent for a refusal
                except lc.Refused as refused:
                    raise refusal_error(refused) from None
            if action == "decline":
                await self._check_decline_quota(reserve=spends)
            elif spends:
                await self._reserve_claim(envelope.actor)
            try:
                t = lc.decide(self.state, envelope, self.policy, workflow.now())
            except lc.Refused as refused:  # the lead changed between validation and now
                raise refusal_error(refused) from None
            self._record("act", envelope=envelope)
            mark = self._commit(t)
        finally:
            if spends:
                self._spending = False
        await self._wait_settled(mark)
        s = self.state
        return c.ActionResult(lead_id=self.lead_id, action=envelope.command.action, stage=s.stage.value,
                              dealer_id=s.dealer_id, consultant_id=s.consultant_id, message=t.message)

    @act.validator
    def _validate_act(self, envelope: c.CommandEnvelope) -> None:
        if self._state is None:
            raise ApplicationError("the lead has not been taken in yet", {"code": "refused.not_taken_in", "params": {}},
                                   type="Refused.stage", non_retryable=True)
        try:
            lc.decide(self.state, envelope, self.policy, workflow.now())
        except lc.Refused as refused:
            raise refusal_error(refused) from None

    async def _check_decline_quota(self, reserve: bool = False) -> None:
        """reserve (patch atomic-limits): the quota is checked and the decline spent in one step under the dealer's
        lock (`reserve_decline`), so declines of many leads at once cannot all pass."""
        rules, s = self.policy.rules, self.state
        request = DeclineQuotaRequest(
            dealer_id=s.dealer_id, lead_id=self.lead_id, as_of=workflow.now(),
            window_days=rules.decline_window.total_seconds() / 86400, quota=rules.decline_quota)
        if reserve:
            if s.holding is None:  # a decline is refused by its stage unless the lead is held
                raise EngineBug("a decline to reserve for a lead without a holding")
            request = request.model_copy(update={"holding": len(s.held_by) - 1, "pushed_at": s.holding.started_at,
                                                 "since_seq": s.seq})
        check = DispatchActivities.reserve_decline if reserve else DispatchActivities.check_decline_quota
        quota = await self._activity(check, request, local=True)
        if not quota.allowed:
            # details: a message code and its parameters, so the API answers in the reader's language (issue 13)
            params = {"declined": quota.declined, "pushed": quota.pushed, "days": f"{request.window_days:g}",
                      "percent": round(request.quota * 100)}
            raise ApplicationError(f"decline refused: over the choice-right quota ({quota.reason})",
                                   {"code": "refused.decline_quota", "params": params},
                                   type="Refused.stage", non_retryable=True)

    async def _reserve_claim(self, actor: Actor) -> None:
        s = self.state
        answer = await self._activity(AssignmentActivities.reserve_claim, ClaimRequest(
            lead_id=self.lead_id, dealer_id=s.dealer_id, consultant_id=actor.user_id, holding=len(s.held_by) - 1,
            since_seq=s.seq, as_of=workflow.now()), local=True)
        if not answer.allowed:
            raise ApplicationError(answer.reason, {"code": answer.code, "params": answer.params},
                                   type="Refused.stage", non_retryable=True)

    # ------------------------------------------------------------------ ops signals (Temporal UI / CLI)

    @workflow.signal
    async def reassign(self, sig: ReassignSignal) -> None:
        actor = Actor(user_id=sig.by, role=Role.LEAD_OPS)
        cmd = c.Reassign(dealer_id=sig.dealer_id, to_call_center=sig.to_call_center, reason=sig.reason)
        await self._signalled(c.CommandEnvelope(actor=actor, command=cmd))

    @workflow.signal
    async def appeal(self, sig: AppealSignal) -> None:
        actor = Actor(user_id=sig.by, role=Role.DEALER_MANAGER, dealer_id=sig.dealer_id)
        await self._signalled(c.CommandEnvelope(actor=actor, command=c.Appeal(evidence=sig.evidence)))

    @workflow.signal
    async def calendar_changed(self, change: CalendarChange) -> None:
        """Lead ops corrected the calendar (sent by `CalendarCorrectionWorkflow`): every open working-day clock
        (defeat review, appeal window, appeal review) whose window holds a changed day is counted again."""
        if not workflow.patched(CALENDAR_CORRECTION):
            return
        await workflow.wait_condition(self._taken_in)
        for name, clock in sorted(self.state.clocks.items()):
            spec = CLOCKS[name]
            if not spec.working_days or not clock.running or clock.deadline is None:  # (running: it has one)
                continue
            if self.policy.time_scale == 1 and not touches(clock.started_at, clock.deadline, change.dates):
                continue  # (a demo's compressed window cannot be compared with dates: count it again anyway)
            days = getattr(self.policy.working_days, spec.working_days)
            result = await self._activity(CalendarActivities.working_day_deadline,
                                          self._deadline_request(clock.started_at, days), local=True)
            t = lc.on_deadline_moved(self.state, name, clock.started_at, result.deadline, change.reason,
                                     self.policy, workflow.now())
            if t.events:  # the count came out the same: nothing to record
                self._commit(t)

    async def _signalled(self, envelope: c.CommandEnvelope) -> None:
        """A signal cannot be rejected like an update: a refused one changes nothing but is recorded and alerted."""
        await workflow.wait_condition(self._taken_in)
        try:
            t = lc.decide(self.state, envelope, self.policy, workflow.now())
        except lc.Refused as refused:
            t = lc.refuse_signal(self.state, envelope, refused, self.policy, workflow.now())
        self._record("signal", envelope=envelope)
        self._commit(t)

    @workflow.signal
    async def migrate_policy(self, sig: PolicyMigrationSignal) -> None:
        """Lead ops move this running lead to another policy version: the timeline says so (policy_migrated);
        clocks already running keep their deadlines, clocks started from now on follow the new version."""
        if not workflow.patched(POLICY_MIGRATION):
            return
        await workflow.wait_condition(self._taken_in)
        if sig.policy.version == self.policy.version or lc.is_finished(self.state):
            return
        old, self.policy = self.policy, sig.policy
        self._record("migrated", to_version=sig.policy.version, reason=sig.reason)
        self._commit(lc.migrate_policy(self.state, old, sig.policy, sig.reason,
                                       Actor(user_id=sig.by, role=sig.role), workflow.now()))

    # ------------------------------------------------------------------ reading

    @workflow.query
    def lead(self) -> LeadState | None:
        return self._state
