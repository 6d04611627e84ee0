"""Lapsed clocks that stay on the lead (issue 13 section 4): a clock whose lapse only alerted (or escalated)
still waits for the action it was counting down to, so the lead and the lists keep showing it, in red, with
how late it is, until that action happens. Pure, no I/O: the API hands in the lead's clock runs and the kinds
of its timeline events since.

A lapsed run stops being shown when the awaited action happened after the lapse (an event the clock stops or
starts on), the funnel reached the clock's stage, the clock ran again, the lead left the dealer the clock ran
for, or the lead ended. Lapses that themselves moved the lead (a redispatch, the public pool, a review, the
end of an appeal window, nurturing steps) await nothing more and are not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.clocks import CLOCKS
from domain.stages import END_STAGES, LeadStage, reached

AWAITING_LAPSES = frozenset({"alert", "escalate"})


@dataclass(frozen=True)
class Run:
    clock: str
    started_at: datetime
    deadline: datetime | None
    ended_at: datetime | None
    outcome: str | None
    dealer_id: str | None


def awaited_kinds() -> frozenset[str]:
    """The timeline event kinds that may end a lapsed clock's wait (for the query that fetches them)."""
    return frozenset(k for s in CLOCKS.values() if s.on_lapse in AWAITING_LAPSES for k in s.stops_on | s.starts_on)


def still_lapsed(stage: str, furthest_stage: str, dealer_id: str | None, runs: list[Run],
                 events: list[tuple[str, datetime]]) -> list[Run]:
    """The lead's lapsed runs still waiting for their action, latest deadline last. `events`: (kind, at)."""
    if LeadStage(stage) in END_STAGES:
        return []
    out = []
    for run in runs:
        spec = CLOCKS.get(run.clock)
        if run.outcome != "lapsed" or spec is None or spec.on_lapse not in AWAITING_LAPSES or run.ended_at is None:
            continue
        if spec.dealer_clock and run.dealer_id != dealer_id:
            continue  # the holding it ran for is over
        if spec.stop_at_stage is not None and reached(LeadStage(furthest_stage), spec.stop_at_stage):
            continue
        if any(r.clock == run.clock and r.started_at > run.started_at for r in runs):
            continue  # it ran again since
        ends = spec.stops_on | spec.starts_on
        if any(kind in ends and at >= run.ended_at for kind, at in events):
            continue
        out.append(run)
    return sorted(out, key=lambda r: (r.deadline or r.ended_at, r.clock))
