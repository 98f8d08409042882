"""Streams and whole answers, each into the other: how the cache stores and replays a stream.

A stream that ended cleanly is folded into the answer a non-stream request would have got
(`assemble`), so one cached answer serves both kinds of request. A streaming request that
hits the cache gets that answer back as chunks shaped like a real stream: the role first,
the text a word at a time, tool calls, the finish reason, usage if asked, then `[DONE]`
(`synthesize`).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from chain429.providers.sse import SSEParser

DONE = b"data: [DONE]\n\n"
_WORDS = re.compile(r"\s*\S+\s*")


def assemble(operation: str, stream: bytes, usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """The whole answer the stream's chunks add up to; None if they do not parse as one."""
    parser = SSEParser()
    events = [*parser.feed(stream), *parser.close()]
    head: dict[str, Any] | None = None
    choices: dict[int, _Choice] = {}
    for event in events:
        if event.data is None or event.is_done:
            continue
        try:
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(chunk, dict) or chunk.get("error"):
            return None
        if head is None and chunk.get("choices"):
            head = chunk
        for part in chunk.get("choices") or ():
            if isinstance(part, dict):
                index = part.get("index")
                choices.setdefault(index if isinstance(index, int) else 0, _Choice()).add(part)
    if head is None:
        return None
    chat = operation == "chat"
    answer: dict[str, Any] = {
        "id": head.get("id"),
        "object": "chat.completion" if chat else "text_completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "choices": [
            choices[i].message(i) if chat else choices[i].text_choice(i) for i in sorted(choices)
        ],
    }
    if head.get("system_fingerprint") is not None:
        answer["system_fingerprint"] = head["system_fingerprint"]
    if usage is not None:
        answer["usage"] = usage
    return answer


class _Choice:
    """One choice's deltas, gathered."""

    __slots__ = ("finish", "reasoning", "role", "text", "tools")

    def __init__(self) -> None:
        self.role = "assistant"
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None

    def add(self, part: dict[str, Any]) -> None:
        if isinstance(part.get("finish_reason"), str):
            self.finish = part["finish_reason"]
        if isinstance(part.get("text"), str):  # legacy completions
            self.text.append(part["text"])
        delta = part.get("delta")
        if not isinstance(delta, dict):
            return
        if isinstance(delta.get("role"), str):
            self.role = delta["role"]
        if isinstance(delta.get("content"), str):
            self.text.append(delta["content"])
        if isinstance(delta.get("reasoning_content"), str):
            self.reasoning.append(delta["reasoning_content"])
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                self._tool(call)

    def _tool(self, call: dict[str, Any]) -> None:
        index = call.get("index")
        tool = self.tools.setdefault(
            index if isinstance(index, int) else len(self.tools),
            {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
        )
        if call.get("id"):
            tool["id"] = call["id"]
        if call.get("type"):
            tool["type"] = call["type"]
        function = call.get("function")
        if isinstance(function, dict):
            if isinstance(function.get("name"), str):
                tool["function"]["name"] += function["name"]
            if isinstance(function.get("arguments"), str):
                tool["function"]["arguments"] += function["arguments"]

    def message(self, index: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": "".join(self.text) or None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tools:
            message["tool_calls"] = [self.tools[i] for i in sorted(self.tools)]
        return {"index": index, "message": message, "finish_reason": self.finish}

    def text_choice(self, index: int) -> dict[str, Any]:
        return {"index": index, "text": "".join(self.text), "finish_reason": self.finish}


def synthesize(operation: str, answer: dict[str, Any], include_usage: bool) -> list[bytes]:
    """The answer as server-sent events, chunked like a real stream, ending with [DONE]."""
    chat = operation == "chat"
    head = {
        "id": answer.get("id"),
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": answer.get("created"),
        "model": answer.get("model"),
    }
    out: list[bytes] = []

    def emit(choice: dict[str, Any]) -> None:
        out.append(b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n")

    for position, choice in enumerate(answer.get("choices") or ()):
        if not isinstance(choice, dict):
            continue
        index = choice.get("index", position)
        finish = choice.get("finish_reason") or "stop"
        if chat:
            found = choice.get("message")
            message: dict[str, Any] = found if isinstance(found, dict) else {}
            emit(_delta(index, {"role": message.get("role") or "assistant", "content": ""}))
            for piece in _pieces(message.get("content")):
                emit(_delta(index, {"content": piece}))
            for number, call in enumerate(message.get("tool_calls") or ()):
                emit(_delta(index, {"tool_calls": [{"index": number, **call}]}))
            emit({"index": index, "delta": {}, "finish_reason": finish})
        else:
            for piece in _pieces(choice.get("text")):
                emit({"index": index, "text": piece, "finish_reason": None})
            emit({"index": index, "text": "", "finish_reason": finish})
    usage = answer.get("usage")
    if include_usage and isinstance(usage, dict):
        out.append(b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n")
    out.append(DONE)
    return out


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": None}


def _pieces(text: object) -> list[str]:
    if not isinstance(text, str) or not text:
        return []
    return _WORDS.findall(text) or [text]
