"""Recorded histories replay against today's workflow code: a non-deterministic change fails here.

Regenerate with `./scripts/test.sh --record-histories` and review the diff like code (they are written
decoded, so reviewable; the replayer uses the production converter, which reads clear payloads as they are). A change
in behaviour for running leads needs `workflow.patched`, so that old histories still replay.
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.conftest import suite_converter
from tests.harness import HISTORIES
from worker import SANDBOX, UNSANDBOXED
from workflows.lead import LeadWorkflow
from workflows.owner_care import OwnerCareWorkflow
from workflows.push import PushFlushWorkflow, PushWorkflow

FILES = sorted(HISTORIES.glob("*.json"))


def test_histories_are_checked_in():
    assert len(FILES) >= 10, "recorded histories are missing: run ./scripts/test.sh --record-histories"


@pytest.mark.parametrize("runner", ["sandboxed", "unsandboxed"])
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_recorded_history_replays(path, runner):
    """In the SDK's sandbox (the suite's workers) and outside it (production's, LEADFLOW_WORKFLOW_SANDBOX off)."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[LeadWorkflow, OwnerCareWorkflow, PushWorkflow, PushFlushWorkflow],
                        data_converter=suite_converter(),
                        workflow_runner=SANDBOX if runner == "sandboxed" else UNSANDBOXED)
    await replayer.replay_workflow(history)


async def test_swapping_two_awaits_in_the_workflow_fails_the_replay():
    from temporalio.workflow import NondeterminismError

    from tests.reordered_workflow import ReorderedLeadWorkflow

    history = WorkflowHistory.from_json("reordered", FILES[0].read_text())
    replayer = Replayer(workflows=[ReorderedLeadWorkflow], data_converter=suite_converter())
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)
