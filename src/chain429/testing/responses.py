"""Builders for OpenAI-shaped bodies: completions, stream chunks and error envelopes."""

from __future__ import annotations

import base64
import struct
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
    """Estimate a request's prompt size from the text of its messages (or prompt, or input)."""
    chars = 0
    for name in ("prompt", "input"):
        value = payload.get(name)
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, list):
            chars += sum(len(item) for item in value if isinstance(item, str))
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


def embeddings(
    inputs: object, model: str = "mock-model", encoding_format: str | None = None, dims: int = 4
) -> dict[str, Any]:
    """An embeddings list: one small deterministic vector per input (base64 float32 if asked)."""
    many = isinstance(inputs, list) and inputs and not isinstance(inputs[0], int)
    items = inputs if isinstance(inputs, list) and many else [inputs]
    data = []
    for index, item in enumerate(items):
        seed = sum(str(item).encode()) % 97
        vector = [round((seed + d) / 100, 4) for d in range(dims)]
        value: Any = vector
        if encoding_format == "base64":
            value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = max(1, sum(estimate_tokens(str(item)) for item in items))
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def text_completion(
    text: str = "Hello!", model: str = "mock-model", usage: Usage | None = None
) -> dict[str, Any]:
    """A legacy `text_completion` body."""
    body: dict[str, Any] = {
        "id": "cmpl-mock",
        "object": "text_completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage_dict(usage)
    return body


def text_chunk(
    text: str = "", model: str = "mock-model", finish_reason: str | None = None
) -> dict[str, Any]:
    """One legacy completion stream chunk."""
    return {
        "id": "cmpl-mock",
        "object": "text_completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}],
    }
