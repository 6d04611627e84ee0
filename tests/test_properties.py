"""The engine's invariants as properties (hypothesis): random networks, leads and histories.

Pure: the rules in domain/ only, no Temporal, no database. Each test is one invariant and
would fail if the rule keeping it were broken (an exclusion ignored, a capacity check off by
one, a quota compared the wrong way, a phone form not normalized, a score left unclamped).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from domain import commands as c
from domain import lifecycle as lc
from domain.customers import InvalidPhone, lead_id_for, normalize_phone
from domain.dispatch import DealerProfile, rank_dealers
from domain.lifecycle import Refused
from domain.models import (
    Actor,
    BehaviourCounts,
    Channel,
    DispatchRequest,
    DispatchResult,
    LeadState,
    RawLead,
    ScoreRequest,
    ScoreResult,
    Timeframe,
)
from domain.policy import load_policy
from domain.quota import may_decline
from domain.scoring import RULES, score_lead
from domain.stages import LeadStage, Role
from tests.fixtures import OPS, REVIEWER, raw_lead

S = LeadStage
POLICY = load_policy(time_scale=1)
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BRAND = "Aurora"
CITIES = ["Shanghai", "Hangzhou", "Suzhou"]
SERIES = ["A5", "A7"]

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ strategies


@st.composite
def dealer_networks(draw, min_size: int = 1, max_size: int = 8, busy: bool = True) -> list[DealerProfile]:
    """Dealers of the brand (a few of another brand), in random cities, with random series,
    stock, capacity, load, ratings and coordinates near Shanghai or none. `busy`: some are full;
    else most serve Shanghai A5 leads with room to spare (so a lead can change hands many times)."""
    n = draw(st.integers(min_size, max_size))
    dealers = []
    for i in range(n):
        capacity = draw(st.integers(0, 4)) if busy else draw(st.integers(1, 4))
        located = draw(st.booleans())
        dealers.append(DealerProfile(
            dealer_id=f"D{i}", name=f"Dealer {i}",
            brand=draw(st.sampled_from([BRAND, BRAND, BRAND, "aurora ", "Borealis"])),
            active=draw(st.booleans() | st.just(True)),
            region=draw(st.sampled_from(["East", "South"])),
            city=draw(st.sampled_from(CITIES if busy else ["Shanghai", "Shanghai", *CITIES])),
            latitude=draw(st.floats(30.5, 31.8)) if located else None,
            longitude=draw(st.floats(120.5, 122.0)) if located else None,
            service_cities=draw(st.lists(st.sampled_from(CITIES), max_size=2, unique=True)),
            service_radius_km=draw(st.none() | st.floats(0, 150)),
            series=draw(st.lists(st.sampled_from(SERIES), min_size=1, max_size=2, unique=True)
                        | st.just(SERIES if busy else ["A5"])),
            stock=draw(st.dictionaries(st.sampled_from(SERIES), st.integers(0, 12), max_size=2)),
            conversion_90d=draw(st.floats(0, 1)),
            rating=draw(st.floats(0, 5)),
            open_leads=draw(st.integers(0, capacity if busy else capacity - 1)),
            capacity=capacity,
            penalties=draw(st.integers(0, 12)),
            last_dispatched_at=draw(st.none() | st.integers(0, 30).map(lambda d: T0 - timedelta(days=d))),
            choice_right=draw(st.booleans()),
        ))
    return dealers


def dispatch_request(state: LeadState, **overrides) -> DispatchRequest:
    """What the workflow asks the dispatch activity (workflows/lead.py)."""
    d, p = POLICY.dispatch, state.profile
    fields = dict(
        lead_id=state.lead_id, brand=state.brand, series=p.series, city=p.city, latitude=p.latitude,
        longitude=p.longitude, preferred_dealer_id=p.preferred_dealer_id, exclude_dealer_ids=state.held_by,
        weights=d.weights, penalty_window_days=d.penalty_window.total_seconds() / 86400,
        max_penalties=d.max_penalties, default_radius_km=d.default_radius_km, as_of=state.updated_at,
    )
    return DispatchRequest(**(fields | overrides))


def manager_of(dealer_id: str | None) -> Actor:
    assert dealer_id is not None, "the lead has no holding dealer"
    return Actor(user_id=f"{dealer_id.lower()}-mgr", role=Role.DEALER_MANAGER, dealer_id=dealer_id)


def act(state: LeadState, actor: Actor, command, now: datetime) -> lc.Transition:
    return lc.decide(state, c.CommandEnvelope(actor=actor, command=command), POLICY, now)


# ------------------------------------------------------------------ a lead never goes back to a holder

# the moves that end a holding (SPEC 2 "holding", 4.1 receipt, 4.2, 4.3, reassignment)
HOLDING_MOVES = ["receipt_lapsed", "declined", "transfer_approved", "pseudo_defeat", "stalled_pseudo_defeat",
                 "true_defeat_then_resurgence", "reassigned", "reassigned_to_named_dealer", "to_call_center"]
FROM_CALL_CENTER = ["reassigned", "reassigned_to_named_dealer"]


class LeadRun:
    """One lead driven through domain.lifecycle, dispatching with rank_dealers as the workflow does."""

    def __init__(self, dealers: list[DealerProfile], raw: RawLead):
        self.dealers = {d.dealer_id: d for d in dealers}
        self.now = T0
        t = lc.start_lead("lead-aurora-prop", "k-prop", raw, POLICY, self.now, lc.SYSTEM_ACTOR)
        self.state = t.state
        self.holders: list[str] = []  # every holding's dealer, in order
        self.apply(lc.on_scored(self.state, ScoreResult(score=80, grade="A", items=[]), "route", POLICY, self.now))

    def tick(self, minutes: int = 5) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now

    def apply(self, t: lc.Transition) -> None:
        """Commit a transition and carry out its dispatch effect, if any."""
        self.state = t.state
        for effect in [e for e in t.effects if isinstance(e, lc.DispatchEffect)]:
            held = list(self.state.held_by)
            if effect.forced_dealer_id:  # lead ops named the dealer; lc.decide already checked it
                assert effect.forced_dealer_id not in held, f"sent back to {effect.forced_dealer_id}, which held it"
                d = self.dealers[effect.forced_dealer_id]
                result = DispatchResult(dealer_id=d.dealer_id, dealer_name=d.name, region=d.region,
                                        choice_right=d.choice_right, reason="named by lead ops")
            else:
                result = rank_dealers(dispatch_request(self.state), list(self.dealers.values()))
                assert result.dealer_id not in held, f"rank_dealers chose {result.dealer_id}, which held the lead"
                assert not {cand.dealer_id for cand in result.candidates} & set(held), "a past holder ranked"
            self.state = lc.on_dispatched(self.state, result, POLICY, self.tick(1)).state
            if result.dealer_id:
                self.holders.append(result.dealer_id)
                d = self.dealers[result.dealer_id]
                self.dealers[d.dealer_id] = d.model_copy(update={"last_dispatched_at": self.now})

    def work(self, data) -> Actor:
        """The holding dealer acknowledges and logs a follow-up (evidence for a defeat)."""
        mgr = manager_of(self.state.dealer_id)
        self.apply(act(self.state, mgr, c.Acknowledge(), self.tick()))
        self.apply(act(self.state, mgr, c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=data.draw(
            st.integers(0, 10), label="call minutes")), self.tick()))
        return mgr

    def lapse(self, clock: str) -> None:
        deadline = self.state.clocks[clock].deadline
        assert deadline is not None, f"{clock} is still waiting for its working-day deadline"
        self.now = max(self.now, deadline)
        self.apply(lc.lapse(self.state, clock, POLICY, self.now))

    def move(self, move: str, data) -> None:
        s = self.state
        if move == "receipt_lapsed":
            self.lapse("receipt")
        elif move == "declined":
            self.apply(act(s, manager_of(s.dealer_id), c.Decline(reason="not ours"), self.tick()))
        elif move == "transfer_approved":
            mgr = self.work(data) if data.draw(st.booleans(), label="worked first") else manager_of(s.dealer_id)
            self.apply(act(self.state, mgr, c.RequestTransfer(reason=c.TransferReason.REGION_MISMATCH, text="far"),
                           self.tick()))
            self.apply(act(self.state, OPS, c.ReviewTransfer(approve=True, explanation="ok"), self.tick()))
        elif move in ("pseudo_defeat", "true_defeat_then_resurgence"):
            mgr = self.work(data)
            self.apply(act(self.state, mgr, c.ApplyForDefeat(reason_code=c.DefeatReason.UNREACHABLE, note="no answer"),
                           self.tick()))
            self.apply(act(self.state, mgr, c.ReviewDefeatApplication(approve=True), self.tick()))
            if move == "pseudo_defeat":
                self.decide_pseudo_defeat(data)
            else:
                self.apply(act(self.state, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.TRUE_DEFEAT, note="ok"),
                               self.tick()))
                assert self.state.stage == S.DORMANT
                again = raw_lead(1, external_id=f"again-{len(self.holders)}", phone=s.profile.phone)
                self.apply(lc.merge_raw_lead(self.state, again, POLICY, self.tick(), lc.SYSTEM_ACTOR))
                self.apply(lc.on_scored(self.state, ScoreResult(score=95, grade="H", items=[]), "merge", POLICY,
                                        self.tick()))
        elif move == "stalled_pseudo_defeat":
            self.work(data)
            self.lapse("stall")
            self.decide_pseudo_defeat(data)
        elif move == "reassigned":
            self.apply(act(s, OPS, c.Reassign(reason="ops"), self.tick()))
        elif move == "to_call_center":
            self.apply(act(s, OPS, c.Reassign(to_call_center=True, reason="ops"), self.tick()))
        elif move == "reassigned_to_named_dealer":
            named = data.draw(st.sampled_from(sorted(self.dealers)), label="named dealer")
            try:
                self.apply(act(s, OPS, c.Reassign(dealer_id=named, reason="ops"), self.tick()))
            except Refused:
                assert named in s.held_by  # refused only because it held the lead
                assert self.state is s
            else:
                assert named not in s.held_by

    def decide_pseudo_defeat(self, data) -> None:
        to_cc = data.draw(st.booleans(), label="to call center")
        self.apply(act(self.state, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.PSEUDO_DEFEAT, note="no calls",
                                                            reassign_to_call_center=to_cc), self.tick()))


@PROPERTY
@given(dealers=dealer_networks(min_size=2, max_size=10, busy=False), data=st.data())
def test_a_lead_never_goes_back_to_a_dealer_that_held_it(dealers, data):
    preferred = data.draw(st.none() | st.sampled_from([d.dealer_id for d in dealers]), label="preferred dealer")
    run = LeadRun(dealers, raw_lead(1, preferred_dealer_id=preferred))
    for _ in range(data.draw(st.integers(1, 12), label="moves")):
        s = run.state
        if s.stage == S.DISPATCHED:
            moves = [m for m in HOLDING_MOVES if m != "declined" or s.holding.choice_right]
        else:
            assert s.stage == S.CALL_CENTER and s.holding is None
            moves = FROM_CALL_CENTER
        run.move(data.draw(st.sampled_from(moves), label="move"), data)
        assert len(set(run.holders)) == len(run.holders), f"a dealer held the lead twice: {run.holders}"
        assert run.state.held_by == run.holders


# ------------------------------------------------------------------ no dealer exceeds capacity


@PROPERTY
@given(dealers=dealer_networks(), data=st.data())
def test_no_dealer_exceeds_its_capacity(dealers, data):
    network = {d.dealer_id: d for d in dealers}
    for n in range(data.draw(st.integers(1, 40), label="operations")):
        if data.draw(st.integers(0, 3), label="release?") == 0:  # a lead of some dealer closes
            busy = sorted(i for i, d in network.items() if d.open_leads)
            if busy:
                d = network[data.draw(st.sampled_from(busy), label="released")]
                network[d.dealer_id] = d.model_copy(update={"open_leads": d.open_leads - 1})
            continue
        req = dispatch_request(LeadState(
            lead_id=f"lead-{n}", brand=BRAND, customer_key=f"k{n}", created_at=T0, updated_at=T0,
            profile=raw_lead(n, city=data.draw(st.sampled_from(CITIES)), series=data.draw(st.sampled_from(SERIES)),
                             preferred_dealer_id=data.draw(st.none() | st.sampled_from(sorted(network))))))
        result = rank_dealers(req, list(network.values()))
        # the dealers eligible on every other ground: the same network with room everywhere
        roomy = [d.model_copy(update={"capacity": max(d.capacity, d.open_leads + 1)}) for d in network.values()]
        otherwise_eligible = {cand.dealer_id for cand in rank_dealers(req, roomy).candidates}
        with_room = {i for i in otherwise_eligible if network[i].open_leads < network[i].capacity}
        assert {cand.dealer_id for cand in result.candidates} == with_room
        if not with_room:
            assert result.dealer_id is None, "dispatched although every eligible dealer is full"
            continue
        assert result.dealer_id in with_room
        d = network[result.dealer_id]
        network[d.dealer_id] = d.model_copy(update={"open_leads": d.open_leads + 1})
        for d in network.values():
            assert d.open_leads <= d.capacity, f"{d.dealer_id} holds {d.open_leads} leads, capacity {d.capacity}"


# ------------------------------------------------------------------ no choice-right quota is exceeded

WINDOW = POLICY.rules.decline_window  # 30 days
MINUTES_IN_90_DAYS = 90 * 24 * 60
offsets = st.one_of(  # minutes after T0; whole days too, so pushes exactly one window apart occur
    st.integers(0, MINUTES_IN_90_DAYS), st.integers(0, 90).map(lambda days: days * 24 * 60))


def in_window(times: list[datetime], t: datetime) -> int:
    """The rolling window ending at t: (t - 30 days, t]."""
    return sum(1 for x in times if t - WINDOW < x <= t)


@PROPERTY
@given(events=st.lists(st.tuples(offsets, st.sampled_from(["push", "push", "decline"])), max_size=120),
       quota=st.sampled_from([POLICY.rules.decline_quota, 0.2, 0.1, 0.25, 0.57, 0.7, 0.0, 1.0]))
@example(events=[(i, "push") for i in range(90)] + [(100 + i, "decline") for i in range(64)], quota=0.7)
def test_no_choice_right_dealer_declines_over_its_quota(events, quota):
    """At the moment of every decline, counting it: declines in the 30 days ending then are at
    most `quota` of the pushes in them; and a decline is refused only when it would break that.
    (The rule checks at the moment of declining: as old pushes leave the window, the share in
    a later window may be higher, see the next test.) The example: 63 of 90 is exactly 70%,
    which a float comparison (0.7 * 90 = 62.99999999999999) would refuse."""
    share = Fraction(str(quota))
    pushed: list[datetime] = []
    open_pushes: list[datetime] = []  # pushed to the dealer and not declined (a decline needs a held lead)
    declined: list[datetime] = []  # a decline counts at its lead's push time, as the activity counts it
    for minutes, kind in sorted(events, key=lambda e: e[0]):
        t = T0 + timedelta(minutes=minutes)
        if kind == "push":
            pushed.append(t)
            open_pushes.append(t)
            continue
        if not open_pushes:
            continue
        allowed, reason = may_decline(pushed, declined, t, WINDOW, quota)
        p, d = in_window(pushed, t), in_window(declined, t)
        assert f"{d} of {p} leads pushed in the last 30 days declined" in reason and f"{quota:.0%}" in reason
        if allowed:
            declined.append(open_pushes.pop())  # the dealer declines its newest lead
            assert in_window(declined, t) <= share * in_window(pushed, t), (
                f"{in_window(declined, t)} declines of {in_window(pushed, t)} pushes in the 30 days to {t}")
        else:  # refused only when accepting would have broken the quota
            assert d + 1 > share * p, f"refused although {d + 1} of {p} is within {quota:.0%}"


def test_the_quota_is_checked_when_declining_not_afterwards():
    """Why the property above looks at decline times only: the share is not kept at every time."""
    pushes = [T0 + timedelta(days=1)] * 4 + [T0 + timedelta(days=25)]
    assert may_decline(pushes, [], T0 + timedelta(days=25), WINDOW, 0.2)[0]  # 1 of 5: allowed
    later = T0 + timedelta(days=40)  # the four early pushes left the window; the decline did not
    assert in_window([pushes[-1]], later) == 1 > Fraction(1, 5) * in_window(pushes, later)


# ------------------------------------------------------------------ dedup: one lead per customer and brand

FULLWIDTH = str.maketrans("0123456789+-() ", "０１２３４５６７８９＋－（）\u3000")
mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@st.composite
def written_forms(draw, digits: str) -> str:
    """The same Chinese mobile as people type it: +86/0086/86 or none, grouped with spaces,
    dashes, dots or parentheses, padded, sometimes in full-width characters."""
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "0086", "0086 ", "86", "86 ", "(+86) ", "(+86)",
                                   "(0086) ", "+86 (0)", "+ 86 "]))
    sep = draw(st.sampled_from(["", " ", "-", ".", " - "]))
    groups = draw(st.sampled_from([(3, 4, 4), (3, 8), (11,), (3, 3, 5), (7, 4)]))
    parts, i = [], 0
    for g in groups:
        parts.append(digits[i:i + g])
        i += g
    if draw(st.booleans()) and len(parts) > 1:
        parts[0] = f"({parts[0]})"
    text = prefix + sep.join(parts)
    if draw(st.booleans()):
        text = text.translate(FULLWIDTH)
    return draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", " ", "\n"]))


def valid_mobile(digits: str) -> bool:
    try:
        return normalize_phone(digits) == f"+86{digits}"
    except InvalidPhone:
        return False


@settings(max_examples=150, deadline=None)
@given(digits=mobiles, other=mobiles, data=st.data())
def test_dedup_gives_one_lead_per_customer_and_brand(digits, other, data):
    assume(valid_mobile(digits))
    forms = data.draw(st.lists(written_forms(digits), min_size=2, max_size=8), label="forms")
    ids = {lead_id_for(BRAND, normalize_phone(form)) for form in forms}
    assert ids == {lead_id_for(BRAND, f"+86{digits}")}, f"{forms} gave {len(ids)} lead ids"
    if other != digits and valid_mobile(other):
        assert lead_id_for(BRAND, normalize_phone(other)) not in ids, "two customers share one lead"


# ------------------------------------------------------------------ scores stay within 0-100

ITEMS = [name for rules in RULES.values() for name in rules]
counts = st.integers(-3, 12) | st.integers(0, 10**12)
operator_weights = st.integers(0, 10**6).map(float) | st.integers(0, 10**8).map(lambda cents: cents / 100)


@st.composite
def score_requests(draw, weights=operator_weights) -> ScoreRequest:
    text = st.none() | st.sampled_from(["", "  ", "A5", "Shanghai", "某某"])
    raw = RawLead(
        external_id="x", channel=draw(st.sampled_from(Channel)), brand=BRAND,
        customer_name=draw(st.sampled_from(["Li", " ", "王先生"])), phone="13800000001",
        city=draw(text), series=draw(text), model=draw(text),
        budget=draw(st.none() | st.integers(0, 100_000_000)), timeframe=draw(st.sampled_from(Timeframe)),
        financing_interest=draw(st.booleans()), trade_in=draw(st.booleans()),
        preferred_dealer_id=draw(st.none() | st.sampled_from(["", "D1"])), consent=draw(st.booleans()),
    )
    behaviour = BehaviourCounts(**{f: draw(counts) for f in BehaviourCounts.model_fields})
    items = draw(st.dictionaries(st.sampled_from(ITEMS + ["unknown_item"]), weights | st.floats(-10, 0)))
    if draw(st.booleans()):
        items = dict(POLICY.scoring.items) | items
    thresholds = draw(st.just(dict(POLICY.scoring.thresholds)) | st.dictionaries(
        st.sampled_from(["H", "A", "B", "X"]), st.floats(-50, 150)))
    return ScoreRequest(lead_id="lead-x", raw=raw, touchpoint_channels=draw(st.lists(st.sampled_from(Channel))),
                        behaviour=behaviour, repeat_customer=draw(st.booleans()), policy_items=items,
                        thresholds=thresholds)


def assert_score_in_range(result: ScoreResult) -> None:
    assert 0 <= result.score <= 100
    assert result.grade in {"H", "A", "B", "C"}
    for item in result.items:
        assert 0 <= item.points <= item.max_points, f"{item.name}: {item.points} of {item.max_points}"


@settings(max_examples=200, deadline=None)
@given(req=score_requests(), city_served=st.booleans())
def test_scores_stay_within_0_and_100(req, city_served):
    """Weights as an operator writes them in the policy (whole numbers or cents, 0 to huge)."""
    assert_score_in_range(score_lead(req, city_served=city_served, region=None))


@settings(max_examples=100, deadline=None)
@example(req=ScoreRequest(lead_id="x", raw=raw_lead(1), touchpoint_channels=[], behaviour=BehaviourCounts(),
                          policy_items={"series_named": 0.375}, thresholds={}), city_served=True)
@given(req=score_requests(weights=st.floats(0, 1000)), city_served=st.booleans())
def test_score_items_never_exceed_their_max_points_whatever_the_weights(req, city_served):
    assert_score_in_range(score_lead(req, city_served=city_served, region=None))


@given(st.sampled_from(["蔚来", "理想", "Lynk & Co", "Lynk-Co", "Aurora", "aurora motors", "AURORA  Motors"]),
       st.sampled_from(["蔚来", "理想", "Lynk & Co", "Lynk-Co", "Aurora", "aurora motors"]))
def test_different_brands_never_share_a_lead_id(a: str, b: str):
    from domain.customers import lead_id_for

    same_brand = " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
    assert (lead_id_for(a, "+8613800138000") == lead_id_for(b, "+8613800138000")) == same_brand
