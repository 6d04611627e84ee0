"""The choice-right decline quota (线索自主选择权, SPEC 4.2). Pure: no I/O, no clock.

A choice-right dealer may decline at most `quota` of the leads pushed to it over a rolling
window (policy: 20% over 30 days). A decline asked for at `now` is allowed iff

    declined + 1 <= quota * pushed

where `pushed` and `declined` count the timestamps in the window (now - window, now]. The
pushes include the lead about to be declined (it was pushed to the dealer too), so the rule
guarantees: right after an allowed decline, declines in the window ending now are at most
`quota` of the pushes in it. (It guarantees nothing about later windows: as old pushes slide
out of the window the share of declines in it may rise; the quota is checked when declining.)

The quota is compared as the decimal the operator wrote (0.57 is 57/100, not the binary float
0.5699999...), so a dealer at exactly its quota is never refused by a rounding error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction


@dataclass(frozen=True)
class DeclineQuotaCheck:
    allowed: bool
    pushed: int  # pushes in the window
    declined: int  # declines in the window, before this one
    reason: str


def in_window(times: Iterable[datetime], now: datetime, window: timedelta) -> int:
    """How many of `times` fall in the rolling window (now - window, now]."""
    since = now - window
    return sum(1 for t in times if since < t <= now)


def _exact(quota: float) -> Fraction:
    return Fraction(str(quota)) if isinstance(quota, float) else Fraction(quota)


def check_decline(pushed_at: Iterable[datetime], declined_at: Iterable[datetime], now: datetime,
                  window: timedelta, quota: float) -> DeclineQuotaCheck:
    """The quota check with its counts (see the module docstring for the rule)."""
    pushed = in_window(pushed_at, now, window)
    declined = in_window(declined_at, now, window)
    allowed = declined + 1 <= _exact(quota) * pushed
    days = window.total_seconds() / 86400
    reason = f"{declined} of {pushed} leads pushed in the last {days:g} days declined; the quota is {quota:.0%}"
    return DeclineQuotaCheck(allowed=allowed, pushed=pushed, declined=declined, reason=reason)


def may_decline(pushed_at: Iterable[datetime], declined_at: Iterable[datetime], now: datetime,
                window: timedelta, quota: float) -> tuple[bool, str]:
    """May a choice-right dealer decline one more lead at `now`? (allowed, an English reason)

    `pushed_at`: when each lead was pushed to the dealer (including the one to decline);
    `declined_at`: when each of its earlier declines counts (the activity uses the declined
    lead's push time). Timestamps are aware datetimes, like `now`.
    """
    check = check_decline(pushed_at, declined_at, now, window, quota)
    return check.allowed, check.reason
