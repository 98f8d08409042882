"""Builders for Anthropic Messages API bodies, as a provider that speaks it natively sends them:
messages, their event streams and error envelopes (shapes from Anthropic's API reference)."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from chain429.dialects.anthropic import error_type

MESSAGE_ID = "msg_mock"


def anthropic_usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message(
    text: str = "Hello!",
    model: str = "mock-model",
    usage: tuple[int, int] = (10, 5),
    *,
    content: list[dict[str, Any]] | None = None,
    stop_reason: str = "end_turn",
) -> dict[str, Any]:
    """A whole Message: one text block (or `content` as given)."""
    return {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content if content is not None else [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": anthropic_usage(*usage),
    }


def message_events(
    text: str = "Hello!", model: str = "mock-model", usage: tuple[int, int] = (10, 5)
) -> list[dict[str, Any]]:
    """A Message streamed as Anthropic streams it: start, ping, one text block word by word,
    the stop reason with the output count, stop."""
    start = message("", model, (usage[0], 1), content=[])
    start["stop_reason"] = None
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}
        for word in re.findall(r"\s*\S+", text)
    ]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage[1]},
        },
        {"type": "message_stop"},
    ]
    return events


def anthropic_error(
    status: int, message: str | None = None, type: str | None = None
) -> dict[str, Any]:
    """Anthropic's error envelope; the blanks are filled in from the status."""
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "Overloaded" if status == 529 else f"Error {status}"
    if type is None:
        type = error_type(status)
    return {"type": "error", "error": {"type": type, "message": message}, "request_id": "req_mock"}
