"""OpenAI chat completions -> Anthropic Message objects, and Anthropic's error envelope."""

from __future__ import annotations

import re
from typing import Any

import pytest
from anthropic.types import Message
from anthropic.types.shared import ErrorResponse

from chain429.dialects.anthropic import error_body, error_type, from_chat, new_message_id


def completion(
    message: dict[str, Any], finish: str | None = "stop", usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "llama-3.3-70b",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
    }
    if usage is not None:
        answer["usage"] = usage
    return answer


def translate(answer: dict[str, Any], *, thinking: bool = False) -> dict[str, Any]:
    message = from_chat(answer, model="claude-sonnet-4-5", thinking=thinking, message_id="msg_1")
    Message.model_validate(message)  # the SDK's own type accepts it
    return message


def test_plain_text_answer() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    assert translate(completion({"content": "Hello!"}, usage=usage)) == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def test_missing_usage_counts_zero() -> None:
    usage = translate(completion({"content": "Hi"}))["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (0, 0)


def test_thinking_text_and_tool_calls_in_order() -> None:
    message = {
        "content": "Checking.",
        "reasoning_content": "The user wants weather.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            },
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        ],
    }
    answer = translate(completion(message, "tool_calls"), thinking=True)
    assert answer["content"] == [
        {"type": "thinking", "thinking": "The user wants weather.", "signature": ""},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
    ]
    assert answer["stop_reason"] == "tool_use"


def test_reasoning_is_dropped_unless_thinking_was_asked() -> None:
    answer = translate(completion({"content": "42", "reasoning": "think think"}))
    assert answer["content"] == [{"type": "text", "text": "42"}]


def test_openrouter_reasoning_field_is_read() -> None:
    answer = translate(completion({"content": "42", "reasoning": "think"}), thinking=True)
    assert answer["content"][0] == {"type": "thinking", "thinking": "think", "signature": ""}


def test_empty_content_gives_no_text_block() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
    answer = translate(completion({"content": "", "tool_calls": [call]}, "tool_calls"))
    assert [block["type"] for block in answer["content"]] == ["tool_use"]
    assert translate(completion({"content": None}))["content"] == []


def test_tool_call_without_id_gets_a_toolu_id() -> None:
    call = {"type": "function", "function": {"name": "ls", "arguments": "{}"}}
    block = translate(completion({"content": None, "tool_calls": [call]}, "tool_calls"))["content"][
        0
    ]
    assert re.fullmatch(r"toolu_[0-9a-f]{24}", block["id"])


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ({"a": 1}, {"a": 1}),
        ("", {}),
        ("  ", {}),
        (None, {}),
        ('{"a": 1', {"_raw_arguments": '{"a": 1'}),
        ("[1, 2]", {"_raw_arguments": "[1, 2]"}),
        ('"text"', {"_raw_arguments": '"text"'}),
    ],
)
def test_tool_arguments_become_an_object(arguments: Any, expected: dict[str, Any]) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    block = translate(completion({"content": None, "tool_calls": [call]}, "tool_calls"))["content"][
        0
    ]
    assert block["input"] == expected


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        ("eos", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_finish_reason_map(finish: str | None, expected: str) -> None:
    assert translate(completion({"content": "x"}, finish))["stop_reason"] == expected


def test_tool_calls_with_finish_stop_still_say_tool_use() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
    assert translate(completion({"tool_calls": [call]}, "stop"))["stop_reason"] == "tool_use"
    assert translate(completion({"tool_calls": [call]}, "length"))["stop_reason"] == "max_tokens"


def test_content_parts_are_joined() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert translate(completion({"content": parts}))["content"] == [{"type": "text", "text": "ab"}]


def test_no_choices_is_an_empty_message() -> None:
    answer = translate({"id": "x", "choices": []})
    assert answer["content"] == []
    assert answer["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_type(status: int, expected: str) -> None:
    assert error_type(status) == expected


def test_error_body() -> None:
    body = error_body(429, "All providers are cooling down.")
    assert body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "All providers are cooling down."},
    }
    ErrorResponse.model_validate(body)


def test_new_message_id() -> None:
    first, second = new_message_id(), new_message_id()
    assert re.fullmatch(r"msg_[0-9a-f]{24}", first)
    assert first != second
