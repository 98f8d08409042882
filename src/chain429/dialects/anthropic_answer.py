"""OpenAI chat completions -> Anthropic Messages answers, and Anthropic's error envelope.

Where the two disagree:

- `stop_sequence` is always null: OpenAI reports `finish_reason: "stop"` without saying
  which stop sequence matched, so a stop sequence reads as `end_turn`.
- An answer with tool calls whose finish_reason says "stop" (some providers do) still gets
  `stop_reason: "tool_use"`: Anthropic clients run tools only when told so.
- Tool arguments that are not a JSON object keep their raw text as
  `{"_raw_arguments": "..."}`, so nothing is lost and the client's schema check fails loudly
  (an empty string is `{}`: a call without arguments).
- Thinking blocks carry an empty `signature`: only Anthropic can sign one.
- `usage.input_tokens` is the upstream's prompt_tokens, cached tokens included.
"""

from __future__ import annotations

import secrets
from types import MappingProxyType
from typing import Any

import orjson

from chain429.deep_json import too_deep

_STOP_REASONS = MappingProxyType(
    {
        "stop": "end_turn",
        "length": "max_tokens",
        "tool_calls": "tool_use",
        "function_call": "tool_use",
        "content_filter": "refusal",
    }
)

_ERROR_TYPES = MappingProxyType(
    {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        503: "overloaded_error",
        504: "timeout_error",
        529: "overloaded_error",
    }
)


def from_chat(
    answer: dict[str, Any], *, model: str, thinking: bool, message_id: str
) -> dict[str, Any]:
    """An OpenAI chat.completion object -> an Anthropic Message object."""
    choices = answer.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, dict):
        choice = {}
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}

    content: list[dict[str, Any]] = []
    if thinking:
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = _text(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        if isinstance(call, dict):
            content.append(_tool_use(call))

    usage = answer.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    used_tools = any(block["type"] == "tool_use" for block in content)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason"), used_tools=used_tools),
        "stop_sequence": None,
        "usage": {
            "input_tokens": _count(usage.get("prompt_tokens")),
            "output_tokens": _count(usage.get("completion_tokens")),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def stop_reason(finish_reason: Any, *, used_tools: bool) -> str:
    """Anthropic's stop_reason for an OpenAI finish_reason (None and unknown: end_turn)."""
    reason = "end_turn"
    if isinstance(finish_reason, str):
        reason = _STOP_REASONS.get(finish_reason, "end_turn")
    if used_tools and reason == "end_turn":
        return "tool_use"
    return reason


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's `arguments` as the object Anthropic's `input` must be."""
    if isinstance(arguments, dict):
        return arguments  # a few providers send the object itself
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and not too_deep(arguments, parsed):
        return parsed
    return {"_raw_arguments": arguments}


def chat_usage(usage: Any) -> dict[str, int] | None:
    """An Anthropic `usage` in OpenAI's shape, or None when it carries no counts.

    Anthropic's `input_tokens` leaves out what its prompt cache read or wrote; OpenAI's
    `prompt_tokens` counts the whole prompt, so those are added back.
    """
    if not isinstance(usage, dict):
        return None
    names = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    if not any(name in usage for name in (*names, "output_tokens")):
        return None
    prompt = sum(_count(usage.get(name)) for name in names)
    completion = _count(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status."""
    known = _ERROR_TYPES.get(status)
    if known is not None:
        return known
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def new_tool_use_id() -> str:
    return "toolu_" + secrets.token_hex(12)


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function")
    if not isinstance(function, dict):
        function = {}
    call_id = call.get("id")
    name = function.get("name")
    return {
        "type": "tool_use",
        "id": call_id if isinstance(call_id, str) and call_id else new_tool_use_id(),
        "name": name if isinstance(name, str) else "",
        "input": tool_input(function.get("arguments")),
    }


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # a few providers answer in content parts
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
