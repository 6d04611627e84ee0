"""The demo network (devtools.network): a realistic dealer network and raw leads, and the seed."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlmodel import Session, select

from db.engine import init_db, make_engine
from db.models import Consultant, Dealer, User
from devtools import seed as demo_seed
from devtools.network import (
    CHANNEL_MIX,
    CITIES,
    CITY_BY_NAME,
    REGION_OF_PROVINCE,
    SERIES,
    generate_dealers,
    generate_raw_leads,
)
from domain.customers import normalize_phone
from domain.dispatch import DealerProfile, haversine_km, rank_dealers
from domain.models import DispatchRequest, RawLead
from domain.policy import load_policy
from domain.stages import Role


@pytest.fixture(scope="module")
def dealers() -> list[Dealer]:
    return generate_dealers(220, seed=7)


@pytest.fixture(scope="module")
def leads() -> list[RawLead]:
    return generate_raw_leads(2000, seed=11)


def _dump(rows) -> list[dict]:
    return [r.model_dump() for r in rows]


class TestCities:
    def test_real_cities_with_their_region_and_tier(self):
        assert len(CITIES) >= 32
        assert len({c.name for c in CITIES}) == len(CITIES)
        assert {c.region for c in CITIES} == set(REGION_OF_PROVINCE.values())
        for city in CITIES:
            assert 18 <= city.latitude <= 54 and 73 <= city.longitude <= 135, city.name  # inside China
            assert city.tier in (1, 2, 3)
        shanghai, beijing = CITY_BY_NAME["Shanghai"], CITY_BY_NAME["Beijing"]
        assert 1060 <= haversine_km(shanghai.latitude, shanghai.longitude,
                                    beijing.latitude, beijing.longitude) <= 1080
        assert (shanghai.region, beijing.region, CITY_BY_NAME["Chengdu"].region) == ("East", "North", "West")


class TestDealers:
    def test_at_least_200_dealers_in_at_least_30_cities(self, dealers):
        assert len(dealers) >= 200
        assert len({d.city for d in dealers}) >= 30
        assert len({d.id for d in dealers}) == len(dealers)
        assert all(d.brand == "Aurora" and d.active for d in dealers)

    def test_dealers_lie_near_their_city_centre(self, dealers):
        for d in dealers:
            city = CITY_BY_NAME[d.city]
            assert haversine_km(d.latitude, d.longitude, city.latitude, city.longitude) <= 30, d.id
            assert d.region == city.region

    def test_bigger_cities_get_more_dealers(self, dealers):
        per_city = Counter(d.city for d in dealers)
        by_tier = {t: [per_city[c.division_name] for c in CITIES if c.tier == t] for t in (1, 2, 3)}
        assert min(by_tier[1]) > max(by_tier[2]) >= min(by_tier[2]) >= max(by_tier[3]) >= 1

    def test_the_demo_ids_exist(self, dealers):
        ids = {d.id for d in dealers}
        for legacy in ("D-SH-01", "D-SH-02", "D-HZ-01", "D-HZ-02", "D-BJ-01", "D-BJ-02", "D-GZ-01",
                       "D-SZ-01", "D-SZ-02", "D-CD-01"):
            assert legacy in ids
        d = next(d for d in dealers if d.id == "D-SH-01")
        assert d.city == "上海市" and d.name.startswith("极光汽车 上海")

    def test_attributes_are_in_realistic_ranges(self, dealers):
        for d in dealers:
            assert d.series and set(d.series) <= set(SERIES)
            assert set(d.stock) == set(d.series) and all(n >= 0 for n in d.stock.values())
            assert 0.08 <= d.conversion_90d <= 0.35 and 3.5 <= d.rating <= 4.9
            assert 30 <= d.capacity <= 120 and 30 <= d.service_radius_km <= 60
            assert set(d.service_cities) <= set(CITY_BY_NAME) and d.city not in d.service_cities
        assert sum("A5" in d.series for d in dealers) / len(dealers) > 0.8
        assert 0.05 <= sum(d.choice_right for d in dealers) / len(dealers) <= 0.16
        competitive = [d for d in dealers if d.competitive_region]
        assert 0.08 <= len(competitive) / len(dealers) <= 0.22
        assert sum(CITY_BY_NAME[d.city].tier == 1 for d in competitive) > len(competitive) / 2

    def test_every_city_has_a_dealer_carrying_a5(self, dealers):
        for city in {d.city for d in dealers}:
            assert any("A5" in d.series for d in dealers if d.city == city), city

    def test_deterministic_for_a_seed_different_for_another(self, dealers):
        assert _dump(generate_dealers(220, seed=7)) == _dump(dealers)
        other = generate_dealers(220, seed=8)
        assert [d.id for d in other] == [d.id for d in dealers]  # same network shape ...
        assert _dump(other) != _dump(dealers)  # ... other details

    def test_another_brand_gets_its_own_ids(self):
        ids = {d.id for d in generate_dealers(40, brand="Nova")}
        assert len(ids) == 40 and not ids & {d.id for d in generate_dealers(40)}


class TestRawLeads:
    def test_channel_mix_is_within_a_few_points_of_the_target(self, leads):
        mix = Counter(lead.channel for lead in leads)
        for channel, share in CHANNEL_MIX.items():
            assert abs(mix[channel] / len(leads) - share) <= 0.02, channel

    def test_phones_are_valid_mobiles_and_unique(self, leads):
        phones = [normalize_phone(lead.phone) for lead in leads]
        assert all(p.startswith("+861") and len(p) == 14 for p in phones)
        assert len(set(phones)) == len(leads)

    def test_duplicates_repeat_earlier_customers_when_asked(self):
        batch = generate_raw_leads(500, seed=3, duplicates=0.1)
        phones = Counter(normalize_phone(lead.phone) for lead in batch)
        assert 25 <= 500 - len(phones) <= 80
        assert len({(lead.channel, lead.external_id) for lead in batch}) == 500

    def test_external_ids_are_unique_per_channel_and_differ_between_seeds(self, leads):
        assert len({(lead.channel, lead.external_id) for lead in leads}) == len(leads)
        other = generate_raw_leads(50, seed=12)
        assert not {x.external_id for x in other} & {x.external_id for x in leads}

    def test_deterministic_for_a_seed(self, leads):
        assert generate_raw_leads(2000, seed=11) == leads
        other = generate_raw_leads(2000, seed=12)
        assert [x.phone for x in other] != [x.phone for x in leads]

    def test_fields_look_like_real_intake(self, leads):
        n = len(leads)
        named = [lead for lead in leads if lead.series]
        assert 0.80 <= len(named) / n <= 0.92
        assert 0.01 <= sum(lead.city is None for lead in leads) / n <= 0.05
        for lead in named:
            spec = SERIES[lead.series]
            assert lead.budget is None or spec.price_min <= lead.budget <= spec.price_max
            assert lead.model is None or lead.model.startswith(lead.series)
        for lead in leads:
            assert lead.city is None or lead.city in CITY_BY_NAME
            if lead.latitude is not None:
                assert lead.channel in ("app", "mini_program")
                city = CITY_BY_NAME[lead.city]
                assert haversine_km(lead.latitude, lead.longitude, city.latitude, city.longitude) <= 25
            if lead.channel == "walk_in":
                assert lead.acquisition_cost == 0 and lead.preferred_dealer_id
            if lead.channel == "autohome":
                assert 180 <= lead.acquisition_cost <= 260
        geo = [lead for lead in leads if lead.channel in ("app", "mini_program") and lead.city]
        assert all(lead.latitude is not None for lead in geo)
        assert len({lead.timeframe for lead in leads}) == 6
        times = [lead.submitted_at for lead in leads]
        assert times == sorted(times) and times[-1] > times[0]
        per_city = Counter(lead.city for lead in leads)
        assert per_city["上海市"] > per_city["无锡市"] > per_city["西宁市"]


def test_rank_dealers_finds_a_dealer_for_nearly_every_lead(dealers, leads):
    """Integration with the ranking: a named series in a named city is almost always served."""
    weights = load_policy().dispatch.weights
    profiles = [
        DealerProfile(dealer_id=d.id, name=d.name, brand=d.brand, active=d.active, region=d.region, city=d.city,
                      latitude=d.latitude, longitude=d.longitude, service_cities=d.service_cities,
                      service_radius_km=d.service_radius_km, series=d.series, stock=d.stock,
                      conversion_90d=d.conversion_90d, rating=d.rating, capacity=d.capacity,
                      choice_right=d.choice_right, competitive_region=d.competitive_region)
        for d in dealers
    ]
    wanted = [lead for lead in leads if lead.series and lead.city]
    found = 0
    for i, lead in enumerate(wanted):
        result = rank_dealers(DispatchRequest(
            lead_id=f"lead-{i}", brand=lead.brand, series=lead.series, city=lead.city,
            latitude=lead.latitude, longitude=lead.longitude, preferred_dealer_id=lead.preferred_dealer_id,
            weights=weights, penalty_window_days=90, max_penalties=10, default_radius_km=50), profiles)
        found += result.dealer_id is not None
        if lead.channel == "walk_in" and result.dealer_id:
            assert result.dealer_id == lead.preferred_dealer_id, "a walk-in stays with its showroom"
    assert found / len(wanted) >= 0.9


class TestSeed:
    @pytest.fixture
    def engine(self, tmp_path):
        engine = make_engine(f"sqlite:///{tmp_path / 'seed.db'}")
        init_db(engine)
        yield engine
        engine.dispose()

    def _snapshot(self, engine):
        with Session(engine) as session:
            return (_dump(session.exec(select(Dealer).order_by(Dealer.id)).all()),
                    _dump(session.exec(select(User).order_by(User.id)).all()))

    def test_loads_the_network_with_every_dealers_people(self, engine):
        with Session(engine) as session:
            tokens = demo_seed.seed(session)
            dealers = session.exec(select(Dealer)).all()
            users = session.exec(select(User)).all()
            consultant_rows = session.exec(select(Consultant)).all()
        assert len(dealers) >= 200 and len({d.city for d in dealers}) >= 30
        staff = Counter((u.dealer_id, u.role) for u in users if u.dealer_id)
        for d in dealers:
            assert staff[(d.id, Role.DEALER_MANAGER.value)] == 1, d.id
            assert staff[(d.id, Role.DEALER_OPS_LEAD.value)] == 1, d.id
            assert staff[(d.id, Role.CONSULTANT.value)] == 2, d.id
        consultants = {u.id for u in users if u.role == Role.CONSULTANT.value}
        by_id = {d.id: d for d in dealers}
        assert {c.user_id for c in consultant_rows} == consultants
        assert all(c.series and set(c.series) <= set(by_id[c.dealer_id].series) for c in consultant_rows)
        assert set(tokens) == {u.id for u in users} and all(t.startswith("lf_") for t in tokens.values())
        regions = {u.region for u in users if u.role == Role.REGIONAL_MANAGER.value}
        assert {d.region for d in dealers} <= regions, "every region has a regional manager"
        assert {"ops-wang", "d-sh-01-manager", "d-sh-01-c1"} <= set(tokens)

    def test_the_demo_sign_ins_get_passwords_once_and_they_verify(self, engine):
        from core.passwords import verify_password
        from db.models import UserLogin

        with Session(engine) as session:
            demo_seed.seed(session)
            passwords = demo_seed.demo_passwords(session)
            assert {"ops-wang", "d-sh-01-manager", "d-sh-01-c1"} <= set(passwords)
            row = session.get(UserLogin, "d-sh-01-c1")
            assert verify_password(row.password_hash,
                                   passwords["d-sh-01-c1"]) and passwords["d-sh-01-c1"] not in row.password_hash
            assert demo_seed.demo_passwords(session) == {}, "a second seed keeps them"

    def test_seeding_twice_changes_nothing(self, engine):
        with Session(engine) as session:
            demo_seed.seed(session)
        before = self._snapshot(engine)
        with Session(engine) as session:
            assert demo_seed.seed(session) == {}, "no new tokens"
        assert self._snapshot(engine) == before
