"""The OEM console's working-day calendar page (web/views/calendar.js): lead ops see a provisional year, upload
the State Council's schedule as CSV and confirm it; a bad upload says which row; a dealer has no such page."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.site import DESKTOP, Site, screenshot


async def test_lead_ops_upload_and_confirm_next_years_schedule_on_the_calendar_page(site: Site):
    ops = await site.open(DESKTOP)
    await site.sign_in(ops, "ops")
    await ops.get_by_test_id("nav-calendar").click()
    await ops.goto(f"{site.base_url}/#/calendar?year=2027")
    await expect(ops.get_by_test_id("calendar-state")).to_have_text("推算（未确认）")
    await ops.get_by_test_id("calendar-upload").fill("date,kind,name\n2027-01-01,holiday,元旦\n2028-01-01,holiday,x\n")
    await ops.get_by_test_id("calendar-upload-confirm").click()
    await expect(ops.get_by_test_id("calendar-note")).to_contain_text("row 2 date")
    await expect(ops.get_by_test_id("calendar-state")).to_have_text("推算（未确认）")
    await ops.get_by_test_id("calendar-upload").fill("date,kind,name\n2027-01-01,holiday,元旦\n"
                                                     "2027-02-13,workday,春节调休\n")
    await ops.get_by_test_id("calendar-upload-confirm").click()
    await expect(ops.get_by_test_id("calendar-state")).to_have_text("已确认")
    await expect(ops.get_by_test_id("calendar-days")).to_contain_text("春节调休")
    # who confirmed it and the audit, by name and in words (not the user id and the action's code)
    await expect(ops.get_by_test_id("calendar-audit-row").first).to_contain_text("王敏 · 上传节假日安排")
    await expect(ops.locator(".calendar-head")).to_contain_text("王敏 · ")
    await screenshot(ops, "oem-calendar")

    dealer = await site.open(DESKTOP)
    await site.sign_in(dealer, "d-sh-1-mgr")
    await expect(dealer.get_by_test_id("whoami")).to_be_visible()
    await expect(dealer.get_by_test_id("nav-calendar")).to_have_count(0)
    assert site.page_errors == []


async def test_a_calendar_alert_in_the_inbox_opens_the_calendar_page(site: Site):
    from datetime import UTC, datetime

    from sqlmodel import Session

    from db.models import Notification

    with Session(site.lab.engine) as session:  # the row the lead's notify activity writes (tests/test_calendar_lab.py)
        session.add(Notification(idempotency_key="calendar-2027:0:head_of_lead_ops:ops-head", lead_id="calendar-2027",
                                 kind="calendar_provisional", recipient_role="head_of_lead_ops",
                                 recipient_user_id="ops-head", message="the 2027 holiday schedule is not confirmed",
                                 data={"year": 2027}, created_at=datetime.now(UTC)))
        session.commit()
    head = await site.open(DESKTOP)
    await site.sign_in(head, "ops-head")
    await head.get_by_test_id("nav-inbox").click()
    item = head.get_by_test_id("inbox-item").filter(has_text="节假日安排未确认")
    await expect(item).to_have_attribute("href", "#/calendar?year=2027")
    await item.click()
    await expect(head.get_by_test_id("calendar-state")).to_have_text("推算（未确认）")
    assert site.page_errors == []
