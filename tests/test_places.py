"""Places by code (issue 13): cities are GB/T 2260 divisions, so 上海, "Shanghai" and 310000 are one city in intake
and dispatch, and an unknown city is a 422 on the field."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from db.models import Lead
from devtools.network import CITIES
from domain import places
from domain.dispatch import rank_dealers
from tests.test_api import api, auth, body
from tests.test_dispatch_rules import dealer, request


@pytest.mark.parametrize("text", ["上海", "上海市", "Shanghai", "shanghai", " SHANG HAI ", "310000", "310000000000",
                                  "Shanghai City", "浦东新区", "310115"])
def test_every_way_of_writing_shanghai_is_one_city(text):
    assert places.canonical_city(text) == ("310000", "上海市")


def test_a_district_belongs_to_its_prefecture_city():
    assert places.canonical_city("姑苏区") == ("320500", "苏州市")
    assert places.same_city("姑苏区", "Suzhou") and not places.same_city("苏州", "宿州")


def test_heteronyms_and_exonyms_resolve():
    assert places.resolve("Harbin").code == "230100"
    assert places.resolve("Xi'an").name == "西安市"
    assert places.resolve("Shaanxi").name == "陕西省" and places.resolve("Shanxi").name == "山西省"


def test_unknown_and_ambiguous_places_are_refused_with_the_reason():
    with pytest.raises(places.Unknown, match="unknown place 'Gotham'"):
        places.resolve("Gotham")
    with pytest.raises(places.Ambiguous) as err:
        places.resolve("朝阳区")  # 北京 and 长春 both have one
    assert {d.code for d in err.value.candidates} >= {"110105", "220104"}
    assert places.city_code("Gotham") is None and places.city_code(None) is None


def test_the_division_data_is_generated_with_its_source_named():
    first_line = places.DATA.read_text(encoding="utf-8").splitlines()[0]
    assert "scripts/gen_divisions.py" in first_line and "cpca 0.5.5" in first_line
    all_ = places.divisions()
    assert len(all_) > 3000 and len({d.code for d in all_}) == len(all_)
    assert sum(d.level == "province" for d in all_) == 34  # 23 provinces, 5 regions, 4 municipalities, HK, Macau


def test_every_city_of_the_demo_network_is_a_known_city_with_its_chinese_name():
    for city in CITIES:
        code, name = places.canonical_city(city.name)
        assert places.by_code(code).level in ("province", "city"), city.name
        assert name.startswith(city.name_zh), (city.name, name)


def test_dispatch_matches_a_chinese_city_against_a_dealer_listed_in_pinyin():
    result = rank_dealers(request(city="上海市"), [dealer("D1", city="Shanghai"), dealer("D2", city="Beijing")])
    assert result.dealer_id == "D1"
    assert rank_dealers(request(city="310000"), [dealer("D1", city="上海")]).dealer_id == "D1"


async def test_intake_stores_the_chinese_name_and_code_and_refuses_an_unknown_city(env, engine):
    async with api(env, engine) as (http, L):
        ok = await http.post("/v1/leads", json=body(7301, city="shanghai"), headers=auth("ops"))
        assert ok.status_code == 200, ok.text
        state = await L.state(ok.json()["lead_id"])
        assert (state.profile.city, state.profile.city_code) == ("上海市", "310000")
        with Session(engine) as session:
            assert session.exec(select(Lead.city).where(Lead.lead_id == ok.json()["lead_id"])).one() == "上海市"
        bad = await http.post("/v1/leads", json=body(7302, city="Gotham"), headers=auth("ops"))
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "city"], bad.text
        again = await http.post("/v1/leads", json=body(7302, city="上海"), headers=auth("ops"))
        assert again.status_code == 200  # nothing was claimed by the refused one: its external id is free
        batch = await http.post("/v1/leads/batch", json={"items": [body(7303, city="朝阳区")]}, headers=auth("ops"))
        assert batch.json()["results"][0]["status"] == "invalid"
        assert batch.json()["results"][0]["errors"][0]["loc"] == ["city"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_the_migration_renames_the_cities_already_in_the_read_model(dialect, tmp_path, request):
    from alembic import command
    from sqlalchemy import text

    from db.engine import make_engine
    from db.migrate import _config

    if dialect == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        engine = request.getfixturevalue("postgres_engine")
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0006")
        conn.execute(text("INSERT INTO dealer (id, name, brand, region, city, service_cities, series, stock, "
                          "conversion_90d, rating, capacity, active, choice_right, competitive_region, auto_assign) "
                          "VALUES ('D1', 'd', 'Aurora', 'East', 'Shanghai', :served, '[]', '{}', 0, 0, 5, true, "
                          "false, false, false)"), {"served": '["Suzhou", "Gotham", "苏州"]'} if dialect == "sqlite"
                     else {"served": '["Suzhou", "Gotham", "苏州"]'})
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
        city, served = conn.execute(text("SELECT city, service_cities FROM dealer WHERE id = 'D1'")).one()
    served = served if isinstance(served, list) else __import__("json").loads(served)
    assert (city, served) == ("上海市", ["苏州市", "Gotham"])
