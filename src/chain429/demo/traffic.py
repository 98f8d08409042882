"""Gentle demo traffic: a request every couple of seconds and now and then a small burst.

Enough that within a minute the Groq-like budget runs out (a cooldown), the OpenRouter-like
daily cap is hit, the chain falls to its third entry, and the first recovers afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import aiohttp

from chain429.tasks import Tasks

PROMPTS = (
    "Explain rate limits in one sentence.",
    "Summarize the plot of Hamlet in two sentences.",
    "How do I reverse a list in Python?",
    "What does a mitochondrion do?",
    "Why would a proxy fall through to another provider?",
    "Give me a haiku about free tiers.",
)


class Traffic:
    """Sends chat completions to the proxy until cancelled; counts what came back."""

    def __init__(
        self,
        base_url: str,
        key: str,
        rng: random.Random,
        *,
        interval_s: float = 2.0,
        burst_every: int = 5,
        burst: int = 3,
        max_in_flight: int = 4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.rng = rng
        self.interval_s = interval_s
        self.burst_every = burst_every
        self.burst = burst
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.sent = 0
        self.answered: dict[int, int] = {}  # status -> count

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        timeout = aiohttp.ClientTimeout(total=120)
        tasks = Tasks()
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            try:
                await self._until_up(session)
                tick = 0
                while True:
                    tick += 1
                    for _ in range(self.burst if tick % self.burst_every == 0 else 1):
                        if self.in_flight < self.max_in_flight:
                            self.in_flight += 1
                            tasks.start(self._one(session), "demo-traffic")
                    await asyncio.sleep(self.interval_s * self.rng.uniform(0.6, 1.4))
            finally:
                await tasks.close()

    async def _until_up(self, session: aiohttp.ClientSession) -> None:
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{self.base_url}/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)

    async def _one(self, session: aiohttp.ClientSession) -> None:
        self.sent += 1
        stream = self.rng.random() < 0.7
        body: dict[str, Any] = {
            "model": "default",
            "messages": [{"role": "user", "content": self.rng.choice(PROMPTS)}],
            "max_tokens": 200,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        status = 0  # no answer at all
        try:
            async with session.post(f"{self.base_url}/v1/chat/completions", json=body) as resp:
                status = resp.status
                await resp.read()  # the whole stream, at the pace it comes
        except (aiohttp.ClientError, OSError, TimeoutError):
            pass  # the proxy stopping, or a stream cut: the demo just carries on
        finally:
            self.in_flight -= 1
            self.answered[status] = self.answered.get(status, 0) + 1
