"""A Responses API request -> an OpenAI chat completions request (the stateless subset).

Not sent upstream, and not refused either: `metadata`, `store`, `previous_response_id` (the
caller resolves it into `history`), `truncation`, `reasoning`, `include`, `service_tier`,
`prompt_cache_key`, `safety_identifier`, `text.verbosity`, `max_tool_calls`, `top_logprobs`,
`stream_options` and any field this module does not know. Tools other than functions are
dropped (see `_tools`), and with no tool left, `tool_choice` and `parallel_tool_calls` go too
(chat APIs refuse them without tools). Refused with a 400, because answering without them
would be wrong rather than merely plainer: `background: true`, `conversation`, `prompt`
(stored prompt templates), `file_id` images, files.
"""

from __future__ import annotations

from typing import Any

from chain429.errors import ProxyError

Message = dict[str, Any]

# Request fields that name server-side state or machinery this proxy does not have.
_REFUSED_FIELDS = {
    "conversation": "conversations are not supported by this proxy; use previous_response_id",
    "prompt": "stored prompt templates are not supported by this proxy",
}
_TOOL_CHOICE_OPTIONS = ("auto", "none", "required")


def to_chat(body: dict[str, Any], history: list[Message] | None = None) -> dict[str, Any]:
    """A Responses API request body -> an OpenAI chat completions request body.

    `history`: the chat messages of the conversation named by previous_response_id (stored by
    the caller), placed before this request's input (after this request's instructions).
    """
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.", None)
    for name, why in _REFUSED_FIELDS.items():
        if body.get(name) is not None:
            raise _bad(f"`{name}`: {why}.", name)
    if body.get("background"):
        raise _bad("`background: true` is not supported by this proxy.", "background")

    messages: list[Message] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _bad("`instructions` must be a string.", "instructions")
        messages.append({"role": "system", "content": instructions})
    if history:
        messages.extend(history)
    messages.extend(_input_messages(body.get("input")))

    chat: dict[str, Any] = {}
    if "model" in body:
        chat["model"] = body["model"]
    chat["messages"] = messages
    chat_tools = _tools(body["tools"]) if body.get("tools") is not None else []
    if chat_tools:
        chat["tools"] = chat_tools
        if body.get("tool_choice") is not None:
            chat["tool_choice"] = _tool_choice(body["tool_choice"])
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    text = body.get("text")
    if text is not None:
        response_format = _response_format(text)
        if response_format is not None:
            chat["response_format"] = response_format
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "user"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stream"):
        chat["stream"] = True
        # The usage chunk is what the final `response.completed` reports.
        chat["stream_options"] = {"include_usage": True}
    return chat


def _input_messages(items: Any) -> list[Message]:
    if isinstance(items, str):
        if not items:
            raise _bad("`input` must not be empty.", "input")
        return [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise _bad("`input` is required: a string or a non-empty list of items.", "input")
    messages: list[Message] = []
    for index, item in enumerate(items):
        where = f"input.{index}"
        if not isinstance(item, dict):
            raise _bad(f"`{where}` must be an object.", where)
        kind = item.get("type")
        if kind is None or kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            _add_tool_call(messages, item, where)
        elif kind == "function_call_output":
            messages.append(_tool_result(item, where))
        elif kind == "reasoning":
            continue  # the upstream chat API has no way to take reasoning back in
        else:
            raise _bad(
                f"`{where}.type`: input items of type {kind!r} are not supported by this proxy.",
                f"{where}.type",
            )
    return messages


def _message(item: dict[str, Any], where: str) -> Message:
    role = item.get("role")
    if role not in ("user", "system", "developer", "assistant"):
        raise _bad(
            f"`{where}.role` must be one of user, system, developer, assistant.", f"{where}.role"
        )
    content = item.get("content")
    if isinstance(content, str):
        chat_content: Any = content
    elif isinstance(content, list):
        chat_content = _content(content, role, f"{where}.content")
    else:
        raise _bad(f"`{where}.content` must be a string or a list of parts.", f"{where}.content")
    return {"role": "system" if role == "developer" else role, "content": chat_content}


def _content(parts: list[Any], role: str, where: str) -> Any:
    """Content parts -> chat content: one text part collapses to a plain string."""
    chat_parts: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        at = f"{where}.{index}"
        if not isinstance(part, dict):
            raise _bad(f"`{at}` must be an object.", at)
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            chat_parts.append({"type": "text", "text": _string(part, "text", at)})
        elif kind == "refusal":
            # Chat has no refusal part for input; the words themselves are the useful history.
            chat_parts.append({"type": "text", "text": _string(part, "refusal", at)})
        elif kind == "input_image":
            if role != "user":
                raise _bad(f"`{at}`: images are only accepted in user messages.", f"{at}.type")
            chat_parts.append(_image(part, at))
        else:
            raise _bad(
                f"`{at}.type`: content parts of type {kind!r} are not supported by this proxy.",
                f"{at}.type",
            )
    if len(chat_parts) == 1 and chat_parts[0]["type"] == "text":
        return chat_parts[0]["text"]
    return chat_parts


def _image(part: dict[str, Any], at: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        if part.get("file_id") is not None:
            raise _bad(
                f"`{at}.file_id`: images by file_id are not supported by this proxy; "
                "send image_url (an https or data: URL).",
                f"{at}.file_id",
            )
        raise _bad(f"`{at}.image_url` is required.", f"{at}.image_url")
    image: dict[str, Any] = {"url": url}
    if part.get("detail") is not None:
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _add_tool_call(messages: list[Message], item: dict[str, Any], where: str) -> None:
    """A function_call item joins the assistant message just before it, or starts one."""
    arguments = item.get("arguments")
    if not isinstance(arguments, str):
        raise _bad(f"`{where}.arguments` must be a string.", f"{where}.arguments")
    call = {
        "id": _string(item, "call_id", where),
        "type": "function",
        "function": {"name": _string(item, "name", where), "arguments": arguments},
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _tool_result(item: dict[str, Any], where: str) -> Message:
    output = item.get("output")
    if isinstance(output, list):
        texts = []
        for index, part in enumerate(output):
            at = f"{where}.output.{index}"
            if not isinstance(part, dict) or part.get("type") != "input_text":
                raise _bad(
                    f"`{at}`: only input_text parts are supported in a function_call_output.",
                    f"{at}.type",
                )
            texts.append(_string(part, "text", at))
        output = "".join(texts)
    elif not isinstance(output, str):
        raise _bad(
            f"`{where}.output` must be a string or a list of input_text parts.", f"{where}.output"
        )
    return {"role": "tool", "tool_call_id": _string(item, "call_id", where), "content": output}


def _tools(tools: Any) -> list[dict[str, Any]]:
    """Function tools, as chat tools. Every other kind (`web_search`, `file_search`, `mcp`,
    `namespace`, `custom`, …) is dropped, not refused: OpenAI runs those itself and no chat
    provider can, while coding agents (Codex CLI) send some with every request and would get
    nothing done if the whole request were refused."""
    if not isinstance(tools, list):
        raise _bad("`tools` must be a list.", "tools")
    chat_tools = []
    for index, tool in enumerate(tools):
        at = f"tools.{index}"
        if not isinstance(tool, dict):
            raise _bad(f"`{at}` must be an object.", at)
        if tool.get("type") != "function":
            continue
        function: dict[str, Any] = {"name": _string(tool, "name", at)}
        for name in ("description", "parameters", "strict"):
            if tool.get(name) is not None:
                function[name] = tool[name]
        chat_tools.append({"type": "function", "function": function})
    return chat_tools


def _tool_choice(choice: Any) -> Any:
    if choice in _TOOL_CHOICE_OPTIONS:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": _string(choice, "name", "tool_choice")}}
    raise _bad(
        "`tool_choice` must be auto, none, required or {type: function, name}; "
        "other choices are not supported by this proxy.",
        "tool_choice",
    )


def _response_format(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, dict):
        raise _bad("`text` must be an object.", "text")
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        assert isinstance(fmt, dict)
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise _bad("`text.format.schema` must be an object.", "text.format.schema")
        spec: dict[str, Any] = {"name": _string(fmt, "name", "text.format"), "schema": schema}
        for name in ("strict", "description"):
            if fmt.get(name) is not None:
                spec[name] = fmt[name]
        return {"type": "json_schema", "json_schema": spec}
    raise _bad("`text.format.type` must be text, json_object or json_schema.", "text.format.type")


def _string(obj: dict[str, Any], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise _bad(f"`{where}.{name}` is required and must be a string.", f"{where}.{name}")
    return value


def _bad(message: str, param: str | None) -> ProxyError:
    return ProxyError(400, message, param=param)
