"""Accessibility of the main pages, checked by axe-core in Chromium: contrast, labels, names,
landmarks; light and dark. (axe-core comes from the UI's npm dev dependencies.)"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from tests.ui.conftest import Rig, goto, login
from tests.ui.test_screens import PAGES, seed, visit

AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa"]


async def test_no_axe_violations_on_the_main_pages(rig: Rig, browser: Browser) -> None:
    found: dict[str, list[str]] = {}
    for scheme in ("light", "dark"):
        # bypass_csp: axe is injected as an inline script, which our CSP (rightly) forbids.
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, color_scheme=scheme, bypass_csp=True
        )
        page = await context.new_page()
        await page.goto(rig.url + "/")
        await page.add_script_tag(path=str(AXE))
        pages = [("Login", None)] + [(name, name) for name in PAGES]
        for label, name in pages:
            if name == "Dashboard":
                await login(page, rig.url)
                if scheme == "light":
                    await seed(rig)
            if name is not None:
                await visit(page, name)
                await page.wait_for_timeout(400)
            if not await page.evaluate("typeof axe !== 'undefined'"):
                await page.add_script_tag(path=str(AXE))
            result = await page.evaluate(
                "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
                ".violations.map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')"
                " + ' ' + (n.failureSummary || '').split('\\n').slice(1, 2).join('')).join(' | '))",
                RULES,
            )
            if result:
                found[f"{label} ({scheme})"] = result
        await context.close()
    assert not found, "\n".join(f"{page}: {v}" for page, vs in found.items() for v in vs)


async def test_pages_can_be_used_by_keyboard_alone(rig: Rig, browser: Browser) -> None:
    page = await browser.new_page()
    await login(page, rig.url)
    await goto(page, "Chains")
    # Every focusable control has a name, so a keyboard user hears what it does.
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll(
                'button, a[href], input, select, textarea, [tabindex]')]
            .filter(e => e.tabIndex >= 0 && !e.disabled && e.offsetParent !== null)
            .filter(e => !(e.getAttribute('aria-label') || e.labels?.[0]?.textContent
                || e.getAttribute('aria-labelledby') || e.textContent.trim()))
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    await page.close()
