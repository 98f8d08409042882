"""The demo in the browser, as a newcomer meets it: its own admin key (not a proxy key) logs
in, the quota panel loads, and the playground answers with that key."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.test_cli import child_env, free_port
from tests.e2e.test_demo import read_banner
from tests.ui.conftest import goto, login


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A running `429chain demo`: its URL and the admin key it printed."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chain429", "demo", "-p", str(port), "--no-traffic"],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        text = "\n".join(read_banner(proc, time.monotonic() + 60))
        found = re.search(r"admin key:\s+(\S+)", text)
        assert found is not None, text
        yield f"http://127.0.0.1:{port}", found.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


async def test_the_demo_admin_key_runs_the_whole_ui(demo: tuple[str, str], page: Page) -> None:
    url, admin_key = demo
    await login(page, url, admin_key)
    # The quota panel asks /v1/ratelimits with the admin key: a 401 there logged the user out.
    await expect(page.get_by_test_id("quota-chain").first).to_be_visible()
    await expect(page.get_by_text("You were logged out")).to_have_count(0)
    await goto(page, "Playground")
    await page.get_by_role("textbox", name=re.compile(r"^Prompt")).fill("Hello!")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_test_id("served-by")).not_to_be_empty(timeout=30_000)
    await expect(page.get_by_role("heading", name="Playground")).to_be_visible()
