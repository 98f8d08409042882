"""Chains: build one in the browser (a model picked from the provider's list), reorder it by
keyboard and by mouse; the YAML file follows and keeps its comments."""

from __future__ import annotations

from playwright.async_api import Page, expect
from ruamel.yaml import YAML

from tests.ui.conftest import Rig, goto, login


def chain_entries(rig: Rig, name: str) -> list[str]:
    data = YAML(typ="safe").load(rig.config_path.read_text())
    chain = next(c for c in data["chains"] if c["name"] == name)
    return [f"{e['provider']}/{e['model']}" for e in chain["entries"]]


async def test_build_a_chain_and_reorder_it_by_keyboard(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    await goto(page, "Chains")
    await page.get_by_label("Name", exact=True).fill("mix")
    await page.get_by_role("textbox", name="First provider").click()
    await page.get_by_role("option", name="beta").click()
    await page.get_by_label("First model").fill("beta-large")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_test_id("save-ok").last).to_have_text("Created chain mix.")

    card = page.locator("[data-chain=mix]")
    await card.get_by_role("textbox", name="Provider").click()
    await page.get_by_role("option", name="alpha").click()
    # The model is picked from the provider's own list (GET /v1/admin/providers/alpha/models).
    model = card.get_by_role("textbox", name="Model")
    await model.click()
    await page.get_by_role("option", name="alpha-large", exact=True).click()
    await expect(model).to_have_value("alpha-large")
    await card.get_by_role("button", name="Add entry").click()
    await expect(card.get_by_test_id("save-ok")).to_have_text("Added alpha/alpha-large.")
    assert chain_entries(rig, "mix") == ["beta/beta-large", "alpha/alpha-large"]

    # Keyboard only: focus the handle, Space lifts, ArrowUp moves, Space drops.
    handle = card.get_by_role("button", name="Move alpha/alpha-large (position 2)")
    await handle.focus()
    # Each step waits for what a screen reader hears, as a person would.
    await page.keyboard.press("Space")
    await expect(handle).to_have_attribute("aria-pressed", "true")  # lifted
    await page.wait_for_timeout(300)  # dnd-kit measures the list after the lift
    await page.keyboard.press("ArrowUp")
    await expect(page.get_by_text("alpha/alpha-large is over position 1.")).to_be_attached()
    await page.keyboard.press("Space")
    await expect(card.get_by_test_id("save-ok")).to_have_text("Saved the order of mix.")
    await expect(card.get_by_test_id("chain-entry").first).to_have_attribute(
        "data-entry", "alpha/alpha-large"
    )
    assert chain_entries(rig, "mix") == ["alpha/alpha-large", "beta/beta-large"]
    text = rig.config_path.read_text()
    for comment in (
        "# Comments like this one must survive",
        "# The default chain.",
        "# tried first",
    ):
        assert comment in text

    # The default chain cannot be deleted: its button is off and it wears the marker.
    fast = page.locator("[data-chain=fast]")
    await expect(fast.get_by_text("default", exact=True)).to_be_visible()
    await expect(fast.get_by_role("button", name="Delete")).to_be_disabled()


async def test_reorder_by_mouse_drag(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    await goto(page, "Chains")
    card = page.locator("[data-chain=fast]")
    handle = card.get_by_role("button", name="Move beta/beta-large (position 2)")
    grip = await handle.bounding_box()
    top = await card.get_by_test_id("chain-entry").first.bounding_box()
    assert grip and top
    x, y = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    # Past the 4 px that tell a drag from a click, then up over the first entry, in steps as a
    # hand moves (dnd-kit reads pointer moves, not jumps).
    await page.mouse.move(x, y - 8, steps=4)
    await expect(handle).to_have_attribute("aria-pressed", "true")  # lifted
    await page.mouse.move(x, top["y"] + 2, steps=12)
    await expect(page.get_by_text("beta/beta-large is over position 1.")).to_be_attached()
    await page.mouse.up()
    await expect(card.get_by_test_id("save-ok")).to_have_text("Saved the order of fast.")
    await expect(card.get_by_test_id("chain-entry").first).to_have_attribute(
        "data-entry", "beta/beta-large"
    )
    assert chain_entries(rig, "fast") == ["beta/beta-large", "alpha/alpha-small"]
    text = rig.config_path.read_text()
    assert "# The default chain." in text and "# tried first" in text
