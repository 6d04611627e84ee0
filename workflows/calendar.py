"""The calendar's workflows: a correction reaches the running leads, and a daily check warns before an
unconfirmed year bites.

- `CalendarCorrectionWorkflow` (started by the API when lead ops change a year): finds in the read model the
  leads with an open working-day clock whose window holds a changed day, and signals each `calendar_changed`
  in batches; the leads count their deadlines again themselves. The API never signals leads one by one.
- `CalendarCheckWorkflow` (the action of the Temporal Schedule `calendar-check`, 09:00 Asia/Shanghai every
  day, created by the worker at start): from 1 November, if next year is not confirmed, it alerts the head of
  lead ops through every channel the product has (`ALERT_CHANNELS`), once a day.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.calendar import CalendarActivities
    from activities.notify import NotifyActivities
    from domain.calendar import SHANGHAI
    from domain.models import CalendarChange, CalendarCheck, CalendarCheckResult, NotifyRequest
    from domain.stages import Role

TIMEOUT = timedelta(seconds=60)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
BATCH = 50  # signals in flight at once
SCHEDULE_ID = "calendar-check"
LEAD_SIGNAL = "calendar_changed"

# Every channel that reaches people: the inbox (the `notify` activity), which also starts the notice's PushWorkflow
# (workflows/push.py: WeCom, DingTalk, Feishu, SMS, Web Push). A channel with its own activity adds it here,
# taking the same NotifyRequest.
ALERT_CHANNELS: list[Callable[[Any, NotifyRequest], int]] = [NotifyActivities.notify]


@workflow.defn
class CalendarCorrectionWorkflow:
    @workflow.run
    async def run(self, change: CalendarChange) -> int:
        lead_ids = await workflow.execute_activity_method(
            CalendarActivities.affected_leads, change, start_to_close_timeout=TIMEOUT, retry_policy=RETRY)
        for i in range(0, len(lead_ids), BATCH):
            await asyncio.gather(*(self._signal(lead_id, change) for lead_id in lead_ids[i:i + BATCH]))
        workflow.logger.info("calendar correction sent", extra={"year": change.year, "leads": len(lead_ids)})
        return len(lead_ids)

    @staticmethod
    async def _signal(lead_id: str, change: CalendarChange) -> None:
        try:
            await workflow.get_external_workflow_handle(lead_id).signal(LEAD_SIGNAL, change)
        except Exception as exc:  # noqa: BLE001 - the lead closed meanwhile: it has no clock left to move
            workflow.logger.info("calendar correction not delivered", extra={"lead_id": lead_id, "error": str(exc)})


def unconfirmed_notice(year: int, day_key: int) -> NotifyRequest:
    return NotifyRequest(
        lead_id=f"calendar-{year}", event_seq=day_key, kind="calendar_unconfirmed", roles=[Role.HEAD_OF_LEAD_OPS],
        message=f"the {year} holiday schedule is not confirmed yet: upload the State Council's schedule and "
                f"confirm it before working-day deadlines reach {year}", data={"year": year})


@workflow.defn
class CalendarCheckWorkflow:
    @workflow.run
    async def run(self, check: CalendarCheck) -> CalendarCheckResult:
        as_of = check.as_of or workflow.now()
        result = await workflow.execute_activity_method(
            CalendarActivities.next_year_state, CalendarCheck(as_of=as_of), start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY)
        if not result.alerted:
            return result
        day = as_of.astimezone(SHANGHAI).date()
        notice = unconfirmed_notice(result.year, int(day.strftime("%Y%m%d"))).model_copy(update={"at": as_of})
        written = 0
        for channel in ALERT_CHANNELS:
            written += await workflow.execute_activity_method(channel, notice, start_to_close_timeout=TIMEOUT,
                                                              retry_policy=RETRY)
        return result.model_copy(update={"alerted": written})
