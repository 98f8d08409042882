"""Builders for OpenAI-shaped bodies: completions, stream chunks and error envelopes."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from chain429 import errors

CREATED = 1_700_000_000  # a fixed timestamp keeps bodies byte-stable across runs
COMPLETION_ID = "chatcmpl-mock"

Usage = tuple[int, int] | dict[str, Any]


def usage_dict(usage: Usage) -> dict[str, Any]:
    if isinstance(usage, dict):
        return usage
    prompt, completion = usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(
    content: str | None = "Hello!",
    model: str = "mock-model",
    usage: Usage | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    reasoning_content: str | None = None,
    *,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """A `chat.completion` body; `finish_reason` defaults to tool_calls or stop."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    if reasoning_content is not None:
        message["reasoning_content"] = reasoning_content
    body: dict[str, Any] = {
        "id": COMPLETION_ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage_dict(usage)
    return body


def chunk(
    content: str | None = None,
    model: str = "mock-model",
    finish_reason: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    reasoning_content: str | None = None,
    role: str | None = None,
    usage: Usage | None = None,
    choices: bool = True,
) -> dict[str, Any]:
    """A `chat.completion.chunk`; `choices=False` gives the `choices: []` shape of a usage chunk."""
    body: dict[str, Any] = {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [],
    }
    if choices:
        delta: dict[str, Any] = {}
        if role is not None:
            delta["role"] = role
        if content is not None:
            delta["content"] = content
        if reasoning_content is not None:
            delta["reasoning_content"] = reasoning_content
        if tool_calls is not None:
            delta["tool_calls"] = tool_calls
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    if usage is not None:
        body["usage"] = usage_dict(usage)
    return body


def usage_chunk(prompt: int, completion: int, model: str = "mock-model") -> dict[str, Any]:
    """The extra chunk `stream_options.include_usage` asks for: no choices, only usage."""
    return chunk(model=model, usage=(prompt, completion), choices=False)


_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def error_body(
    status: int,
    message: str | None = None,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """An OpenAI error envelope whose blanks are filled in from the status."""
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = f"Error {status}"
    if type is None:
        type = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return errors.error_body(message, type=type, code=code or _CODES.get(status), param=param)


def estimate_tokens(text: str) -> int:
    """The usual four-characters-a-token guess, never below one for non-empty text."""
    return (len(text) + 3) // 4


def prompt_tokens(payload: dict[str, Any]) -> int:
    """Estimate a request's prompt size from the text of its messages."""
    chars = 0
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                for part in content:
                    text = part.get("text") if isinstance(part, dict) else None
                    if isinstance(text, str):
                        chars += len(text)
    return (chars + 3) // 4
