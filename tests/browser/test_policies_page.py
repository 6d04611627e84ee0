"""The OEM console's policies page (web/views/policies.js, issue 16): lead ops draft (a bad draft names the key
path), the head of lead ops approves, a what-if run shows its progress, charts and the differing leads; a dealer has
no such page."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import expect

from tests.browser.site import DESKTOP, Site, screenshot
from tests.fixtures import raw_lead


async def test_lead_ops_draft_the_head_approves_and_a_what_if_run_shows_reality_against_the_draft(site: Site):
    ops = await site.open(DESKTOP)
    await site.sign_in(ops, "ops")
    head = await site.open(DESKTOP)
    await site.sign_in(head, "ops-head")
    lead_id = (await site.lab.intake(raw_lead(1650))).lead_id
    await site.lab.settle(lead_id)

    await ops.get_by_test_id("nav-policies").click()
    await expect(ops.get_by_test_id("policy-version")).to_have_count(1)  # version 1, the shipped file
    await ops.get_by_test_id("policy-reason").fill("收紧接收确认")
    await ops.get_by_test_id("policy-changes").fill('{"clocks": {"receipt": "-PT1H"}}')
    await ops.get_by_test_id("policy-draft").click()
    await expect(ops.get_by_test_id("policy-note")).to_contain_text("clocks.receipt")
    await ops.get_by_test_id("policy-changes").fill('{"clocks": {"receipt": "1h"}}')
    await ops.get_by_test_id("policy-draft").click()
    await expect(ops.get_by_test_id("policy-version")).to_have_count(2)
    await expect(ops.get_by_test_id("policy-approve")).to_have_count(0)  # lead ops do not approve

    await head.get_by_test_id("nav-policies").click()
    await head.get_by_test_id("policy-approve").click()
    await expect(head.locator("[data-version='2']")).to_contain_text("生效中")

    await site.advance(timedelta(hours=3))
    await site.lab.settle(lead_id)
    await ops.get_by_test_id("sim-version").fill("1")  # what if we had kept version 1?
    await ops.get_by_test_id("sim-days").fill("1")
    await ops.get_by_test_id("sim-start").click()
    await expect(ops.get_by_test_id("sim-summary")).to_be_visible(timeout=60_000)
    await expect(ops.get_by_test_id("sim-lapses")).to_be_visible()
    await expect(ops.get_by_test_id("sim-progress-text")).to_have_text("1 / 1")
    await screenshot(ops, "oem-policies", full_page=True)

    dealer = await site.open(DESKTOP)
    await site.sign_in(dealer, "d-sh-1-mgr")
    await expect(dealer.get_by_test_id("nav-policies")).to_have_count(0)
    assert site.page_errors == []
