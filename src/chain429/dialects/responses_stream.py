"""An OpenAI chat completion stream -> the Responses API's streaming events, chunk by chunk.

Each chat delta goes out as soon as it arrives; only the text and arguments seen so far are
kept, for the `.done` events and the final Response. Tool calls are expected one after another
(as OpenAI and the chat upstreams we know send them); a fragment for a call already closed would
need events the client has already been told are final, so it fails the stream loudly instead.

What is kept is bounded by `max_bytes` (the whole-answer cap, `max_response_bytes`). Past it
the stream ends with `response.failed` rather than going on: its `.done` events and
`response.completed` must repeat the whole text, and a Response that silently lost its end
would be taken (and stored, and continued with previous_response_id) as if whole.
"""

from __future__ import annotations

from typing import Any

import orjson

from chain429.dialects.chat_stream import ChatStreamTranslator
from chain429.dialects.responses_answer import (
    INCOMPLETE_REASONS,
    finish,
    function_call_item,
    item_id,
    message_item,
    refusal_part,
    response_base,
    response_usage,
    text_part,
)

# Chat delta field -> (its content part's delta event, done event, and done's text key).
_PART_KINDS = {
    "content": ("response.output_text.delta", "response.output_text.done", "text"),
    "refusal": ("response.refusal.delta", "response.refusal.done", "refusal"),
}


class _MessageItem:
    """The assistant message being streamed: its closed parts, and the one open part."""

    __slots__ = ("field", "id", "index", "parts", "pieces", "tail")

    def __init__(self, item_id: str, index: int) -> None:
        self.id = item_id
        self.index = index
        self.parts: list[dict[str, Any]] = []
        self.field: str | None = None  # the chat delta field of the open part
        self.pieces: list[str] = []  # the open part's text so far
        self.tail = b""  # the open part's delta event, up to its `delta` value


class _CallItem:
    """A function call being streamed."""

    __slots__ = ("call_id", "chat_index", "id", "index", "name", "pieces", "tail")

    def __init__(self, item_id: str, index: int, chat_index: int, call_id: str, name: str) -> None:
        self.id = item_id
        self.index = index
        self.chat_index = chat_index
        self.call_id = call_id
        self.name = name
        self.pieces: list[str] = []
        self.tail = b""


class ResponsesStream(ChatStreamTranslator):
    """Rewrites one OpenAI chat completion stream into Responses API events (a StreamTranslator)."""

    def __init__(
        self,
        request: dict[str, Any],
        *,
        response_id: str,
        created_at: int,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__()
        self._max_bytes = max_bytes
        self._kept = 0  # bytes of text and arguments kept so far (JSON-encoded)
        self._id = response_id
        self._base = response_base(request, response_id=response_id, created_at=created_at)
        self._sequence = 0
        self._output: list[dict[str, Any]] = []  # the items closed so far, in their final form
        self._open: _MessageItem | _CallItem | None = None
        self._chat_indices: set[int] = set()  # the chat tool-call indices seen so far
        self._call_ids: set[str] = set()  # and the call ids
        self._finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None  # upstream usage seen, chat-shaped, for our log
        self.response: dict[str, Any] | None = None  # the final Response once it finished
        self.too_large: str | None = None  # why the stream was ended at `max_bytes`

    def _opening(self) -> bytes:
        return self._event("response.created", {"response": self._base}) + self._event(
            "response.in_progress", {"response": self._base}
        )

    # -- one upstream event -------------------------------------------------------------------

    def _done(self, out: list[bytes]) -> None:
        self._complete(out)

    def _ended(self, out: list[bytes]) -> None:
        if self._finish_reason is not None:  # some upstreams omit [DONE] after a proper finish
            self._complete(out)
        else:
            self._fail("the upstream stream ended early", out)

    def _malformed(self, out: list[bytes]) -> None:
        self._fail("the upstream sent a malformed event", out)

    def _chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        error = chunk.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else None
            self._fail(message if isinstance(message, str) else str(error), out)
            return
        usage = chunk.get("usage")
        if not isinstance(usage, dict) and isinstance(chunk.get("x_groq"), dict):
            usage = chunk["x_groq"].get("usage")
        if isinstance(usage, dict):
            self.usage = usage  # the last one wins: Gemini repeats usage on every chunk
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list):
            return
        choice = choices[0]
        if not isinstance(choice, dict):
            return
        delta = choice.get("delta")
        if delta and isinstance(delta, dict):
            # Fields in the order a model writes them: words, then the calls it decided on.
            for field in ("content", "refusal"):
                piece = delta.get(field)
                if piece and isinstance(piece, str):
                    self._text(field, piece, out)
            calls = delta.get("tool_calls")
            if calls and isinstance(calls, list):
                for call in calls:
                    self._call(call, out)
                    if self._over:
                        return
        reason = choice.get("finish_reason")
        if reason:
            self._finish_reason = reason

    def _text(self, field: str, piece: str, out: list[bytes]) -> None:
        item = self._open
        if not isinstance(item, _MessageItem):
            item = self._open_message(out)
        if item.field != field:
            self._close_part(item, out)
            self._open_part(item, field, out)
        encoded = orjson.dumps(piece)
        if self._past_cap(encoded, out):
            return
        item.pieces.append(piece)
        out.append(self._delta(item.tail, encoded))

    def _call(self, call: Any, out: list[bytes]) -> None:
        if not isinstance(call, dict):
            return
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        index = call.get("index")
        call_id = call.get("id")
        item = self._open
        if (
            not isinstance(item, _CallItem)
            or (isinstance(index, int) and index != item.chat_index)
            or (call_id and call_id != item.call_id)
        ):
            # A call the stream has not seen: OpenAI sends the id with a call's first fragment
            # only. Some upstreams leave out `index`, or give every call index 0 with its own
            # id; either way, a new id is a new call.
            seen = call_id in self._call_ids if call_id else index in self._chat_indices
            if seen:
                self._fail("the upstream interleaved the fragments of its tool calls", out)
                return
            if not isinstance(index, int) or index in self._chat_indices:
                index = max(self._chat_indices, default=-1) + 1
            item = self._open_call(index, call_id, function, out)
        elif not item.name and isinstance(function.get("name"), str):
            item.name = function["name"]
        arguments = function.get("arguments")
        if arguments and isinstance(arguments, str):
            encoded = orjson.dumps(arguments)
            if self._past_cap(encoded, out):
                return
            item.pieces.append(arguments)
            out.append(self._delta(item.tail, encoded))

    def _past_cap(self, encoded: bytes, out: list[bytes]) -> bool:
        """Count a piece about to be kept; past `max_bytes`, fail the stream instead."""
        self._kept += len(encoded)
        if self._max_bytes is None or self._kept <= self._max_bytes:
            return False
        self.too_large = f"the answer passed the {self._max_bytes}-byte cap (max_response_bytes)"
        self._fail(self.too_large, out)
        return True

    # -- output items ---------------------------------------------------------------------------

    def _open_message(self, out: list[bytes]) -> _MessageItem:
        self._close_item("completed", out)
        index = len(self._output)
        item = _MessageItem(item_id("msg", self._id, index), index)
        self._open = item
        added = message_item(item.id, [], "in_progress")
        out.append(
            self._event("response.output_item.added", {"output_index": index, "item": added})
        )
        return item

    def _open_part(self, item: _MessageItem, field: str, out: list[bytes]) -> None:
        delta_type = _PART_KINDS[field][0]
        content_index = len(item.parts)
        item.field = field
        item.pieces = []
        where = {"item_id": item.id, "output_index": item.index, "content_index": content_index}
        part = text_part("") if field == "content" else refusal_part("")
        out.append(self._event("response.content_part.added", {**where, "part": part}))
        item.tail = _delta_head(delta_type, where)

    def _close_part(self, item: _MessageItem, out: list[bytes]) -> None:
        if item.field is None:
            return
        _, done_type, key = _PART_KINDS[item.field]
        text = "".join(item.pieces)
        where = {"item_id": item.id, "output_index": item.index, "content_index": len(item.parts)}
        done: dict[str, Any] = {**where, key: text}
        if item.field == "content":
            done["logprobs"] = []
        out.append(self._event(done_type, done))
        part = text_part(text) if item.field == "content" else refusal_part(text)
        out.append(self._event("response.content_part.done", {**where, "part": part}))
        item.parts.append(part)
        item.field = None

    def _open_call(
        self, chat_index: int, call_id: Any, function: dict[str, Any], out: list[bytes]
    ) -> _CallItem:
        self._close_item("completed", out)
        self._chat_indices.add(chat_index)
        index = len(self._output)
        if isinstance(call_id, str) and call_id:
            self._call_ids.add(call_id)
        else:
            call_id = item_id("call", self._id, index)
        name = function.get("name")
        name = name if isinstance(name, str) else ""
        item = _CallItem(item_id("fc", self._id, index), index, chat_index, call_id, name)
        self._open = item
        added = function_call_item(item.id, call_id, name, "", "in_progress")
        out.append(
            self._event("response.output_item.added", {"output_index": index, "item": added})
        )
        item.tail = _delta_head(
            "response.function_call_arguments.delta", {"item_id": item.id, "output_index": index}
        )
        return item

    def _close_item(self, status: str, out: list[bytes]) -> None:
        item = self._open
        if item is None:
            return
        self._open = None
        if isinstance(item, _MessageItem):
            self._close_part(item, out)
            done = message_item(item.id, item.parts, status)
        else:
            arguments = "".join(item.pieces)
            fields = {
                "item_id": item.id,
                "output_index": item.index,
                "name": item.name,
                "arguments": arguments,
            }
            out.append(self._event("response.function_call_arguments.done", fields))
            done = function_call_item(item.id, item.call_id, item.name, arguments, status)
        self._output.append(done)
        out.append(
            self._event("response.output_item.done", {"output_index": item.index, "item": done})
        )

    # -- the end ------------------------------------------------------------------------------

    def _complete(self, out: list[bytes]) -> None:
        incomplete = self._finish_reason in INCOMPLETE_REASONS
        self._close_item("incomplete" if incomplete else "completed", out)
        response = {**self._base, "output": self._output}
        finish(response, self._finish_reason, self.usage)
        kind = "response.incomplete" if incomplete else "response.completed"
        out.append(self._event(kind, {"response": response}))
        self.response = response
        self._over = True

    def _fail(self, message: str, out: list[bytes]) -> None:
        output = list(self._output)
        item = self._open
        if isinstance(item, _MessageItem):
            parts = list(item.parts)
            if item.field is not None:
                text = "".join(item.pieces)
                parts.append(text_part(text) if item.field == "content" else refusal_part(text))
            output.append(message_item(item.id, parts, "incomplete"))
        elif item is not None:
            arguments = "".join(item.pieces)
            output.append(
                function_call_item(item.id, item.call_id, item.name, arguments, "incomplete")
            )
        response = {
            **self._base,
            "status": "failed",
            "error": {"code": "server_error", "message": message},
            "output": output,
            "usage": response_usage(self.usage),
        }
        out.append(self._event("response.failed", {"response": response}))
        self._open = None
        self.response = None
        self._over = True

    # -- encoding -----------------------------------------------------------------------------

    def _event(self, kind: str, fields: dict[str, Any]) -> bytes:
        data = {"type": kind, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _delta(self, head: bytes, encoded: bytes) -> bytes:
        """The hot path: a prebuilt event head, so each delta costs one small dumps (of the
        piece, done by the caller, which counts it)."""
        sequence = self._sequence
        self._sequence += 1
        return b"".join((head, encoded, b',"sequence_number":', str(sequence).encode(), b"}\n\n"))


def _delta_head(kind: str, where: dict[str, Any]) -> bytes:
    """`event: <kind>` and the data up to its `delta` value (logprobs first: it is constant)."""
    fields: dict[str, Any] = {"type": kind, **where}
    if kind == "response.output_text.delta":
        fields["logprobs"] = []
    head = orjson.dumps(fields)[:-1]  # the object left open for the delta
    return b"event: " + kind.encode() + b"\ndata: " + head + b',"delta":'
