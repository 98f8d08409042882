"""The Response object: built from a chat completion, echoed from the request, and kept as chat
history for a follow-up with previous_response_id.

Reasoning the upstream returns (`reasoning_content`) is dropped: a Responses `reasoning` item
would need the encrypted content OpenAI round-trips, and no chat upstream can take it back.
"""

from __future__ import annotations

from typing import Any

import orjson

Message = dict[str, Any]

# finish_reason -> the reason a Response is `incomplete`; any other finish completes it.
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_base(request: dict[str, Any], *, response_id: str, created_at: int) -> dict[str, Any]:
    """The fields every Response carries: its identity and the request's settings echoed.

    Unset sampling settings echo as null rather than OpenAI's defaults: the upstream's own
    defaults applied, and this proxy does not know them.
    """
    text = request.get("text")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": request.get("model") or "",
        "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "store": request.get("store", True),
        "temperature": request.get("temperature"),
        "text": text
        if isinstance(text, dict) and text.get("format")
        else {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": _echo_tools(request.get("tools")),
        "top_p": request.get("top_p"),
        "truncation": request.get("truncation") or "disabled",
        "usage": None,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def _echo_tools(tools: Any) -> list[dict[str, Any]]:
    """The function tools in Responses shape (to_chat has refused any other kind)."""
    if not isinstance(tools, list):
        return []
    echoed = []
    for tool in tools:
        item = {"type": "function", "name": tool.get("name"), "parameters": tool.get("parameters")}
        item["strict"] = tool.get("strict")
        if tool.get("description") is not None:
            item["description"] = tool["description"]
        echoed.append(item)
    return echoed


def finish(response: dict[str, Any], finish_reason: Any, usage: dict[str, Any] | None) -> None:
    """Mark a built Response completed or incomplete, with its usage."""
    reason = INCOMPLETE_REASONS.get(finish_reason) if isinstance(finish_reason, str) else None
    if reason is None:
        response["status"] = "completed"
    else:
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": reason}
    response["usage"] = response_usage(usage)


def response_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat usage -> Responses usage; None when the upstream reported none."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    total = usage.get("total_tokens")
    prompt_details = usage.get("prompt_tokens_details")
    if not isinstance(prompt_details, dict):
        prompt_details = {}
    completion_details = usage.get("completion_tokens_details")
    if not isinstance(completion_details, dict):
        completion_details = {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": _count(prompt_details.get("cached_tokens")),
            # The current Responses schema requires it; chat upstreams rarely report writes.
            "cache_write_tokens": _count(prompt_details.get("cache_write_tokens")),
        },
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": _count(completion_details.get("reasoning_tokens"))
        },
        "total_tokens": total if isinstance(total, int) else prompt + completion,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) else 0


def item_id(kind: str, response_id: str, output_index: int) -> str:
    """An output item's id, derived from its response's: unique, and no randomness per item."""
    return f"{kind}_{response_id.removeprefix('resp_')}_{output_index}"


def message_item(item_id: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": parts,
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def refusal_part(refusal: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": refusal}


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def from_chat(
    answer: dict[str, Any], request: dict[str, Any], *, response_id: str, created_at: int
) -> dict[str, Any]:
    """An OpenAI chat.completion object -> a Response object (echoing the request's fields)."""
    response = response_base(request, response_id=response_id, created_at=created_at)
    if not response["model"] and isinstance(answer.get("model"), str):
        response["model"] = answer["model"]
    choices = answer.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    message = choice.get("message") or {}
    finish_reason = choice.get("finish_reason")
    output: list[dict[str, Any]] = []
    parts = []
    if isinstance(message.get("content"), str) and message["content"]:
        parts.append(text_part(message["content"]))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(refusal_part(message["refusal"]))
    if parts:
        output.append(message_item(item_id("msg", response_id, 0), parts, "completed"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # a few upstreams send the object itself
            arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
        index = len(output)
        call_id = call.get("id") or item_id("call", response_id, index)
        name = function.get("name") or ""
        output.append(
            function_call_item(
                item_id("fc", response_id, index), call_id, name, arguments, "completed"
            )
        )
    finish(response, finish_reason, answer.get("usage"))
    if response["status"] == "incomplete" and output:
        output[-1]["status"] = "incomplete"  # the item the limit cut short
    response["output"] = output
    return response


def conversation(chat_body: dict[str, Any], response: dict[str, Any]) -> list[Message]:
    """The chat messages to store so that a follow-up with previous_response_id continues it:
    the messages sent (without the system/instructions message: per OpenAI, instructions are
    not carried over) plus the assistant message the response produced (text and tool_calls)."""
    messages: list[Message] = list(chat_body.get("messages") or ())
    if response.get("instructions") is not None and messages:
        messages = messages[1:]  # to_chat puts the instructions first, before the history
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for item in response.get("output") or ():
        if item.get("type") == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    texts.append(part["text"])
                elif part.get("type") == "refusal":
                    texts.append(part["refusal"])
        elif item.get("type") == "function_call":
            tool_calls.append(
                {
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]},
                }
            )
    assistant: Message = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        assistant["tool_calls"] = tool_calls
    elif assistant["content"] is None:
        assistant["content"] = ""  # an empty answer is still a turn; chat wants some content
    messages.append(assistant)
    return messages
