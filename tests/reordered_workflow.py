"""The lead workflow with two awaits swapped (read model before effects): replay must reject it; the same swap
behind workflow.patched() must replay."""

from __future__ import annotations

from temporalio import workflow

from workflows.lead import LeadWorkflow
from workflows.messages import LeadInput, LeadOutcome


@workflow.defn(name="LeadWorkflow")
class ReorderedLeadWorkflow(LeadWorkflow):
    @workflow.run
    async def run(self, inp: LeadInput) -> LeadOutcome:
        return await super().run(inp)

    async def _settle(self) -> None:
        await _settle_projection_first(self)


async def _settle_projection_first(wf: LeadWorkflow) -> None:
    while wf._committed > wf._settled:
        target = wf._committed
        await wf._project()  # swapped: the projection first ...
        while wf._effects:  # ... then the effects
            await wf._carry_out(wf._effects.popleft())
        wf._settled = target


@workflow.defn(name="LeadWorkflow")
class PatchedReorderLeadWorkflow(LeadWorkflow):
    """The same swap, for runs that begin after it only (patched): old histories take the old branch."""

    @workflow.run
    async def run(self, inp: LeadInput) -> LeadOutcome:
        return await super().run(inp)

    async def _settle(self) -> None:
        if not workflow.patched("test-project-first"):
            return await super()._settle()
        await _settle_projection_first(self)
