"""Dealer ranking for dispatch (SPEC 5). Pure: no I/O, no clock, no randomness.

Eligible: active dealer of the lead's brand, selling the intended series (when one is named),
serving the customer's city or within its service radius of the customer, not in
`exclude_dealer_ids` (dealers that held the lead before) and under capacity.
Each candidate scores 0..1 per factor; total = sum(weight * factor). Ties go to the least
recently dispatched dealer (never dispatched first), then dealer_id.
"""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import BaseModel, Field

from domain.models import DispatchCandidate, DispatchRequest, DispatchResult
from domain.places import same_city

STOCK_SATURATION = 5  # units of the series in stock that score a full stock factor
NO_COORDINATES_DISTANCE = 0.5  # distance factor when only the city matches


class DealerProfile(BaseModel):
    dealer_id: str
    name: str
    brand: str
    active: bool = True
    region: str
    city: str
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    service_cities: list[str] = []
    service_radius_km: float | None = Field(default=None, ge=0)
    series: list[str] = []
    stock: dict[str, int] = {}
    conversion_90d: float = 0  # 0..1, clamped when scored
    rating: float = 0  # 0..5, clamped when scored
    open_leads: int = Field(default=0, ge=0)
    capacity: int = Field(default=50, ge=0)
    penalties: int = Field(default=0, ge=0)  # count within the policy's penalty window
    last_dispatched_at: datetime | None = None  # aware (UTC) datetimes
    choice_right: bool = False
    competitive_region: bool = False
    auto_assign: bool = False  # the dealer's policy: least-loaded consultant for the series


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def _norm(text: str | None) -> str:
    return (text or "").strip().casefold()


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def _exclusion(req: DispatchRequest, d: DealerProfile, distance: float | None) -> str | None:
    """The first rule that excludes the dealer (a key of the labels in rank_dealers), or None."""
    if not d.active:
        return "inactive"
    if _norm(d.brand) != _norm(req.brand):
        return "brand"
    if req.series and _norm(req.series) not in {_norm(s) for s in d.series}:
        return "series"
    radius = d.service_radius_km if d.service_radius_km is not None else req.default_radius_km
    city_served = bool(req.city) and any(same_city(req.city, c) for c in [d.city, *d.service_cities])
    if not city_served and not (distance is not None and distance <= radius):
        return "area"
    if d.dealer_id in req.exclude_dealer_ids:
        return "held"
    if d.open_leads >= d.capacity:
        return "capacity"
    return None


def _factors(req: DispatchRequest, d: DealerProfile, distance: float | None) -> dict[str, float]:
    radius = d.service_radius_km if d.service_radius_km is not None else req.default_radius_km
    if distance is None:
        dist = NO_COORDINATES_DISTANCE
    else:
        dist = _clamp(1 - distance / radius) if radius > 0 else float(distance == 0)
    if req.series:
        units = sum(n for s, n in d.stock.items() if _norm(s) == _norm(req.series))
    else:
        units = sum(d.stock.values())
    factors = {
        "distance": dist,
        "stock": _clamp(max(units, 0) / STOCK_SATURATION),
        "conversion": _clamp(d.conversion_90d),
        "rating": _clamp(d.rating / 5),
        "load": _clamp(1 - d.open_leads / d.capacity),
        "penalties": 1 - min(d.penalties, req.max_penalties) / req.max_penalties,
    }
    return {k: round(v, 4) for k, v in factors.items()}


def rank_dealers(req: DispatchRequest, dealers: list[DealerProfile]) -> DispatchResult:
    labels = {
        "inactive": "inactive",
        "brand": f"not of brand {req.brand}",
        "series": f"not selling series {req.series}",
        "area": f"not serving {req.city or 'the customer'}"
        + (" or its location" if req.latitude is not None else ""),
        "held": "held this lead before",
        "capacity": "at capacity",
    }
    excluded: dict[str, int] = {}
    why_not: dict[str, str] = {}
    ranked: list[tuple[DispatchCandidate, DealerProfile]] = []
    for d in dealers:
        distance = None
        if req.latitude is not None and req.longitude is not None and d.latitude is not None \
                and d.longitude is not None:
            distance = haversine_km(req.latitude, req.longitude, d.latitude, d.longitude)
        rule = _exclusion(req, d, distance)
        if rule:
            excluded[rule] = excluded.get(rule, 0) + 1
            why_not[d.dealer_id] = labels[rule]
            continue
        factors = _factors(req, d, distance)
        total = round(sum(req.weights.get(k, 0.0) * v for k, v in factors.items()), 4)
        ranked.append((DispatchCandidate(dealer_id=d.dealer_id, dealer_name=d.name, total=total,
                                         factors=factors,
                                         distance_km=None if distance is None else round(distance, 2)), d))

    def rank_key(item: tuple[DispatchCandidate, DealerProfile]) -> tuple[float, bool, datetime, str]:
        c, d = item
        return (-c.total, d.last_dispatched_at is not None, d.last_dispatched_at or datetime.min, c.dealer_id)

    ranked.sort(key=rank_key)
    counts = ", ".join(f"{n} {labels[k]}" for k in labels if (n := excluded.get(k)))
    excluded_note = f"; excluded: {counts}" if counts else ""
    if not ranked:
        wanted = f"no active dealer of brand {req.brand}"
        if req.series:
            wanted += f" sells series {req.series}"
        wanted += f" in {req.city}" if req.city else " near the customer"
        return DispatchResult(dealer_id=None, reason=f"{wanted} with free capacity "
                              f"(of {len(dealers)} dealers{excluded_note.replace(';', ',')})",
                              code="dispatch.none", params={"series": req.series or "", "dealers": len(dealers),
                                                            "excluded": sum(excluded.values())})

    candidates = [c for c, _ in ranked]
    pref = next((item for item in ranked if item[0].dealer_id == req.preferred_dealer_id), None)
    if pref:
        win, dealer = pref
        why = f"it is the customer's preferred dealer (score {win.total:.4f}, rank {ranked.index(pref) + 1})"
    else:
        win, dealer = ranked[0]
        why = f"it has the top score {win.total:.4f}"
        tied = [d for c, d in ranked[1:] if c.total == win.total]
        if tied:
            by_id = any(d.last_dispatched_at == dealer.last_dispatched_at for d in tied)
            why += (f", tied with {', '.join(d.dealer_id for d in tied)}; tie broken round-robin "
                    f"(least recently dispatched{', then dealer id' if by_id else ''})")
        if req.preferred_dealer_id:
            why += (f"; preferred dealer {req.preferred_dealer_id} is not eligible "
                    f"({why_not.get(req.preferred_dealer_id, 'not a known dealer')})")
    reason = (f"dispatched to {dealer.name} ({dealer.dealer_id}) because {why}, "
              f"out of {len(candidates)} candidate(s){excluded_note}")
    params = {"dealer_name": dealer.name, "total": f"{win.total:.2f}", "candidates": len(candidates),
              "excluded": sum(excluded.values())}
    if pref:
        code, params["rank"] = "dispatch.preferred", ranked.index(pref) + 1
    else:
        code = "dispatch.tied" if any(c.total == win.total for c, _ in ranked[1:]) else "dispatch.top_score"
    return DispatchResult(dealer_id=dealer.dealer_id, dealer_name=dealer.name, region=dealer.region,
                          choice_right=dealer.choice_right, competitive_region=dealer.competitive_region,
                          auto_assign=dealer.auto_assign, reason=reason, candidates=candidates, code=code,
                          params=params)
