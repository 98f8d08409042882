"""Logging set-up: human-readable or JSON lines, with every known secret masked."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable

import orjson

from chain429.redact import mask_secret

logger = logging.getLogger("chain429")


class RedactSecrets(logging.Filter):
    """A last line of defence: no configured key ever reaches a log line in full.

    Messages, structured fields, tracebacks and stacks are all masked. A key is also looked
    for as `repr` would show it and without surrounding whitespace: a key pasted with a stray
    control character is quoted escaped in exception text (`'sk-…\\x0b'`).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[tuple[str, str]] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Keys added by an edit or a reload are masked from then on too."""
        pairs: dict[str, str] = {}
        for secret in set(secrets):
            if not secret or len(secret) < 8:
                continue
            masked = mask_secret(secret.strip())
            for form in (secret, secret.strip(), repr(secret)[1:-1]):
                if len(form) >= 8:
                    pairs[form] = masked
        # Longest first: a key's escaped form must be replaced before its bare prefix.
        self._secrets = sorted(pairs.items(), key=lambda pair: -len(pair[0]))

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields and self.mask(repr(fields)) != repr(fields):
            record.fields = {
                k: self.mask(v) if isinstance(v, str) else self._mask_value(v)
                for k, v in fields.items()
            }
        self._scrub_exception(record)
        return True

    def _mask_value(self, value: object) -> object:
        text = str(value)
        masked = self.mask(text)
        return value if masked == text else masked

    def _scrub_exception(self, record: logging.LogRecord) -> None:
        """A traceback quotes values too: format it here, masked; formatters print that text."""
        if record.exc_info and not record.exc_text:
            record.exc_text = _formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)

    def mask(self, text: str) -> str:
        """`text` with every known key masked."""
        for secret, masked in self._secrets:
            if secret in text:
                text = text.replace(secret, masked)
        return text


_formatter = logging.Formatter()


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The traceback to print: the filter's masked text when it made one."""
    if record.exc_text:
        return record.exc_text
    if record.exc_info:
        return formatter.formatException(record.exc_info)
    return None


class Throttle:
    """At most one log line per `every_s`; the lines held back are counted into the next one.

    For what strangers can trigger at will (malformed requests): a flood costs one line a period.
    """

    def __init__(
        self,
        log: logging.Logger,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._every_s = every_s
        self._clock = clock
        self._next_at = float("-inf")
        self.suppressed = 0  # held back since the last line written

    def warning(self, msg: str, *args: object) -> None:
        now = self._clock()
        if now < self._next_at:
            self.suppressed += 1
            return
        self._next_at = now + self._every_s
        if self.suppressed:
            msg += " (%d more like this in the last %gs not logged)"
            args = (*args, self.suppressed, self._every_s)
            self.suppressed = 0
        self._log.warning(msg, *args)


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
        exc = _exception_text(self, record)
        if exc:
            line["exc"] = exc
        if record.stack_info:
            line["stack"] = record.stack_info
        return orjson.dumps(line).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        text = f"{stamp} {record.levelname:<7} {record.getMessage()}"
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict) and extra:
            text += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        exc = _exception_text(self, record)
        if exc:
            text += "\n" + exc
        if record.stack_info:
            text += "\n" + record.stack_info
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
