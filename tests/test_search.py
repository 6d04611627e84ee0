"""Find a customer (issue 13 section 3): GET /v1/leads?q= by name, phone (any format, whole or last 4 digits),
lead id and external id; a dealer finds only what it may see; the phone is matched on keys, never in clear."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from db.models import LeadLookup
from domain import search
from tests.test_api import api, auth, body


def test_a_query_means_a_name_a_phone_or_its_last_4_digits():
    assert search.parse("  ") is None
    assert search.parse("1234").phone4 == "1234" and search.parse("1234").name_prefix is None
    full = search.parse("+86 138-0000-0601")
    assert full.customer_key == search.parse("13800000601").customer_key is not None
    assert search.parse("张").name_prefix == "张" and search.parse("Li Lei").name_prefix == "li lei"
    assert search.lookup_keys("  Li   Lei ", "+8613800000601") == {("name", "li lei"), ("phone4", "0601")}


async def _found(http, user: str, q: str) -> list[str]:
    answer = await http.get("/v1/leads", params={"q": q}, headers=auth(user))
    assert answer.status_code == 200, answer.text
    return [row["customer_name"] for row in answer.json()["items"]]


async def test_search_finds_a_lead_by_name_phone_last_4_lead_id_and_external_id_within_the_callers_sight(env, engine):
    async with api(env, engine) as (http, L):
        sh = (await http.post("/v1/leads", json=body(601, customer_name="张伟", external_id="ext-zw-1"),
                              headers=auth("ops"))).json()
        gz = (await http.post("/v1/leads", json=body(602, customer_name="张敏", city="Guangzhou"),
                              headers=auth("ops"))).json()
        assert sh["dealer_id"] == "D-SH-1" and gz["dealer_id"] == "D-GZ-1"
        assert sorted(await _found(http, "ops", "张")) == ["张伟", "张敏"]
        assert await _found(http, "ops", "张伟") == ["张伟"]
        assert await _found(http, "ops", "0601") == ["张伟"]  # the last 4 digits
        assert await _found(http, "ops", "138 0000 0602") == ["张敏"]  # the whole number, any format
        assert await _found(http, "ops", "+86-138-0000-0601") == ["张伟"]
        assert await _found(http, "ops", sh["lead_id"]) == ["张伟"]
        assert await _found(http, "ops", "ext-zw-1") == ["张伟"]
        assert await _found(http, "ops", "王") == [] and await _found(http, "ops", "9999") == []
        assert await _found(http, "ops", "%") == []  # a wildcard is a character, not a pattern
        # a dealer finds only the leads it may see: the other dealer's customer is as unknown as nobody
        assert await _found(http, "d-sh-1-mgr", "张") == ["张伟"]
        assert await _found(http, "d-sh-1-mgr", "0602") == [] and await _found(http, "d-sh-1-mgr", gz["lead_id"]) == []
        assert await _found(http, "d-gz-1-mgr", "138 0000 0601") == []
        # search combines with the other filters
        answer = await http.get("/v1/leads", params={"q": "张", "dealer_id": "D-GZ-1"}, headers=auth("ops"))
        assert [r["customer_name"] for r in answer.json()["items"]] == ["张敏"]
        too_long = await http.get("/v1/leads", params={"q": "x" * 65}, headers=auth("ops"))
        assert too_long.status_code == 422 and "q" in too_long.text
        with Session(engine) as session:  # the keys: a name and 4 digits, never the whole phone
            rows = session.exec(select(LeadLookup).where(LeadLookup.lead_id == sh["lead_id"])).all()
            assert {(r.kind, r.value) for r in rows} == {("name", "张伟"), ("phone4", "0601")}


@pytest.mark.postgres
def test_the_search_keys_have_their_indexes_in_postgresql(pg_engine):
    from sqlalchemy import text
    with pg_engine.connect() as conn:
        indexes = {r[0] for r in conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename IN ('lead_lookup', 'raw_lead')"))}
    assert {"ix_lead_lookup_kind_value", "ix_raw_lead_external_id"} <= indexes


def _backfilled(engine) -> set[tuple[str, str, str]]:
    from alembic import command
    from sqlalchemy import text

    from db.migrate import _config

    with engine.begin() as conn:
        command.upgrade(_config(conn), "0006")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO lead (lead_id, brand, customer_key, customer_name, phone, channel, stage, furthest_stage, "
            "sla_breached, alerts, created_at, updated_at, last_seq, workflow_id, run_id, clocks, score_items, detail) "
            "VALUES ('lead-old', 'Aurora', 'k', ' Li  Lei ', '+8613800000777', 'website', 'dispatched', 'dispatched', "
            "false, 0, '2026-12-01 08:00:00', '2026-12-01 08:00:00', 1, 'lead-old', 'r', '[]', '[]', '{}')"))
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text("SELECT lead_id, kind, value FROM lead_lookup"))}


def test_migration_0012_gives_existing_leads_their_search_keys_on_sqlite(tmp_path):
    from db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    assert _backfilled(engine) == {("lead-old", "name", "li lei"), ("lead-old", "phone4", "0777")}


@pytest.mark.postgres
def test_migration_0012_gives_existing_leads_their_search_keys_on_postgresql(postgres_engine):
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    assert _backfilled(postgres_engine) == {("lead-old", "name", "li lei"), ("lead-old", "phone4", "0777")}


async def test_a_wechat_id_taken_in_shows_on_the_lead_and_leaves_older_submissions_idempotent(env, engine):
    import hashlib
    import json

    from db.intake_keys import fingerprint
    from tests.fixtures import raw_lead

    plain = raw_lead(611).model_copy(update={"phone": "+8613800000611"})
    before = plain.model_dump(mode="json")
    before.pop("wechat_id")  # the digest a submission without a WeChat id had before the field existed
    assert fingerprint(plain) == hashlib.sha256(json.dumps(before, sort_keys=True,
                                                           ensure_ascii=False).encode()).hexdigest()
    async with api(env, engine) as (http, L):
        lead = (await http.post("/v1/leads", json=body(612, wechat_id="zhang_wei_88"), headers=auth("ops"))).json()
        detail = (await http.get(f"/v1/leads/{lead['lead_id']}", headers=auth("d-sh-1-mgr"))).json()
        assert detail["customer"]["wechat_id"] == "zhang_wei_88"
