"""The working-day calendar (issue 12): lead ops list a year, upload the State Council's schedule (JSON or
CSV), edit single days and confirm a year. Every change is audited (`calendar_audit`).

A change to the days starts one `CalendarCorrectionWorkflow`, which finds the running leads whose open
working-day clocks hold a changed day and signals them in batches: the API never reaches leads one by one.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from api.deps import ActorDep, ClientDep, NowDep, SessionDep, TaskQueueDep
from api.errors import Invalid, Problem, invalid_error, responses
from db import calendar as cal
from db.models import User
from domain.models import Actor, CalendarChange
from domain.stages import Role
from workflows.calendar import CalendarCorrectionWorkflow

router = APIRouter(prefix="/v1/calendar", tags=["calendar"], responses=responses(403))
MANAGERS = frozenset({Role.LEAD_OPS, Role.HEAD_OF_LEAD_OPS})
Year = Annotated[int, Path(ge=cal.MIN_YEAR, le=cal.MAX_YEAR, description="a calendar year")]
Day = Annotated[date, Path(description="YYYY-MM-DD")]


def calendar_manager(actor: ActorDep) -> Actor:
    if actor.role not in MANAGERS:
        raise Problem(403, "error.role_only", what="calendar", roles=sorted(r.value for r in MANAGERS),
                      role=actor.role.value)
    return actor


ManagerDep = Annotated[Actor, Depends(calendar_manager)]


class DayView(BaseModel):
    date: date
    kind: Literal["holiday", "workday"]
    name: str
    source: str  # package | computed | lead_ops


class YearView(BaseModel):
    year: int
    state: Literal["confirmed", "provisional"]
    seeded_from: str
    confirmed_by: str | None
    confirmed_by_name: str | None = None  # the person's name, for people
    confirmed_at: datetime | None
    days: list[DayView]
    leads_signalled: bool = False  # a correction workflow was started for the running leads


class DaySet(BaseModel):
    kind: Literal["holiday", "workday"]
    name: str = Field(default="", max_length=100)


class AuditView(BaseModel):
    at: datetime
    actor: str
    actor_name: str  # the person's name, for people
    action: str  # upload | set_day | delete_day | confirm
    before: dict
    after: dict


def _name(session, user_id: str | None) -> str | None:
    """A person's name (their id when they are not a user any more)."""
    user = session.get(User, user_id) if user_id else None
    return user.name if user is not None else user_id


def _view(session, year: int, signalled: bool = False) -> YearView:
    row, days = cal.year_view(session, year)
    return YearView(year=row.year, state=row.state, seeded_from=row.seeded_from, confirmed_by=row.confirmed_by,
                    confirmed_by_name=_name(session, row.confirmed_by), confirmed_at=row.confirmed_at,
                    leads_signalled=signalled,
                    days=[DayView(date=d.day, kind=d.kind, name=d.name, source=d.source) for d in days])


REASONS = {"upload": "线索运营上传了 {year} 年节假日安排", "set_day": "线索运营修改了 {year} 年节假日安排",
           "delete_day": "线索运营修改了 {year} 年节假日安排"}


async def _reach_leads(client, task_queue: str, change: cal.Change, action: str, actor: Actor) -> bool:
    if not change.dates:
        return False
    message = CalendarChange(year=change.year, dates=change.dates, by=actor.user_id,
                             reason=REASONS[action].format(year=change.year))
    await client.start_workflow(CalendarCorrectionWorkflow.run, message, task_queue=task_queue,
                                id=f"calendar-correction-{change.year}-{uuid.uuid4().hex[:12]}")
    return True


@router.get("/{year}", summary="A year of the calendar: its state and special days")
def get_year(year: Year, session: SessionDep, _: ManagerDep) -> YearView:
    return _view(session, year)


@router.get("/{year}/audit", summary="Every change lead ops made to the year: who, when, before and after")
def get_audit(year: Year, session: SessionDep, _: ManagerDep) -> list[AuditView]:
    return [AuditView(at=a.at, actor=a.actor, actor_name=_name(session, a.actor) or a.actor, action=a.action,
                      before=a.before, after=a.after) for a in cal.audit_rows(session, year)]


UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "items": {"type": "object", "properties": {
        "date": {"type": "string", "format": "date"}, "kind": {"type": "string", "enum": ["holiday", "workday"]},
        "name": {"type": "string"}}, "required": ["date", "kind"]}}},
    "text/csv": {"schema": {"type": "string", "description": "header date,kind,name"}}}}}


@router.post("/{year}/schedule", summary="Upload the State Council's schedule for the year (replaces its days)",
             openapi_extra=UPLOAD_BODY, responses=responses(413))
async def upload(year: Year, request: Request, session: SessionDep, client: ClientDep, task_queue: TaskQueueDep,
                 now: NowDep, actor: ManagerDep,
                 confirm: Annotated[bool, Query(description="confirm the year in the same change")] = False):
    try:
        days = cal.parse_upload(year, await request.body(), request.headers.get("content-type", ""))
    except cal.UploadError as bad:
        loc = ["body"] + (["row", bad.row] if bad.row is not None else []) + [bad.field]
        raise RequestValidationError([invalid_error(loc, bad)]) from None
    change = cal.replace_year(session, year, days, actor.user_id, now, confirm=confirm)
    signalled = await _reach_leads(client, task_queue, change, "upload", actor)
    return _view(session, year, signalled)


@router.put("/days/{day}", summary="Make one day a holiday or a make-up workday")
async def put_day(day: Day, body: DaySet, session: SessionDep, client: ClientDep, task_queue: TaskQueueDep,
                  now: NowDep, actor: ManagerDep) -> YearView:
    _in_range(day)
    change = cal.set_day(session, day, body.kind, body.name, actor.user_id, now)
    return _view(session, day.year, await _reach_leads(client, task_queue, change, "set_day", actor))


@router.delete("/days/{day}", summary="Make one day ordinary again (a working day Monday to Friday)",
               responses=responses(404))
async def delete_day(day: Day, session: SessionDep, client: ClientDep, task_queue: TaskQueueDep, now: NowDep,
                     actor: ManagerDep) -> YearView:
    _in_range(day)
    change = cal.delete_day(session, day, actor.user_id, now)
    if change is None:
        raise Problem(404, "error.not_found", thing="day", id=day.isoformat())
    return _view(session, day.year, await _reach_leads(client, task_queue, change, "delete_day", actor))


@router.post("/{year}/confirm", summary="Confirm the year: its days are the official schedule")
def confirm(year: Year, session: SessionDep, now: NowDep, actor: ManagerDep) -> YearView:
    cal.confirm_year(session, year, actor.user_id, now)
    return _view(session, year)


def _in_range(day: date) -> None:
    if not cal.MIN_YEAR <= day.year <= cal.MAX_YEAR:
        raise Invalid(("path", "day"), "invalid.calendar_years", min=cal.MIN_YEAR, max=cal.MAX_YEAR)
