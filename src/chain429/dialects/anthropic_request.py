"""Anthropic Messages API request bodies -> OpenAI chat completion request bodies.

What has no chat equivalent, and what we do with it:

- Server tools (any tool whose `type` is set and is not "custom": web_search_*, bash_*,
  text_editor_*, code_execution_*, ...) are dropped: Anthropic runs those itself, and no chat
  provider can. If no tools remain there is no `tools` key (and no `tool_choice`).
- `thinking` and `redacted_thinking` blocks in the history are dropped: their signatures only
  mean something to Anthropic. `thinking` itself is not sent upstream (`wants_thinking` tells
  the answer translators whether to show the upstream's reasoning).
- `top_k`, `cache_control`, `container`, `service_tier`, `output_config.effort` and a tool's
  `strict` are dropped: chat has no portable equivalent.
- A `tool_result` with `is_error: true` gets its text prefixed with "Error: " (just "Error"
  when it has none), so the model sees the call failed; chat tool messages have no flag.
- Images inside a `tool_result` cannot go in a chat tool message, so they go in the user
  message that follows the tool messages, after a line naming the tool call they came from.
- Text blocks of one message are joined with a blank line; a tool result's with a newline.
- Blocks only Anthropic can produce or read (server tool results, PDF documents, Files API
  sources, container uploads) are a 400 that names the block, rather than a silent loss.

Every error is `ProxyError(400, ...)` whose `param` is the path of the offending field, e.g.
`messages.2.content.0.type`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import orjson

from chain429.errors import ProxyError

_TOOL_CHOICES = MappingProxyType({"auto": "auto", "any": "required", "none": "none"})


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages API request body -> an OpenAI chat completions request body."""
    if not isinstance(body, dict):
        raise _invalid(None, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("model", "a model name (string) is required.")
    max_tokens = body.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 1:
        raise _invalid("max_tokens", "a positive integer is required.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages", "a non-empty list of messages is required.")

    chat_messages: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        text = _system_text(system, "system")
        if text:
            chat_messages.append({"role": "system", "content": text})
    for i, message in enumerate(messages):
        _message(message, f"messages.{i}", chat_messages)

    chat: dict[str, Any] = {"model": model, "messages": chat_messages, "max_tokens": max_tokens}
    _sampling(body, chat)
    _tools(body, chat)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream", "must be a boolean.")
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def wants_thinking(body: dict[str, Any]) -> bool:
    """Whether the client asked to see the model's thinking.

    "enabled" and "adaptive" ask for it; `display: "omitted"` asks for the signature alone,
    which means nothing coming from a chat provider, so it counts as not asking.
    """
    thinking = body.get("thinking") if isinstance(body, dict) else None
    if not isinstance(thinking, dict):
        return False
    return thinking.get("type") in ("enabled", "adaptive") and thinking.get("display") != "omitted"


def _message(message: Any, where: str, out: list[dict[str, Any]]) -> None:
    if not isinstance(message, dict):
        raise _invalid(where, "each message must be an object.")
    role = message.get("role")
    if role not in ("user", "assistant", "system"):  # newer API versions allow system turns
        raise _invalid(f"{where}.role", "must be 'user' or 'assistant'.")
    content = message.get("content")
    if not isinstance(content, (str, list)):
        raise _invalid(f"{where}.content", "a string or a list of content blocks is required.")
    if role == "user":
        _user(content, where, out)
    elif role == "assistant":
        _assistant(content, where, out)
    else:
        out.append({"role": "system", "content": _system_text(content, f"{where}.content")})


def _user(content: str | list[Any], where: str, out: list[dict[str, Any]]) -> None:
    if isinstance(content, str):
        out.append({"role": "user", "content": content})
        return
    parts: list[dict[str, Any]] = []
    tool_images: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content.{j}"
        kind = _block_type(block, at)
        if kind == "tool_result":
            # Chat wants tool messages right after the assistant's tool_calls, so they go
            # before whatever else this user turn says.
            out.append(_tool_message(block, at, tool_images))
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            found = _input_parts(block, kind, at)
            if found is None:
                raise _unsupported(kind, "a user message", at)
            parts.extend(found)
    parts = tool_images + parts
    if parts:
        out.append({"role": "user", "content": _flatten(parts)})


def _assistant(content: str | list[Any], where: str, out: list[dict[str, Any]]) -> None:
    if isinstance(content, str):
        out.append({"role": "assistant", "content": content})
        return
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content.{j}"
        kind = _block_type(block, at)
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            calls.append(_tool_call(block, at))
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise _unsupported(kind, "an assistant message", at)
    if not texts and not calls:
        return  # e.g. only thinking blocks: nothing a chat model can use
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "\n\n".join(texts) if texts else None,
    }
    if calls:
        message["tool_calls"] = calls
    out.append(message)


def _tool_call(block: dict[str, Any], at: str) -> dict[str, Any]:
    call_id = block.get("id")
    name = block.get("name")
    arguments = block.get("input", {})
    if not isinstance(call_id, str) or not call_id:
        raise _invalid(f"{at}.id", "a tool_use block needs its id.")
    if not isinstance(name, str) or not name:
        raise _invalid(f"{at}.name", "a tool_use block needs its name.")
    if not isinstance(arguments, dict):
        raise _invalid(f"{at}.input", "must be an object.")
    try:
        encoded = orjson.dumps(arguments).decode()
    except TypeError as exc:  # orjson reads 1024 levels deep but writes only 254
        raise _invalid(f"{at}.input", f"cannot be forwarded: {exc}.") from None
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": encoded},
    }


def _tool_message(block: dict[str, Any], at: str, images: list[dict[str, Any]]) -> dict[str, Any]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise _invalid(f"{at}.tool_use_id", "a tool_result block needs it.")
    content = block.get("content")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        pictures: list[dict[str, Any]] = []
        for k, item in enumerate(content):
            where = f"{at}.content.{k}"
            kind = _block_type(item, where)
            parts = _input_parts(item, kind, where)
            if parts is None:
                raise _unsupported(kind, "a tool_result", where)
            for part in parts:
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    pictures.append(part)
        if pictures:
            images.append({"type": "text", "text": f"Images returned by tool call {call_id}:"})
            images.extend(pictures)
    elif content is not None:
        raise _invalid(f"{at}.content", "a string or a list of content blocks is required.")
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _input_parts(block: dict[str, Any], kind: str, at: str) -> list[dict[str, Any]] | None:
    """The chat parts of a block a user may send, or None for a block that is not one."""
    if kind == "text":
        return [{"type": "text", "text": _text(block, at)}]
    if kind == "image":
        return [_image_part(block, at)]
    if kind == "document":
        return _document_parts(block, at)
    if kind == "search_result":
        return [{"type": "text", "text": _search_result_text(block, at)}]
    return None


def _image_part(block: dict[str, Any], at: str) -> dict[str, Any]:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not isinstance(data, str):
            raise _invalid(f"{at}.source", "a base64 image needs media_type and data strings.")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url" and isinstance(source, dict) and isinstance(source.get("url"), str):
        url = source["url"]
    elif kind == "file":
        raise _invalid(
            f"{at}.source.type", "Files API images are not supported here; send base64 or a URL."
        )
    else:
        raise _invalid(f"{at}.source", "an image source of type 'base64' or 'url' is required.")
    return {"type": "image_url", "image_url": {"url": url}}


def _document_parts(block: dict[str, Any], at: str) -> list[dict[str, Any]]:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    title = block.get("title")
    heading = f"{title}\n\n" if isinstance(title, str) and title else ""
    if kind == "text" and isinstance(source, dict) and isinstance(source.get("data"), str):
        return [{"type": "text", "text": heading + source["data"]}]
    if kind == "content" and isinstance(source, dict):
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"type": "text", "text": heading + inner}]
        if isinstance(inner, list):
            parts: list[dict[str, Any]] = [{"type": "text", "text": title}] if heading else []
            for k, item in enumerate(inner):
                where = f"{at}.source.content.{k}"
                item_kind = _block_type(item, where)
                if item_kind == "text":
                    parts.append({"type": "text", "text": _text(item, where)})
                elif item_kind == "image":
                    parts.append(_image_part(item, where))
                else:
                    raise _unsupported(item_kind, "a document", where)
            return parts
    raise _invalid(
        f"{at}.source",
        "only plain-text and content documents are supported here (no PDFs, no Files API).",
    )


def _search_result_text(block: dict[str, Any], at: str) -> str:
    content = block.get("content")
    if not isinstance(content, list):
        raise _invalid(f"{at}.content", "a list of text blocks is required.")
    lines = [f"{block.get('title', '')} ({block.get('source', '')})"]
    lines.extend(_text(item, f"{at}.content.{k}") for k, item in enumerate(content))
    return "\n".join(lines)


def _text(block: dict[str, Any], at: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _invalid(f"{at}.text", "a text block needs a string text.")
    return text


def _system_text(system: Any, where: str) -> str:
    if isinstance(system, str):
        return system
    if not isinstance(system, list):
        raise _invalid(where, "a string or a list of text blocks is required.")
    texts = []
    for k, block in enumerate(system):
        at = f"{where}.{k}"
        kind = _block_type(block, at)
        if kind != "text":
            raise _unsupported(kind, "the system prompt", at)
        texts.append(_text(block, at))
    return "\n\n".join(texts)


def _block_type(block: Any, at: str) -> str:
    if not isinstance(block, dict):
        raise _invalid(at, "each content block must be an object.")
    kind = block.get("type")
    if not isinstance(kind, str):
        raise _invalid(f"{at}.type", "each content block needs a type.")
    return kind


def _flatten(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """All-text content as one string: every chat provider reads that, not all read parts."""
    if all(part["type"] == "text" for part in parts):
        return "\n\n".join(part["text"] for part in parts)
    return parts


def _sampling(body: dict[str, Any], chat: dict[str, Any]) -> None:
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _invalid(key, "must be a number.")
        chat[key] = value
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _invalid("stop_sequences", "must be a list of strings.")
        if stop:
            chat["stop"] = stop
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    output = body.get("output_config")
    fmt = output.get("format") if isinstance(output, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise _invalid("output_config.format.schema", "a JSON schema object is required.")
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema},
        }


def _tools(body: dict[str, Any], chat: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _invalid("tools", "must be a list.")
    functions: list[dict[str, Any]] = []
    for k, tool in enumerate(tools):
        at = f"tools.{k}"
        if not isinstance(tool, dict):
            raise _invalid(at, "each tool must be an object.")
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool: only Anthropic can run it
        name = tool.get("name")
        schema = tool.get("input_schema")
        if not isinstance(name, str) or not name:
            raise _invalid(f"{at}.name", "a tool needs a name.")
        if not isinstance(schema, dict):
            raise _invalid(f"{at}.input_schema", "a JSON schema object is required.")
        function: dict[str, Any] = {"name": name}
        description = tool.get("description")
        if isinstance(description, str):
            function["description"] = description
        function["parameters"] = schema
        functions.append({"type": "function", "function": function})
    choice = _tool_choice(body.get("tool_choice"))
    if not functions:
        return
    chat["tools"] = functions
    if choice is not None:
        chat["tool_choice"], parallel = choice
        if not parallel:
            chat["parallel_tool_calls"] = False


def _tool_choice(choice: Any) -> tuple[str | dict[str, Any], bool] | None:
    """The chat tool_choice and whether parallel calls stay allowed."""
    if choice is None:
        return None
    if not isinstance(choice, dict):
        raise _invalid("tool_choice", "must be an object.")
    kind = choice.get("type")
    parallel = choice.get("disable_parallel_tool_use") is not True
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise _invalid("tool_choice.name", "the tool's name is required.")
        return {"type": "function", "function": {"name": name}}, parallel
    if isinstance(kind, str) and kind in _TOOL_CHOICES:
        return _TOOL_CHOICES[kind], parallel
    raise _invalid("tool_choice.type", "must be 'auto', 'any', 'tool' or 'none'.")


def _unsupported(kind: str, place: str, at: str) -> ProxyError:
    return _invalid(
        f"{at}.type", f"content blocks of type {kind!r} are not supported in {place} here."
    )


def _invalid(param: str | None, problem: str) -> ProxyError:
    """A 400 whose message starts with the path of the field it is about."""
    return ProxyError(400, f"{param}: {problem}" if param else problem, param=param)
