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
# and in an error the API answers: the names of formats and standards (JSON, HTTP, ISO 8601, GB/T 2260, ...)
ALLOWED = re.compile(r"[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*|Leadflow|Aurora|App|VIN|CSV|SLA|km|Temporal|"
                     r"JSON|HTTPS?|ISO|UUID|Unicode|NUL|GB|TD")  # TD: the reply that unsubscribes an owner


DATA = sorted([u.name for u in USERS] + [d.name for d in DEALERS], key=len,
              reverse=True)  # people's and dealers' own names


def without_names(text: str) -> str:
    for name in DATA:
        text = text.replace(name, "")
    return text


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
        assert not any(re.search(r"[\u4e00-\u9fff]", without_names(e["text"])) for e in en["timeline"]
                       if e["kind"] not in ("dispatched",))  # a dealer's (and a person's) name is their own words
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


def test_owner_care_referral_and_push_notices_speak_the_readers_language():
    """Inbox rows the lead's workflow does not write (owner care, referral rewards, a broken push channel) are
    codes too: their data are the parameters."""
    from domain.messages import notice_params
    task = notice_params("owner-lead-1", "首次保养提醒: first maintenance due (due 2027-03-10 05:45 UTC)",
                         {"task_id": "t", "touchpoint": "first_maintenance", "due_at": "2027-03-10T05:45:00+00:00"})
    assert render("owner_care_task", task) == "车主关怀任务：首次保养，请在 2027年3月10日 13:45 前完成。"
    assert render("owner_care_task", task, "en") == "Owner-care task: first maintenance, due 10 Mar 2027 13:45."
    lapsed = notice_params("owner-lead-1", "owner-care task overdue", {"touchpoint": "insurance_renewal"})
    assert render("owner_care_task_lapsed", lapsed) == "车主关怀任务逾期：保险续保，请尽快处理。"
    reward = notice_params("referral-X", "…", {"reward_id": "r", "reward": "charger", "nth": 3})
    assert render("referral_reward", reward) == "转介绍奖励：车主推荐的第 3 位客户已成交，奖励充电桩。"
    assert render("referral_reward", reward, "en").endswith("earning a charger.")
    broken = notice_params("push-target-7", "…", {"target_id": "7", "name": "门店群", "failures": 5})
    assert render("push_target_broken", broken).startswith("推送渠道「门店群」连续 5 次发送失败")
    for text in (render("owner_care_task", task), render("owner_care_task_lapsed", lapsed),
                 render("referral_reward", reward)):
        assert not latin_words(text), text


def test_an_owner_care_task_old_or_new_reads_in_the_readers_language():
    """Task titles come from the catalog by touchpoint (rows written before codes stored "中文 / English"), and why
    no SMS went out is a code (older rows: "no consent for service")."""
    from datetime import UTC, datetime

    from api.routes.owners import _task_view
    from db.models import OwnerTask
    at = datetime(2027, 3, 7, 5, 45, tzinfo=UTC)
    for title, note in (("首次保养提醒 / first maintenance due", "no consent for service"),
                        ("首次保养提醒", "owner.no_consent")):
        task = OwnerTask(task_id="o:1", ownership_id="o", dealer_id="D-SH-1", kind="first_maintenance",
                         touchpoint_key="first_maintenance", desk="after_sales", title=title, created_at=at,
                         due_at=at, purpose="service", message_sent=False, message_note=note)
        zh, en = _task_view(task, at, "zh-CN"), _task_view(task, at, "en")
        assert (zh.title, zh.message_note) == ("首次保养提醒", "车主未授权「服务提醒」类消息")
        assert (en.title, en.message_note) == ("first maintenance due",
                                               "the owner has not consented to service reminders")


def test_the_engine_sending_a_pseudo_defeat_to_the_call_center_old_row_or_new():
    old = {"kind": "sent_to_call_center", "role": "review_team", "actor": "rev-1", "data": {"reason": "pseudo-defeat"}}
    new = {"kind": "sent_to_call_center", "role": "review_team", "actor": "rev-1",
           "data": {"reason_code": "pseudo_defeat"}}
    names = {"rev-1": "李审"}
    assert render_entry(old, names=names) == render_entry(new, names=names) == "战败复核 李审：转交呼叫中心（伪战败）"
    assert render_entry(new, "en", names=names) == "Review team 李审: Sent to the call center (Pseudo-defeat)"
    typed = {"kind": "sent_to_call_center", "role": "lead_ops", "actor": "ops", "data": {"reason": "客户要求人工回访"}}
    assert render_entry(typed) == "线索运营：转交呼叫中心：客户要求人工回访"


async def test_policy_versions_name_their_author_reason_and_settings_in_the_readers_language(env, engine):
    async with api(env, engine) as (http, L):
        made = await http.post("/v1/policies/drafts", headers=auth("ops"), json={
            "reason": "收紧", "changes": {"clocks": {"receipt": "1h"}, "working_days": {"appeal_window": 3}}})
        assert made.status_code == 201, made.text
        zh = {v["version"]: v for v in (await http.get("/v1/policies", headers=auth("ops"))).json()}
        en = {v["version"]: v for v in (await http.get("/v1/policies?lang=en", headers=auth("ops"))).json()}
        assert (zh[1]["author_name"], zh[1]["reason"]) == ("系统", "随产品发布的策略文件")
        assert (en[1]["author_name"], en[1]["reason"]) == ("system", "The policy file shipped with the product")
        assert (zh[2]["author_name"], zh[2]["reason"]) == ("王敏", "收紧")  # the person's name, as typed
        assert [(d["label"], d["before_text"], d["after_text"]) for d in zh[2]["diff"]] == [
            ("计时 · 接收确认", "2小时", "1小时"), ("工作日计时 · 申诉期", "2个工作日", "3个工作日")]
        assert [(d["label"], d["after_text"]) for d in en[2]["diff"]] == [
            ("Clocks · receipt confirmation", "1 h"), ("Working-day clocks · appeal window", "3 working days")]
        audit = (await http.get("/v1/policies/1/audit?lang=en", headers=auth("ops"))).json()
        assert audit[0]["reason"] == "The policy file shipped with the product"


def test_the_shipped_version_written_before_codes_still_reads():
    from api.routes.policies import _reason
    from db.policies import OLD_SEED_REASON, SEED_REASON
    assert _reason("system", OLD_SEED_REASON, "en") == _reason("system", SEED_REASON, "en") == (
        "The policy file shipped with the product")
    assert _reason("ops", SEED_REASON, "en") == SEED_REASON  # a person's reason is theirs, whatever it says


async def test_a_decline_over_the_quota_is_refused_in_the_readers_language(env, engine):
    """Refusals the lead's workflow makes itself (the choice-right quota, a consultant's claim limit, a lead not yet
    taken in) carry a code too, not only the decider's."""
    async with api(env, engine) as (http, L):
        lead_id = (await http.post("/v1/leads", json=body(533, preferred_dealer_id="D-SH-2"),
                                   headers=auth("ops"))).json()["lead_id"]
        assert (await L.state(lead_id)).dealer_id == "D-SH-2"
        url = f"/v1/leads/{lead_id}/decline"
        zh = await http.post(url, json={"reason": "太远"}, headers=auth("d-sh-2-mgr"))
        assert zh.status_code == 409 and zh.json()["code"] == "refused.decline_quota", zh.json()
        assert zh.json()["detail"] == ("拒收失败：已超出自主选择权配额（近 30 天推送的 1 条线索中已拒收 0 条，"
                                       "配额为 20%）")
        en = await http.post(url + "?lang=en", json={"reason": "too far"}, headers=auth("d-sh-2-mgr"))
        assert en.json()["detail"].startswith("decline refused: over the choice-right quota (0 of 1 leads pushed")


def test_a_claim_over_the_consultants_limit_is_refused_with_a_code(engine):
    from datetime import UTC, datetime

    from sqlmodel import Session
    from temporalio.testing import ActivityEnvironment

    from activities.assignment import AssignmentActivities
    from db.models import Consultant
    from domain.models import ClaimRequest
    with Session(engine) as session:
        cons = session.get(Consultant, "d-sh-1-c1")
        cons.max_open_leads = 0
        session.add(cons)
        session.commit()
    answer = ActivityEnvironment().run(AssignmentActivities(engine).reserve_claim, ClaimRequest(
        lead_id="lead-x", dealer_id="D-SH-1", consultant_id="d-sh-1-c1", holding=0, since_seq=1,
        as_of=datetime.now(UTC)))
    assert not answer.allowed and (answer.code, answer.params) == ("refused.claim_limit", {"open": 0, "limit": 0})
    assert render(answer.code, answer.params) == "认领失败：您已有 0 条未结线索，上限为 0 条"
