"""The dashboard: the range picker asks the server for the range's buckets, and the provider and
chain tables show what was served."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import aiohttp
from playwright.async_api import Page, Request, expect

from tests.ui.conftest import ADMIN_KEY, Rig, logged, login


def timeseries(bucket: str):  # type: ignore[no-untyped-def]
    def wanted(request: Request) -> bool:
        url = urlsplit(request.url)
        return url.path == "/v1/stats/timeseries" and parse_qs(url.query)["bucket"] == [bucket]

    return wanted


async def test_the_range_picker_and_the_provider_and_chain_tables(rig: Rig, page: Page) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        # Streamed, alpha serves; whole, alpha's stream is refused and beta serves.
        for stream in (True, False):
            body = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}
            async with http.post(
                rig.url + "/v1/chat/completions", json={**body, "stream": stream}
            ) as response:
                assert response.status == 200
                await response.read()
    await logged(rig, 2)

    async with page.expect_request(timeseries("hour")):  # 24 h, by the hour, at first
        await login(page, rig.url)
    providers = page.get_by_test_id("provider-row")
    await expect(providers).to_have_count(2)
    alpha, beta = providers.filter(has_text="alpha"), providers.filter(has_text="beta")
    await expect(alpha).to_contain_text("100.0%")  # of what it served
    await expect(beta).to_contain_text("100.0%")
    # Health, from the calls of the last 5 minutes: alpha failed one of its two.
    await expect(alpha).to_contain_text("failing")
    await expect(alpha).to_contain_text("50.0%")
    await expect(beta).to_contain_text("healthy")
    chains = page.get_by_test_id("chain-row")
    await expect(chains).to_have_count(1)
    await expect(chains.first).to_contain_text("fast")
    await expect(chains.first).to_contain_text("50.0%")  # fallback rate: one of two

    async with page.expect_request(timeseries("minute")) as asked:
        await page.get_by_text("1 h", exact=True).click()
    since = int(parse_qs(urlsplit((await asked.value).url).query)["since"][0])
    assert abs(since - (time.time() - 3600)) < 300  # the last hour
    # The tables read the same range: both requests are in it.
    await expect(providers).to_have_count(2)
    await expect(chains.first).to_contain_text("fast")
