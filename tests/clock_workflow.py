"""A workflow that reads the machine's clock: the kind of mistake the SDK's sandbox catches (its own module, so the
sandbox can import it; tests/test_local_activities.py)."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="ReadsTheClock")
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()
