"""The working-day calendar as data (issue 12): special days in `calendar_day`, a state per year in
`calendar_year`, every change by lead ops in `calendar_audit`.

Seeding is lazy: the first time a year is needed (a deadline, the API, the daily check) it is seeded from
`chinese-calendar` when the package knows it (`confirmed`, source `package`), otherwise from the statutory
holidays the `holidays` package computes for China (`provisional`, source `computed`). The computed year has
no 调休 make-up workdays (nobody can compute them: the State Council publishes them each autumn), which is
why it says provisional until lead ops upload the schedule and confirm it. A day that is not in the table is
a working day Monday to Friday and a rest day at the weekend; a year is never counted Monday to Friday alone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import holidays as holidays_package
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from db.models import CalendarAudit, CalendarDay, CalendarYear
from domain.calendar import SHANGHAI, add_working_days_on, calendar_covers, touches  # noqa: F401 (re-exported)
from domain.messages import CodedError
from domain.policy import CalendarOverrides

HOLIDAY, WORKDAY = "holiday", "workday"
KINDS = (HOLIDAY, WORKDAY)
CONFIRMED, PROVISIONAL = "confirmed", "provisional"
MIN_YEAR, MAX_YEAR = 2004, 2100  # chinese-calendar starts at 2004; the API refuses years outside this


# --------------------------------------------------------------------------- seeding


# chinese-calendar names its holidays in English only: the names people read (issue 13)
HOLIDAY_NAMES_ZH = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
                    "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
                    "Mid-autumn Festival": "中秋节",
                    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日"}


def _zh(name) -> str:
    return HOLIDAY_NAMES_ZH.get(str(name), str(name))


def seed_days(year: int) -> tuple[str, list[CalendarDay]]:
    """The special days of `year` from the packages: ("package", ...) or ("computed", ...), named in Chinese."""
    if calendar_covers(year):
        days = [CalendarDay(day=d, year=year, kind=HOLIDAY, name=_zh(name), source="package")
                for d, name in chinese_calendar.holidays.items() if d.year == year]
        days += [CalendarDay(day=d, year=year, kind=WORKDAY, name=_zh(name), source="package")
                 for d, name in chinese_calendar.workdays.items() if d.year == year]
        return "package", sorted(days, key=lambda r: r.day)
    computed = holidays_package.China(years=year, language="zh_CN")
    return "computed", [CalendarDay(day=d, year=year, kind=HOLIDAY, name=name, source="computed")
                        for d, name in sorted(computed.items()) if d.year == year]


def _year(session: Session, year: int) -> CalendarYear:
    """The year's row, which `ensure_year` (or a concurrent seeding) has written: missing, it is a bug."""
    row = session.get(CalendarYear, year)
    if row is None:
        raise LookupError(f"calendar year {year} is missing after it was seeded")
    return row


def ensure_year(session: Session, year: int, now: datetime | None = None) -> CalendarYear:
    """The year's row, seeding the year first if nobody has yet (concurrent seeders: the first one wins)."""
    row = session.get(CalendarYear, year)
    if row is not None:
        return row
    source, days = seed_days(year)
    row = CalendarYear(year=year, state=CONFIRMED if source == "package" else PROVISIONAL, seeded_from=source,
                       updated_at=now or datetime.now(UTC))
    session.add(row)
    session.add_all(days)
    try:
        session.commit()
    except IntegrityError:  # another activity seeded it meanwhile
        session.rollback()
        row = _year(session, year)
    return row


# --------------------------------------------------------------------------- reading


@dataclass
class TableCalendar:
    """The table, read lazily one year at a time, seeding a year the first time it is needed."""

    session: Session
    overrides: CalendarOverrides = field(default_factory=CalendarOverrides)
    days: dict[date, str] = field(default_factory=dict)
    states: dict[int, str] = field(default_factory=dict)

    def year(self, year: int) -> str:
        if year not in self.states:
            self.states[year] = ensure_year(self.session, year).state
            rows = self.session.exec(select(CalendarDay).where(CalendarDay.year == year)).all()
            self.days.update({r.day: r.kind for r in rows})
        return self.states[year]

    def is_working(self, d: date) -> bool:
        if d in self.overrides.extra_holidays:  # a policy pinned on the lead still wins
            return False
        if d in self.overrides.extra_workdays:
            return True
        self.year(d.year)
        kind = self.days.get(d)
        return kind == WORKDAY if kind else d.weekday() < 5

    def add_working_days(self, start: datetime, working_days: int) -> datetime:
        return add_working_days_on(start, working_days, self.is_working)


@dataclass(frozen=True)
class Deadline:
    deadline: datetime
    years: list[int]  # the years the count went through
    provisional_years: list[int]


def working_day_deadline(session: Session, start: datetime, working_days: int,
                         overrides: CalendarOverrides | None = None) -> Deadline:
    cal = TableCalendar(session, overrides or CalendarOverrides())
    deadline = cal.add_working_days(start, working_days)
    first = start.astimezone(SHANGHAI).date().year
    last = (deadline.astimezone(SHANGHAI) - timedelta(seconds=1)).date().year
    years = list(range(first, last + 1))
    return Deadline(deadline=deadline, years=years, provisional_years=[y for y in years if cal.year(y) == PROVISIONAL])


def year_view(session: Session, year: int) -> tuple[CalendarYear, list[CalendarDay]]:
    row = ensure_year(session, year)
    days = session.exec(select(CalendarDay).where(col(CalendarDay.year) == year).order_by(col(CalendarDay.day))).all()
    return row, list(days)


# --------------------------------------------------------------------------- uploads


class UploadError(CodedError):
    """A bad upload: `row` is 1-based (the CSV's header is row 0; None: the file as a whole); the reason an
    `invalid.upload.*` code."""

    def __init__(self, row: int | None, field_name: str, code: str, **params: object):
        super().__init__(f"invalid.upload.{code}", **params)
        self.row, self.field = row, field_name


@dataclass(frozen=True)
class DayIn:
    day: date
    kind: str
    name: str = ""


def parse_upload(year: int, body: bytes, content_type: str) -> list[DayIn]:
    """The State Council's schedule for `year`, as JSON (a list of {date, kind, name}, or {"days": [...]})
    or CSV (header `date,kind,name`). Raises UploadError naming the row and the field."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError(None, "file", "not_utf8") from None
    if not text.strip():
        raise UploadError(None, "file", "empty")
    if "json" in content_type or text.lstrip()[:1] in "[{":
        try:
            data = json.loads(text)
        except ValueError:
            raise UploadError(None, "file", "not_json") from None
        if isinstance(data, dict):
            data = data.get("days")
        if not isinstance(data, list):
            raise UploadError(None, "days", "not_a_list")
        rows = data
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or not {"date", "kind"} <= {f.strip() for f in reader.fieldnames}:
            raise UploadError(0, "header", "csv_header", columns="date,kind[,name]")
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    if not rows:
        raise UploadError(None, "file", "no_days")
    seen: dict[date, DayIn] = {}
    for i, raw in enumerate(rows, start=1):
        if not isinstance(raw, dict):
            raise UploadError(i, "row", "row_object", fields="date, kind")
        try:
            day = date.fromisoformat(str(raw.get("date", "")).strip())
        except ValueError:
            raise UploadError(i, "date", "not_a_date", text=str(raw.get("date", ""))[:40]) from None
        if day.year != year:
            raise UploadError(i, "date", "outside_year", day=day.isoformat(), year=year)
        kind = str(raw.get("kind", "")).strip()
        if kind not in KINDS:
            raise UploadError(i, "kind", "kind", text=kind[:40], holiday="holiday", workday="workday")
        name = str(raw.get("name") or "").strip()[:100]
        if day in seen and seen[day].kind != kind:
            raise UploadError(i, "date", "twice", day=day.isoformat())
        seen.setdefault(day, DayIn(day, kind, name))
    return sorted(seen.values(), key=lambda d: d.day)


# --------------------------------------------------------------------------- changes (all audited)


def _snapshot(rows: Iterable[CalendarDay]) -> dict[str, str]:
    return {r.day.isoformat(): r.kind for r in rows}


def _audit(session: Session, year: int, actor: str, action: str, now: datetime, before: dict, after: dict,
           reason: str | None = None) -> None:
    session.add(CalendarAudit(year=year, at=now, actor=actor, action=action, reason=reason, before=before,
                              after=after))


@dataclass(frozen=True)
class Change:
    year: int
    dates: list[date]  # the days whose kind changed (added, removed, flipped)
    state: str


def replace_year(session: Session, year: int, days: list[DayIn], actor: str, now: datetime,
                 confirm: bool = False) -> Change:
    """An uploaded schedule replaces the year's special days, in one transaction (all or nothing)."""
    row = ensure_year(session, year, now)
    old = session.exec(select(CalendarDay).where(CalendarDay.year == year)).all()
    before = _snapshot(old)
    session.exec(delete(CalendarDay).where(col(CalendarDay.year) == year))
    session.add_all([CalendarDay(day=d.day, year=year, kind=d.kind, name=d.name, source="lead_ops") for d in days])
    after = {d.day.isoformat(): d.kind for d in days}
    state_before = row.state
    if confirm:
        row.state, row.confirmed_by, row.confirmed_at = CONFIRMED, actor, now
    row.updated_at = now
    session.add(row)
    _audit(session, year, actor, "upload", now, {"state": state_before, "days": before},
           {"state": row.state, "days": after})
    session.commit()
    changed = sorted(date.fromisoformat(k) for k in set(before) | set(after) if before.get(k) != after.get(k))
    return Change(year, changed, row.state)


def set_day(session: Session, day: date, kind: str, name: str, actor: str, now: datetime) -> Change:
    ensure_year(session, day.year, now)
    row = session.get(CalendarDay, day)
    before = {"kind": row.kind, "name": row.name, "source": row.source} if row else {}
    row = row or CalendarDay(day=day, year=day.year, kind=kind, source="lead_ops")
    row.kind, row.name, row.source = kind, name, "lead_ops"
    session.add(row)
    _audit(session, day.year, actor, "set_day", now, {day.isoformat(): before},
           {day.isoformat(): {"kind": kind, "name": name, "source": "lead_ops"}})
    session.commit()
    return Change(day.year, [day] if before.get("kind") != kind else [], _year(session, day.year).state)


def delete_day(session: Session, day: date, actor: str, now: datetime) -> Change | None:
    """The day becomes ordinary again (a working day Monday to Friday). None: it was not special."""
    ensure_year(session, day.year, now)
    row = session.get(CalendarDay, day)
    if row is None:
        return None
    _audit(session, day.year, actor, "delete_day", now,
           {day.isoformat(): {"kind": row.kind, "name": row.name, "source": row.source}}, {day.isoformat(): {}})
    session.delete(row)
    session.commit()
    return Change(day.year, [day], _year(session, day.year).state)


def confirm_year(session: Session, year: int, actor: str, now: datetime) -> CalendarYear:
    row = ensure_year(session, year, now)
    before = {"state": row.state, "confirmed_by": row.confirmed_by}
    row.state, row.confirmed_by, row.confirmed_at, row.updated_at = CONFIRMED, actor, now, now
    session.add(row)
    _audit(session, year, actor, "confirm", now, before, {"state": CONFIRMED, "confirmed_by": actor})
    session.commit()
    return row


def audit_rows(session: Session, year: int) -> list[CalendarAudit]:
    return list(session.exec(select(CalendarAudit).where(col(CalendarAudit.year) == year)
                             .order_by(col(CalendarAudit.id))).all())
