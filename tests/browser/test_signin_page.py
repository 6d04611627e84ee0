"""Signing in on the pages (issue 14): a password, a session cookie no script can read, the security headers,
a page that refuses to be framed, and the Temporal UI's codec for signed-in lead ops (api/routes/codec.py)."""

from __future__ import annotations

from playwright.async_api import expect

from api.auth import CSRF_COOKIE, SESSION_COOKIE
from tests.browser.site import DESKTOP, Site

# what the Temporal UI does with "include credentials": POST /codec/decode with no Authorization header
DECODE = """() => fetch("/codec/decode", {method: "POST", headers: {"Content-Type": "application/json"},
                                        body: JSON.stringify({payloads: []}), credentials: "include"})
                 .then(r => r.status)"""


async def test_the_portal_sends_security_headers_and_refuses_to_be_framed(site: Site):
    page = await site.open(DESKTOP)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    answer = await page.goto("/")
    headers = answer.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    policy = headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert headers["referrer-policy"] == "same-origin" and headers["x-frame-options"] == "DENY"
    await expect(page.get_by_test_id("login-input")).to_be_visible()  # the page runs under its own policy

    framer = await site.open(DESKTOP)
    await framer.set_content(f'<iframe data-testid="frame" src="{site.base_url}/" width="600" height="400"></iframe>')
    await framer.wait_for_timeout(1500)
    [child] = [f for f in framer.frames if f != framer.main_frame]
    assert await child.locator('[data-testid="login-input"]').count() == 0  # refused: never rendered in a frame
    assert not child.url.startswith(site.base_url) or child.url.startswith("chrome-error")
    assert violations == [] and site.page_errors == []


async def test_lead_ops_sign_in_with_a_password_and_the_temporal_ui_decodes_with_their_session(site: Site):
    ops = await site.open(DESKTOP)
    await site.sign_in(ops, "ops")
    cookies = {c["name"]: c for c in await ops.context.cookies()}
    assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["sameSite"] == "Lax"
    visible = await ops.evaluate("document.cookie")
    assert SESSION_COOKIE not in visible and CSRF_COOKIE in visible  # the CSRF token is no credential alone
    kept = await ops.evaluate("Object.keys(localStorage).filter(k => !k.endsWith('.lang') && !k.includes('seen'))")
    assert kept == []
    assert await ops.evaluate(DECODE) == 200
    await ops.reload()  # the session survives a reload: no token to paste again
    await expect(ops.get_by_test_id("whoami")).to_be_visible()
    await ops.get_by_test_id("sign-out").click()
    await expect(ops.get_by_test_id("login-input")).to_be_visible()
    assert await ops.evaluate(DECODE) == 401

    wrong = await site.open(DESKTOP)
    await wrong.goto("/")
    await wrong.get_by_test_id("login-input").fill("ops")
    await wrong.get_by_test_id("password-input").fill("not-the-password")
    await wrong.get_by_test_id("sign-in").click()
    await expect(wrong.get_by_test_id("sign-in-error")).to_be_visible()

    dealer = await site.open(DESKTOP)
    await site.sign_in(dealer, "d-sh-1-mgr")
    assert await dealer.evaluate(DECODE) == 403
    assert site.page_errors == []


async def test_a_manager_invites_a_consultant_who_sets_a_password_from_the_link(site: Site):
    manager = await site.open(DESKTOP)
    await site.sign_in(manager, "d-sh-1-mgr")
    await manager.get_by_test_id("nav-account").click()
    invite = manager.get_by_test_id("invite")
    await invite.locator('input[name="user_id"]').fill("sh1-newbie")
    await invite.locator('input[name="name"]').fill("新同事")
    await invite.get_by_role("button").click()
    note = manager.get_by_test_id("invite-note")
    await expect(note).to_contain_text("/#/set-password/")
    link = (await note.inner_text()).rsplit(" ", 1)[-1].split("：")[-1].strip()
    assert link.startswith(site.base_url)

    newbie = await site.open(DESKTOP)
    await newbie.goto(link)
    await newbie.get_by_test_id("new-password").fill("my-first-password")
    await newbie.get_by_test_id("set-password").click()
    await expect(newbie.get_by_test_id("whoami")).to_contain_text("新同事")
    await newbie.get_by_test_id("sign-out").click()
    await newbie.get_by_test_id("login-input").fill("sh1-newbie")
    await newbie.get_by_test_id("password-input").fill("my-first-password")
    await newbie.get_by_test_id("sign-in").click()
    await expect(newbie.get_by_test_id("whoami")).to_be_visible()
    assert site.page_errors == []
