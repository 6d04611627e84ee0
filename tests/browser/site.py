"""The browser tests' site: the real app served over HTTP by uvicorn, on a lab's worker, and the
browser contexts a test opens on it (fixtures in conftest.py).

Time: the test server's clock is not the wall clock (earlier tests skip months), and lead
deadlines are in the server's time. Each browser context installs Playwright's fake clock at the
server's `now`, and `Site.advance` moves the browsers and the server together.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from playwright.async_api import Browser, BrowserContext, ViewportSize, expect

from tests.conftest import password_for, token_for
from tests.harness import Lab

ROOT = Path(__file__).resolve().parents[2]
# every run saves them under test-artifacts/ (CI keeps that folder); the README's copies in docs/screenshots/
# are refreshed with LEADFLOW_SCREENSHOTS=docs/screenshots ./scripts/test.sh tests/browser
SCREENSHOTS = Path(os.environ.get("LEADFLOW_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # without these Chromium keeps calling home, and floods a closed network with refused connections
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
WAIT_MS = 10_000  # the longest any page may take to show what a test waits for


def chromium_path() -> str | None:
    """Debian's chromium: LEADFLOW_CHROMIUM, else `chromium` on PATH, else /usr/bin/chromium."""
    for candidate in (os.environ.get("LEADFLOW_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> socket.socket:
    """A listening socket on a free loopback port, handed to uvicorn (no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serve(app) -> AsyncIterator[str]:
    """Serve `app` with uvicorn in this event loop; yields its base URL, and stops it whatever happens."""
    sock = free_port()
    config = uvicorn.Config(app, lifespan="on", log_level="warning", log_config=None, access_log=False,
                            timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():  # failed at startup (the lifespan raised): say why
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(10):
                await task
        except TimeoutError:
            task.cancel()
        finally:
            sock.close()


@dataclass
class Site:
    """The app served over HTTP on a lab's worker, and the browser contexts a test opened on it."""

    lab: Lab
    base_url: str
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)  # uncaught errors in the pages' scripts

    @property
    def env(self):
        return self.lab.env

    async def open(self, viewport: ViewportSize = PHONE, *, locale: str = "en-US"):
        """A fresh page (own context: own storage, own fake clock at the server's now)."""
        mobile = viewport["width"] < 600
        context = await self.browser.new_context(
            base_url=self.base_url, viewport=viewport, locale=locale, timezone_id="Asia/Shanghai",
            is_mobile=mobile, has_touch=mobile, device_scale_factor=2 if mobile else 1)
        self.contexts.append(context)
        context.set_default_timeout(WAIT_MS)
        # only the app itself: nothing leaves the machine (Swagger's CDN scripts, fonts) and nothing waits on it
        await context.route(lambda url: not url.startswith(self.base_url), lambda route: route.abort())
        await context.clock.install(time=await self.env.get_current_time())
        page = await context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        return page

    async def sign_in(self, page, user_id: str) -> None:
        """Sign in on the portal. The pages set their countdowns' clock by GET /v1/me's `server_time` (the API's
        wall clock) at sign-in: once the test server has skipped time, that clock is off by as much, and every
        countdown of a page signed in then would be too. So a test signs its pages in before it moves time."""
        skew = await self.api_clock_skew()
        assert abs(skew) < timedelta(minutes=1), (
            f"GET /v1/me's server_time is {skew.total_seconds():+.0f} s off the Temporal test server's clock that "
            "the leads' deadlines are in: a page signed in now would show every countdown off by as much. Sign the "
            "pages in before moving time (or give the API an overridable clock for /v1/me and the stream)")
        await page.goto("/")
        await page.get_by_test_id("login-input").fill(user_id)
        await page.get_by_test_id("password-input").fill(password_for(user_id))
        await page.get_by_test_id("sign-in").click()
        await expect(page.get_by_test_id("whoami")).to_be_visible()

    async def api_clock_skew(self) -> timedelta:
        """How far the API's `server_time` (GET /v1/me, by which the pages correct their countdowns) is from
        the Temporal test server's clock, the one the leads' deadlines are in."""
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            me = await http.get("/v1/me", headers={"Authorization": f"Bearer {token_for('ops')}"})
            me.raise_for_status()
        return datetime.fromisoformat(me.json()["server_time"]) - await self.env.get_current_time()

    async def forward_browsers(self, delta: timedelta) -> None:
        """Jump every open page's clock (timers due in between fire once)."""
        for context in self.contexts:
            await context.clock.fast_forward(int(delta.total_seconds() * 1000))

    async def advance(self, delta: timedelta) -> None:
        """Move the browsers and the server together."""
        await self.forward_browsers(delta)
        await self.lab.sleep(delta)

    async def keep_evidence(self, test_name: str) -> None:
        """A failed test leaves a screenshot of each open page under test-artifacts/browser/."""
        for i, context in enumerate(self.contexts):
            for j, page in enumerate(context.pages):
                try:
                    await page.screenshot(path=artifact_path(f"{test_name}-failed-{i}-{j}.png"), full_page=True)
                except Exception:  # noqa: BLE001 - evidence is best effort; the failure itself is reported
                    pass

    async def close(self) -> None:
        for context in reversed(self.contexts):
            try:
                await context.close()
            except Exception:  # noqa: BLE001 - already closed with the browser; keep closing the rest
                pass
        self.contexts.clear()


HIDE_TOASTS = '[data-testid="live-toast"] { display: none !important; }'


async def screenshot(page, name: str, *, toasts: bool = False, full_page: bool = False) -> Path:
    """{SCREENSHOTS}/{name}.png (the README shows some); toasts hidden unless they are the point."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    viewport = page.viewport_size
    if full_page:  # a window as tall as the page, so fixed and sticky parts (the side bar) look as they do on screen
        height = await page.evaluate("document.documentElement.scrollHeight")
        await page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], height)})
    else:
        await page.evaluate("window.scrollTo(0, 0)")
    try:
        await page.screenshot(path=path, style=None if toasts else HIDE_TOASTS, animations="disabled")
    finally:
        await page.set_viewport_size(viewport)
    return path


def artifact_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name

