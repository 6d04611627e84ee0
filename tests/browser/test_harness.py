"""The harness itself: Chromium loads a page the app serves, and its clock follows the server's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import expect

from tests.browser.site import DESKTOP, artifact_path


async def browser_now(page) -> datetime:
    return datetime.fromtimestamp(await page.evaluate("Date.now()") / 1000, UTC)


async def test_chromium_loads_the_api_docs_and_its_clock_moves_with_the_test_server(site):
    page = await site.open(DESKTOP)
    response = await page.goto("/docs")
    assert response is not None and response.ok
    await expect(page).to_have_title("Leadflow - Swagger UI")
    await page.screenshot(path=artifact_path("docs.png"))

    server = await site.env.get_current_time()
    assert abs(await browser_now(page) - server) < timedelta(seconds=5), "the browser starts at the server's now"
    await site.advance(timedelta(days=3))
    server = await site.env.get_current_time()
    assert abs(await browser_now(page) - server) < timedelta(seconds=5), "and moves with it"
    # Swagger UI's scripts come from a CDN, which the harness blocks: the page has its title only
    assert site.page_errors == [f"{site.base_url}/docs: SwaggerUIBundle is not defined"]
