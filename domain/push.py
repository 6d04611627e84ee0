"""Pure rules of push delivery: the per-target limiter, quiet hours, digests, back-off; and the models the push
workflow and its activities exchange. No I/O: the clock is always an argument."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.messages import render
from domain.models import Model, NotifyRequest

SHANGHAI = ZoneInfo("Asia/Shanghai")
BREAK_AFTER = 5  # consecutive failed requests that mark a target broken (its owner is alerted)
MAX_BACKOFF = timedelta(minutes=10)
SENDING_STALE = timedelta(seconds=90)  # a claim older than this (3 activity timeouts) belonged to a dead attempt


def next_slot(history: Sequence[datetime], limits: Sequence[tuple[int, float]], now: datetime) -> datetime:
    """The earliest time >= now at which one more request keeps every (n requests per s seconds) limit, given
    the times of the requests already made (a sliding window per limit)."""
    slot = now
    for n, seconds in limits:
        window = timedelta(seconds=seconds)
        recent = sorted(t for t in history if t > now - window)
        if len(recent) >= n:
            slot = max(slot, recent[-n] + window)
    return slot


def quiet_until(now: datetime, start: str | None, end: str | None) -> datetime | None:
    """When the person's quiet hours (Asia/Shanghai "HH:MM"-"HH:MM", may span midnight) end, if `now` is inside
    them; None outside them or without quiet hours."""
    if not start or not end or start == end:
        return None
    local = now.astimezone(SHANGHAI)
    s, e = time.fromisoformat(start), time.fromisoformat(end)
    t = local.time()
    inside = (s <= t < e) if s < e else (t >= s or t < e)
    if not inside:
        return None
    end_day = local.date() if t < e else local.date() + timedelta(days=1)
    return datetime.combine(end_day, e, tzinfo=SHANGHAI)


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait before the next attempt: 2, 4, 8 … seconds up to 10 minutes, or what the provider asked."""
    if retry_after:
        return timedelta(seconds=retry_after)
    return min(MAX_BACKOFF, timedelta(seconds=2 ** max(1, attempts)))


def compose(texts: Sequence[str], max_bytes: int, lang: str = "zh-CN") -> tuple[str, int]:
    """One message for the first texts that fit in `max_bytes`: a single text as it is, several as a digest
    ("3 条新提醒…" then one line each). Returns the message and how many texts it carries (at least one: a text
    too long alone is cut); the rest wait for the next request, never dropped."""
    if len(texts) == 1:
        return _cut(texts[0], max_bytes), 1
    lines: list[str] = []
    for text in texts:
        candidate = [*lines, f"{len(lines) + 1}. {text}"]
        head = render("push.digest", {"count": len(candidate)}, lang)
        if len((head + "\n" + "\n".join(candidate)).encode()) > max_bytes:
            break
        lines = candidate
    if not lines:
        return _cut(texts[0], max_bytes), 1
    if len(lines) == 1:
        return _cut(texts[0], max_bytes), 1
    return render("push.digest", {"count": len(lines)}, lang) + "\n" + "\n".join(lines), len(lines)


def _cut(text: str, max_bytes: int) -> str:
    raw = text.encode()
    return text if len(raw) <= max_bytes else raw[: max_bytes - 3].decode(errors="ignore") + "…"


class PushInput(Model):
    """What the push workflow delivers: the inbox notice, and after how long an unread SLA alert escalates."""

    request: NotifyRequest
    escalate_after_s: float = 0


class PlanRequest(Model):
    request: NotifyRequest
    now: datetime  # the workflow's time, for the first flush


class PushPlan(Model):
    targets: list[str] = []  # the targets the notice's deliveries go to
    escalate: bool = False  # an SLA alert with someone who has an escalation channel
    sent: int = 0  # requests the first flush made
    pending_until: datetime | None = None  # as FlushResult: when the notice's held rows may go


class FlushInput(Model):
    """What PushFlushWorkflow sends: a notice whose rows are already in the ledger, on these targets."""

    notice: str
    target_ids: list[str]


class FlushRequest(Model):
    notice: str
    target_ids: list[str]
    now: datetime


class FlushResult(Model):
    sent: int = 0  # requests made
    pending_until: datetime | None = None  # when this notice's next queued row may go (None: nothing left)


class EscalateRequest(Model):
    request: NotifyRequest
    minutes: int
    now: datetime


def notice_key(req: NotifyRequest) -> str:
    return f"{req.lead_id}:{req.event_seq}:{req.kind}"
