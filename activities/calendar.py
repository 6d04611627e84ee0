"""Working-day deadlines (Chinese calendar with holidays and 调休 make-up days).

A calendar is I/O as far as the workflow is concerned (its table changes with package
updates), so the deadline is computed here and recorded in the history as the result.
"""

from __future__ import annotations

from temporalio import activity

from domain.calendar import add_working_days, calendar_covers, compress
from domain.models import DeadlineRequest, DeadlineResult
from domain.policy import CalendarOverrides


@activity.defn
async def working_day_deadline(req: DeadlineRequest) -> DeadlineResult:
    overrides = CalendarOverrides(extra_holidays=req.extra_holidays, extra_workdays=req.extra_workdays)
    deadline = add_working_days(req.start, req.working_days, overrides)
    known = calendar_covers(req.start.year) and calendar_covers(deadline.year)
    if req.time_scale != 1:
        deadline = compress(req.start, deadline, req.time_scale)
    return DeadlineResult(deadline=deadline, calendar_known=known)
