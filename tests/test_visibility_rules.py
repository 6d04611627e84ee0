"""domain/visibility.py, the one place that decides what each role sees of a lead: checked without a server."""

from __future__ import annotations

from domain import visibility as v
from domain.stages import Role

ME, OTHER = "D-SH-2", "D-SH-1"
CANDIDATES = [
    {"dealer_id": OTHER, "dealer_name": "Aurora Pudong", "total": 0.81, "factors": {"conversion": 0.3, "rating": 0.92},
     "distance_km": 3.0},
    {"dealer_id": ME, "dealer_name": "Aurora Minhang", "total": 0.62, "factors": {"conversion": 0.2, "rating": 0.8},
     "distance_km": 9.5},
    {"dealer_id": "D-HZ-1", "dealer_name": "Aurora Hangzhou", "total": 0.4, "factors": {"conversion": 0.1}},
]
DISPATCHED = {"seq": 4, "kind": "dispatched", "dealer_id": ME, "actor": "system", "data": {
    "dealer_name": "Aurora Minhang", "priority": False, "candidates": CANDIDATES,
    "reason": f"dispatched to Aurora Minhang ({ME}) because it is the customer's preferred dealer (score 0.6200, "
              f"rank 2), out of 3 candidate(s); tied with {OTHER}"}}


def test_a_dealer_sees_its_own_dispatch_line_only():
    seen = v.timeline_entry(Role.DEALER_MANAGER, ME, DISPATCHED)
    assert seen["data"]["dispatch"] == {"rank": 2, "considered": 3, "total": 0.62,
                                        "factors": {"conversion": 0.2, "rating": 0.8}, "distance_km": 9.5}
    text = repr(seen)
    assert OTHER not in text and "Pudong" not in text and "D-HZ-1" not in text and "0.81" not in text
    # Chinese (the catalog's dispatch.line)
    assert "第 2 名" in seen["data"]["reason"] and "共 3 家" in seen["data"]["reason"]
    assert "rank 2 of 3" in v.dispatch_text(seen["data"]["dispatch"], "en")


def test_the_oem_sees_every_candidate():
    for role in (Role.LEAD_OPS, Role.REVIEW_TEAM, Role.REGIONAL_MANAGER, Role.CALL_CENTER):
        assert v.timeline_entry(role, None, DISPATCHED) == DISPATCHED
    assert v.own_dispatch(Role.LEAD_OPS, None, [DISPATCHED])["rank"] == 2  # the holder's line


def test_a_dealer_sees_nothing_of_an_earlier_holding_nor_of_another_dealers_penalty_or_appeal():
    earlier = {"kind": "follow_up_logged", "dealer_id": OTHER, "data": {"channel": "call"}}
    penalty = {"kind": "penalty_recorded", "dealer_id": ME, "data": {"penalized_dealer_id": OTHER, "penalty": "pseudo"}}
    appeal = {"kind": "appeal_filed", "dealer_id": ME, "data": {"appealing_dealer_id": OTHER, "evidence": "x"}}
    mine = {"kind": "acknowledged", "dealer_id": ME, "data": {}}
    before = {"kind": "scored", "dealer_id": None, "data": {"score": 70}}
    seen = [v.timeline_entry(Role.CONSULTANT, ME, e) for e in (earlier, penalty, appeal, mine, before)]
    assert seen == [None, None, None, mine, before]
    own_penalty = {"kind": "penalty_recorded", "dealer_id": ME, "data": {"penalized_dealer_id": ME}}
    assert v.timeline_entry(Role.DEALER_MANAGER, ME, own_penalty) == own_penalty


def test_holdings_a_dealer_sees_are_its_own_with_its_own_reason():
    rows = [{"dealer_id": OTHER, "dispatch_reason": "dispatched to Aurora Pudong"},
            {"dealer_id": ME, "dispatch_reason": DISPATCHED["data"]["reason"]}]
    seen = v.holdings(Role.DEALER_MANAGER, ME, rows, [DISPATCHED])
    assert len(seen) == 1 and seen[0]["dealer_id"] == ME and OTHER not in seen[0]["dispatch_reason"]
    assert v.holdings(Role.LEAD_OPS, None, rows, [DISPATCHED]) == rows


def test_a_dealer_missing_from_the_recorded_top_ten_still_learns_how_many_were_considered():
    line = v.dispatch_line("D-FAR", {"candidates": CANDIDATES, "reason": "... out of 14 candidate(s)"})
    assert line == {"rank": None, "considered": 14, "total": None, "factors": {}, "distance_km": None}


def test_notifications_queues_and_webhooks_name_no_other_dealer():
    row = {"id": 1, "lead_id": "l", "kind": "pseudo_defeat", "message": "m", "dealer_id": ME, "data": {"x": 1}}
    assert v.notification(Role.DEALER_MANAGER, ME, row) == {"id": 1, "lead_id": "l", "kind": "pseudo_defeat",
                                                            "message": "m"}
    assert v.notification(Role.DEALER_MANAGER, ME, row | {"dealer_id": OTHER}) is None
    assert v.notification(Role.LEAD_OPS, None, row) == row
    assert v.queue_row(Role.DEALER_MANAGER, ME, {"dealer_id": OTHER, "note": "n"}) == {"note": "n"}
    assert v.queue_row(Role.REVIEW_TEAM, None, {"dealer_id": OTHER}) == {"dealer_id": OTHER}
    stage = {"event": "transfer_approved", "dealer_id": OTHER, "from_stage": "transfer_review"}
    assert v.webhook_event(ME, "lead.stage_changed", stage) is None
    assert v.webhook_event(None, "lead.stage_changed", stage) == stage  # an OEM subscription: whole
    dispatched = {"event": "dispatched", "dealer_id": ME, "reason": f"tied with {OTHER}", "priority": False}
    assert v.webhook_event(ME, "lead.dispatched", dispatched) == {"event": "dispatched", "dealer_id": ME,
                                                                  "priority": False}
