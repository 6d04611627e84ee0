"""Issue 13 on a phone (390 px): search finds a lead by its last 4 digits, a lapsed clock stays red with how
late it is, back from a call the page offers to log the follow-up, and the portal is an installable app
(manifest, icons, a service worker that registers)."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import expect

from domain import commands as c
from tests.browser.site import Site, screenshot
from tests.browser.test_dealer_day import by_id, go, open_lead
from tests.fixtures import manager as manager_of
from tests.fixtures import raw_lead


async def test_search_finds_a_lead_by_the_last_4_digits_of_the_phone(site: Site):
    L = site.lab
    wanted = (await L.intake(raw_lead(4301, customer_name="韩梅梅"))).lead_id
    other = (await L.intake(raw_lead(4302, customer_name="李雷"))).lead_id
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
    lead_id = (await L.intake(raw_lead(4303, wechat_id="hmm_4303"))).lead_id
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
    lead_id = (await L.intake(raw_lead(4304))).lead_id
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
