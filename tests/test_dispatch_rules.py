"""Dispatch ranking (SPEC 5): who is eligible, who wins, and why."""

from datetime import UTC, datetime

import pytest

from domain.dispatch import DealerProfile, haversine_km, rank_dealers
from domain.models import DispatchRequest
from domain.policy import load_policy

SHANGHAI_PEOPLES_SQUARE = (31.2304, 121.4737)


def request(**kw) -> DispatchRequest:
    p = load_policy().dispatch
    base = dict(lead_id="lead-1", brand="Aurora", series="X5", city="Shanghai",
                latitude=None, longitude=None, weights=dict(p.weights),
                penalty_window_days=p.penalty_window.total_seconds() / 86400,
                max_penalties=p.max_penalties, default_radius_km=p.default_radius_km)
    return DispatchRequest(**(base | kw))


def dealer(dealer_id: str, **kw) -> DealerProfile:
    base = dict(dealer_id=dealer_id, name=f"Dealer {dealer_id}", brand="Aurora", region="East",
                city="Shanghai", series=["X5", "X7"], stock={"X5": 3}, conversion_90d=0.2,
                rating=4.0, open_leads=10, capacity=50)
    return DealerProfile(**(base | kw))


def ids(result) -> list[str]:
    return [c.dealer_id for c in result.candidates]


# ------------------------------------------------------------------ eligibility, one rule each


def test_inactive_dealer_is_excluded():
    result = rank_dealers(request(), [dealer("ok"), dealer("closed", active=False)])
    assert ids(result) == ["ok"]
    assert "1 inactive" in result.reason


def test_dealer_of_another_brand_is_excluded_and_brand_match_ignores_case():
    result = rank_dealers(request(brand="aurora"), [dealer("ok"), dealer("other", brand="Zenith")])
    assert ids(result) == ["ok"]
    alone = rank_dealers(request(), [dealer("other", brand="Zenith")])
    assert alone.dealer_id is None
    assert "no active dealer of brand Aurora sells series X5 in Shanghai" in alone.reason
    assert "1 not of brand Aurora" in alone.reason


def test_dealer_not_selling_the_series_is_excluded():
    result = rank_dealers(request(), [dealer("ok"), dealer("suv", series=["X7"])])
    assert ids(result) == ["ok"]
    assert "1 not selling series X5" in result.reason


def test_any_series_dealer_is_eligible_when_the_lead_names_no_series():
    assert ids(rank_dealers(request(series=None), [dealer("suv", series=["X7"])])) == ["suv"]


def test_dealer_not_serving_the_city_is_excluded_but_service_cities_count():
    dealers = [dealer("local"), dealer("far", city="Beijing"),
               dealer("branch", city="Suzhou", service_cities=["shanghai"])]
    result = rank_dealers(request(), dealers)
    assert sorted(ids(result)) == ["branch", "local"]
    assert "1 not serving Shanghai" in result.reason


def test_dealer_in_another_city_is_eligible_only_within_its_service_radius():
    lat, lon = SHANGHAI_PEOPLES_SQUARE
    near = dealer("jiading", city="Jiading", latitude=31.3747, longitude=121.2654)  # ~26 km
    wide = dealer("hangzhou", city="Hangzhou", latitude=30.2741, longitude=120.1551, service_radius_km=200)
    narrow = dealer("hangzhou2", city="Hangzhou", latitude=30.2741, longitude=120.1551)  # default 50 km
    result = rank_dealers(request(city="Nowhere", latitude=lat, longitude=lon), [near, wide, narrow])
    assert haversine_km(lat, lon, near.latitude, near.longitude) < 50
    assert sorted(ids(result)) == ["hangzhou", "jiading"]
    assert "1 not serving Nowhere or its location" in result.reason


def test_dealer_at_capacity_is_excluded():
    result = rank_dealers(request(), [dealer("ok"), dealer("full", open_leads=50, capacity=50)])
    assert ids(result) == ["ok"]
    assert "1 at capacity" in result.reason


def test_dealer_that_held_the_lead_is_never_chosen_even_when_best():
    best = dealer("best", stock={"X5": 9}, conversion_90d=0.9, rating=5, open_leads=0)
    result = rank_dealers(request(exclude_dealer_ids=["best"]), [best, dealer("ok")])
    assert result.dealer_id == "ok" and "best" not in ids(result)
    assert "1 held this lead before" in result.reason
    only = rank_dealers(request(exclude_dealer_ids=["best"]), [best])
    assert only.dealer_id is None and only.candidates == []


def test_no_candidate_counts_each_exclusion_rule():
    dealers = [dealer("a", active=False), dealer("b", brand="Zenith"), dealer("c", series=[]),
               dealer("d", city="Beijing"), dealer("e"), dealer("f", open_leads=50)]
    result = rank_dealers(request(exclude_dealer_ids=["e"]), dealers)
    assert result.dealer_id is None and result.dealer_name is None
    for part in ("of 6 dealers", "1 inactive", "1 not of brand Aurora", "1 not selling series X5",
                 "1 not serving Shanghai", "1 held this lead before", "1 at capacity"):
        assert part in result.reason


# ------------------------------------------------------------------ ranking


def test_higher_stock_of_the_series_wins():
    dealers = [dealer("few", stock={"X5": 1}), dealer("many", stock={"X5": 5, "X7": 0})]
    result = rank_dealers(request(), dealers)
    assert result.dealer_id == "many"
    assert result.candidates[0].factors["stock"] == 1.0 and result.candidates[1].factors["stock"] == 0.2


def test_stock_of_another_series_does_not_count():
    result = rank_dealers(request(), [dealer("x7", stock={"X7": 9}), dealer("x5", stock={"X5": 1})])
    assert result.dealer_id == "x5"


def test_higher_conversion_wins():
    result = rank_dealers(request(), [dealer("low", conversion_90d=0.1), dealer("high", conversion_90d=0.4)])
    assert result.dealer_id == "high" and "top score" in result.reason


def test_penalties_lower_the_rank():
    result = rank_dealers(request(), [dealer("late", penalties=4), dealer("clean")])
    assert ids(result) == ["clean", "late"]
    assert result.candidates[1].factors["penalties"] == pytest.approx(0.6)
    maxed = rank_dealers(request(), [dealer("worst", penalties=99)])
    assert maxed.candidates[0].factors["penalties"] == 0


def test_closer_dealer_scores_higher_on_distance():
    lat, lon = SHANGHAI_PEOPLES_SQUARE
    near = dealer("near", latitude=31.2397, longitude=121.4998)
    far = dealer("far", latitude=31.15, longitude=121.80)
    result = rank_dealers(request(latitude=lat, longitude=lon), [far, near])
    assert result.dealer_id == "near"
    assert result.candidates[0].distance_km < result.candidates[1].distance_km
    assert rank_dealers(request(), [near]).candidates[0].factors["distance"] == 0.5  # city only


def test_total_is_the_weighted_sum_of_the_policy_weights():
    weights = dict(load_policy().dispatch.weights)
    c = rank_dealers(request(), [dealer("a")]).candidates[0]
    assert c.total == round(sum(weights[k] * v for k, v in c.factors.items()), 4)
    only_stock = rank_dealers(request(weights={"stock": 1.0}), [dealer("a")]).candidates[0]
    assert only_stock.total == 0.6


# ------------------------------------------------------------------ preferred dealer, ties


def test_preferred_dealer_wins_when_eligible_even_with_a_lower_score():
    result = rank_dealers(request(preferred_dealer_id="pref"),
                          [dealer("top", stock={"X5": 9}), dealer("pref", stock={})])
    assert result.dealer_id == "pref" and ids(result) == ["top", "pref"]
    assert "preferred dealer" in result.reason


def test_preferred_dealer_loses_when_excluded():
    result = rank_dealers(request(preferred_dealer_id="pref", exclude_dealer_ids=["pref"]),
                          [dealer("top"), dealer("pref")])
    assert result.dealer_id == "top"
    assert "preferred dealer pref is not eligible (held this lead before)" in result.reason


def test_preferred_dealer_loses_when_at_capacity():
    result = rank_dealers(request(preferred_dealer_id="pref"), [dealer("top"), dealer("pref", open_leads=50)])
    assert result.dealer_id == "top"
    assert "preferred dealer pref is not eligible (at capacity)" in result.reason


def test_tie_goes_to_the_least_recently_dispatched_dealer():
    recent = dealer("a-recent", last_dispatched_at=datetime(2026, 11, 10, 9, tzinfo=UTC))
    earlier = dealer("b-earlier", last_dispatched_at=datetime(2026, 11, 1, 9, tzinfo=UTC))
    result = rank_dealers(request(), [recent, earlier])
    assert result.dealer_id == "b-earlier"
    assert "round-robin" in result.reason
    never = dealer("c-never")
    assert rank_dealers(request(), [recent, earlier, never]).dealer_id == "c-never"


def test_full_tie_is_broken_by_dealer_id_deterministically():
    assert rank_dealers(request(), [dealer("b"), dealer("a")]).dealer_id == "a"
    assert rank_dealers(request(), [dealer("a"), dealer("b")]).dealer_id == "a"


# ------------------------------------------------------------------ the recorded explanation


def test_explanation_lists_every_candidate_with_factors_and_the_winner():
    dealers = [dealer("a", region="East", choice_right=True, competitive_region=True, stock={"X5": 9}),
               dealer("b"), dealer("c", conversion_90d=0.05)]
    result = rank_dealers(request(), dealers)
    assert ids(result) == ["a", "b", "c"]
    assert [c.total for c in result.candidates] == sorted((c.total for c in result.candidates), reverse=True)
    for c in result.candidates:
        assert set(c.factors) == {"distance", "stock", "conversion", "rating", "load", "penalties"}
        assert all(0 <= v <= 1 for v in c.factors.values())
        assert c.dealer_name == f"Dealer {c.dealer_id}"
    assert result.dealer_id == "a" and result.dealer_name == "Dealer a"
    assert (result.region, result.choice_right, result.competitive_region) == ("East", True, True)
    assert "Dealer a (a)" in result.reason and "3 candidate(s)" in result.reason
