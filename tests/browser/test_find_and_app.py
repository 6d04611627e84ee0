"""Issue 13 on a phone (390 px): search finds a lead by its last 4 digits, a lapsed clock stays red with how
late it is, back from a call the page offers to log the follow-up, the portal is an installable app
(manifest, icons, a service worker that registers), and the inbox's read state is the server's, the same in two
browser contexts of one user."""

from __future__ import annotations

from datetime import timedelta

import httpx
from playwright.async_api import expect

from domain import commands as c
from tests.browser.site import DESKTOP, Site, screenshot
from tests.browser.test_dealer_day import by_id, go, open_lead
from tests.conftest import token_for
from tests.fixtures import manager as manager_of
from tests.fixtures import raw_lead

CITY = "上海市"  # as intake stores the city (the lab takes leads in without the API's place lookup)


async def test_search_finds_a_lead_by_the_last_4_digits_of_the_phone(site: Site):
    L = site.lab
    wanted = (await L.intake(raw_lead(4301, customer_name="韩梅梅", city=CITY))).lead_id
    other = (await L.intake(raw_lead(4302, customer_name="李雷", city=CITY))).lead_id
    manager = await site.open()
    await site.sign_in(manager, "d-sh-1-mgr")
    await go(manager, "nav-inbox")  # a search box on every list page: this one opens the leads list with it
    await manager.get_by_test_id("search").fill("4301")
    await manager.get_by_test_id("search").press("Enter")
    await expect(by_id(manager, "lead-row", lead_id=wanted)).to_be_visible()
    await expect(by_id(manager, "lead-row", lead_id=other)).to_have_count(0)
    assert "q=4301" in manager.url
    await screenshot(manager, "dealer-search-phone")
    assert not site.page_errors


async def test_a_lapsed_clock_stays_red_with_how_late_and_a_call_offers_its_follow_up(site: Site):
    L = site.lab
    lead_id = (await L.intake(raw_lead(4303, customer_name="赵雪", city=CITY, wechat_id="hmm_4303"))).lead_id
    await L.act(lead_id, manager_of("D-SH-1"), c.Acknowledge())
    manager = await site.open(locale="zh-CN")
    await site.sign_in(manager, "d-sh-1-mgr")
    # the stream's `ready` sets the page's server time: had it come after the jump, the page would be 27 min behind
    await expect(manager.get_by_test_id("live-status")).to_have_attribute("data-state", "live")
    await site.advance(timedelta(minutes=27))  # the first response was due after 15 minutes
    await L.settle(lead_id)
    await go(manager, "nav-leads")
    row_clock = by_id(manager, "lead-row", lead_id=lead_id).locator('[data-clock="first_response"]')
    await expect(row_clock).to_have_attribute("data-state", "lapsed")
    await open_lead(manager, lead_id)
    lapsed = manager.locator('[data-testid="lead-detail"] [data-clock="first_response"]')
    await expect(lapsed).to_have_attribute("data-state", "lapsed")
    await expect(lapsed).to_contain_text("已超时 12 分钟")
    assert await lapsed.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(185, 28, 28)"
    await screenshot(manager, "dealer-lapsed-clock-phone")
    # one tap on "call" leaves for the phone app; coming back, the page offers to log it, contact mode preset
    await expect(manager.get_by_test_id("contact-call")).to_have_attribute("href", "tel:+8613800004303")
    await expect(manager.get_by_test_id("contact-sms")).to_have_attribute("href", "sms:+8613800004303")
    await expect(manager.get_by_test_id("contact-wechat")).to_be_visible()  # the WeChat id is known: one tap copies it
    await manager.evaluate("""id => { sessionStorage.setItem('leadflow.contact', JSON.stringify(
        {lead_id: id, mode: 'call', at: Date.now()}));
        document.dispatchEvent(new Event('visibilitychange')); }""", lead_id)
    await manager.get_by_test_id("follow-up-offer-log").click()
    form = manager.get_by_test_id("action-form")
    await expect(form.locator('[name="channel"]')).to_have_value("call")
    assert not site.page_errors


async def test_the_portal_is_an_installable_app(site: Site):
    page = await site.open()
    await site.sign_in(page, "d-sh-1-mgr")
    manifest = await page.evaluate("""async () => {
        const link = document.querySelector('link[rel="manifest"]');
        const answer = await fetch(link.href);
        return {type: answer.headers.get('content-type'), body: await answer.json()};
    }""")
    assert manifest["type"].startswith("application/manifest+json")
    assert manifest["body"]["display"] == "standalone" and manifest["body"]["start_url"].startswith("/")
    sizes = {i["sizes"] for i in manifest["body"]["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["body"]["icons"]:
        status = await page.evaluate("async src => (await fetch(src)).status", icon["src"])
        assert status == 200, icon["src"]
    scope = await page.evaluate("""async () => (await navigator.serviceWorker.ready).scope""")
    assert scope == site.base_url.rstrip("/") + "/"
    cached = await page.evaluate("""async () => {
        const name = (await caches.keys()).find(k => k.startsWith('leadflow-shell-'));  // bumped with the shell
        const c = await caches.open(name);
        return (await c.keys()).map(r => new URL(r.url).pathname); }""")
    assert "/web/app.js" in cached and "/" in cached
    assert not site.page_errors


async def test_a_paused_clock_shows_as_paused_on_the_lead_and_in_the_list(site: Site):
    L = site.lab
    lead_id = (await L.intake(raw_lead(4304, customer_name="钱芳", city=CITY))).lead_id
    await L.act(lead_id, manager_of("D-SH-1"), c.Acknowledge())
    await L.act(lead_id, manager_of("D-SH-1"), c.RequestTransfer(reason=c.TransferReason.REGION_MISMATCH,
                                                               text="customer lives in the other district"))
    manager = await site.open(locale="zh-CN")
    await site.sign_in(manager, "d-sh-1-mgr")
    row_clock = by_id(manager, "lead-row", lead_id=lead_id).locator('[data-clock="first_response"]')
    await expect(row_clock).to_have_attribute("data-state", "paused")
    await open_lead(manager, lead_id)
    paused = manager.locator('[data-testid="lead-detail"] [data-clock="first_response"]')
    await expect(paused).to_have_attribute("data-state", "paused")
    await expect(paused).to_contain_text("已暂停")
    assert not site.page_errors


async def unread_on_the_server(site: Site, user_id: str) -> int:
    async with httpx.AsyncClient(base_url=site.base_url) as http:
        answer = await http.get("/v1/inbox/unread-count", headers={"Authorization": f"Bearer {token_for(user_id)}"})
    answer.raise_for_status()
    return answer.json()["unread"]


async def test_the_inbox_read_state_is_the_servers_in_two_browser_contexts(site: Site):
    """The same manager signed in twice (a phone and a desk): reading a row, then "mark all read", on one updates
    the other's unread badge through the live stream, with no reload; the server's count agrees each time, and a
    page opened afterwards starts from it."""
    L = site.lab
    first = (await L.intake(raw_lead(4305, customer_name="陈静", city=CITY))).lead_id
    second = (await L.intake(raw_lead(4306, customer_name="刘洋", city=CITY))).lead_id
    phone = await site.open(locale="zh-CN")
    await site.sign_in(phone, "d-sh-1-mgr")
    desk = await site.open(DESKTOP, locale="zh-CN")
    await site.sign_in(desk, "d-sh-1-mgr")
    for page in (phone, desk):
        await expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "live")
    unread = await unread_on_the_server(site, "d-sh-1-mgr")
    assert unread >= 2  # at least the two new leads' dispatch notices
    for page in (phone, desk):
        await expect(page.get_by_test_id("inbox-count")).to_have_text(str(unread))

    # the phone opens one alert (its lead): read on the server, and the desk's badge counts one less
    await go(phone, "nav-inbox")
    row = by_id(phone, "inbox-item", kind="lead_dispatched", lead_id=first)
    await expect(row).to_have_attribute("data-unread", "1")
    await row.click()
    await expect(by_id(phone, "lead-detail", lead_id=first)).to_be_visible()
    await expect(desk.get_by_test_id("inbox-count")).to_have_text(str(unread - 1))
    await expect(phone.get_by_test_id("inbox-count")).to_have_text(str(unread - 1))
    assert await unread_on_the_server(site, "d-sh-1-mgr") == unread - 1

    # the desk, on its inbox, sees the phone's read; it marks all read: the phone's badge goes, live
    await go(desk, "nav-inbox")
    row = by_id(desk, "inbox-item", kind="lead_dispatched", lead_id=first)
    await expect(row).to_have_attribute("data-unread", "0")
    row = by_id(desk, "inbox-item", kind="lead_dispatched", lead_id=second)
    await expect(row).to_have_attribute("data-unread", "1")
    await screenshot(desk, "dealer-inbox-read-state")
    await desk.get_by_test_id("inbox-read-all").click()
    await expect(phone.get_by_test_id("inbox-count")).to_be_hidden()
    await expect(desk.get_by_test_id("inbox-count")).to_be_hidden()
    await expect(row).to_have_attribute("data-unread", "0")
    assert await unread_on_the_server(site, "d-sh-1-mgr") == 0

    # a page opened now (another device, or a reload) starts from the server's count: nothing unread
    later = await site.open(locale="zh-CN")
    await site.sign_in(later, "d-sh-1-mgr")
    await go(later, "nav-inbox")
    row = by_id(later, "inbox-item", kind="lead_dispatched", lead_id=second)
    await expect(row).to_have_attribute("data-unread", "0")
    await expect(later.get_by_test_id("inbox-count")).to_be_hidden()
    assert not site.page_errors
