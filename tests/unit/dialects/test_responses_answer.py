"""from_chat and conversation: chat completions -> Response objects, and the history that lets
previous_response_id continue a conversation, tool calls included."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import Response
from pydantic import TypeAdapter

from chain429.dialects.responses import conversation, from_chat, new_response_id, to_chat
from tests.unit.dialects.responses_helpers import DONE, call_start, chunk, new_stream, run, text

CHAT_MESSAGES = TypeAdapter[Any](list[ChatCompletionMessageParam])
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]


def answer(message: dict[str, Any], finish: str = "stop", **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "upstream-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        **extra,
    }


def respond(chat: dict[str, Any], request: dict[str, Any], rid: str = "resp_1") -> dict[str, Any]:
    response = from_chat(chat, request, response_id=rid, created_at=123)
    Response.model_validate(response)
    return response


def test_text_answer() -> None:
    request = {"model": "my-chain", "input": "hi", "instructions": "be nice", "temperature": 0.5}
    usage = {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    response = respond(
        answer({"content": "Hello!", "reasoning_content": "thinking"}, usage=usage), request
    )
    assert response["id"] == "resp_1"
    assert response["object"] == "response"
    assert response["created_at"] == 123
    assert response["status"] == "completed"
    assert response["model"] == "my-chain"
    assert response["instructions"] == "be nice"
    assert response["temperature"] == 0.5
    assert response["error"] is None
    assert response["incomplete_details"] is None
    assert response["output"] == [
        {
            "id": "msg_1_0",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello!", "annotations": []}],
        }
    ]
    assert response["usage"] == {
        "input_tokens": 7,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 10,
    }
    assert "output_text" not in response  # an SDK-side property, not part of the wire object
    assert Response.model_validate(response).output_text == "Hello!"


def test_tool_calls_answer() -> None:
    calls = [
        {
            "id": "call_A",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"c":"P"}'},
        },
        {
            "id": "call_B",
            "type": "function",
            "function": {"name": "get_weather", "arguments": {"c": "R"}},
        },
    ]
    response = respond(
        answer({"content": None, "tool_calls": calls}, "tool_calls"),
        {"model": "m", "input": "x", "tools": TOOLS, "tool_choice": "required"},
    )
    assert response["output"] == [
        {
            "id": "fc_1_0",
            "type": "function_call",
            "status": "completed",
            "arguments": '{"c":"P"}',
            "call_id": "call_A",
            "name": "get_weather",
        },
        {
            "id": "fc_1_1",
            "type": "function_call",
            "status": "completed",
            "arguments": '{"c":"R"}',
            "call_id": "call_B",
            "name": "get_weather",
        },
    ]
    assert response["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object"},
            "strict": None,
        }
    ]
    assert response["tool_choice"] == "required"
    assert response["usage"] is None


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_incomplete_answers(finish: str, reason: str) -> None:
    response = respond(answer({"content": "cut"}, finish), {"model": "m", "input": "x"})
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert response["output"][0]["status"] == "incomplete"


def test_refusal_answer() -> None:
    response = respond(
        answer({"content": None, "refusal": "I won't."}), {"model": "m", "input": "x"}
    )
    assert response["output"][0]["content"] == [{"type": "refusal", "refusal": "I won't."}]


def test_an_empty_answer_has_no_output_and_the_model_falls_back() -> None:
    response = respond(answer({"content": ""}), {"input": "x"})
    assert response["output"] == []
    assert response["model"] == "upstream-model"


def test_echo_fields() -> None:
    fmt = {"type": "json_schema", "name": "o", "schema": {"type": "object"}, "strict": True}
    request = {
        "model": "m",
        "input": "x",
        "max_output_tokens": 9,
        "top_p": 0.5,
        "parallel_tool_calls": False,
        "previous_response_id": "resp_0",
        "metadata": {"k": "v"},
        "text": {"format": fmt},
        "truncation": "auto",
        "store": False,
        "user": "u",
    }
    response = respond(answer({"content": "{}"}), request)
    for name in ("max_output_tokens", "top_p", "parallel_tool_calls", "previous_response_id"):
        assert response[name] == request[name]
    for name in ("metadata", "text", "truncation", "store", "user"):
        assert response[name] == request[name]


def test_new_response_ids_are_fresh() -> None:
    first, second = new_response_id(), new_response_id()
    assert first.startswith("resp_")
    assert len(first) == 5 + 48
    assert first != second


def assert_valid_chat(messages: list[dict[str, Any]]) -> None:
    """The SDK's chat message types accept them, and each tool result answers a call before it."""
    CHAT_MESSAGES.validate_python(messages)
    open_calls: set[str] = set()
    for message in messages:
        if message["role"] == "assistant":
            open_calls = {call["id"] for call in message.get("tool_calls", ())}
        elif message["role"] == "tool":
            assert message["tool_call_id"] in open_calls
            open_calls.discard(message["tool_call_id"])
        else:
            assert not open_calls, "a message came between tool calls and their results"


def test_a_tool_round_trip_across_previous_response_id() -> None:
    # Turn 1: the model calls a tool.
    turn1 = {
        "model": "m",
        "instructions": "use tools",
        "input": "weather in Paris?",
        "tools": TOOLS,
    }
    chat1 = to_chat(turn1)
    call = {
        "id": "call_A",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"c":"Paris"}'},
    }
    response1 = respond(
        answer({"content": None, "tool_calls": [call]}, "tool_calls"), turn1, "resp_1"
    )
    history1 = conversation(chat1, response1)
    assert history1 == [
        {"role": "user", "content": "weather in Paris?"},  # the instructions are not carried over
        {"role": "assistant", "content": None, "tool_calls": [call]},
    ]

    # Turn 2: the client sends the tool's result, continuing turn 1.
    turn2 = {
        "model": "m",
        "instructions": "answer briefly",
        "previous_response_id": "resp_1",
        "input": [{"type": "function_call_output", "call_id": "call_A", "output": "18C, sunny"}],
        "tools": TOOLS,
    }
    chat2 = to_chat(turn2, history1)
    assert chat2["messages"] == [
        {"role": "system", "content": "answer briefly"},
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_A", "content": "18C, sunny"},
    ]
    assert_valid_chat(chat2["messages"])
    response2 = respond(answer({"content": "18C and sunny."}), turn2, "resp_2")

    # Turn 3: a plain follow-up sees the whole exchange, in order.
    history2 = conversation(chat2, response2)
    chat3 = to_chat(
        {"model": "m", "previous_response_id": "resp_2", "input": "and Rome?"}, history2
    )
    assert [m["role"] for m in chat3["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert chat3["messages"][3] == {"role": "assistant", "content": "18C and sunny."}
    assert_valid_chat(chat3["messages"])


def test_the_client_resending_output_items_as_input_round_trips() -> None:
    # The stateless pattern: the client appends response.output to its own input list.
    call = {
        "id": "call_A",
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"},
    }
    response = respond(
        answer({"content": "Let me look.", "tool_calls": [call]}, "tool_calls"),
        {"model": "m", "input": "x"},
    )
    items = [
        {"role": "user", "content": "x"},
        *response["output"],
        {"type": "function_call_output", "call_id": "call_A", "output": "ok"},
    ]
    messages = to_chat({"model": "m", "input": items})["messages"]
    assert messages == [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_A", "content": "ok"},
    ]
    assert_valid_chat(messages)


def test_conversation_of_a_text_answer_without_instructions() -> None:
    chat = to_chat(
        {
            "model": "m",
            "input": [{"role": "developer", "content": "d"}, {"role": "user", "content": "q"}],
        }
    )
    response = respond(answer({"content": "a"}), {"model": "m", "input": "q"})
    # a developer message in the input is part of the conversation, unlike instructions
    assert conversation(chat, response) == [
        {"role": "system", "content": "d"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]


def test_conversation_of_an_empty_answer_keeps_the_turn() -> None:
    chat = to_chat({"input": "q"})
    response = respond(answer({"content": ""}), {"input": "q"})
    assert conversation(chat, response)[-1] == {"role": "assistant", "content": ""}


def test_conversation_of_a_streamed_response() -> None:
    request = {"model": "my-chain", "input": "hi", "stream": True, "instructions": "sys"}
    stream = new_stream(instructions="sys")
    run(stream, text("Hmm."), call_start(0, "call_Q", "f", "{}"), chunk({}, "tool_calls"), DONE)
    assert stream.response is not None
    history = conversation(to_chat(request), stream.response)
    assert history == [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "Hmm.",
            "tool_calls": [
                {"id": "call_Q", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
    ]
    assert_valid_chat(history)
