"""OpenAI chat completion streams -> Anthropic Messages event streams, chunk by chunk.

Anthropic streams content blocks one at a time (start, deltas, stop; indexes 0, 1, 2...),
while an OpenAI delta may carry reasoning, text and tool call fragments together. So one
block is open at a time, and anything of another kind (or another tool call) closes it and
opens the next. Reasoning becomes a thinking block only when the client asked for thinking;
it is dropped otherwise.

Tool calls are keyed by their `index` (by `id` for providers that send none; a fragment
with neither continues the last call unless it names a function). Upstreams send one call's
fragments before the next call's, so when a new call appears and the open call's arguments
parse as complete JSON, the open one is closed and the new one streams live. If they do not
parse yet, the upstream is interleaving calls: the new call's fragments are held back until
the open call's arguments complete (or the turn ends), then sent as one `input_json_delta`.
A fragment for a call already closed (possible only after a call's JSON looked complete) is
dropped: the events stay valid, though that call's input may then be cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson

from chain429.dialects.anthropic_answer import new_tool_use_id, stop_reason
from chain429.dialects.chat_stream import ChatStreamTranslator

_NONE, _TEXT, _THINKING, _TOOL = 0, 1, 2, 3  # what kind of block is open
_QUEUED, _LIVE, _CLOSED = 0, 1, 2  # where a tool call stands

_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_TEXT_BLOCK = b'{"type":"text","text":""}'
_THINKING_BLOCK = b'{"type":"thinking","thinking":"","signature":""}'

# Our relay's error codes (`OutcomeKind` values) that have a closer Anthropic type than
# api_error: a client's SDK retries rate_limit_error and overloaded_error.
_ERROR_TYPES = MappingProxyType(
    {
        "rate_limited": "rate_limit_error",
        "quota_exhausted": "rate_limit_error",
        "timeout": "overloaded_error",
    }
)


@dataclass(slots=True)
class _Call:
    id: str
    name: str
    args: list[str] = field(default_factory=list)  # fragments so far
    state: int = _QUEUED

    def complete(self) -> bool:
        """Whether the arguments so far are whole JSON (an empty string is not)."""
        if not self.args:
            return False
        try:
            orjson.loads("".join(self.args))
        except orjson.JSONDecodeError:
            return False
        return True


class AnthropicStream(ChatStreamTranslator):
    """Implements `dialects.StreamTranslator` for the Anthropic Messages API."""

    __slots__ = (
        "_calls",
        "_finish",
        "_index",
        "_input_tokens",
        "_last",
        "_live",
        "_message_id",
        "_model",
        "_next",
        "_open",
        "_queue",
        "_thinking",
        "_used_tools",
        "usage",
    )

    def __init__(self, *, model: str, message_id: str, thinking: bool, input_tokens: int) -> None:
        self._model = model
        self._message_id = message_id
        self._thinking = thinking
        self._input_tokens = input_tokens
        super().__init__()
        self._open = _NONE
        self._index = -1  # the open block's index
        self._next = 0
        self._calls: dict[int | str, _Call] = {}
        self._last: _Call | None = None
        self._live: _Call | None = None  # the tool call whose block is open
        self._queue: list[_Call] = []  # interleaved calls held back; only while one is live
        self._used_tools = False
        self._finish: str | None = None
        self.usage: dict[str, Any] | None = None  # the upstream's, OpenAI-shaped, for our log

    def _opening(self) -> bytes:
        """`message_start` and a `ping`."""
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self._input_tokens,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return _event(b"message_start", {"type": "message_start", "message": message}) + _PING

    def _done(self, out: list[bytes]) -> None:
        self._stop(out)

    def _ended(self, out: list[bytes]) -> None:
        if self._finish is not None:  # some upstreams omit [DONE] after a proper finish
            self._stop(out)
        else:
            self._fail("api_error", "The upstream stream ended early.", out)

    def _malformed(self, out: list[bytes]) -> None:
        self._fail("api_error", "The upstream sent a malformed stream event.", out)

    def _chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        error = chunk.get("error")
        if error:
            self._upstream_error(error, out)
            return
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage  # the last one wins: some upstreams repeat it on every chunk
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list):
            return
        choice = choices[0]
        if not isinstance(choice, dict):
            return
        delta = choice.get("delta")
        if isinstance(delta, dict):
            self._delta(delta, out)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            self._finish = finish

    def _delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        if self._thinking:
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning and isinstance(reasoning, str):
                if self._open != _THINKING:
                    self._open_block(_THINKING, _THINKING_BLOCK, out)
                out.append(_delta(self._index, b"thinking_delta", b"thinking", reasoning))
        text = delta.get("content")
        if text and isinstance(text, str):
            if self._open != _TEXT:
                self._open_block(_TEXT, _TEXT_BLOCK, out)
            out.append(_delta(self._index, b"text_delta", b"text", text))
        calls = delta.get("tool_calls")
        if calls and isinstance(calls, list):
            for fragment in calls:
                if isinstance(fragment, dict):
                    self._tool_fragment(fragment, out)

    def _tool_fragment(self, fragment: dict[str, Any], out: list[bytes]) -> None:
        function = fragment.get("function")
        if not isinstance(function, dict):
            function = {}
        args = function.get("arguments")
        if isinstance(args, dict):  # a few providers send the object itself
            args = orjson.dumps(args).decode()
        elif not isinstance(args, str):
            args = ""
        call, new = self._call_for(fragment, function)
        if call.state == _CLOSED:
            return  # see the module docstring
        if args:
            call.args.append(args)
        if new:
            self._used_tools = True
            live = self._live
            if live is None:
                self._drain(out)  # close a text or thinking block
                self._go_live(call, out)
            elif self._queue or not live.complete():
                self._queue.append(call)  # interleaved: hold it back
            else:
                self._close(out)
                self._go_live(call, out)
        elif call.state == _LIVE:
            if args:
                out.append(_delta(self._index, b"input_json_delta", b"partial_json", args))
            if self._queue and call.complete():
                self._close(out)
                self._promote(out)

    def _call_for(self, fragment: dict[str, Any], function: dict[str, Any]) -> tuple[_Call, bool]:
        """The call a fragment belongs to, and whether it is new."""
        index = fragment.get("index")
        call_id = fragment.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = None
        name = function.get("name")
        if not isinstance(name, str) or not name:
            name = None
        key: int | str
        if isinstance(index, int):
            key = index
        elif call_id is not None:
            key = call_id
        elif name is None and self._last is not None:
            return self._last, False
        else:
            key = -1 - len(self._calls)  # a fresh key no index or id can collide with
        call = self._calls.get(key)
        # A provider that numbers every call 0 still gives each its own id and name.
        if call is not None and not (call_id and name and call_id != call.id):
            self._last = call
            return call, False
        call = _Call(call_id or new_tool_use_id(), name or "")
        self._calls[key] = self._last = call
        return call, True

    def _go_live(self, call: _Call, out: list[bytes]) -> None:
        """Open a tool_use block for `call` (nothing is open) with what it has so far."""
        self._index = self._next
        self._next += 1
        self._open = _TOOL
        self._live = call
        call.state = _LIVE
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        out.append(_start(self._index, orjson.dumps(block)))
        if call.args:
            args = "".join(call.args)
            out.append(_delta(self._index, b"input_json_delta", b"partial_json", args))

    def _promote(self, out: list[bytes]) -> None:
        """The live call is done: held-back calls go live in turn while they are complete."""
        while self._queue:
            call = self._queue.pop(0)
            self._go_live(call, out)
            if not self._queue or not call.complete():
                return
            self._close(out)

    def _open_block(self, kind: int, block: bytes, out: list[bytes]) -> None:
        self._drain(out)
        self._index = self._next
        self._next += 1
        self._open = kind
        out.append(_start(self._index, block))

    def _close(self, out: list[bytes]) -> None:
        """Close the open block, if any."""
        kind = self._open
        if kind == _NONE:
            return
        if kind == _THINKING:  # Anthropic sends the signature right before the stop
            out.append(_delta(self._index, b"signature_delta", b"signature", ""))
        elif kind == _TOOL and self._live is not None:
            self._live.state = _CLOSED
            self._live = None
        out.append(
            b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
            % self._index
        )
        self._open = _NONE

    def _drain(self, out: list[bytes]) -> None:
        """Close the open block and send every held-back call as a block of its own."""
        self._close(out)
        while self._queue:
            self._go_live(self._queue.pop(0), out)
            self._close(out)

    def _stop(self, out: list[bytes]) -> None:
        self._drain(out)
        usage = self.usage or {}
        counts: dict[str, int] = {}
        prompt = usage.get("prompt_tokens")
        if isinstance(prompt, int):
            counts["input_tokens"] = prompt
        completion = usage.get("completion_tokens")
        counts["output_tokens"] = completion if isinstance(completion, int) else 0
        delta = {
            "stop_reason": stop_reason(self._finish, used_tools=self._used_tools),
            "stop_sequence": None,
        }
        out.append(
            _event(b"message_delta", {"type": "message_delta", "delta": delta, "usage": counts})
        )
        out.append(_MESSAGE_STOP)
        self._over = True

    def _upstream_error(self, error: Any, out: list[bytes]) -> None:
        """Our relay's `{"error": ...}` event: the stream is over, say so in Anthropic's words."""
        message = error.get("message") if isinstance(error, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        kind = _ERROR_TYPES.get(code, "api_error") if isinstance(code, str) else "api_error"
        if not isinstance(message, str) or not message:
            message = "The upstream stream failed."
        self._fail(kind, message, out)

    def _fail(self, kind: str, message: str, out: list[bytes]) -> None:
        out.append(_event(b"error", {"type": "error", "error": {"type": kind, "message": message}}))
        self._over = True


def _event(kind: bytes, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _start(index: int, block: bytes) -> bytes:
    return (
        b'event: content_block_start\ndata: {"type":"content_block_start","index":%d,'
        b'"content_block":%s}\n\n' % (index, block)
    )


def _delta(index: int, kind: bytes, name: bytes, value: str) -> bytes:
    """A content_block_delta, written by hand: this runs for every upstream chunk."""
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
        b'"delta":{"type":"%s","%s":%s}}\n\n' % (index, kind, name, orjson.dumps(value))
    )
