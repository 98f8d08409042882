"""Logging set-up: human-readable or JSON lines, with every known secret masked."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable

import orjson

from chain429.redact import mask_secret

logger = logging.getLogger("chain429")


class RedactSecrets(logging.Filter):
    """A last line of defence: no configured key ever reaches a log line in full."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[tuple[str, str]] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Keys added by an edit or a reload are masked from then on too."""
        self._secrets = [(s, mask_secret(s)) for s in set(secrets) if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        fields = getattr(record, "fields", None)
        extra = repr(fields) if fields else ""
        for secret, masked in self._secrets:
            if secret in message:
                message = message.replace(secret, masked)
                record.msg, record.args = message, None
            if secret in extra and isinstance(fields, dict):
                fields = {
                    k: str(v).replace(secret, masked) if secret in str(v) else v
                    for k, v in fields.items()
                }
                record.fields = fields
                extra = repr(fields)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            line.update(extra)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        text = f"{stamp} {record.levelname:<7} {record.getMessage()}"
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict) and extra:
            text += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(level: str, fmt: str, secrets: Iterable[str] = ()) -> RedactSecrets:
    """Log to stderr; returns the secrets filter, so later key changes can reach it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    redactor = RedactSecrets(secrets)
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logger.setLevel("WARNING" if level.lower() == "warn" else level.upper())
    return redactor
