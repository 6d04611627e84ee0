"""Issue 13: a walk of every page as every role, on a phone (390 px), in both languages.

In zh-CN a page fails on any run of Latin-letter words outside an allow-list (ids carry digits; brand and series
names; units; the people's, dealers' and customers' own names are data). In en it fails on Chinese outside
customer data. The walk prints every offending text, so a new English sentence in the engine shows where it is.

The leads it reads have rich timelines, driven through the lab on the time-skipping clock as the dealer's
day does (tests/browser/test_dealer_day.py): a preferred dealer asking for a transfer, the dispatch explanation,
a lapsed first response with its alerts and penalty, a defeat claim approved and reviewed (a pseudo-defeat, its
appeal and the penalty revoked), and a delivered lead's owner-care card. A what-if run on the policies page puts
the simulator's report in front of lead ops too.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import httpx
from playwright.async_api import Page, expect
from sqlmodel import Session

from domain import commands as c
from ops.users import set_password
from tests.browser.site import HIDE_TOASTS, PHONE, SCREENSHOTS, Site, artifact_path
from tests.browser.test_dealer_day import by_id
from tests.conftest import SIGN_IN_USERS, password_for
from tests.fixtures import DEALERS, OPS, REVIEWER, SECOND_REVIEWER, USERS, consultant, manager, raw_lead
from tests.test_api import auth
from tests.test_owner_care import ownership_row
from workflows.owner_care import ownership_id_for

# one user of every role (domain/stages.py Role; the system is not a person). There is no after-sales role: owner
# care's after-sales tasks are the dealer manager's desk (domain/owner_care.py).
ROLES = ["d-sh-1-mgr", "d-sh-1-c1", "d-sh-1-opslead",  # dealer manager, consultant, dealer ops lead
         "ops", "ops-head", "rev-1", "rev-lead", "rm-east", "cc"]  # lead ops, its head, reviewers, region, call center
# every page of navItems() in web/app.js (a role walks those its navigation offers) and the sign-in page
PAGES = ["leads", "pool", "inbox", "team", "queues", "calendar", "policies", "dashboards", "owners", "ownerCare",
         "account"]
# transferred by its preferred dealer to D-SH-1, in defeat review there
TRANSFERRED = raw_lead(4401, customer_name="王芳", preferred_dealer_id="D-SH-2")
APPEALED = raw_lead(4402, customer_name="李娜")  # judged a pseudo-defeat, appealed, overturned
DELIVERED = raw_lead(4403, customer_name="赵强")  # delivered: its owner-care card
# what people typed (in Chinese, as they would): their own words, not the page's
TYPED = ["客户住在浦东，离闵行店太远", "客户说明年再买", "客户确认今年不买车", "客户已预约下周到店试驾",
         "客户本周已预约试驾，并非战败", "店里录音证明客户仍有意向", "复核录音后撤销", "收紧首次响应", "同意转给浦东店"]
# words that stay Latin on a Chinese page: the product's and the brand's names, channels' own names, units, codes
ALLOW = {"Leadflow", "Aurora", "App", "VIN", "CSV", "SLA", "Temporal", "km", "Web", "Push", "PWA", "OEM", "Douyin",
         "WeChat", "iOS", "Android", "EN", "JSON", "API"}  # EN: the language toggle; API: API tokens
LEADS = [TRANSFERRED, APPEALED, DELIVERED]
DATA = sorted({u.name for u in USERS} | {d.name for d in DEALERS} | {x.customer_name for x in LEADS}
              | {x.series or "" for x in LEADS} | {x.model or "" for x in LEADS} | set(TYPED),
              key=len, reverse=True)


def latin_runs(text: str) -> list[str]:
    for name in DATA:
        text = text.replace(name, " ")
    text = re.sub(r"[A-Za-z0-9_.:-]*\d[A-Za-z0-9_.:-]*", " ", text)  # ids, phones, times, grades with digits
    words = [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOW]
    return words


def chinese_runs(text: str) -> list[str]:
    for name in DATA + ["上海市", "上海"]:  # a city is shown by its Chinese name (GB/T 2260) in both languages
        text = text.replace(name, " ")
    return re.findall(r"[\u4e00-\u9fff]+", text.replace("中文", " "))  # the language toggle names itself


async def body_text(page: Page) -> str:
    await settled(page)
    # text marked with its own language (a holiday's official Chinese name) is data, not the page's words
    return await page.evaluate("""() => { const copy = document.body.cloneNode(true);
        copy.querySelectorAll('[lang]').forEach((el) => el.remove()); document.body.append(copy);
        copy.style.position = 'absolute'; const text = copy.innerText; copy.remove(); return text; }""")


async def settled(page: Page) -> None:
    """The page has drawn what it asked the API for: the app drew the address it is at (web/app.js marks
    `data-routed` when a route's view is drawn; the sign-in page has no routes), no request of its own is in flight
    (web/api.js counts them; its live stream never ends, so no networkidle) and nothing is loading. Twice, a frame
    apart: a view that draws one answer and then asks for the next is caught between the two."""
    for _ in range(2):
        await page.wait_for_function("""() => { const d = document.documentElement.dataset;
            return (!document.getElementById('view') || d.routed === location.hash)
                && (d.requests || '0') === '0' && !document.querySelector('.loading'); }""", polling="raf")


async def intake(site: Site, raw) -> str:
    """A raw lead through the API, as a channel sends it (the city "Shanghai" is taken in as 上海市, code 310100)."""
    async with httpx.AsyncClient(base_url=site.base_url) as http:
        answer = await http.post("/v1/leads", headers=auth("ops"), json=raw.model_dump(mode="json", exclude_none=True))
    assert answer.status_code == 200, answer.text
    return answer.json()["lead_id"]


async def story(site: Site) -> dict[str, str]:
    """The leads the walk reads, each with a timeline people must be able to read in both languages."""
    L = site.lab
    # owner care first: its first task falls due 91 days after delivery (the other leads' clocks stay untouched)
    delivered = await intake(site, DELIVERED)
    mgr, cons = manager("D-SH-1"), consultant("D-SH-1")
    await L.act(delivered, mgr, c.Acknowledge())
    await L.act(delivered, mgr, c.Assign(consultant_id=cons.user_id))
    for command in (c.LogFollowUp(channel=c.ContactChannel.CALL, duration_minutes=8), c.RecordOrder(deposit=5000),
                    c.RecordWin(payment=c.PaymentMethod.CASH, amount=200_000),
                    c.RecordDelivery(vin="LAURORA000004403")):
        await L.act(delivered, cons, command)
    await ownership_row(L, delivered)
    await site.advance(timedelta(days=91, hours=1))

    # the customer's preferred dealer asks for a transfer, lead ops approve, the lead goes to the next best dealer
    transferred = await intake(site, TRANSFERRED)
    assert (await L.state(transferred)).dealer_id == "D-SH-2"
    await L.act(transferred, manager("D-SH-2"), c.RequestTransfer(reason=c.TransferReason.REGION_MISMATCH,
                                                                  text=TYPED[0]))
    await L.act(transferred, OPS, c.ReviewTransfer(approve=True, explanation=TYPED[8]))
    dealer = (await L.settle(transferred)).dealer_id
    assert dealer == "D-SH-1", dealer
    await L.act(transferred, manager(dealer), c.Acknowledge())
    await L.act(transferred, manager(dealer), c.Assign(consultant_id=consultant(dealer).user_id))
    await L.sleep(timedelta(minutes=27))  # the first response was due in 15 minutes: it lapses, alerts, penalizes
    await L.settle(transferred)
    await L.act(transferred, consultant(dealer), c.LogFollowUp(channel=c.ContactChannel.CALL, note=TYPED[3]))
    await L.act(transferred, consultant(dealer), c.ApplyForDefeat(reason_code=c.DefeatReason.NO_SHORT_TERM_PLAN,
                                                                note=TYPED[1]))
    await L.act(transferred, manager(dealer), c.ReviewDefeatApplication(approve=True, note=TYPED[2]))

    # a defeat judged a pseudo-defeat (a penalty, the lead to another dealer), appealed and overturned
    appealed = await intake(site, APPEALED)
    await L.act(appealed, manager("D-SH-1"), c.Acknowledge())
    await L.act(appealed, manager("D-SH-1"), c.Assign(consultant_id=consultant("D-SH-1").user_id))
    await L.act(appealed, consultant("D-SH-1"), c.LogFollowUp(channel=c.ContactChannel.WECHAT, note=TYPED[3]))
    await L.act(appealed, consultant("D-SH-1"), c.ApplyForDefeat(reason_code=c.DefeatReason.UNREACHABLE,
                                                                  note=TYPED[1]))
    await L.act(appealed, manager("D-SH-1"), c.ReviewDefeatApplication(approve=True, note=TYPED[2]))
    await L.act(appealed, REVIEWER, c.DecideDefeat(verdict=c.DefeatVerdict.PSEUDO_DEFEAT, note=TYPED[4]))
    await L.settle(appealed)
    await L.act(appealed, manager("D-SH-1"), c.Appeal(evidence=TYPED[5]))
    await L.act(appealed, SECOND_REVIEWER, c.DecideAppeal(outcome=c.AppealOutcome.OVERTURNED, note=TYPED[6]))
    await L.settle(appealed)
    kinds = set(L.timeline(transferred)) | set(L.timeline(appealed))
    assert {"transfer_requested", "transfer_approved", "dispatched", "clock_lapsed", "penalty_recorded",
            "defeat_applied", "defeat_submitted", "pseudo_defeat_decided", "appeal_filed", "appeal_decided",
            "penalty_revoked"} <= kinds, kinds
    return {"transferred": transferred, "appealed": appealed, "owner": ownership_id_for(delivered)}


async def what_if(site: Site) -> int:
    """A draft policy version (a first response in 30 minutes, a defeat review in 4 working days) and a what-if run
    of it over the story's leads: the policies page shows a report with a lead that differs (the transferred lead's
    lapse would not have happened) and an assumption (working-day deadlines estimated). And next year's working-day
    calendar uploaded and confirmed, so the calendar page shows who did what."""
    async with httpx.AsyncClient(base_url=site.base_url) as http:
        made = await http.post("/v1/policies/drafts", headers=auth("ops"),
                               json={"reason": TYPED[7], "changes": {"clocks": {"first_response": "30m"},
                                                                     "working_days": {"defeat_review": 4}}})
        assert made.status_code in (200, 201), made.text
        run = await http.post("/v1/simulations", headers=auth("ops"), json={"version": made.json()["version"],
                                                                             "days": 120})
        assert run.status_code in (200, 201, 202), run.text
        for _ in range(600):
            state = (await http.get(f"/v1/simulations/{run.json()['id']}", headers=auth("ops"))).json()
            if state["status"] != "running":
                break
            await asyncio.sleep(0.2)
        assert state["status"] == "done", state
        assert state["report"]["differing_leads"] >= 1, state["report"]  # the report says why a lead differs
        assert state["report"]["assumptions"], state["report"]  # and what it assumed
        # next year's calendar (the page's default year) uploaded and confirmed: its audit and who confirmed it
        year = (await site.env.get_current_time()).year + 1
        upload = await http.post(f"/v1/calendar/{year}/schedule?confirm=true", headers=auth("ops") | {
            "Content-Type": "text/csv"}, content=f"date,kind,name\n{year}-01-01,holiday,元旦\n".encode())
        assert upload.status_code == 200 and upload.json()["state"] == "confirmed", upload.text
    return made.json()["version"]


async def timeline_screenshot(page: Page, name: str) -> None:
    """The lead's timeline, one phone screen of it from its newest entry (the README shows it)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    top = await page.locator("ol.timeline").locator("xpath=..").evaluate(
        "e => e.getBoundingClientRect().top + window.scrollY")  # in the page (a full-page clip's coordinates)
    viewport = page.viewport_size or PHONE
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True, style=HIDE_TOASTS, animations="disabled",
                          clip={"x": 0, "y": top, "width": viewport["width"], "height": viewport["height"]})


async def walk(site: Site, user_id: str, leads: dict[str, str], draft: int, lang: str,
               texts: dict[str, str]) -> dict[str, list[str]]:
    page = await site.open(PHONE, locale="zh-CN" if lang == "zh" else "en-US")
    await page.add_init_script(f"localStorage.setItem('leadflow.lang', '{lang}')")
    found: dict[str, list[str]] = {}

    async def check(name: str) -> list[str]:
        text = texts[f"{lang}:{user_id}:{name}"] = await body_text(page)
        return latin_runs(text) if lang == "zh" else chinese_runs(text)

    await page.goto("/")
    await expect(page.get_by_test_id("login-input")).to_be_visible()
    found["sign-in"] = await check("sign-in")
    await site.sign_in(page, user_id)
    for name in PAGES:
        link = page.get_by_test_id(f"nav-{name}")
        if not await link.count():
            continue
        await link.first.click()
        found[name] = await check(name)
        if name == "queues":  # each review queue with what it waits for
            queues = await page.get_by_test_id("queue-card").evaluate_all("cards => cards.map(c => c.dataset.queue)")
            for queue in queues:
                await page.goto(f"/#/queues/{queue}")
                await page.wait_for_function("() => !document.querySelector('.loading')", polling=100)
                found[f"queue-{queue}"] = await check(f"queue-{queue}")
        if name == "policies":  # the what-if report of the draft, run from the page
            await page.get_by_test_id("sim-version").fill(str(draft))
            await page.get_by_test_id("sim-days").fill("120")
            await page.get_by_test_id("sim-start").click()
            await expect(page.get_by_test_id("sim-differing").locator(".row").first).to_be_visible(timeout=60_000)
            found[name] += await check("what-if")
    for which, lead_id in leads.items():
        if which == "owner":
            await page.goto(f"/#/owners/{lead_id}")
            await page.wait_for_function("() => !document.querySelector('.loading')", polling=100)
            found[which] = await check(which)
            continue
        await page.goto(f"/#/leads/{lead_id}?appeal=1")
        shown = page.locator(f'[data-testid="lead-detail"][data-lead-id="{lead_id}"], [data-testid="lead-gone"]')
        await expect(shown.first).to_be_visible()
        found[which] = await check(which)
        if lang == "zh" and user_id == "d-sh-1-mgr" and which == "transferred":
            await timeline_screenshot(page, "dealer-lead-timeline-phone")
    if user_id in ("ops", "d-sh-1-c1"):  # the pages' own checks: a walked lead is shown, not a not-found page
        await page.goto(f"/#/leads/{leads['transferred']}")
        await expect(by_id(page, "lead-detail", lead_id=leads["transferred"])).to_be_visible()
    return {k: v for k, v in found.items() if v}


async def test_every_page_as_every_role_speaks_one_language(site: Site):
    with Session(site.lab.engine) as session:  # the roles without a password in the fixtures sign in with one here
        for user_id in ROLES:
            if user_id not in SIGN_IN_USERS:
                set_password(session, user_id, password_for(user_id))
    leads = await story(site)
    draft = await what_if(site)
    bad: dict[str, dict[str, list[str]]] = {}
    texts: dict[str, str] = {}  # every page's text, kept under test-artifacts/browser/ to read what people see
    for lang in ("zh", "en"):
        for user_id in ROLES:
            found = await walk(site, user_id, leads, draft, lang, texts)
            if found:
                bad[f"{lang}:{user_id}"] = found
            await site.close()  # a finished walker's pages (and their live streams) go
    artifact_path("words-walk.json").write_text(json.dumps(bad, ensure_ascii=False, indent=1), encoding="utf-8")
    artifact_path("words-walk-pages.json").write_text(json.dumps(texts, ensure_ascii=False, indent=1), encoding="utf-8")
    assert not bad, bad
    assert not site.page_errors
