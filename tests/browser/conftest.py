"""Browser tests: the real app over real HTTP, driven in Debian's Chromium by Playwright.

One event loop runs everything: the time-skipping Temporal server's client, the lab's worker,
uvicorn serving the app, and Playwright's async API. The browser is Debian's `chromium`
(never `playwright install`); it is required when CI=true or LEADFLOW_REQUIRE_BROWSER=1
(scripts/test.sh installs it there), and the tests are skipped without it otherwise.
"""

from __future__ import annotations

import os

import pytest
import pytest_asyncio
from playwright.async_api import async_playwright, expect

from api import deps
from api.app import create_app
from api.routes import dashboards, pages
from tests.browser.site import CHROMIUM_ARGS, WAIT_MS, Site, chromium_path, serve
from tests.harness import lab


def pytest_configure(config):
    expect.set_options(timeout=WAIT_MS)


@pytest_asyncio.fixture(scope="session")
async def browser():
    executable = chromium_path()
    if executable is None:
        message = "Debian's chromium is missing: apt-get install -y --no-install-recommends chromium"
        if os.environ.get("CI") == "true" or os.environ.get("LEADFLOW_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message} (required when CI=true or LEADFLOW_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(message)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_test_failed = report.failed
    return report


@pytest_asyncio.fixture
async def site(request, env, engine, browser):
    """The whole engine (lab worker on the time-skipping server) behind the real app on a real port."""
    async with lab(env, engine) as L:
        app = create_app(client=env.client, engine=engine, policy=L.policy, task_queue=L.task_queue)

        async def server_now():  # "now" for the API is the test server's (the leads' deadlines are in its time)
            return await env.get_current_time()

        for module in (deps, dashboards, pages):  # wherever the API takes its clock from as a dependency
            if callable(clock := getattr(module, "current_time", None)):
                app.dependency_overrides[clock] = server_now
        async with serve(app) as base_url:
            the_site = Site(lab=L, base_url=base_url, browser=browser)
            try:
                yield the_site
            finally:
                if getattr(request.node, "browser_test_failed", True):
                    await the_site.keep_evidence(request.node.name)
                await the_site.close()  # pages first: open event streams would hold the server's shutdown
