"""Anthropic Messages requests -> OpenAI chat requests: every field the brief maps, and the 400s."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

from chain429.dialects.anthropic import to_chat, wants_thinking
from chain429.errors import ProxyError


def body(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    base.update(fields)
    return base


def messages(*turns: dict[str, Any], **fields: Any) -> list[dict[str, Any]]:
    chat: list[dict[str, Any]] = to_chat(body(messages=list(turns), **fields))["messages"]
    return chat


def rejects(request: dict[str, Any], param: str) -> ProxyError:
    with pytest.raises(ProxyError) as caught:
        to_chat(request)
    assert caught.value.status == 400
    assert caught.value.param == param
    assert param in caught.value.message  # the message names the field too
    return caught.value


def test_minimal_request() -> None:
    assert to_chat(body()) == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 256,
    }


def test_system_string_comes_first() -> None:
    assert messages({"role": "user", "content": "Hi"}, system="Be brief.")[0] == {
        "role": "system",
        "content": "Be brief.",
    }


def test_system_text_blocks_are_joined_and_cache_control_ignored() -> None:
    system = [
        {"type": "text", "text": "You are a CLI.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be brief."},
    ]
    assert messages({"role": "user", "content": "Hi"}, system=system)[0] == {
        "role": "system",
        "content": "You are a CLI.\n\nBe brief.",
    }


def test_empty_system_sends_no_system_message() -> None:
    assert messages({"role": "user", "content": "Hi"}, system="") == [
        {"role": "user", "content": "Hi"}
    ]


def test_user_text_blocks_are_flattened_to_a_string() -> None:
    turn = {
        "role": "user",
        "content": [
            {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "two"},
        ],
    }
    assert messages(turn) == [{"role": "user", "content": "one\n\ntwo"}]


def test_images_become_image_url_parts() -> None:
    turn = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What are these?"},
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
            },
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        ],
    }
    assert messages(turn) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What are these?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        }
    ]


def test_assistant_tool_use_becomes_tool_calls_with_compact_arguments() -> None:
    turn = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Oslo", "n": [1, 2]},
            },
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
        ],
    }
    assert messages({"role": "user", "content": "Weather?"}, turn)[1] == {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Oslo","n":[1,2]}'},
            },
            {
                "id": "toolu_2",
                "type": "function",
                "function": {"name": "get_time", "arguments": "{}"},
            },
        ],
    }


def test_assistant_with_only_tool_use_has_null_content() -> None:
    turn = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}],
    }
    assert messages({"role": "user", "content": "List"}, turn)[1]["content"] is None


def test_assistant_string_content_passes() -> None:
    assert messages({"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"})[
        1
    ] == {
        "role": "assistant",
        "content": "Hello",
    }


def test_assistant_with_only_thinking_is_dropped() -> None:
    turn = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
        ],
    }
    assert messages({"role": "user", "content": "Hi"}, turn) == [{"role": "user", "content": "Hi"}]


def test_tool_results_come_before_the_users_other_blocks() -> None:
    turn = {
        "role": "user",
        "content": [
            {"type": "text", "text": "Here you go."},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "12°C"},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_2",
                "content": [{"type": "text", "text": "10:00"}, {"type": "text", "text": "CET"}],
            },
        ],
    }
    assert messages(turn) == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "12°C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "10:00\nCET"},
        {"role": "user", "content": "Here you go."},
    ]


def test_tool_result_without_content_and_only_tool_results_sends_no_user_message() -> None:
    turn = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}
    assert messages(turn) == [{"role": "tool", "tool_call_id": "toolu_1", "content": ""}]


def test_tool_result_error_is_prefixed() -> None:
    turn = {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "a",
                "content": "no such file",
                "is_error": True,
            },
            {"type": "tool_result", "tool_use_id": "b", "is_error": True},
        ],
    }
    assert messages(turn) == [
        {"role": "tool", "tool_call_id": "a", "content": "Error: no such file"},
        {"role": "tool", "tool_call_id": "b", "content": "Error"},
    ]


def test_tool_result_images_go_in_a_user_message_after_the_tool_messages() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/shot.png"}}
    turn = {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_9",
                "content": [{"type": "text", "text": "screenshot taken"}, image],
            },
            {"type": "text", "text": "What do you see?"},
        ],
    }
    assert messages(turn) == [
        {"role": "tool", "tool_call_id": "toolu_9", "content": "screenshot taken"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool call toolu_9:"},
                {"type": "image_url", "image_url": {"url": "https://example.com/shot.png"}},
                {"type": "text", "text": "What do you see?"},
            ],
        },
    ]


def test_plain_text_document_becomes_text() -> None:
    turn = {
        "role": "user",
        "content": [
            {
                "type": "document",
                "title": "notes.txt",
                "source": {"type": "text", "media_type": "text/plain", "data": "line 1"},
            },
            {"type": "text", "text": "Summarise."},
        ],
    }
    assert messages(turn) == [{"role": "user", "content": "notes.txt\n\nline 1\n\nSummarise."}]


def test_content_document_becomes_its_parts() -> None:
    source = {"type": "content", "content": [{"type": "text", "text": "chunk"}]}
    turn = {"role": "user", "content": [{"type": "document", "source": source}]}
    assert messages(turn) == [{"role": "user", "content": "chunk"}]


def test_pdf_document_is_rejected() -> None:
    source = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}
    turn = {
        "role": "user",
        "content": [{"type": "text", "text": "x"}, {"type": "document", "source": source}],
    }
    rejects(body(messages=[turn]), "messages.0.content.1.source")


def test_search_result_becomes_text() -> None:
    block = {
        "type": "search_result",
        "source": "https://example.com",
        "title": "Example",
        "content": [{"type": "text", "text": "found it"}],
    }
    assert messages({"role": "user", "content": [block]}) == [
        {"role": "user", "content": "Example (https://example.com)\nfound it"}
    ]


def test_system_role_message_is_accepted() -> None:
    # The SDK's MessageParam allows role "system" among the messages in newer API versions.
    assert messages({"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"})[
        0
    ] == {
        "role": "system",
        "content": "Be terse.",
    }


def test_custom_tools_map_and_server_tools_are_dropped() -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "custom", "name": "ls", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    ]
    assert to_chat(body(tools=tools))["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
        {"type": "function", "function": {"name": "ls", "parameters": {"type": "object"}}},
    ]


def test_only_server_tools_means_no_tools_and_no_tool_choice() -> None:
    chat = to_chat(
        body(
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
        )
    )
    assert "tools" not in chat
    assert "tool_choice" not in chat
    assert "parallel_tool_calls" not in chat


TOOL = {"name": "ls", "input_schema": {"type": "object"}}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "ls"}, {"type": "function", "function": {"name": "ls"}}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    chat = to_chat(body(tools=[TOOL], tool_choice=choice))
    assert chat["tool_choice"] == expected
    assert "parallel_tool_calls" not in chat


def test_disable_parallel_tool_use() -> None:
    chat = to_chat(
        body(tools=[TOOL], tool_choice={"type": "auto", "disable_parallel_tool_use": True})
    )
    assert chat["parallel_tool_calls"] is False


def test_sampling_and_stop_and_user() -> None:
    chat = to_chat(
        body(
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop_sequences=["\n\nHuman:"],
            metadata={"user_id": "u-123"},
            thinking={"type": "enabled", "budget_tokens": 2048},
        )
    )
    assert chat == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\nHuman:"],
        "user": "u-123",
    }


def test_stream_asks_for_usage() -> None:
    chat = to_chat(body(stream=True))
    assert chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}
    assert "stream" not in to_chat(body(stream=False))


def test_output_format_becomes_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat = to_chat(body(output_config={"format": {"type": "json_schema", "schema": schema}}))
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }


def test_the_sdk_request_shape_translates() -> None:
    """A body typed with the SDK's own params, as its client would send it."""
    request: MessageCreateParamsNonStreaming = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "What's 2+2? Use the tool."},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "calc", "input": {"x": "2+2"}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "4"}],
            },
        ],
        "tools": [{"name": "calc", "input_schema": {"type": "object"}}],
    }
    assert [m["role"] for m in to_chat(dict(request))["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
    ]


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, 0, -5, "100", 1.5, True])
def test_max_tokens_must_be_a_positive_int(value: Any) -> None:
    request = body(max_tokens=value)
    if value is None:
        del request["max_tokens"]
    rejects(request, "max_tokens")


@pytest.mark.parametrize("value", [None, [], "Hi", {}])
def test_messages_must_be_a_non_empty_list(value: Any) -> None:
    rejects(body(messages=value), "messages")


def test_model_is_required() -> None:
    request = body()
    del request["model"]
    rejects(request, "model")


def test_role_must_be_user_or_assistant() -> None:
    rejects(body(messages=[{"role": "tool", "content": "x"}]), "messages.0.role")


def test_content_must_be_string_or_list() -> None:
    rejects(body(messages=[{"role": "user", "content": 5}]), "messages.0.content")


def test_unknown_block_type_names_its_path() -> None:
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "hologram"}]},
    ]
    error = rejects(body(messages=turns), "messages.2.content.1.type")
    assert "hologram" in error.message


def test_block_without_type_is_rejected() -> None:
    rejects(
        body(messages=[{"role": "user", "content": [{"text": "a"}]}]), "messages.0.content.0.type"
    )


@pytest.mark.parametrize(
    ("role", "block"),
    [
        ("user", {"type": "tool_use", "id": "t", "name": "n", "input": {}}),
        ("assistant", {"type": "tool_result", "tool_use_id": "t"}),
        ("assistant", {"type": "image", "source": {"type": "url", "url": "https://x"}}),
        ("assistant", {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}),
    ],
)
def test_blocks_in_the_wrong_role_are_rejected(role: str, block: dict[str, Any]) -> None:
    rejects(body(messages=[{"role": role, "content": [block]}]), "messages.0.content.0.type")


def test_file_image_source_is_rejected() -> None:
    block = {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
    rejects(
        body(messages=[{"role": "user", "content": [block]}]), "messages.0.content.0.source.type"
    )


def test_text_block_needs_text() -> None:
    rejects(
        body(messages=[{"role": "user", "content": [{"type": "text", "text": 3}]}]),
        "messages.0.content.0.text",
    )


def test_tool_use_input_must_be_an_object() -> None:
    block = {"type": "tool_use", "id": "t", "name": "n", "input": "[]"}
    rejects(
        body(messages=[{"role": "assistant", "content": [block]}]), "messages.0.content.0.input"
    )


def test_tool_result_needs_its_id() -> None:
    rejects(
        body(messages=[{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]),
        "messages.0.content.0.tool_use_id",
    )


def test_tool_result_inner_block_path() -> None:
    block = {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "tool_reference"}]}
    rejects(
        body(messages=[{"role": "user", "content": [block]}]), "messages.0.content.0.content.0.type"
    )


def test_tool_needs_input_schema() -> None:
    rejects(body(tools=[{"name": "ls"}]), "tools.0.input_schema")


def test_unknown_tool_choice() -> None:
    rejects(body(tools=[TOOL], tool_choice={"type": "maybe"}), "tool_choice.type")


def test_stop_sequences_must_be_strings() -> None:
    rejects(body(stop_sequences="STOP"), "stop_sequences")


def test_temperature_must_be_a_number() -> None:
    rejects(body(temperature="hot"), "temperature")


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        (None, False),
        ({"type": "enabled", "budget_tokens": 2048}, True),
        ({"type": "adaptive"}, True),
        ({"type": "disabled"}, False),
        ({"type": "enabled", "budget_tokens": 2048, "display": "omitted"}, False),
        ("enabled", False),
    ],
)
def test_wants_thinking(thinking: Any, expected: bool) -> None:
    assert wants_thinking(body(thinking=thinking)) is expected
