"""A lead workflow with a programming bug: a change signalled by ops carries an effect it has no handler for."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():  # as workflows/lead.py does: one copy of the models
    from domain import commands as c
    from domain.models import Model
from workflows.lead import LeadWorkflow
from workflows.messages import LeadInput, LeadOutcome


class UnknownEffect(Model):
    """An effect a newer decider emits that this workflow does not know."""


@workflow.defn(name="LeadWorkflow")
class BuggyLeadWorkflow(LeadWorkflow):
    @workflow.run
    async def run(self, inp: LeadInput) -> LeadOutcome:
        return await super().run(inp)

    async def _signalled(self, envelope: c.CommandEnvelope) -> None:
        await super()._signalled(envelope)
        self._effects.append(UnknownEffect())  # type: ignore[arg-type]  # the point: an effect it cannot handle
