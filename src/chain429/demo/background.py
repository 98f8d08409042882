"""A thread with its own event loop for the simulated providers and the traffic generator.

The proxy keeps the main thread (it owns the signals and the graceful shutdown), so the
demo's upstreams keep answering while the proxy drains its last streams.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Sequence

from chain429.demo.providers import Simulated, simulated_provider
from chain429.demo.traffic import Traffic
from chain429.tasks import Tasks
from chain429.testing import MockProvider

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class Background:
    """Starts the simulated providers in a daemon thread; `stop()` closes them."""

    def __init__(self, specs: Sequence[Simulated], rng: random.Random) -> None:
        self.specs = specs
        self.rng = rng
        self.urls: dict[str, str] = {}
        self.traffic: Traffic | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._tasks = Tasks()
        self._thread = threading.Thread(target=self._run, name="429chain-demo", daemon=True)

    def start(self) -> dict[str, str]:
        """Start the providers; return their base URLs by provider id."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("the simulated providers did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the simulated providers did not start: {self._error}")
        return dict(self.urls)

    def start_traffic(self, traffic: Traffic) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("start() first")
        self.traffic = traffic
        loop.call_soon_threadsafe(self._tasks.start, traffic.run(), "demo-traffic-generator")

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(STOP_TIMEOUT_S)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        mocks: list[MockProvider] = []
        try:
            for spec in self.specs:
                mock = simulated_provider(spec, self.rng)
                await mock.start()
                mocks.append(mock)
                self.urls[spec.id] = mock.url
        except BaseException as err:  # reported by start(), in the main thread
            self._error = err
        finally:
            self._ready.set()
        try:
            if self._error is None:
                await self._stop.wait()
        finally:
            await self._tasks.close()
            for mock in mocks:
                await mock.close()
