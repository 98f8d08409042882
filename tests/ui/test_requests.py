"""The request log page: its filters offer what the server logs, and they filter."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Page, expect

from chain429.vocabulary import RequestOutcome
from tests.ui.conftest import ADMIN_KEY, Rig, goto, logged, login

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def post(rig: Rig, body: bytes) -> int:
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.post(
            rig.url + "/v1/chat/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        await response.read()
        return response.status


async def test_the_outcome_filter_offers_every_logged_outcome_and_filters(
    rig: Rig, page: Page
) -> None:
    assert (
        await post(rig, b'{"model": "fast", "messages": [{"role": "user", "content": "hi"}]}')
        == 200
    )
    assert await post(rig, b"{not json") == 400  # logged as bad_request
    await logged(rig, 2)
    await login(page, rig.url)
    await goto(page, "Requests")
    rows = page.get_by_test_id("log-row")
    await expect(rows).to_have_count(2)

    await page.get_by_role("textbox", name="Outcome").click()
    options = page.get_by_role("option")
    await expect(options.first).to_be_visible()
    offered = {t.replace(" ", "_") for t in await options.all_inner_texts()}
    assert offered == {o.value for o in RequestOutcome}  # `shutdown` too; no `client_error`
    await page.get_by_role("option", name="bad request", exact=True).click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("400 bad request")


async def test_the_status_filter_matches_the_http_status_exactly(rig: Rig, page: Page) -> None:
    assert (
        await post(rig, b'{"model": "fast", "messages": [{"role": "user", "content": "hi"}]}')
        == 200
    )
    assert await post(rig, b"{not json") == 400
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            rig.url + "/v1/chat/completions", json={}, headers={"Authorization": "Bearer sk-nope"}
        ) as r,
    ):
        assert r.status == 401
    await logged(rig, 3)
    await login(page, rig.url)
    await goto(page, "Requests")
    rows = page.get_by_test_id("log-row")
    await expect(rows).to_have_count(3)

    asked: list[str] = []  # the log's queries: a partial status must not be sent at all
    page.on("request", lambda r: asked.append(r.url) if "/v1/stats/requests" in r.url else None)
    status = page.get_by_role("textbox", name="Status")
    hint = page.get_by_text("An HTTP status, e.g. 429")
    await status.fill("4x")  # can never be a status: a hint
    await expect(hint).to_be_visible()
    await expect(rows).to_have_count(3)
    await status.fill("4")  # typing a status: no filter yet, and no hint while it can become one
    await expect(hint).to_be_hidden()
    await status.fill("40")
    await expect(hint).to_be_hidden()
    await expect(rows).to_have_count(3)
    await status.fill("600")  # three digits but no HTTP status
    await expect(hint).to_be_visible()
    await expect(rows).to_have_count(3)
    assert not [url for url in asked if "status=" in url]
    await status.fill("401")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("401 auth failed")
    assert [url for url in asked if "status=401" in url]
    await status.fill("")
    await expect(rows).to_have_count(3)
    await status.click()
    await page.get_by_role("option", name="400", exact=True).click()  # a suggestion
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("400 bad request")
    await expect(page.get_by_text("1 requests")).to_be_visible()
