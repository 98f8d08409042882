"""Live: a streamed playground request shows up in the live feed, the request log and the
dashboard cards; a 429 puts a cooldown in the quota panel that counts down, and the next
request's trail shows the fallback."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from playwright.async_api import Page, expect

from chain429.testing.mock_provider import DEFAULT_TEXT
from chain429.testing.steps import Reply, Stream
from tests.ui.conftest import ADMIN_KEY, Rig, goto, login


async def test_a_streamed_request_appears_in_feed_log_and_cards(rig: Rig, page: Page) -> None:
    await login(page, rig.url)
    await goto(page, "Playground")
    await expect(page.get_by_label("Stream")).to_be_checked()
    await page.get_by_role("textbox", name=re.compile(r"^Prompt")).fill(
        "<b>hello</b> <script>alert(1)</script>"
    )
    await page.get_by_role("button", name="Send").click()
    output = page.get_by_test_id("playground-output")
    # Token by token: the text is seen growing, not only whole at the end.
    seen: set[str] = set()
    for _ in range(400):
        text = await output.inner_text()
        if text:
            seen.add(text)
        if text == DEFAULT_TEXT:
            break
        await asyncio.sleep(0.01)
    assert DEFAULT_TEXT in seen
    partial = {t for t in seen if t and t != DEFAULT_TEXT}
    assert len(partial) >= 2, seen
    await expect(page.get_by_test_id("served-by")).to_have_text("alpha/alpha-small")
    await expect(page.get_by_test_id("playground-trail")).to_contain_text("alpha 200")
    result = page.get_by_test_id("playground-result")
    await expect(result).to_contain_text(re.compile(r"First token \d"))
    # The prompt went as text; nothing became markup.
    assert await output.locator("b, script").count() == 0

    await goto(page, "Dashboard")
    row = page.get_by_test_id("feed-row").first
    await expect(row).to_contain_text("fast")
    await expect(row.get_by_test_id("trail")).to_contain_text("alpha 200")
    await expect(page.get_by_test_id("card-requests").get_by_test_id("card-value")).to_have_text(
        "1"
    )
    await expect(
        page.get_by_test_id("card-success-rate").get_by_test_id("card-value")
    ).to_have_text("100.0%")
    await row.click()  # the whole request
    drawer = page.get_by_role("dialog")
    await expect(drawer).to_contain_text("alpha/alpha-small")
    await page.keyboard.press("Escape")

    await goto(page, "Requests")
    log_row = page.get_by_test_id("log-row").first
    await expect(log_row).to_contain_text("alpha/alpha-small")
    await log_row.get_by_role("button", name=re.compile("Show request")).click()
    await expect(page.get_by_role("dialog").get_by_test_id("trail")).to_contain_text("alpha 200")


async def test_a_429_cools_the_entry_down_and_the_next_request_falls_back(
    rig: Rig, page: Page
) -> None:
    await login(page, rig.url)
    rig.alpha.script(Reply(429, headers={"Retry-After": "40"}))
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            rig.url + "/v1/chat/completions",
            json={"model": "fast", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as response,
    ):
        assert response.status == 200
        assert response.headers["X-429chain-Provider"] == "beta"

    entry = page.locator("[data-testid=quota-entry][data-entry='alpha/alpha-small']")
    await expect(entry).to_have_attribute("data-state", "cooling", timeout=10_000)
    await expect(entry.get_by_text("cooling", exact=True)).to_be_visible()
    cooldown = entry.get_by_test_id("cooldown")
    first = await cooldown.inner_text()
    assert re.search(r"back in \d+s", first), first
    # It counts down (read twice, two seconds apart: the second shows fewer seconds).
    await asyncio.sleep(2.2)
    second = await cooldown.inner_text()
    seconds = [int(re.search(r"back in (\d+)s", t)[1]) for t in (first, second)]  # type: ignore[index]
    assert seconds[1] < seconds[0], (first, second)
    await expect(page.get_by_test_id("quota-chain").first).to_contain_text("next: beta/beta-large")
    # The live feed shows the fallback already: alpha's 429, then beta.
    await expect(page.get_by_test_id("feed-row").first.get_by_test_id("trail")).to_contain_text(
        "alpha 429 (retry 40s) → beta 200"
    )

    await goto(page, "Playground")
    await page.get_by_text("Stream", exact=True).click()
    await expect(page.get_by_label("Stream")).not_to_be_checked()
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_test_id("served-by")).to_have_text("beta/beta-large")
    trail = page.get_by_test_id("playground-trail")
    await expect(trail).to_contain_text(re.compile(r"alpha skipped.*beta 200"))


async def test_requests_from_coding_agents_show_their_api_in_feed_log_and_drawer(
    rig: Rig, page: Page
) -> None:
    await login(page, rig.url)
    await goto(page, "Dashboard")
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        anthropic_body = {
            "model": "fast",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi"}],
        }
        async with http.post(rig.url + "/v1/messages", json=anthropic_body) as response:
            assert response.status == 200
        async with http.post(
            rig.url + "/v1/responses", json={"model": "fast", "input": "hi"}
        ) as response:
            assert response.status == 200

    rows = page.get_by_test_id("feed-row")
    await expect(rows.nth(0).get_by_test_id("feed-api")).to_have_text("responses")
    await expect(rows.nth(1).get_by_test_id("feed-api")).to_have_text("anthropic")
    await rows.nth(1).click()
    await expect(page.get_by_role("dialog")).to_contain_text("/v1/messages")
    await page.keyboard.press("Escape")

    await goto(page, "Requests")
    await expect(page.get_by_test_id("log-row").first).to_contain_text("via responses")


async def test_the_playground_trail_is_its_own_request_whatever_else_the_chain_serves(
    rig: Rig, page: Page
) -> None:
    await login(page, rig.url)
    await goto(page, "Playground")
    await page.get_by_role("button", name="Send").click()
    result = page.get_by_test_id("playground-result")
    trail = page.get_by_test_id("playground-trail")
    await expect(page.get_by_test_id("served-by")).to_have_text("alpha/alpha-small")
    await expect(trail).to_contain_text("alpha 200")
    own = await result.get_attribute("data-request-id")
    assert own and re.fullmatch(r"[0-9a-f]{32}", own), own

    # Other traffic on the same chain, finishing after the playground's request, with a trail
    # of its own: alpha's 429, then beta.
    rig.alpha.script(Reply(429, headers={"Retry-After": "40"}))
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        body = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(rig.url + "/v1/chat/completions", json=body) as response:
            assert response.headers["X-429chain-Provider"] == "beta"
            other = response.headers["X-429chain-Request-Id"]
        assert other != own
        # Published to the live feed as it finished; logged (and so surely sent) soon after.
        for _ in range(200):
            async with http.get(f"{rig.url}/v1/stats/requests/{other}") as found:
                if found.status == 200:
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail(f"the other request {other} was never logged")
    # It went to the feed when it finished, before it was logged: the tab has had it since, and
    # a second more lets it be taken in.
    await page.wait_for_timeout(1000)
    await expect(result).to_have_attribute("data-request-id", own)
    assert "429" not in await trail.inner_text()
    await expect(trail).to_have_text(re.compile(r"^\s*alpha 200\s*$"))

    # A request that fails still has its id, so its own trail says why.
    rig.beta.script(Reply(500, "boom"))
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(trail).to_contain_text(re.compile(r"alpha skipped.*beta 500"))
    assert await result.get_attribute("data-request-id") not in (own, other)


async def test_the_playground_trail_comes_from_the_log_when_the_feed_brings_nothing(
    rig: Rig, page: Page
) -> None:
    # No live feed at all: the request's record can only come from the request log.
    await page.route("**/v1/admin/events", lambda route: route.abort())
    await page.goto(rig.url + "/")
    await page.get_by_label("Admin key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await goto(page, "Playground")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_test_id("served-by")).to_have_text("alpha/alpha-small")
    await expect(page.get_by_test_id("playground-trail")).to_contain_text("alpha 200")


async def test_stop_ends_the_playground_run(rig: Rig, page: Page) -> None:
    rig.alpha.script(Stream(interval=1.0))  # a token a second: still streaming when stopped
    await login(page, rig.url)
    await goto(page, "Playground")
    send = page.get_by_role("button", name="Send")
    await send.click()
    await expect(page.get_by_test_id("playground-output")).not_to_be_empty()
    await page.get_by_role("button", name="Stop").click()
    await expect(page.get_by_role("alert")).to_have_text("Stopped.")
    await expect(send).to_be_enabled()
    await expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    assert await page.get_by_test_id("playground-output").inner_text() != DEFAULT_TEXT
