"""A real SQLite file per test, opened through the same `Store.open` the server uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chain429.storage.store import Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "429chain.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(str(db_path))
    try:
        yield opened
    finally:
        await opened.close()
