"""`/v1/messages` (Anthropic Messages) and `/v1/responses` (OpenAI Responses), on chat chains.

Both go through `openai_api.serve` like chat: the same auth, walk, wait room, request log,
metrics and live feed. What differs is an `Exchange` per request that translates with the
sans-I/O `dialects` modules. The Responses API's `store` (on by default, as OpenAI's) keeps
each answer and its conversation in `state.responses`, so `previous_response_id` can go on
from it; `GET` and `DELETE /v1/responses/{response_id}` read and remove one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from chain429.dialects import anthropic, responses
from chain429.dialects.anthropic import AnthropicStream
from chain429.dialects.responses import ResponsesStream
from chain429.engine.operations import CHAT, MESSAGES
from chain429.engine.request import (
    ClientRequest,
    encode,
    json_object,
    native_request,
    parse_request,
)
from chain429.errors import ProxyError
from chain429.http.body import read_body
from chain429.http.openai_api import serve
from chain429.http.state import STATE
from chain429.storage.responses import ResponseStore, SavedResponse

logger = logging.getLogger("chain429.http")


# -- /v1/messages ------------------------------------------------------------------------------


async def messages(request: web.Request) -> web.StreamResponse:
    return await serve(request, CHAT, "/v1/messages", MessagesExchange())


async def count_tokens(request: web.Request) -> web.Response:
    """Anthropic's token count, estimated as the tracker estimates what a request costs."""
    state = request.app[STATE]
    runtime = state.runtime
    runtime.keys.require(request.headers)
    body = json_object(await read_body(request, runtime.settings.max_body_bytes))
    body.setdefault("max_tokens", 1)  # count_tokens takes no max_tokens; to_chat needs one
    chat = parse_request(encode(anthropic.to_chat(body)), CHAT)
    return web.json_response({"input_tokens": chat.input_tokens})


class MessagesExchange:
    """One Anthropic Messages request: Anthropic in, chat to the walk, Anthropic out; an entry
    that speaks Messages itself gets the client's body as it is (`native`)."""

    def __init__(self) -> None:
        self._body: dict[str, Any] = {}
        self._model = ""
        self._thinking = False
        self._message_id = anthropic.new_message_id()
        self._stream: AnthropicStream | None = None

    async def prepare(self, raw: bytes, key_label: str) -> bytes:
        body = json_object(raw)
        model = body.get("model")
        self._body = body
        self._model = model if isinstance(model, str) else ""
        self._thinking = anthropic.wants_thinking(body)
        return encode(anthropic.to_chat(body))

    def native(self, chat: ClientRequest) -> ClientRequest:
        return native_request(chat, MESSAGES, self._body)

    async def whole(self, body: bytes) -> bytes:
        message = anthropic.from_chat(
            orjson.loads(body),
            model=self._model,
            thinking=self._thinking,
            message_id=self._message_id,
        )
        return orjson.dumps(message)

    def begin(self, chat: ClientRequest) -> bytes:
        self._stream = AnthropicStream(
            model=self._model,
            message_id=self._message_id,
            thinking=self._thinking,
            input_tokens=chat.input_tokens,
        )
        return self._stream.begin()

    async def feed(self, part: bytes) -> bytes:
        assert self._stream is not None
        return self._stream.feed(part)

    async def end(self) -> bytes:
        assert self._stream is not None
        return self._stream.end()

    def stopped(self) -> None:
        return None  # nothing of the stream is kept whole (tool arguments aside)


# -- /v1/responses -----------------------------------------------------------------------------


async def create_response(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    settings = state.runtime.settings
    ttl_s = settings.response_store_ttl_ms / 1000
    exchange = ResponsesExchange(
        state.responses, ttl_s, state.clock, max_bytes=settings.max_response_bytes
    )
    return await serve(request, CHAT, "/v1/responses", exchange)


async def get_response(request: web.Request) -> web.Response:
    saved = await _saved(request)
    return web.json_response(saved.response, dumps=_dumps)


async def delete_response(request: web.Request) -> web.Response:
    state = request.app[STATE]
    label = state.runtime.keys.require(request.headers)
    response_id = request.match_info["response_id"]
    if not await state.responses.delete(response_id, label):
        raise _no_response(response_id, "response_id")
    return web.json_response({"id": response_id, "object": "response", "deleted": True})


async def _saved(request: web.Request) -> SavedResponse:
    state = request.app[STATE]
    label = state.runtime.keys.require(request.headers)
    response_id = request.match_info["response_id"]
    saved = await state.responses.load(response_id, label)
    if saved is None:
        raise _no_response(response_id, "response_id")
    return saved


class ResponsesExchange:
    """One Responses API request; with `store`, its answer is saved before the client has it
    whole, so a follow-up sent the moment it arrives finds it."""

    def __init__(
        self,
        store: ResponseStore,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        *,
        max_bytes: int | None = None,
    ) -> None:
        self._store = store
        self._max_bytes = max_bytes  # what a streamed Response may keep (see ResponsesStream)
        self._ttl_s = ttl_s
        self._clock = clock
        self._request: dict[str, Any] = {}
        self._chat: dict[str, Any] = {}
        self._key_label = ""
        self._keep = False
        self._saved = False
        self._id = responses.new_response_id()
        self._created_at = int(clock())
        self._stream: ResponsesStream | None = None

    async def prepare(self, raw: bytes, key_label: str) -> bytes:
        body = json_object(raw)
        self._request, self._key_label = body, key_label
        self._keep = body.get("store") is not False and self._ttl_s > 0
        history = await self._history(body.get("previous_response_id"))
        self._chat = responses.to_chat(body, history)
        # The Response echoes settings that are not forwarded (metadata, truncation, store...):
        # one nested too deep to write back is the client's 400 now, not a 500 once the
        # upstream has answered.
        encode(responses.response_base(body, response_id=self._id, created_at=self._created_at))
        return encode(self._chat)

    def native(self, chat: ClientRequest) -> None:
        return None  # no preset speaks the Responses API: every entry gets chat

    async def whole(self, body: bytes) -> bytes:
        response = responses.from_chat(
            orjson.loads(body), self._request, response_id=self._id, created_at=self._created_at
        )
        await self._save(response)
        return orjson.dumps(response)

    def begin(self, chat: ClientRequest) -> bytes:
        self._stream = ResponsesStream(
            self._request,
            response_id=self._id,
            created_at=self._created_at,
            max_bytes=self._max_bytes,
        )
        return self._stream.begin()

    def stopped(self) -> str | None:
        return self._stream.too_large if self._stream is not None else None

    async def feed(self, part: bytes) -> bytes:
        assert self._stream is not None
        out = self._stream.feed(part)
        if self._stream.response is not None:
            await self._save(self._stream.response)
        return out

    async def end(self) -> bytes:
        assert self._stream is not None
        out = self._stream.end()
        if self._stream.response is not None:
            await self._save(self._stream.response)
        return out

    async def _history(self, previous: object) -> list[dict[str, Any]] | None:
        if previous is None:
            return None
        if not isinstance(previous, str) or not previous:
            raise ProxyError(
                400, "'previous_response_id' must be a string.", param="previous_response_id"
            )
        saved = await self._store.load(previous, self._key_label)
        if saved is None:
            raise _no_response(previous, "previous_response_id")
        return saved.conversation

    async def _save(self, response: dict[str, Any]) -> None:
        if not self._keep or self._saved:
            return
        self._saved = True
        now = self._clock()
        saved = SavedResponse(
            self._id,
            self._key_label,
            now,
            now + self._ttl_s,
            response,
            responses.conversation(self._chat, response),
        )
        try:
            await self._store.save(saved)
        except Exception:  # the answer is served either way; only its follow-up is lost
            logger.exception("could not store response %s", self._id)


def _no_response(response_id: str, param: str) -> ProxyError:
    return ProxyError(
        404,
        f"No stored response with id '{response_id}': it was never stored (`store: false`), "
        "has expired (settings.response_store_ttl_ms), or belongs to another API key.",
        code="response_not_found",
        param=param,
    )


# -- shared ------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
