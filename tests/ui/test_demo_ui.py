"""The demo in the browser, as a newcomer meets it: its own admin key (not a proxy key) logs
in, the quota panel loads, and the playground answers with that key."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time

import pytest
from playwright.async_api import Page, expect

from tests.e2e import test_demo
from tests.e2e.test_cli import health_status
from tests.e2e.test_demo import read_banner
from tests.ui.conftest import goto, login

demo = test_demo.demo  # the e2e suite's fixture: a running `429chain demo` and its port


async def test_the_demo_admin_key_runs_the_whole_ui(
    demo: tuple[subprocess.Popen[str], int], page: Page
) -> None:
    proc, port = demo
    banner = "\n".join(read_banner(proc, time.monotonic() + 60))
    admin_key = re.search(r"admin key:\s+(\S+)", banner)
    assert admin_key is not None, banner
    for _ in range(600):  # the banner comes out just before the server listens
        if health_status("127.0.0.1", port) is not None:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the demo never answered /health")
    await login(page, f"http://127.0.0.1:{port}", admin_key.group(1))
    # The quota panel asks /v1/ratelimits with the admin key: a 401 there logged the user out.
    await expect(page.get_by_test_id("quota-chain").first).to_be_visible()
    await expect(page.get_by_text("You were logged out")).to_have_count(0)
    await goto(page, "Playground")
    await page.get_by_role("textbox", name=re.compile(r"^Prompt")).fill("Hello!")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_test_id("served-by")).not_to_be_empty(timeout=30_000)
    await expect(page.get_by_role("heading", name="Playground")).to_be_visible()
