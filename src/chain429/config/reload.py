"""Hot reload: watch the config file; serve each valid new version, keep the old one on errors.

The watcher knows nothing of the server: it is handed what to call with a new config, and
where to report a broken one. Edits the management API writes are already being served;
their hash matches `served_hash()`, so they are not loaded a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from chain429.config.load import (
    ConfigError,
    LoadedConfig,
    parse_config,
    require_chains,
    too_large,
)
from chain429.config.save import content_hash

logger = logging.getLogger("chain429.config")

POLL_INTERVAL_S = 1.0
# A file changed this recently is hashed on every poll: a coarse mtime (1-2 s on some file
# systems) could hide a second same-size edit within the same tick.
_RECENT_S = 3.0
_SETTLE_S = 0.2  # a file changed more recently than this is read once it stops changing

Signature = tuple[int, int, int]  # mtime_ns, size, inode


class ConfigWatcher:
    """Polls one config file's mtime, size and hash; loads it again when its content changes."""

    def __init__(
        self,
        path: Path,
        *,
        env: Mapping[str, str] | None,
        lock: asyncio.Lock,
        served_hash: Callable[[], str | None],
        apply: Callable[[LoadedConfig, str], object],  # raises ConfigError to refuse
        report: Callable[[str | None], None],
        interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self.path = path
        self.env = env
        self.lock = lock  # the lock API edits hold: a half-done edit is never read
        self.served_hash = served_hash
        self.apply = apply
        self.report = report  # an error to show, or None once the file is fine again
        self.interval_s = interval_s
        self._signature: Signature | None = None
        self._rejected: str | None = None  # hash of the invalid content already reported

    async def run(self) -> None:
        """Poll until cancelled; a failing check is logged and retried, never fatal."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except Exception:
                logger.exception("config reload check failed for %s", self.path)

    async def check(self) -> bool:
        """Look at the file once; True if a new config was loaded and applied."""
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            self._signature = None
            self._reject("missing", f"cannot read {self.path}: {exc.strerror}")
            return False
        signature = _signature(stat)
        age = time.time() - stat.st_mtime
        if signature == self._signature and age > _RECENT_S:
            return False
        if age < _SETTLE_S:
            # An editor may be halfway through writing (truncate, then write): look again.
            await asyncio.sleep(_SETTLE_S)
            with contextlib.suppress(OSError):
                if _signature(os.stat(self.path)) != signature:
                    return False  # still changing; the next poll reads it
        async with self.lock:
            return await self._load(signature)

    async def _load(self, signature: Signature) -> bool:
        try:
            data = await asyncio.to_thread(self.path.read_bytes)
        except OSError as exc:
            self._reject("missing", f"cannot read {self.path}: {exc.strerror}")
            return False
        self._signature = signature
        digest = content_hash(data)
        if digest == self.served_hash():
            if self._rejected is not None:
                logger.info("config %s is back to the version being served", self.path)
                self._rejected = None
                self.report(None)
            return False
        if digest == self._rejected:
            return False
        try:
            # Parsing and validating take a while on a big file: off the event loop.
            loaded = await asyncio.to_thread(self._parse, data)
            self.apply(loaded, digest)  # may refuse, with a ConfigError saying why
        except UnicodeDecodeError:
            self._reject(digest, f"config {self.path}: not UTF-8 text")
            return False
        except ConfigError as err:
            self._reject(digest, str(err), "; ".join(err.problems))
            return False
        self._rejected = None
        config = loaded.config
        logger.info(
            "config reloaded from %s: %d providers, %d chains",
            self.path,
            len(config.providers),
            len(config.chains),
        )
        for warning in loaded.warnings:
            logger.warning("config: %s", warning)
        return True

    def _parse(self, data: bytes) -> LoadedConfig:
        if problem := too_large(len(data)):
            raise ConfigError([problem], str(self.path))
        text = data.decode("utf-8")
        if not text.strip():
            # Never meant: a half-written file, or one emptied by mistake.
            raise ConfigError(["the file is empty"], str(self.path))
        loaded = parse_config(
            text, os.environ if self.env is None else self.env, source=str(self.path)
        )
        require_chains(loaded, str(self.path))
        loaded.path = self.path
        return loaded

    def _reject(self, digest: str, message: str, summary: str | None = None) -> None:
        """Keep serving the previous config; say why once per bad version, not every poll."""
        if digest == self._rejected:
            return
        self._rejected = digest
        logger.error("%s\nStill serving the previous config.", message)
        self.report(summary or message)


def _signature(stat: os.stat_result) -> Signature:
    return stat.st_mtime_ns, stat.st_size, stat.st_ino
