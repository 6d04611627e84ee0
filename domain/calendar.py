"""Working days of the Chinese calendar (public holidays and 调休 make-up workdays).

The running engine reads the calendar from the read model (`db/calendar.py`: the `calendar_day` table that
lead ops manage, seeded from chinese-calendar or, for years it does not know, from the `holidays` package as
a provisional year) and counts with `add_working_days_on`. The package-only functions below stay for the
policy's [calendar] overrides (extra_holidays / extra_workdays, which always win) and for tests.

Deadline convention of `add_working_days`: the deadline is the END of the Nth working day
after the start day, counted in Asia/Shanghai local dates and expressed as the start of the
following local day (00:00 Asia/Shanghai), returned as an aware UTC datetime. The start day
itself never counts, whatever the time of day.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar

from domain.policy import CalendarOverrides

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def calendar_covers(year: int) -> bool:
    """Whether the chinese_calendar package knows the holidays of `year`."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day(d: date, overrides: CalendarOverrides) -> bool:
    if d in overrides.extra_holidays:
        return False
    if d in overrides.extra_workdays:
        return True
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return d.weekday() < 5


def add_working_days(start: datetime, days: int, overrides: CalendarOverrides) -> datetime:
    """00:00 Asia/Shanghai of the day after the `days`-th working day after `start`'s local
    date, in UTC. A naive `start` is taken as UTC. days=0 gives the end of the start day."""
    return add_working_days_on(start, days, lambda d: is_working_day(d, overrides))


def add_working_days_on(start: datetime, days: int, working: Callable[[date], bool]) -> datetime:
    """`add_working_days` with any calendar: `working(d)` says whether the local date d is a working day."""
    if days < 0:
        raise ValueError("days must be >= 0")
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    day, left = start.astimezone(SHANGHAI).date(), days
    while left:
        day += timedelta(days=1)
        left -= working(day)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    return end.astimezone(UTC)


def compress(start: datetime, deadline: datetime, time_scale: float) -> datetime:
    """Demo mode: the deadline as the engine runs it, the span divided by the time scale."""
    return start + (deadline - start) / time_scale


def touches(started_at: datetime, deadline: datetime, days: Iterable[date]) -> bool:
    """Whether a working-day window (the start day excluded, up to the deadline's 00:00) holds one of `days`."""
    first = started_at.astimezone(SHANGHAI).date()
    return any(first < d and datetime.combine(d, time(0), tzinfo=SHANGHAI) < deadline for d in days)
