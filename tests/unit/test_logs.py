"""Log masking reaches tracebacks and stacks; the throttle keeps a flood to one line a period."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from chain429.logs import JsonFormatter, RedactSecrets, TextFormatter, Throttle

KEY = "sk-upstream-SECRET-0123456789abcd"
STRAY = KEY + "\x0b"  # a key pasted with a stray control character


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets([STRAY]))
    log = logging.getLogger("chain429.test-logs")
    log.propagate = False
    log.addHandler(handler)
    yield log, stream, handler
    log.removeHandler(handler)


def _raise_with(value: str) -> None:
    # What an HTTP library does with a header value it refuses: quote it in the message.
    raise ValueError(f"Invalid header value {value!r}")


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter(), logging.Formatter()])
def test_a_traceback_quoting_a_key_is_masked(captured, formatter: logging.Formatter) -> None:
    log, stream, handler = captured
    handler.setFormatter(formatter)
    try:
        _raise_with(STRAY)
    except ValueError:
        log.exception("unexpected error serving %s", "POST /v1/chat/completions")
    text = stream.getvalue()
    assert "Traceback" in text or "Traceback" in json.dumps(text)
    assert "ValueError: Invalid header value" in text
    assert KEY not in text
    assert KEY[-12:] not in text
    assert "sk-…abcd" in text


def test_the_message_and_fields_are_masked_in_every_form(captured) -> None:
    log, stream, handler = captured
    handler.setFormatter(TextFormatter())
    log.warning("sent %r and %s", STRAY, KEY, extra={"fields": {"header": repr(STRAY)}})
    text = stream.getvalue()
    assert KEY not in text
    assert "\\x0b" not in text  # the escaped form was replaced whole


def test_throttle_writes_one_line_a_period_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    throttle = Throttle(logging.getLogger("chain429.test-throttle"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="chain429.test-throttle"):
        for _ in range(1000):
            throttle.warning("refused a malformed request from %s", "10.0.0.1")
        now[0] += 10.0
        throttle.warning("refused a malformed request from %s", "10.0.0.2")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "refused a malformed request from 10.0.0.1",
        "refused a malformed request from 10.0.0.2 (999 more like this in the last 10s not logged)",
    ]
