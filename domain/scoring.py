"""Lead scoring (线索评分, SPEC 6): a 0-100 score and a grade H/A/B/C, every item explained.

Pure: no I/O, no clock, no randomness. The policy supplies each item's maximum points
(`[scoring.items]`) and the grade thresholds (`[scoring.thresholds]`); this module only says
which fraction (0..1) of an item's maximum a lead earns, and why.

    score = 100 * sum(points) / sum(max points), rounded to 1 decimal, clamped to [0, 100]

so re-weighting items in the policy never breaks the range. Items missing from the policy (or
weighted <= 0) are skipped; policy names unknown here are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain.messages import render
from domain.models import Channel, ScoreItem, ScoreRequest, ScoreResult, Timeframe
from domain.places import display_city

BUDGET_FLOOR_CNY = 80_000
"""`budget_fits_series`: a stated budget at or above this floor can buy a new car of any series
we sell. A simple rule until a per-series price list exists."""

TIMEFRAME_CREDIT: dict[Timeframe, float] = {
    Timeframe.WITHIN_7_DAYS: 1.0,
    Timeframe.WITHIN_15_DAYS: 0.8,
    Timeframe.WITHIN_30_DAYS: 0.55,
    Timeframe.WITHIN_90_DAYS: 0.25,
    Timeframe.LATER: 0.05,
    Timeframe.UNKNOWN: 0.0,
}

CHANNEL_QUALITY: dict[Channel, float] = {
    # high: the customer is physically present or personally vouched for
    Channel.WALK_IN: 1.0, Channel.REFERRAL: 1.0, Channel.HOTLINE: 0.9, Channel.AUTO_SHOW: 0.9,
    Channel.OWNER_CARE: 1.0,  # our own owner, at the trade-in review (issue 17)
    # medium: the brand's own digital channels
    Channel.APP: 0.7, Channel.MINI_PROGRAM: 0.7, Channel.WEBSITE: 0.6,
    # lower: third-party media and live streams
    Channel.DOUYIN: 0.4, Channel.AUTOHOME: 0.4, Channel.YICHE: 0.4, Channel.LIVE_STREAM: 0.4,
    # lowest: bulk imports of unknown provenance
    Channel.CSV_IMPORT: 0.1,
}


@dataclass(frozen=True)
class _Ctx:
    req: ScoreRequest
    city_served: bool
    channels: frozenset[Channel]  # touchpoint channels plus the raw lead's own channel


Rule = Callable[[_Ctx], tuple[float, str, dict[str,
                                               Any]]]  # -> (fraction of max points 0..1, reason code, its parameters)


def _flag(present: bool, yes: str, no: str, **params: Any) -> tuple[float, str, dict[str, Any]]:
    return (1.0, yes, params) if present else (0.0, no, params)


def _count(n: int, full_at: int, code: str) -> tuple[float, str, dict[str, Any]]:
    n = max(0, n)
    return min(n, full_at) / full_at, code, {"n": n, "full_at": full_at}


def _named(value: str | None, yes: str, no: str) -> tuple[float, str, dict[str, Any]]:
    present = bool(value and value.strip())
    return _flag(present, yes, no, **({"value": value} if present else {}))


# -- 客户属性 customer attributes ---------------------------------------------------------

def _city_served(c: _Ctx) -> tuple[float, str, dict[str, Any]]:
    city = c.req.raw.city
    if not city:
        return 0.0, "city_unknown", {}
    return _flag(c.city_served, "city_served", "city_not_served", city=display_city(city))


def _contact_complete(c: _Ctx) -> tuple[float, str, dict[str, Any]]:
    raw = c.req.raw
    ok = bool(raw.customer_name.strip() and raw.city and raw.city.strip())
    return _flag(ok, "contact_complete", "contact_incomplete")


# -- 关键信息 key information --------------------------------------------------------------

def _budget_fits(c: _Ctx) -> tuple[float, str, dict[str, Any]]:
    b = c.req.raw.budget
    if b is None:
        return 0.0, "no_budget", {}
    return _flag(b >= BUDGET_FLOOR_CNY, "budget_fits", "budget_below", budget=b, floor=BUDGET_FLOOR_CNY)


def _timeframe(c: _Ctx) -> tuple[float, str, dict[str, Any]]:
    tf = c.req.raw.timeframe
    f = TIMEFRAME_CREDIT[tf]
    if f == 1:
        return f, "timeframe_full", {"timeframe": tf.value}
    return f, "timeframe_part", {"timeframe": tf.value, "percent": round(f * 100)}


def _channel_quality(c: _Ctx) -> tuple[float, str, dict[str, Any]]:
    best = max(c.channels, key=lambda ch: CHANNEL_QUALITY[ch])
    return CHANNEL_QUALITY[best], "best_channel", {"channel": best.value, "percent": round(CHANNEL_QUALITY[best] * 100)}


# -- 互动行为 interaction behaviour / 关键动作 key actions --------------------------------

def _live_stream(c: _Ctx) -> tuple[float, str, dict[str, Any]]:
    joins = c.req.behaviour.live_stream_joins
    if joins <= 0 and Channel.LIVE_STREAM in c.channels:
        return 1.0, "live_stream_channel", {}
    return _count(joins, 1, "live_stream")


def _store_visit(c: _Ctx) -> tuple[float, str, dict[str, Any]]:
    if c.req.behaviour.store_visits <= 0 and Channel.WALK_IN in c.channels:
        return 1.0, "walked_in", {}
    return _count(c.req.behaviour.store_visits, 1, "store_visit")


def _b(attr: str, full_at: int, code: str) -> Rule:
    return lambda c: _count(getattr(c.req.behaviour, attr), full_at, code)


RULES: dict[str, dict[str, Rule]] = {
    "customer": {  # 客户属性
        "city_served": _city_served,
        "repeat_customer": lambda c: _flag(c.req.repeat_customer, "repeat_customer", "new_customer"),
        "referral": lambda c: _flag(Channel.REFERRAL in c.channels, "referred", "not_referred"),
        "consent_given": lambda c: _flag(c.req.raw.consent, "consent_given", "no_consent"),
        "contact_complete": _contact_complete,
    },
    "key_info": {  # 关键信息
        "series_named": lambda c: _named(c.req.raw.series, "series_named", "no_series"),
        "model_named": lambda c: _named(c.req.raw.model, "model_named", "no_model"),
        "budget_given": lambda c: _flag(c.req.raw.budget is not None, "budget_given", "no_budget",
                                        **({"budget": c.req.raw.budget} if c.req.raw.budget is not None else {})),
        "budget_fits_series": _budget_fits,
        "timeframe": _timeframe,
        "financing_interest": lambda c: _flag(c.req.raw.financing_interest, "financing", "no_financing"),
        "trade_in": lambda c: _flag(c.req.raw.trade_in, "trade_in", "no_trade_in"),
        "preferred_dealer": lambda c: _named(c.req.raw.preferred_dealer_id, "preferred_dealer_named",
                                             "no_preferred_dealer"),
        "channel_quality": _channel_quality,
    },
    "behaviour": {  # 互动行为
        "site_visits": _b("site_visits", 5, "site_visits"),
        "config_views": _b("config_views", 3, "config_views"),
        "app_activity": _b("app_sessions", 3, "app_activity"),
        "live_stream": _live_stream,
        "multi_channel": lambda c: _count(len(c.channels), 3, "multi_channel"),
    },
    "key_action": {  # 关键动作
        "test_drive_booked": _b("test_drive_bookings", 1, "test_drive_booked"),
        "quote_requested": _b("quote_requests", 1, "quote_requested"),
        "store_visit": _store_visit,
        "deposit_intent": _b("deposit_intents", 1, "deposit_intent"),
    },
}

DIMENSIONS: dict[str, list[str]] = {dim: list(rules) for dim, rules in RULES.items()}


def grade_for(score: float, thresholds: dict[str, float]) -> str:
    """H/A/B when the score reaches that threshold (checked in that order), else C."""
    for grade in ("H", "A", "B"):
        if grade in thresholds and score >= thresholds[grade]:
            return grade
    return "C"


def score_lead(req: ScoreRequest, *, city_served: bool, region: str | None) -> ScoreResult:
    """Score a lead. `city_served`/`region` come from the dealer network (looked up by the caller).

    `complete` is False (and `missing` names the fields) when the lead cannot be dispatched as
    is: no city or no series. Such leads go to the call center for cleansing (SPEC 3 step 4).
    """
    ctx = _Ctx(req, city_served, frozenset(req.touchpoint_channels) | {req.raw.channel})
    items: list[ScoreItem] = []
    for dim, rules in RULES.items():
        for name, rule in rules.items():
            max_points = max(0.0, float(req.policy_items.get(name, 0.0)))
            if max_points == 0:
                continue
            fraction, code, params = rule(ctx)
            points = min(max_points, round(max_points * min(1.0, max(0.0, fraction)), 2))
            items.append(ScoreItem(name=name, dimension=dim, points=points,
                                   max_points=max_points, code=f"score.{code}", params=params,
                                   reason=render(f"score.{code}", params, "en")))
    total = sum(i.max_points for i in items)
    raw_score = 100 * sum(i.points for i in items) / total if total else 0.0
    score = min(100.0, max(0.0, round(raw_score, 1)))
    missing = [f for f in ("city", "series") if not (getattr(req.raw, f) or "").strip()]
    return ScoreResult(score=score, grade=grade_for(score, req.thresholds), items=items,
                       region=region, complete=not missing, missing=missing)
