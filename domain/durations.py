"""Human-friendly durations for the policy file: "15m", "2h", "7d", "1h30m", "90s"."""

from __future__ import annotations

import re
from datetime import timedelta

from domain.messages import CodedError

_PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    cleaned = text.replace(" ", "").lower()
    if not cleaned or _PART.sub("", cleaned):
        raise CodedError("invalid.duration", text=text)  # a ValueError
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    if seconds <= 0:
        raise CodedError("invalid.duration_positive", text=text)
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    out = []
    for unit, size in _UNITS.items():
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"
