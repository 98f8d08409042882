"""Each storage test gets a blank database: a SQLite file, or a new Postgres database."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from chain429.storage.store import Store

# The live Postgres on loopback (trust auth); CI sets the same, or points this elsewhere.
POSTGRES_URL = os.environ.get("CHAIN429_TEST_POSTGRES_URL")
POSTGRES_CANDIDATES = (
    [POSTGRES_URL]
    if POSTGRES_URL
    else [
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgresql://root@127.0.0.1:5432/test",
    ]
)


@asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A uniquely named database, dropped afterwards; skips the test if Postgres is down."""
    import asyncpg

    admin, admin_url, errors = None, "", []
    for admin_url in POSTGRES_CANDIDATES:
        try:
            admin = await asyncpg.connect(admin_url, timeout=3)
            break
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            errors.append(f"{admin_url}: {exc}")
    if admin is None:
        pytest.skip(f"Postgres is unreachable ({'; '.join(errors)})")
    name = f"t429_{secrets.token_hex(6)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        parts = urlsplit(admin_url)
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "data" / "429chain.db")
        return
    async with fresh_postgres() as url:
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()
