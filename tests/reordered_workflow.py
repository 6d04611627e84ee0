"""The lead workflow with two awaits swapped (read model before effects): replay must reject it; the same swap
behind workflow.patched() must replay."""

from __future__ import annotations

from temporalio import workflow

from workflows.lead import LeadInput, LeadOutcome, LeadWorkflow


@workflow.defn(name="LeadWorkflow")
class ReorderedLeadWorkflow(LeadWorkflow):
    @workflow.run
    async def run(self, inp: LeadInput) -> LeadOutcome:
        return await super().run(inp)

    async def _settle(self) -> None:
        while self._committed > self._settled:
            target = self._committed
            await self._project()  # swapped: the projection first ...
            while self._effects:  # ... then the effects
                await self._carry_out(self._effects.popleft())
            self._settled = target


@workflow.defn(name="LeadWorkflow")
class PatchedReorderLeadWorkflow(LeadWorkflow):
    """The same swap, for runs that begin after it only (patched): old histories take the old branch."""

    @workflow.run
    async def run(self, inp: LeadInput) -> LeadOutcome:
        return await super().run(inp)

    async def _settle(self) -> None:
        if not workflow.patched("test-project-first"):
            return await super()._settle()
        await ReorderedLeadWorkflow._settle(self)
