"""A live update never wipes an action form someone is filling in, not even one whose reload was
already under way when the form opened: the page offers a reload instead."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect

from domain import commands as c
from domain.models import BehaviourEvent, BehaviourKind
from domain.stages import LeadStage
from tests.browser.site import DESKTOP, Site
from tests.browser.test_dealer_day import by_id, expect_stage, open_lead
from tests.fixtures import OPS, raw_lead
from tests.fixtures import manager as manager_of
from workflows import gateway


async def test_a_reload_under_way_when_a_form_opens_leaves_the_form_and_offers_a_reload(site: Site):
    L = site.lab
    lead_id = (await L.intake(raw_lead(4201))).lead_id
    await L.act(lead_id, manager_of("D-SH-1"), c.Acknowledge())
    manager = await site.open(DESKTOP)
    await site.sign_in(manager, "d-sh-1-mgr")
    await open_lead(manager, lead_id)
    await expect_stage(manager, lead_id, LeadStage.ACKNOWLEDGED)

    held, release = asyncio.Event(), asyncio.Event()

    async def hold(route):  # the page's reload of this lead waits until the form is open
        held.set()
        await release.wait()
        await route.continue_()

    await manager.route(re.compile(rf".*/v1/leads/{re.escape(lead_id)}$"), hold)
    # the customer browses the site: the lead changes, the page hears it on its live stream and reloads it
    await gateway.record_lead_behaviour(L.client, lead_id,
                                        BehaviourEvent(event_id="pv-4201", kind=BehaviourKind.PAGE_VIEW), OPS)
    await asyncio.wait_for(held.wait(), timeout=15)

    await manager.get_by_test_id("action-request_transfer").click()
    form = manager.get_by_test_id("action-form")
    await expect(form).to_be_visible()
    release.set()
    await expect(manager.locator(".stale")).to_be_visible()  # the reload came back: offered, not applied
    await expect(form).to_be_visible()
    await form.locator('[name="text"]').fill("The customer lives next to another dealer")
    await expect(form.locator('[name="text"]')).to_have_value("The customer lives next to another dealer")
    await expect(by_id(manager, "lead-detail", lead_id=lead_id)).to_be_visible()
