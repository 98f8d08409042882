"""Edits beyond the main scenarios: provider edit, chain rename and per-entry limits, settings
(keys added and revoked, a timeout, retention and the default chain), and "Test each entry" in
the playground."""

from __future__ import annotations

import re

import aiohttp
from playwright.async_api import Page, expect
from ruamel.yaml import YAML

from tests.ui.conftest import ADMIN_KEY, Rig, goto, login


def config(rig: Rig) -> dict:  # type: ignore[type-arg]
    return YAML(typ="safe").load(rig.config_path.read_text())  # type: ignore[no-any-return]


async def test_edit_a_provider_keeps_its_key(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    await goto(page, "Providers")
    await page.locator("[data-provider=alpha]").get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_label("API key")).to_have_value("")  # never shown back
    await dialog.get_by_label("Display name").fill("Alpha One")
    await dialog.get_by_role("button", name="Save").click()
    await expect(page.get_by_test_id("save-ok")).to_have_text("Saved provider alpha.")
    await expect(page.locator("[data-provider=alpha]")).to_contain_text("Alpha One")
    alpha = next(p for p in config(rig)["providers"] if p["id"] == "alpha")
    assert alpha["name"] == "Alpha One"
    assert alpha["api_key"] == "sk-upstream-alpha-secret-1234"


async def test_rename_the_default_chain_and_set_entry_limits(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    await goto(page, "Chains")
    card = page.locator("[data-chain=fast]")
    await card.get_by_role("button", name="Limits").first.click()
    rpm = card.get_by_label("RPM")
    await rpm.fill("7")
    await rpm.blur()
    await expect(card.get_by_test_id("save-ok")).to_have_text(
        "Saved the limits of alpha/alpha-small."
    )
    entry = config(rig)["chains"][0]["entries"][0]
    assert entry["rate_limits"] == {"requests_per_minute": 7}

    await card.get_by_label("New name for fast").fill("quick")
    await card.get_by_role("button", name="Rename").click()
    renamed = page.locator("[data-chain=quick]")
    await expect(renamed).to_be_visible()
    await expect(renamed.get_by_text("default", exact=True)).to_be_visible()
    data = config(rig)
    assert [c["name"] for c in data["chains"]] == ["quick"]
    assert data["settings"]["default_chain"] == "quick"
    assert "# Comments like this one" in rig.config_path.read_text()


async def test_settings_add_and_revoke_a_key_and_change_a_timeout(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    await goto(page, "Settings")
    await expect(page.get_by_test_id("config-file")).to_contain_text("# the one key")
    assert ADMIN_KEY not in await page.get_by_test_id("config-file").inner_text()
    await page.get_by_label("New proxy key").fill("sk-second-proxy-key-7777")
    await page.get_by_role("button", name="Add key").click()
    await expect(page.get_by_test_id("save-ok").first).to_have_text("Added the key.")
    await expect(page.get_by_text("sk-…7777", exact=True)).to_be_visible()
    assert config(rig)["settings"]["api_keys"] == [ADMIN_KEY, "sk-second-proxy-key-7777"]

    page.on("dialog", lambda d: d.accept())
    await page.get_by_role("button", name="Revoke key sk-…7777").click()
    await expect(page.get_by_text("sk-…7777", exact=True)).to_have_count(0)
    assert config(rig)["settings"]["api_keys"] == [ADMIN_KEY]

    await page.get_by_label("Connect timeout (ms)").fill("4000")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text(re.compile("^Saved the settings"))).to_be_visible()
    assert config(rig)["settings"]["connect_timeout_ms"] == 4000


async def test_settings_set_the_log_retention_and_the_default_chain(rig: Rig, page: Page) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    body = {"entries": [{"provider": "beta", "model": "beta-large"}]}
    async with (
        aiohttp.ClientSession(headers=auth) as http,
        http.put(f"{rig.url}/v1/admin/chains/slow", json=body) as response,
    ):
        assert response.status in (200, 201)  # a second chain, to make the default
    await login(page, rig.url)
    await goto(page, "Settings")
    await page.get_by_label("Keep the request log (days)").fill("9")
    await page.get_by_role("textbox", name="Default chain").click()
    await page.get_by_role("option", name="slow", exact=True).click()
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text(re.compile("^Saved the settings"))).to_be_visible()
    # The file as on disk, on the page and in fact.
    view = page.get_by_test_id("config-file")
    await expect(view).to_contain_text("log_retention_days: 9")
    await expect(view).to_contain_text("default_chain: slow")
    settings = config(rig)["settings"]
    assert (settings["log_retention_days"], settings["default_chain"]) == (9, "slow")
    assert "# Comments like this one" in rig.config_path.read_text()


async def test_test_each_entry_side_by_side(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    await goto(page, "Playground")
    await page.get_by_role("button", name="Test each entry").click()
    grid = page.get_by_test_id("each-entry")
    await expect(grid).to_contain_text("alpha/alpha-small")
    await expect(grid).to_contain_text("beta/beta-large")
    # alpha's mock always streams, so its plain answer is refused: shown, not hidden.
    await expect(page.get_by_text("1 of 2 entries answered.")).to_be_visible()
    await expect(grid).to_contain_text("malformed response body")
    await expect(grid).to_contain_text("Beta answers here.")
