"""Every page, light and dark, saved to artifacts/ui/ (for people to look at); and each page
fits a 390 px phone without sideways scrolling."""

from __future__ import annotations

import re

import aiohttp
from playwright.async_api import Browser, Page, expect

from chain429.testing.steps import Reply
from tests.ui.conftest import ADMIN_KEY, ARTIFACTS, Rig, goto, login

PAGES = ("Dashboard", "Requests", "Providers", "Chains", "Playground", "Settings")


async def seed(rig: Rig) -> None:
    """Some traffic: plain answers, one that falls back after a 429, and one each from a
    coding agent's API (Anthropic Messages, OpenAI Responses)."""
    rig.alpha.script(Reply(200), Reply(200), Reply(429, headers={"Retry-After": "300"}))
    messages = [{"role": "user", "content": "hi"}]
    agents = [
        ("/v1/messages", {"model": "fast", "max_tokens": 20, "messages": messages}),
        ("/v1/responses", {"model": "fast", "input": "hi"}),
    ]
    chats = [
        (
            "/v1/chat/completions",
            {"model": "fast", "messages": [{"role": "user", "content": f"hi {i}"}]},
        )
        for i in range(5)
    ]
    async with aiohttp.ClientSession() as http:
        for path, body in chats + agents:
            async with http.post(
                rig.url + path, json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            ) as response:
                assert response.status == 200


async def shoot(page: Page, name: str, full: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(600)  # charts draw and transitions end
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)


async def visit(page: Page, name: str) -> None:
    await goto(page, name)
    if name == "Dashboard":
        await expect(page.get_by_test_id("feed-row").nth(4)).to_be_visible()
        cards = page.get_by_test_id("card-requests").get_by_test_id("card-value")
        await expect(cards).to_have_text(re.compile(r"^[5-9]$"))
    if name == "Requests":
        await expect(page.get_by_test_id("log-row").first).to_be_visible()
    if name == "Settings":
        await expect(page.get_by_test_id("config-file")).to_contain_text("providers:")
    if name == "Playground":
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_test_id("playground-trail")).to_contain_text("200")


async def test_every_page_light_and_dark(rig: Rig, browser: Browser) -> None:
    for scheme in ("light", "dark"):
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, color_scheme=scheme
        )
        page = await context.new_page()
        await page.goto(rig.url + "/")
        await shoot(page, f"login-{scheme}", full=False)
        await login(page, rig.url)
        if scheme == "light":
            await seed(rig)
        for name in PAGES:
            await visit(page, name)
            await shoot(page, f"{name.lower()}-{scheme}")
        # The preset picker, filled from a preset.
        await goto(page, "Providers")
        await page.get_by_role("button", name="Add provider").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_role("textbox", name="Preset").click()
        await page.get_by_role("option", name="groq", exact=False).first.click()
        await expect(dialog.get_by_test_id("preset-facts")).to_be_visible()
        await shoot(page, f"providers-add-{scheme}", full=False)
        await context.close()


async def test_every_page_fits_a_phone(rig: Rig, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    await login(page, rig.url)
    await seed(rig)
    for name in PAGES:
        await visit(page, name)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} scrolls sideways at 390 px ({width} px wide)"
        await shoot(page, f"{name.lower()}-phone")
    await context.close()


async def test_keyboard_reaches_the_navigation_and_the_skip_link(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    names = []
    for _ in range(10):
        await page.keyboard.press("Tab")
        names.append(await page.evaluate("document.activeElement.textContent || ''"))
    assert any(re.search("Providers", n) for n in names), names
