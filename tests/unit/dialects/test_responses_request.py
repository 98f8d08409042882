"""to_chat: a Responses request -> a chat request, and the 400s that name the bad field."""

from __future__ import annotations

from typing import Any

import pytest

from chain429.dialects.responses import to_chat
from chain429.errors import ProxyError

FUNCTION: Any = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]


def bad(body: dict[str, Any]) -> ProxyError:
    with pytest.raises(ProxyError) as caught:
        to_chat(body)
    assert caught.value.status == 400
    assert caught.value.type == "invalid_request_error"
    return caught.value


def test_string_input_is_one_user_message() -> None:
    assert to_chat({"model": "m", "input": "hi"}) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_instructions_come_first_then_history_then_input() -> None:
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    chat = to_chat({"model": "m", "instructions": "be brief", "input": "c"}, history)
    assert chat["messages"] == [
        {"role": "system", "content": "be brief"},
        *history,
        {"role": "user", "content": "c"},
    ]


def test_message_items_and_roles() -> None:
    chat = to_chat(
        {
            "input": [
                {"role": "developer", "content": "rules"},
                {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": "s"}],
                },
                {"role": "user", "content": "q"},
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "a", "annotations": []}],
                },
            ]
        }
    )
    assert chat["messages"] == [
        {"role": "system", "content": "rules"},
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]


def test_parts_with_an_image() -> None:
    content = [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
        {"type": "input_image", "image_url": "https://x/y.png"},
    ]
    chat = to_chat({"input": [{"role": "user", "content": content}]})
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
    ]


def test_refusal_part_in_history_becomes_text() -> None:
    item = {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}
    assert to_chat({"input": [item]})["messages"] == [{"role": "assistant", "content": "no"}]


def test_function_calls_merge_into_the_assistant_message_before_them() -> None:
    chat = to_chat(
        {
            "input": [
                {"role": "user", "content": "weather in Paris and Rome?"},
                {"role": "assistant", "content": "Checking."},
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "w",
                    "arguments": '{"c":"Paris"}',
                },
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "status": "completed",
                    "call_id": "c2",
                    "name": "w",
                    "arguments": '{"c":"Rome"}',
                },
                {"type": "function_call_output", "call_id": "c1", "output": "18C"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [
                        {"type": "input_text", "text": "2"},
                        {"type": "input_text", "text": "1C"},
                    ],
                },
            ]
        }
    )
    assert chat["messages"] == [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "w", "arguments": '{"c":"Paris"}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "w", "arguments": '{"c":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "tool", "tool_call_id": "c2", "content": "21C"},
    ]


def test_a_function_call_after_a_user_message_starts_an_assistant_message() -> None:
    chat = to_chat(
        {
            "input": [
                {"role": "user", "content": "q"},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call_output", "call_id": "c1", "output": "r"},
                {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
            ]
        }
    )
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert chat["messages"][1]["content"] is None
    assert chat["messages"][3]["tool_calls"][0]["id"] == "c2"


def test_tools_tool_choice_and_text_format() -> None:
    schema = {"type": "object", "properties": {}}
    chat = to_chat(
        {
            "input": "x",
            "tools": [
                {
                    "type": "function",
                    "name": "f",
                    "description": "d",
                    "parameters": schema,
                    "strict": True,
                },
                {"type": "function", "name": "g"},
            ],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {
                "format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}
            },
        }
    )
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "description": "d", "parameters": schema, "strict": True},
        },
        {"type": "function", "function": {"name": "g"}},
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema, "strict": True},
    }


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_options_pass(choice: str) -> None:
    chat = to_chat({"input": "x", "tools": FUNCTION, "tool_choice": choice})
    assert chat["tool_choice"] == choice


def test_text_formats() -> None:
    assert "response_format" not in to_chat({"input": "x", "text": {"format": {"type": "text"}}})
    chat = to_chat({"input": "x", "text": {"format": {"type": "json_object"}}})
    assert chat["response_format"] == {"type": "json_object"}
    assert "response_format" not in to_chat({"input": "x", "text": {"verbosity": "low"}})


def test_settings_pass_and_server_state_fields_do_not() -> None:
    chat = to_chat(
        {
            "model": "m",
            "input": "x",
            "max_output_tokens": 50,
            "temperature": 0.2,
            "top_p": 0.9,
            "tools": FUNCTION,
            "parallel_tool_calls": False,
            "user": "u1",
            "stream": True,
            "metadata": {"k": "v"},
            "store": True,
            "previous_response_id": "resp_1",
            "truncation": "auto",
            "reasoning": {"effort": "low"},
            "include": ["reasoning.encrypted_content"],
            "service_tier": "auto",
            "prompt_cache_key": "p",
            "safety_identifier": "s",
            "background": False,
        }
    )
    assert chat == {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
        "parallel_tool_calls": False,
        "user": "u1",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_stream_false_is_not_sent() -> None:
    assert "stream" not in to_chat({"input": "x", "stream": False})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": 5}, "input"),
        ({"input": ["hi"]}, "input.0"),
        (
            {"input": [{"role": "user", "content": "a"}, {"type": "item_reference", "id": "x"}]},
            "input.1.type",
        ),
        ({"input": [{"type": "computer_call_output", "call_id": "c"}]}, "input.0.type"),
        ({"input": [{"role": "tool", "content": "a"}]}, "input.0.role"),
        ({"input": [{"role": "user"}]}, "input.0.content"),
        (
            {
                "input": [
                    {"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}
                ]
            },
            "input.0.content.0.file_id",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "detail": "auto"}]}]},
            "input.0.content.0.image_url",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input.0.content.0.type",
        ),
        (
            {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "u"}]}]},
            "input.0.content.0.type",
        ),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input.0.call_id"),
        ({"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]}, "input.0.name"),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
            "input.0.arguments",
        ),
        ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "input.0.output"),
        ({"input": [{"type": "function_call_output", "output": "r"}]}, "input.0.call_id"),
        (
            {
                "input": [
                    {
                        "type": "function_call_output",
                        "call_id": "c",
                        "output": [{"type": "input_image"}],
                    }
                ]
            },
            "input.0.output.0.type",
        ),
        ({"input": "x", "instructions": ["a"]}, "instructions"),
        ({"input": "x", "tools": ["web_search"]}, "tools.0"),
        ({"input": "x", "tools": [{"type": "function"}]}, "tools.0.name"),
        ({"input": "x", "tools": FUNCTION, "tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"input": "x", "tools": FUNCTION, "tool_choice": "sometimes"}, "tool_choice"),
        ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
        (
            {"input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}},
            "text.format.name",
        ),
        (
            {"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}},
            "text.format.schema",
        ),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": "x", "prompt": {"id": "pmpt_1"}}, "prompt"),
    ],
)
def test_problems_are_400s_naming_the_field(body: dict[str, Any], param: str) -> None:
    assert bad(body).param == param


def test_tools_no_chat_provider_runs_are_dropped() -> None:
    # What Codex CLI sends: hosted web search and a namespace of sub-agent tools beside its own.
    chat = to_chat(
        {
            "input": "x",
            "tools": [
                {"type": "web_search", "external_web_access": False},
                *FUNCTION,
                {"type": "namespace", "name": "multi_agent_v1", "tools": FUNCTION},
                {"type": "custom", "name": "apply_patch"},
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        }
    )
    assert [t["function"]["name"] for t in chat["tools"]] == ["f"]
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is True


def test_with_no_tool_left_tool_choice_goes_too() -> None:
    chat = to_chat(
        {
            "input": "x",
            "tools": [{"type": "web_search"}],
            "tool_choice": "auto",
            "parallel_tool_calls": False,
        }
    )
    assert "tools" not in chat and "tool_choice" not in chat
    assert "parallel_tool_calls" not in chat
