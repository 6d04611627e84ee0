"""Issue 13 sections 1 and 2: the engine's texts are message codes rendered from one catalog in zh-CN (default)
or en; a timeline entry reads as one sentence; the API honours Accept-Language with ?lang= winning."""

from __future__ import annotations

import re
from datetime import timedelta

from domain.events import Ev
from domain.messages import (
    CATALOG,
    LABELS,
    LANGS,
    catalog_for,
    format_duration,
    format_money,
    format_time,
    negotiate,
    render,
    render_entry,
)
from tests.fixtures import DEALERS, USERS
from tests.test_api import api, auth, body

# what may stay in Latin letters on a Chinese page: ids (they carry digits), brand and series names, units
ALLOWED = re.compile(r"[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*|Leadflow|Aurora|App|VIN|CSV|SLA|km|Temporal")


DATA = sorted([u.name for u in USERS] + [d.name for d in DEALERS], key=len,
              reverse=True)  # people's and dealers' own names


def latin_words(text: str) -> list[str]:
    for name in DATA:
        text = text.replace(name, "")
    return re.findall(r"[A-Za-z]{2,}", ALLOWED.sub("", text))


def test_every_timeline_kind_and_label_has_both_texts():
    for kind in Ev:
        assert any(f"{p}.{kind.value}" in CATALOG for p in ("timeline", "event")), kind
        assert f"event.{kind.value}" in CATALOG, kind
    missing = [(code, lang) for code, texts in CATALOG.items() for lang in LANGS if not texts.get(lang)]
    assert not missing
    for table, values in LABELS.items():
        for code, (zh, en) in values.items():
            assert zh and en, (table, code)


def test_no_latin_words_in_chinese_templates():
    bad = {code: t["zh-CN"] for code, t in CATALOG.items()
           if latin_words(re.sub(r"\{[a-z_]+\}", "", t["zh-CN"]))}
    assert not bad


def test_formats_people_read():
    assert format_time("2026-12-05T11:55:00+00:00") == "2026年12月5日 19:55"  # Beijing time
    assert format_time("2026-12-05T11:55:00+00:00", "en") == "5 Dec 2026 19:55"
    assert format_duration(7200) == "2小时" and format_duration(12 * 60) == "12分钟"
    assert format_duration(3 * 86400, working_days=True) == "3个工作日"
    assert format_duration(90061, "en") == "1 d 1 h"
    assert format_money(300000) == "¥300,000"
    assert render("region.East") == "华东" and render("region.East", lang="en") == "East"


def test_the_language_is_negotiated_with_the_query_winning():
    assert negotiate(None, None) == "zh-CN"
    assert negotiate(None, "en-US,en;q=0.9") == "en"
    assert negotiate(None, "fr, en;q=0.5, zh;q=0.8") == "zh-CN"
    assert negotiate("zh-CN", "en") == "zh-CN" and negotiate("en", "zh-CN") == "en"
    assert negotiate("xx", "en") == "en"  # an unknown ?lang= falls back to the header


def test_a_lapse_reads_as_one_sentence_with_who_was_told():
    lapse = {"kind": "clock_lapsed", "at": "2026-12-05T11:55:00+00:00", "role": "system", "actor": "system",
             "data": {"clock": "first_response", "title": "首次响应 first response",
                      "deadline": "2026-12-05T11:43:00+00:00"}}
    told = {"kind": "notified_first_response", "role": "system", "actor": "system",
            "data": {"roles": ["consultant", "dealer_ops_lead", "regional_manager"],
                     "message": "first response: deadline passed"}}
    names = {"c1": "张伟"}
    assert render_entry(lapse, names=names, consultant_id="c1", following=told) == \
        "首次响应超时 12分钟：已提醒销售顾问 张伟、店端线索负责人、区域经理"
    assert (render_entry(told, names=names, consultant_id="c1")
            == "已提醒销售顾问 张伟、店端线索负责人、区域经理：首次响应超时")
    assert render_entry(lapse, "en", names=names, consultant_id="c1",
                        following=told).startswith("First response is 12 min late")


def test_no_raw_dumps_and_old_rows_still_render():
    # a row written before codes, with English and lists in its data: a sentence, never `key: value` or JSON
    old = {"kind": "alert_raised", "role": "system", "actor": "system",
           "data": {"alert": "no_eligible_dealer", "roles": ["lead_ops"], "message": "no dealer: city not served",
                    "candidates": [{"dealer_id": "D-1"}]}}
    text = render_entry(old)
    assert text == "预警：无可派发经销商，已提醒线索运营" and not re.search(r"[\[\]{}]|\w+: ", text)
    follow = {"kind": "follow_up_logged", "role": "consultant", "actor": "c1",
              "data": {"channel": "call", "duration_minutes": 5, "note": "客户周六到店", "needs_captured": False}}
    assert render_entry(follow, names={"c1": "张伟"}) == "销售顾问 张伟：记录跟进（电话）：客户周六到店"
    assert render_entry({"kind": "some_future_kind", "data": {"x": 1}}) == "some future kind"


def test_the_catalog_is_served_in_each_language():
    zh, en = catalog_for("zh-CN"), catalog_for("en")
    assert set(zh) == set(en) == set(CATALOG)
    assert zh["score.timeframe_full"] == "购车时间{timeframe}：满分"


async def test_the_api_renders_in_accept_language_with_the_query_winning(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(530), headers=auth("ops"))).json()["lead_id"]
        url = f"/v1/leads/{lead_id}"
        zh = (await http.get(url, headers=auth("d-sh-1-mgr"))).json()
        en = (await http.get(url, headers=auth("d-sh-1-mgr") | {"Accept-Language": "en-US,en;q=0.9"})).json()
        forced = (await http.get(url + "?lang=zh-CN", headers=auth("d-sh-1-mgr") | {"Accept-Language": "en"})).json()
        assert [e["text"] for e in forced["timeline"]] == [e["text"] for e in zh["timeline"]]
        for e in zh["timeline"]:
            assert e["text"] and not latin_words(e["text"]), e
            assert not re.search(r"[\[\]{}]", e["text"]), e
        for i in zh["score_items"]:
            assert i["text"] and not latin_words(re.sub(re.escape(i["params"].get("value") or "~"), "", i["text"])), i
        assert not any(re.search(r"[\u4e00-\u9fff]", e["text"]) for e in en["timeline"]
                       if e["kind"] not in ("dispatched",))  # a dealer's name is the dealer's own words
        assert {i["name"]: i["text"] for i in en["score_items"]}["timeframe"].startswith("timeframe ")
        assert [e["kind"] for e in zh["timeline"]][:2] == ["lead_created", "scored"]
        assert zh["timeline"][1]["text"].startswith("评分 ")
        served = await http.get("/v1/messages", headers={"Accept-Language": "en"})
        assert served.status_code == 200 and served.json()["lang"] == "en"
        assert served.json()["messages"]["event.scored"] == CATALOG["event.scored"]["en"]
        assert (await http.get("/v1/messages?lang=zh-CN", headers={"Accept-Language": "en"})).json()["lang"] == "zh-CN"


async def test_a_lapsed_clock_in_the_timeline_names_the_clock_and_who_was_told(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(531), headers=auth("ops"))).json()["lead_id"]
        await http.post(f"/v1/leads/{lead_id}/acknowledge", headers=auth("d-sh-1-mgr"))
        await L.sleep(timedelta(minutes=16))
        await L.settle(lead_id)
        detail = (await http.get(f"/v1/leads/{lead_id}", headers=auth("ops"))).json()
        lapses = [e["text"] for e in detail["timeline"] if e["kind"] == "clock_lapsed"]
        assert any(t.startswith("首次响应") and "已提醒" in t for t in lapses), lapses
        assert [e["text"] for e in detail["timeline"] if latin_words(e["text"])] == []


def test_the_pages_load_the_same_catalog():
    """web/messages.js is generated from domain/messages.py (`python -m domain.messages`) and i18n.js reads the
    engine's texts from it, with no hand-copied table of its own."""
    from pathlib import Path

    from domain.messages import web_module
    web = Path(__file__).resolve().parent.parent / "web"
    assert (web / "messages.js").read_text(encoding="utf-8") == web_module(), "run: python -m domain.messages"
    i18n = (web / "i18n.js").read_text(encoding="utf-8")
    assert 'import { MESSAGES } from "./messages.js"' in i18n
    assert "  event: {" not in i18n and "  notice: {" not in i18n  # the engine-text tables come from the catalog


async def test_the_inbox_and_refusals_speak_the_readers_language(env, engine):
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(532), headers=auth("ops"))).json()["lead_id"]
        zh = (await http.get("/v1/inbox", headers=auth("d-sh-1-mgr"))).json()
        row = next(n for n in zh if n["lead_id"] == lead_id)
        assert row["kind"] == "lead_dispatched" and row["text"].startswith("新线索") and not latin_words(row["text"])
        en = (await http.get("/v1/inbox?lang=en", headers=auth("d-sh-1-mgr") | {"Accept-Language": "zh-CN"})).json()
        assert next(n for n in en if n["lead_id"] == lead_id)["text"].startswith("New lead")
        refused = await http.post(f"/v1/leads/{lead_id}/record-visit", json={}, headers=auth("d-sh-1-mgr"))
        assert refused.status_code == 409 and refused.json()["code"] == "refused.stage"
        assert not latin_words(refused.json()["detail"]), refused.json()
