"""The UI rig: the real proxy (create_app on loopback) serving the built UI, mock providers,
and headless Chromium driven by Playwright.

The config is YAML with comments, on disk, so tests can check that edits made in the browser
land in the file and keep its comments. Chromium is the system one (`/usr/bin/chromium`,
installed by .ci/run with apt): Playwright cannot download browsers here.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from chain429.config.load import load_config
from chain429.http.app import create_app
from chain429.http.spa import DIST
from chain429.testing.budget import Budget
from chain429.testing.mock_provider import MockProvider
from chain429.testing.steps import Stream

ADMIN_KEY = "sk-admin-ui-test-key-0001"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"

CONFIG = """\
# 429chain config used by the UI tests.
# Comments like this one must survive edits made in the browser.
version: 1
settings:
  api_keys:
    - {key}   # the one key: proxy and admin
  database_url: {db}
  default_chain: fast
providers:
  # The first mock: answers slowly, token by token.
  - id: alpha
    type: openai-compatible
    base_url: {alpha}
    api_key: sk-upstream-alpha-secret-1234
  - id: beta   # the fallback
    type: openai-compatible
    base_url: {beta}
    api_key: sk-upstream-beta-secret-5678
chains:
  # The default chain.
  - name: fast
    entries:
      - provider: alpha   # tried first
        model: alpha-small
      - provider: beta
        model: beta-large
"""


@dataclass
class Rig:
    url: str
    config_path: Path
    alpha: MockProvider
    beta: MockProvider
    extra: MockProvider  # not configured: the "add a provider" test points a preset at it
    app: web.Application


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui/" in str(item.fspath):
            item.add_marker(pytest.mark.timeout(180))


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    if not (DIST / "index.html").is_file():
        pytest.fail("The UI is not built: run `make test` (it builds it) or `make ui`.")
    alpha = MockProvider(models=["alpha-small", "alpha-large"], default=Stream(interval=0.05))
    # Beta sends rate-limit headers, so the quota panel has counters to draw.
    beta = MockProvider(
        models=["beta-large"],
        reply_text="Beta answers here.",
        limits=Budget(rpm=30, tpm=20_000),
        header_dialect="openai",
    )
    extra = MockProvider(models=["x-chat-1", "x-chat-2"], reply_text="Extra here.")
    for mock in (alpha, beta, extra):
        await mock.start()
    path = tmp_path / "config.yaml"
    path.write_text(
        CONFIG.format(key=ADMIN_KEY, db=tmp_path / "log.db", alpha=alpha.url, beta=beta.url)
    )
    app = create_app(load_config(path, env={}), env={})
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    yield Rig(f"http://127.0.0.1:{port}", path, alpha, beta, extra, app)
    await runner.cleanup()
    for mock in (alpha, beta, extra):
        await mock.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (one stat, before any I/O of ours)
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs it with apt)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Failed HTTP calls are logged by the browser too; the tests that cause them check what
    # the page shows. Anything else logged as an error is a bug.
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield page
    await context.close()
    assert not errors, f"errors in the browser: {errors}"


async def logged(rig: Rig, count: int) -> None:
    """Wait until the request log holds `count` requests: a page opened sooner shows fewer, and
    it fetches again only on the next live event."""
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    total = None
    async with aiohttp.ClientSession(headers=auth) as http:
        for _ in range(400):  # up to 20 s: the store opens after start-up
            async with http.get(rig.url + "/v1/stats/requests?limit=0") as response:
                if response.status == 200:
                    total = (await response.json())["total"]
                    if total >= count:
                        return
            await asyncio.sleep(0.05)
    pytest.fail(f"the request log holds {total} requests, not {count}")


async def login(page: Page, url: str, key: str = ADMIN_KEY) -> None:
    await page.goto(url + "/")
    await page.get_by_label("Admin key").fill(key)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await expect(page.get_by_text("live", exact=True)).to_be_visible()  # the feed is connected


async def goto(page: Page, name: str) -> None:
    """Open a page from the navigation (client-side routing, no reload)."""
    nav = page.get_by_role("navigation", name="Pages")
    menu = page.get_by_role("button", name="Menu")
    if await menu.is_visible():  # a phone: the navigation is behind the menu button
        await menu.click()
    await nav.get_by_role("link", name=name, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile({"Requests": "Request log"}.get(name, name))
    )
