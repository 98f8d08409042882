"""Login: the page loads without a key, refuses a wrong one, keeps the right one per tab."""

from __future__ import annotations

from playwright.async_api import Page, expect

from chain429 import __version__
from tests.ui.conftest import ADMIN_KEY, Rig, login


async def test_a_wrong_key_is_refused_and_the_right_one_logs_in(rig: Rig, page: Page) -> None:
    await page.goto(rig.url + "/")
    field = page.get_by_label("Admin key")
    assert await field.get_attribute("type") == "password"
    await field.fill("sk-wrong-key-000000000")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text("That key was refused")).to_be_visible()
    await expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)

    await field.fill(ADMIN_KEY)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('429chain.adminKey')") == ADMIN_KEY
    # A reload keeps the session; a deep link is served by the history fallback.
    await page.goto(rig.url + "/chains")
    await expect(page.get_by_role("heading", name="Chains")).to_be_visible()

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_label("Admin key")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('429chain.adminKey')") is None


async def test_a_401_returns_to_the_login_with_a_message(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    # The key stops working (revoked elsewhere): the next call gets a 401.
    await page.evaluate("sessionStorage.setItem('429chain.adminKey', 'sk-revoked-key-00000')")
    await page.reload()
    await expect(page.get_by_text("You were logged out")).to_be_visible()
    await expect(page.get_by_label("Admin key")).to_be_visible()


async def test_no_configured_key_is_in_the_html_or_scripts(rig: Rig, page: Page) -> None:
    bodies: list[str] = []

    async def keep(response: object) -> None:
        if response.url.startswith(rig.url) and not response.url.startswith(rig.url + "/v1/"):  # type: ignore[attr-defined]
            bodies.append(await response.text())  # type: ignore[attr-defined]

    page.on("response", keep)
    await page.goto(rig.url + "/")
    await expect(page.get_by_label("Admin key")).to_be_visible()
    assert bodies, "the page and its assets were loaded"
    for secret in (ADMIN_KEY, "sk-upstream-alpha-secret-1234", "sk-upstream-beta-secret-5678"):
        assert all(secret not in body for body in bodies)


async def test_the_footer_shows_the_one_version(rig: Rig, page: Page) -> None:
    """The version of `429chain --version` and `/health`, read from the server."""
    await login(page, rig.url)
    footer = page.get_by_role("main").locator("footer")
    await expect(footer).to_have_text(f"429chain {__version__}")
