"""Owner care's pages (issue 17): the dealer's after-sales task list with countdowns, the owner's card, the OEM's
owner-care dashboard; another dealer sees none of it."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import expect

from tests.browser.site import DESKTOP, Site, screenshot
from tests.fixtures import raw_lead
from tests.test_owner_care import delivered_lead
from workflows.owner_care import ownership_id_for


async def test_after_sales_tasks_with_countdowns_the_owner_card_and_the_oem_dashboard(site: Site):
    lead_id, _ = await delivered_lead(site.lab, 1720, raw_lead(1720, customer_name="孙悦", city="上海市"))
    oid = ownership_id_for(lead_id)
    mgr = await site.open(DESKTOP)
    await site.sign_in(mgr, "d-sh-1-mgr")
    other = await site.open(DESKTOP)
    await site.sign_in(other, "d-sh-2-mgr")
    ops = await site.open(DESKTOP)
    await site.sign_in(ops, "ops")
    await site.advance(timedelta(days=91, hours=1))  # the first maintenance falls due: a task, due in 3 days

    await mgr.get_by_test_id("nav-inbox").click()  # the inbox lists the task; it opens the owner's card
    item = mgr.get_by_test_id("inbox-item").filter(has_text="车主关怀任务").first
    await expect(item).to_have_attribute("href", f"#/owners/{oid}")
    await mgr.get_by_test_id("nav-owners").click()
    task = mgr.get_by_test_id("owner-task")
    await expect(task).to_have_count(1)
    await expect(task).to_contain_text("首次保养")
    await expect(task.get_by_test_id("countdown")).to_be_visible()
    await screenshot(mgr, "dealer-owner-care-tasks")
    await task.get_by_role("link").click()
    await expect(mgr.get_by_test_id("owner-card-history")).to_contain_text("首次保养")
    await expect(mgr.get_by_test_id("owner-card-consent")).to_contain_text("服务提醒")
    await expect(mgr.get_by_test_id("owner-card-code")).not_to_contain_text("—")
    await screenshot(mgr, "dealer-owner-card")
    await mgr.get_by_test_id("nav-owners").click()
    await mgr.get_by_test_id("owner-task-done").click()
    await expect(mgr.get_by_test_id("owner-task")).to_have_count(0)

    await ops.get_by_test_id("nav-ownerCare").click()
    await expect(ops.get_by_test_id("oc-active")).to_contain_text("1")
    await expect(ops.get_by_test_id("oc-onTime")).to_contain_text("1")
    await screenshot(ops, "oem-owner-care-dashboard")

    await other.get_by_test_id("nav-owners").click()
    await expect(other.get_by_test_id("owner-task")).to_have_count(0)
    await expect(other.get_by_test_id("owner-row")).to_have_count(0)
    await expect(other.get_by_test_id("nav-ownerCare")).to_have_count(0)
    await other.goto(f"{site.base_url}/#/owners/{oid}")
    await expect(other.get_by_test_id("owner-card-title")).to_have_count(0)
    assert [e for e in site.page_errors if "not found" not in e] == []
