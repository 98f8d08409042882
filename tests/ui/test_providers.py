"""Providers: add one from a preset, test it, pick a model from its own list; delete refused
while a chain uses the provider."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.ui.conftest import Rig, goto, login


async def test_add_a_provider_from_a_preset_test_it_and_pick_a_model(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    await goto(page, "Providers")
    await page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("textbox", name="Preset").click()
    await page.get_by_role("option", name="groq", exact=False).first.click()
    # The preset fills in what it knows: its header dialect and documented free tier.
    await expect(dialog.get_by_test_id("preset-facts")).to_contain_text("Dialect groq")
    assert "api.groq.com" in await dialog.get_by_label("Base URL").input_value()
    await dialog.get_by_label("Id").fill("extra")
    await dialog.get_by_label("Base URL").fill(rig.extra.url)  # never a real provider
    await dialog.get_by_label("API key").fill("sk-extra-upstream-key-abcd")
    await dialog.get_by_role("button", name="Add provider").click()
    await expect(page.get_by_test_id("save-ok")).to_have_text("Added provider extra.")

    card = page.locator("[data-provider=extra]")
    await expect(card).to_contain_text("sk-…abcd")  # masked by the server
    assert "sk-extra-upstream-key-abcd" not in await page.content()
    await card.get_by_role("button", name="Test connection").click()
    await expect(card.get_by_test_id("save-ok")).to_contain_text("Connected: 2 models")
    await card.get_by_role("button", name="Fetch models").click()
    await card.get_by_role("textbox", name="Model of extra").click()
    await page.get_by_role("option", name="x-chat-2").click()
    await card.get_by_role("button", name="Test x-chat-2").click()
    await expect(card.get_by_test_id("save-ok")).to_contain_text("x-chat-2 answered")
    sent = [r.json for r in rig.extra.requests if r.path.endswith("/chat/completions")]
    assert sent and sent[-1]["model"] == "x-chat-2"

    text = rig.config_path.read_text()
    assert "id: extra" in text and "type: groq" in text
    assert "# Comments like this one must survive" in text


async def test_delete_is_refused_with_the_reason_while_a_chain_uses_it(
    rig: Rig, page: Page
) -> None:
    await login(page, rig.url)
    await goto(page, "Providers")
    page.on("dialog", lambda d: d.accept())
    await page.locator("[data-provider=alpha]").get_by_role("button", name="Delete").click()
    error = page.get_by_test_id("save-error")
    await expect(error).to_contain_text("fast")  # the chain that uses it
    assert "[object Object]" not in await error.inner_text()
    assert "id: alpha" in rig.config_path.read_text()
