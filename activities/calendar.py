"""The working-day calendar's activities: deadlines read from the calendar table (`db/calendar.py`), the
leads a correction reaches, and the state of next year for the daily check.

A calendar is I/O as far as the workflow is concerned (lead ops change it), so a deadline is computed here
and recorded in the history as the activity's result; the registered name `working_day_deadline` is the one
recorded histories hold.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlmodel import col, select
from temporalio import activity

from activities.db import UsesDatabase, aware
from db import calendar as cal
from db.models import ClockRun, Lead
from domain.calendar import SHANGHAI, compress
from domain.clocks import CLOCKS
from domain.models import CalendarChange, CalendarCheck, CalendarCheckResult, DeadlineRequest, DeadlineResult
from domain.policy import CalendarOverrides

WORKING_DAY_CLOCKS = sorted(name for name, spec in CLOCKS.items() if spec.working_days)
WARN_FROM = (11, 1)  # from 1 November, next year's calendar should be confirmed


class CalendarActivities(UsesDatabase):
    @activity.defn(name="working_day_deadline")
    def working_day_deadline(self, req: DeadlineRequest) -> DeadlineResult:
        overrides = CalendarOverrides(extra_holidays=req.extra_holidays, extra_workdays=req.extra_workdays)
        with self.session() as session:
            found = cal.working_day_deadline(session, req.start, req.working_days, overrides)
        deadline = found.deadline
        if req.time_scale != 1:
            deadline = compress(req.start, deadline, req.time_scale)
        return DeadlineResult(deadline=deadline, calendar_known=not found.provisional_years, years=found.years,
                              provisional_years=found.provisional_years)

    @activity.defn
    def affected_leads(self, change: CalendarChange) -> list[str]:
        """The workflow ids of the leads with an open working-day clock whose window holds a changed day."""
        if not change.dates:
            return []
        with self.session() as session:
            first, last = min(change.dates), max(change.dates)
            runs = session.exec(select(ClockRun).where(  # a coarse window in SQL, the exact test below
                col(ClockRun.outcome).is_(None), col(ClockRun.clock).in_(WORKING_DAY_CLOCKS),
                ClockRun.started_at < datetime.combine(last, time(0), tzinfo=SHANGHAI),
                col(ClockRun.deadline) > datetime.combine(first, time(0), tzinfo=SHANGHAI))).all()
            lead_ids = sorted({r.lead_id for r in runs if r.deadline is not None  # (the query asks for one)
                               and cal.touches(aware(r.started_at), aware(r.deadline), change.dates)})
            if not lead_ids:
                return []
            rows = session.exec(select(Lead.lead_id, Lead.workflow_id).where(col(Lead.lead_id).in_(lead_ids))).all()
        return sorted(workflow_id for _, workflow_id in rows)

    @activity.defn
    def next_year_state(self, check: CalendarCheck) -> CalendarCheckResult:
        """Next year's state as of `check.as_of` (Asia/Shanghai); alerted=1 means: warn now."""
        if check.as_of is None:  # the workflow fills it in with its own now
            raise ValueError("next_year_state needs as_of")
        today: date = check.as_of.astimezone(SHANGHAI).date()
        year = today.year + 1
        with self.session() as session:
            state = cal.ensure_year(session, year, check.as_of).state
        due = (today.month, today.day) >= WARN_FROM and state != cal.CONFIRMED
        return CalendarCheckResult(year=year, state=state, alerted=int(due))
