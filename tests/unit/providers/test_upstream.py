"""The pooled aiohttp client against real loopback servers: its caps count decoded bytes."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from chain429.engine.upstream import ResponseTooLarge
from chain429.providers.presets import get_preset
from chain429.providers.upstream import AiohttpUpstream
from chain429.testing import Reply
from chain429.testing.mock_provider import MockProvider
from chain429.vocabulary import Entry

pytestmark = pytest.mark.asyncio

CAP = 1_000_000
# Four times the cap once decoded, a few KB on the wire: its Content-Length is well under CAP.
BOMB = gzip.compress(b'{"choices":[{"message":{"content":"' + b"x" * 4 * CAP + b'"}}]}')
GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


@pytest.fixture
async def upstream() -> AsyncIterator[AiohttpUpstream]:
    client = AiohttpUpstream()
    await client.start()
    yield client
    await client.close()


def entry_for(mock: MockProvider) -> Entry:
    return Entry("p", "m", get_preset("openai-compatible"), mock.url, {}, 30.0)


async def test_a_compressed_answer_is_capped_by_its_decoded_size(upstream) -> None:
    assert len(BOMB) < CAP // 10
    async with MockProvider(default=Reply(200, BOMB, GZIP)) as mock:
        response = await upstream.open(entry_for(mock), "/chat/completions", b"{}")
        try:
            with pytest.raises(ResponseTooLarge):
                await response.read(CAP)
        finally:
            response.close()


async def test_a_compressed_error_body_is_truncated_at_its_decoded_cap(upstream) -> None:
    async with MockProvider(default=Reply(500, BOMB, GZIP)) as mock:
        response = await upstream.open(entry_for(mock), "/chat/completions", b"{}")
        try:
            body = await response.read(64 * 1024, truncate=True)
        finally:
            response.close()
    assert len(body) == 64 * 1024
    assert body.startswith(b'{"choices"')  # decoded, not the gzip bytes


async def test_a_compressed_answer_within_the_cap_is_read_decoded(upstream) -> None:
    small = b'{"choices":[{"message":{"content":"hi"}}]}'
    async with MockProvider(default=Reply(200, gzip.compress(small), GZIP)) as mock:
        response = await upstream.open(entry_for(mock), "/chat/completions", b"{}")
        try:
            assert await response.read(len(small)) == small
        finally:
            response.close()


async def models_server(status: int) -> web.AppRunner:
    """A provider whose GET /models answers `status` with the compressed bomb."""

    async def models(request: web.Request) -> web.Response:
        return web.Response(status=status, body=BOMB, headers=GZIP)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def test_a_get_reads_under_the_same_caps(upstream) -> None:
    """The admin model list: a 2xx past `limit` is refused, an error body is cut short."""
    for status in (200, 500):
        runner = await models_server(status)
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/models"
        try:
            if status == 200:
                with pytest.raises(ResponseTooLarge):
                    await upstream.get(url, {}, limit=CAP, error_limit=1000)
            else:
                got, body = await upstream.get(url, {}, limit=CAP, error_limit=1000)
                assert (got, len(body)) == (500, 1000)
        finally:
            await runner.cleanup()
