"""Swapping a config into the running proxy, and the one locked path that edits the file."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from aiohttp import web

from chain429.config.load import ConfigError, LoadedConfig, api_reference_problem
from chain429.config.reload import ConfigWatcher
from chain429.config.save import (
    ConfigDocument,
    FileChanged,
    content_hash,
    read_config,
    validate_text,
    write_atomic,
)
from chain429.config.schema import Settings
from chain429.config.secret_hosts import first_new_destination
from chain429.errors import ProxyError
from chain429.http.from_settings import (
    caps_for,
    key_checks,
    routes_for,
    timeouts_for,
)
from chain429.http.state import AppState
from chain429.tasks import Tasks

logger = logging.getLogger("chain429.config")

T = TypeVar("T")
# An edit made from a file that changed before it was saved is made again on the new text;
# a file rewritten this many times in a row (a script?) gets a 409 instead.
EDIT_ATTEMPTS = 3

# Settings the running proxy picks up at once; any other setting is saved but is read only at
# start-up (listen address, CORS, body limit, connection pool, database, log format).
LIVE_SETTINGS = frozenset(
    {
        "api_keys",
        "admin_keys",
        "default_chain",
        "unknown_model",
        "log_level",
        "log_content",
        "request_timeout_ms",
        "first_byte_timeout_ms",
        "stream_idle_timeout_ms",
        "deadline_ms",
        "stream_timeout_ms",
        "max_response_bytes",
        "cooldown_default_ms",
        "cooldown_max_ms",
        "breaker_threshold",
        "breaker_cooldown_ms",
        "normalize_responses",
        "user_agent",
    }
)


@dataclass(slots=True)
class Edited(Generic[T]):
    """What an edit returned, the config now served, and settings that await a restart."""

    result: T
    loaded: LoadedConfig
    restart_required: list[str] = field(default_factory=list)


def apply_config(state: AppState, loaded: LoadedConfig, file_hash: str | None) -> list[str]:
    """Serve `loaded` from now on; returns the changed settings that need a restart.

    Everything is built first; then the new `Runtime` snapshot replaces the old one in one
    assignment, with no await in between, so a request sees either the old config or the new
    one, never a mix. A request already walking a chain keeps the chain and entries it
    resolved. Tracker state is keyed by `provider/model`, so entries that did not change keep
    their cooldowns and counts.
    """
    config = loaded.config
    settings = config.settings
    old = state.runtime
    keys, admin_keys = key_checks(settings)
    runtime = dataclasses.replace(
        old,
        config=config,
        routes=routes_for(loaded),
        keys=keys,
        admin_keys=admin_keys,
        disabled=dict(loaded.disabled_providers),
        env_refs=dict(loaded.env_refs),
        config_hash=file_hash,
        loaded_at=time.time(),
    )
    restart = restart_required(old.settings, settings)

    state.walker.timeouts = timeouts_for(settings)
    state.walker.caps = caps_for(settings)
    state.walker.normalize = settings.normalize_responses
    state.tracker.configure(state.tracker.policy.with_settings(settings))
    state.runtime = runtime
    state.config_error = None
    if state.on_secrets is not None:
        state.on_secrets(config.secrets())

    if settings.log_level != old.settings.log_level:
        logging.getLogger("chain429").setLevel(settings.log_level.upper())
    if restart:
        logger.warning("settings saved but used only after a restart: %s", ", ".join(restart))
    return restart


def restart_required(old: Settings, new: Settings) -> list[str]:
    """Changed settings that the running proxy cannot pick up."""
    return [
        name
        for name in type(new).model_fields
        if name not in LIVE_SETTINGS and getattr(old, name) != getattr(new, name)
    ]


async def edit_config(state: AppState, change: Callable[[ConfigDocument], T]) -> Edited[T]:
    """Apply `change` to the config file, then to the runtime; or, on any error, to neither.

    The file is re-read under the lock, so concurrent edits (and edits made by hand) are
    never lost. The edited text is validated by the normal loader before anything is written,
    and the runtime changes only after the file is safely on disk. The edit runs as its own
    task: a client that disconnects halfway cannot leave the file and the runtime disagreeing.
    """
    path = state.config_path
    if path is None:
        raise ProxyError(
            409,
            "This proxy was not started from a config file, so its config cannot be edited.",
            code="config_not_editable",
        )
    task = asyncio.ensure_future(_edit(state, path, change))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])  # finish the edit, then let the cancellation through
        if not task.cancelled():
            task.exception()  # retrieved: the client that asked has gone
        raise


async def _edit(state: AppState, path: Path, change: Callable[[ConfigDocument], T]) -> Edited[T]:
    env = os.environ if state.config_env is None else state.config_env
    async with state.config_lock:
        for _ in range(EDIT_ATTEMPTS):
            text, file_hash = await asyncio.to_thread(read_config, path)
            # Parse, change, dump and validate take a while on a big file: off the event loop.
            result, new_text, loaded = await asyncio.to_thread(
                _changed, text, change, env, str(path)
            )
            loaded.path = path
            _refuse_lockout(state, loaded)
            _refuse_new_references(state, loaded)
            _refuse_new_destinations(state, loaded)
            if new_text == text and file_hash == state.config_hash:
                return Edited(result, loaded)  # nothing changed, and the runtime already has it
            try:
                digest = await asyncio.to_thread(write_atomic, path, new_text, file_hash)
            except FileChanged:
                # Written by someone else since it was read (a hand edit): do it again on theirs.
                logger.info("config %s changed during an edit; applying the edit again", path)
                continue
            restart = apply_config(state, loaded, digest)
            break
        else:
            raise ProxyError(
                409,
                "The edit was not saved: the config file kept changing while it was being "
                "saved. Try again.",
                code="config_changed",
            )
    logger.info(
        "config saved to %s: %d providers, %d chains",
        path,
        len(loaded.config.providers),
        len(loaded.config.chains),
    )
    return Edited(result, loaded, restart)


def _changed(
    text: str, change: Callable[[ConfigDocument], T], env: Mapping[str, str], source: str
) -> tuple[T, str, LoadedConfig]:
    """`change` applied to the config `text`: what it returned, the new text, and its check."""
    document = ConfigDocument(text)
    result = change(document)
    new_text = document.dump()
    return result, new_text, validate_text(new_text, env, source)


def _refuse_new_references(state: AppState, loaded: LoadedConfig) -> None:
    """`${VAR}` written through the API: only in api_key, only key-like variables (a 400).

    References already in the file stay, even when an edit moves them (a deleted provider
    renumbers the ones after it): they were written by hand.
    """
    before = {(_field_of(p), text) for p, text in state.env_refs.items()}
    for display, text in loaded.env_refs.items():
        if state.env_refs.get(display) == text or (_field_of(display), text) in before:
            continue
        problem = api_reference_problem(display, text)
        if problem:
            raise ProxyError(
                400,
                f"The edit was not saved: {problem}.",
                code="env_reference_refused",
                param=display,
            )


def _refuse_new_destinations(state: AppState, loaded: LoadedConfig) -> None:
    """A `${VAR}` goes through the API only where it went before, or to the official host
    of its provider's type (a 400): see config/secret_hosts.py."""
    ref = first_new_destination((state.config, state.env_refs), (loaded.config, loaded.env_refs))
    if ref is None:
        return
    name, port = ref.host
    host = name if port is None else f"{name}:{port}"
    raise ProxyError(
        400,
        f"The edit was not saved: {ref.display}: ${{{ref.variable}}} would be sent to {host}, "
        "where this config does not send it: write the key itself there, not a ${VAR} "
        "reference (or edit the file by hand).",
        code="env_reference_refused",
        param=ref.display,
    )


def _field_of(display: str) -> str:
    return display.rsplit(".", 1)[-1]


def _refuse_lockout(state: AppState, loaded: LoadedConfig) -> None:
    """An edit must not leave a keyed proxy (or its admin API) open to anyone."""
    problem = lockout(state, loaded)
    if problem:
        raise ProxyError(409, f"The edit was not saved: {problem}", code="would_remove_keys")


def lockout(state: AppState, loaded: LoadedConfig) -> str | None:
    """Why `loaded` would open a proxy that now requires keys, or None."""
    settings = loaded.config.settings
    admin = settings.admin_keys if settings.admin_keys is not None else settings.api_keys
    if not state.keys.open and not settings.api_keys:
        return (
            "settings.api_keys would be empty, opening the proxy to anyone; a running proxy "
            "keeps its keys (restart it to run without keys)."
        )
    if not state.admin_keys.open and not admin:
        return (
            "there would be no admin keys, opening the admin API to anyone; keep a key in "
            "settings.admin_keys or settings.api_keys."
        )
    return None


def config_status(state: AppState) -> dict[str, Any]:
    """Where the served config came from, when it was loaded, and why a newer one was not."""
    return {
        "path": str(state.config_path) if state.config_path else None,
        "loaded_at": datetime.fromtimestamp(state.loaded_at, UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        "error": state.config_error,
    }


def watch_config(
    app: web.Application, state: AppState, loaded: LoadedConfig, env: Mapping[str, str] | None
) -> None:
    """Remember where the config came from, and reload it while the app runs if it changes."""
    file_hash = None
    if loaded.path is not None:
        with contextlib.suppress(OSError):
            file_hash = content_hash(loaded.path.read_bytes())
    state.runtime = dataclasses.replace(
        state.runtime,
        config_path=loaded.path,
        config_env=env,
        env_refs=dict(loaded.env_refs),
        config_hash=file_hash,
    )
    if loaded.path is None:
        return

    def report(error: str | None) -> None:
        state.config_error = error

    watcher = ConfigWatcher(
        loaded.path,
        env=env,
        lock=state.config_lock,
        served_hash=lambda: state.config_hash,
        apply=lambda new, digest: _apply_reloaded(state, new, digest),
        report=report,
    )

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        tasks = Tasks()
        tasks.start(watcher.run(), "config-reload")
        yield
        await tasks.close()

    app.cleanup_ctx.append(lifetime)


def _apply_reloaded(state: AppState, loaded: LoadedConfig, file_hash: str) -> None:
    problem = lockout(state, loaded)
    if problem:
        raise ConfigError([problem], str(loaded.path))
    apply_config(state, loaded, file_hash)
