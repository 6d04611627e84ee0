"""Lead ops signing in to the portal get the codec cookie the Temporal UI sends to decode customer data
(api/routes/codec.py); a dealer's people never do, and signing out takes it away."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from api.routes.codec import COOKIE
from tests.browser.site import DESKTOP, Site

# what the Temporal UI does with "include credentials": POST /codec/decode with no Authorization header
DECODE = """() => fetch("/codec/decode", {method: "POST", headers: {"Content-Type": "application/json"},
                                        body: JSON.stringify({payloads: []}), credentials: "include"})
                 .then(r => r.status)"""


async def codec_cookies(page, want: int | None = None) -> list[dict]:
    """The page's codec cookies; with `want`, once there are that many (the page sets it in the background)."""
    for _ in range(100):
        cookies = [c for c in await page.context.cookies() if c["name"] == COOKIE]
        if want is None or len(cookies) == want:
            return cookies
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(cookies)} codec cookies, not {want}")


async def test_lead_ops_get_the_codec_cookie_at_sign_in_and_lose_it_at_sign_out(site: Site):
    ops = await site.open(DESKTOP)
    await site.sign_in(ops, "ops")
    [cookie] = await codec_cookies(ops, want=1)
    assert cookie["httpOnly"] and cookie["path"] == "/codec" and cookie["sameSite"] == "Strict"
    assert await ops.evaluate("document.cookie") == ""  # the page's scripts cannot read it
    assert await ops.evaluate(DECODE) == 200
    await ops.get_by_test_id("sign-out").click()
    await codec_cookies(ops, want=0)
    assert await ops.evaluate(DECODE) == 401

    dealer = await site.open(DESKTOP)
    await site.sign_in(dealer, "d-sh-1-mgr")
    await expect(dealer.get_by_test_id("whoami")).to_be_visible()
    assert await codec_cookies(dealer) == [] and await dealer.evaluate(DECODE) == 401
    assert site.page_errors == []
