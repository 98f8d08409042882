"""A scripted OpenAI-compatible upstream on loopback, for e2e tests, benchmarks and the demo.

It also answers `POST /v1/messages` as a provider that speaks Anthropic's Messages API natively
would: Anthropic messages, named events, error envelopes and (`header_dialect="anthropic"`)
`anthropic-ratelimit-*` headers, with `x-api-key` auth and a required `anthropic-version`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web
from multidict import CIMultiDict

from chain429.testing.anthropic import anthropic_error, message, message_events
from chain429.testing.budget import Budget, BudgetTracker
from chain429.testing.dialects import Dialect, rate_limit_headers, rejection_response
from chain429.testing.responses import (
    CREATED,
    chunk,
    completion,
    embeddings,
    error_body,
    estimate_tokens,
    prompt_tokens,
    text_chunk,
    text_completion,
    usage_chunk,
)
from chain429.testing.steps import Drop, Hang, Pause, Reply, Step, Stream, StreamEvent

DEFAULT_TEXT = "Hello! This is the mock provider answering."
# Providers that document continuously refilling buckets (reset = time until full).
TOKEN_BUCKET_DIALECTS = frozenset({"openai", "groq", "cerebras", "anthropic"})
# ... and those whose daily counters are buckets too (providers.md: Groq's RPD "refills
# continuously"; Cerebras' capacity is a token bucket).
DAILY_BUCKET_DIALECTS = frozenset({"groq", "cerebras"})
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
_STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_CACHE_LIMIT = 64  # encoded default streams kept, one per text, model, usage flag and line end


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the mock received it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any  # the parsed body, or None when there was none or it wasn't JSON
    raw: bytes


class MockProvider:
    """A real aiohttp server on 127.0.0.1 (ephemeral port) that answers like a provider.

    Chat completions are answered by the scripted steps in order, then by `default` (None:
    a normal completion, streamed if the request asked for a stream). With `limits`, the
    budget is enforced before the script is consulted: a refused request gets the dialect's
    429 (Groq: 413 when one request outgrows TPM) and consumes no step. Response headers are
    layered, a later layer winning: `headers`, the dialect's rate-limit headers, the step's
    own (a Handler step sets its own headers entirely). `choose`, when given, picks the step
    for an unscripted request from its parsed body before `default` is considered.
    """

    def __init__(
        self,
        *,
        limits: Budget | None = None,
        header_dialect: Dialect = "openai",
        clock: Callable[[], float] = time.time,
        models: list[str] | None = None,
        default: Step | None = None,
        headers: Mapping[str, str] | None = None,
        choose: Callable[[dict[str, Any]], Step | None] | None = None,
        api_key: str | None = None,
        reply_text: str = DEFAULT_TEXT,
        record: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.header_dialect: Dialect = header_dialect
        self.models = models if models is not None else ["mock-model"]
        self.default = default
        self.headers = dict(headers or {})
        # Picks the answer to an unscripted request from its body (None: use `default`), so a
        # long-running mock (the demo) can vary latency and failures request by request.
        self.choose = choose
        self.api_key = api_key  # when set, anything but `Bearer <api_key>` gets a 401
        self.reply_text = reply_text
        self.record = record  # benchmarks switch recording off to keep memory flat
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.calls = 0
        self.status_counts: Counter[int] = Counter()
        self.rate_limited = 0
        self.budget = (
            BudgetTracker(
                limits,
                clock,
                buckets=header_dialect in TOKEN_BUCKET_DIALECTS,
                daily_buckets=header_dialect in DAILY_BUCKET_DIALECTS,
            )
            if limits is not None
            else None
        )
        self._script: deque[Step] = deque()
        self._active: dict[int, web.Request] = {}  # by id(): requests are unhashable
        self._stream_cache: dict[tuple[str, str, bool, bytes], list[StreamEvent]] = {}
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The base URL, /v1 included, e.g. http://127.0.0.1:43123/v1."""
        if self._url is None:
            raise RuntimeError("the mock provider is not started")
        return self._url

    @property
    def in_flight(self) -> int:
        """Chat completion requests being answered right now."""
        return len(self._active)

    @property
    def pending(self) -> int:
        """Scripted steps not yet used."""
        return len(self._script)

    def script(self, *steps: Step) -> None:
        """Queue answers for the next chat completion requests, in order."""
        self._script.extend(steps)

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        # Embeddings and legacy completions share the script, budget and steps with chat.
        app.router.add_post("/v1/embeddings", self._chat)
        app.router.add_post("/v1/completions", self._chat)
        app.router.add_post("/v1/messages", self._chat)  # Anthropic's API, answered natively
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # handler_cancellation: a handler whose client went away (Hang, a long Pause) is
        # cancelled at once instead of lingering until shutdown.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, handler_cancellation=True
        )
        await runner.setup()
        try:
            # The default backlog of 128 drops SYNs when a benchmark opens 1,000+ connections.
            site = web.TCPSite(runner, self.host, self.port, backlog=2048)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.port = port
        self._url = f"http://{host}:{port}/v1"

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        # Cut what is still being answered, so a Hang or a long Pause can't hold up shutdown.
        for request in list(self._active.values()):
            if request.transport is not None:
                request.transport.abort()
        await runner.cleanup()
        self._url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- handlers ---------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        payload = self._record(request, raw)
        self.calls += 1
        native = request.path.endswith("/messages")
        refusal = self._refusal(request, payload, native)
        if refusal is not None:
            status, text = refusal
            return self._send(status, self._error(native, status, text))
        model = payload.get("model")
        if not isinstance(model, str) or not model:
            model = "mock-model"
        limit_headers: dict[str, str] = {}
        if self.budget is not None:
            tokens = prompt_tokens(payload) + self._allowance(payload)
            rejection = self.budget.admit(tokens, len(self._active))
            limit_headers = rate_limit_headers(self.header_dialect, self.budget)
            if rejection is not None:
                status, body, extra = rejection_response(
                    self.header_dialect, rejection, model, self.budget.clock()
                )
                if status == 429:
                    self.rate_limited += 1
                return self._send(status, body, limit_headers, extra)
        if self._script:
            step: Step | None = self._script.popleft()
        else:
            step = self.choose(payload) if self.choose is not None else None
            step = self.default if step is None else step
        if step is None:
            step = Stream() if payload.get("stream") is True else Reply()
        self._active[id(request)] = request
        try:
            if isinstance(step, Reply):
                return await self._reply(step, payload, model, limit_headers, request.path)
            if isinstance(step, Stream):
                return await self._stream(step, request, payload, model, limit_headers)
            if isinstance(step, Hang):
                await asyncio.get_running_loop().create_future()  # cancelled on disconnect
                raise AssertionError("unreachable")
            if isinstance(step, Drop):
                if request.transport is not None:
                    request.transport.abort()
                return web.Response()  # never sent: aiohttp swallows the write to a dead socket
            response = await step(request)
            self.status_counts[response.status] += 1
            return response
        finally:
            del self._active[id(request)]

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self._record(request, await request.read())
        data = [
            {"id": model, "object": "model", "created": CREATED, "owned_by": "mock"}
            for model in self.models
        ]
        return self._send(200, {"object": "list", "data": data})

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        self._record(request, await request.read())
        message = f"Unknown request URL: {request.method} {request.path}."
        return self._send(404, error_body(404, message, code="unknown_url"))

    # -- answers ----------------------------------------------------------------------------

    async def _reply(
        self,
        step: Reply,
        payload: dict[str, Any],
        model: str,
        limit_headers: dict[str, str],
        path: str = "/v1/chat/completions",
    ) -> web.StreamResponse:
        if step.delay:
            await asyncio.sleep(step.delay)
        body = step.body
        native = path.endswith("/messages")
        if body is None:
            if native:
                usage = (prompt_tokens(payload), estimate_tokens(self.reply_text))
                body = message(self.reply_text, model, usage)
                if step.status >= 400:
                    body = anthropic_error(step.status)
            elif step.status < 400 and path.endswith("/embeddings"):
                body = embeddings(payload.get("input"), model, payload.get("encoding_format"))
            elif step.status < 400:
                usage = (prompt_tokens(payload), estimate_tokens(self.reply_text))
                if path.endswith("/chat/completions"):
                    body = completion(self.reply_text, model, usage)
                else:
                    body = text_completion(self.reply_text, model, usage)
            else:
                body = error_body(step.status)
        return self._send(step.status, body, limit_headers, step.headers)

    async def _stream(
        self,
        step: Stream,
        request: web.Request,
        payload: dict[str, Any],
        model: str,
        limit_headers: dict[str, str],
    ) -> web.StreamResponse:
        le = step.line_ending.encode()
        response = web.StreamResponse(
            status=step.status,
            headers=self._headers(_STREAM_HEADERS, limit_headers, step.headers),
        )
        self.status_counts[step.status] += 1
        await response.prepare(request)  # a StreamResponse sends its headers right away
        if step.delay_first:
            await asyncio.sleep(step.delay_first)
        events = step.events
        native = request.path.endswith("/v1/messages")
        if events is None and native:
            usage = (prompt_tokens(payload), estimate_tokens(self.reply_text))
            events = list(message_events(self.reply_text, model, usage))
        elif events is None and request.path.endswith("/v1/completions"):
            events = self._text_events(payload, model)
        elif events is None:
            events = self._default_events(payload, model, le)
        reset_after = step.reset_after
        sent = 0
        for event in events:
            if reset_after is not None and sent >= reset_after:
                break
            if isinstance(event, Pause):
                await asyncio.sleep(event.seconds)
                continue
            if sent and step.interval:
                await asyncio.sleep(step.interval)
            await response.write(_frame(event, le, named=native))
            sent += 1
        if reset_after is not None:
            # No chunked-encoding terminator: the client sees the body cut off mid-stream.
            if request.transport is not None:
                request.transport.abort()
            return response
        if step.done and not native:  # Anthropic's streams end with message_stop, no [DONE]
            await response.write(b"data: [DONE]" + le + le)
        return response

    def _default_events(self, payload: dict[str, Any], model: str, le: bytes) -> list[StreamEvent]:
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        key = (self.reply_text, model, include_usage, le)
        frames = self._stream_cache.get(key)
        if frames is None:
            chunks = [chunk(role="assistant", content="", model=model)]
            chunks += [chunk(piece, model) for piece in re.findall(r"\s*\S+", self.reply_text)]
            chunks.append(chunk(model=model, finish_reason="stop"))
            if include_usage:
                for body in chunks:
                    body["usage"] = None  # what OpenAI sends on every chunk but the last
            if len(self._stream_cache) >= _CACHE_LIMIT:
                self._stream_cache.clear()
            frames = self._stream_cache[key] = [_frame(body, le) for body in chunks]
        if not include_usage:
            return frames
        usage = usage_chunk(prompt_tokens(payload), estimate_tokens(self.reply_text), model)
        return [*frames, _frame(usage, le)]

    def _text_events(self, payload: dict[str, Any], model: str) -> list[StreamEvent]:
        """A legacy completion stream: the reply a word at a time, then usage if asked."""
        events: list[StreamEvent] = [
            text_chunk(piece, model) for piece in re.findall(r"\s*\S+", self.reply_text)
        ]
        events.append(text_chunk("", model, "stop"))
        options = payload.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            usage = usage_chunk(prompt_tokens(payload), estimate_tokens(self.reply_text), model)
            events.append({**usage, "object": "text_completion"})
        return events

    # -- helpers ----------------------------------------------------------------------------

    def _refusal(self, request: web.Request, payload: Any, native: bool) -> tuple[int, str] | None:
        """What a provider says before reading the request: a bad key, a missing header, junk."""
        if native:
            if self.api_key is not None and request.headers.get("x-api-key") != self.api_key:
                return 401, "invalid x-api-key"
            if "anthropic-version" not in request.headers:
                return 400, "anthropic-version: header is required"
        elif self.api_key is not None and (
            request.headers.get("Authorization") != f"Bearer {self.api_key}"
        ):
            return 401, "Incorrect API key provided."
        if not isinstance(payload, dict):
            return 400, "We could not parse the JSON body of your request."
        return None

    @staticmethod
    def _error(native: bool, status: int, text: str) -> dict[str, Any]:
        return anthropic_error(status, text) if native else error_body(status, text)

    def _allowance(self, payload: dict[str, Any]) -> int:
        """Completion tokens a request reserves: its max_tokens, else the default reply's size."""
        for name in ("max_completion_tokens", "max_tokens"):
            value = payload.get(name)
            if isinstance(value, int) and value > 0:
                return value
        return estimate_tokens(self.reply_text)

    def _record(self, request: web.Request, raw: bytes) -> Any:
        payload: Any = None
        if raw:
            try:
                payload = orjson.loads(raw)
            except orjson.JSONDecodeError:
                payload = None
        if self.record:
            headers = {name.lower(): value for name, value in request.headers.items()}
            self.requests.append(
                RecordedRequest(request.method, request.path, headers, payload, raw)
            )
        return payload

    def _headers(self, *layers: Mapping[str, str]) -> CIMultiDict[str]:
        """Merge header layers case-insensitively; a later layer wins."""
        headers: CIMultiDict[str] = CIMultiDict()
        for layer in (layers[0], self.headers, *layers[1:]):
            if layer:
                headers.update(layer)
        return headers

    def _send(
        self,
        status: int,
        body: dict[str, Any] | list[Any] | str | bytes,
        *layers: Mapping[str, str],
    ) -> web.Response:
        if isinstance(body, dict | list):
            data, content_type = orjson.dumps(body), JSON
        elif isinstance(body, str):
            data, content_type = body.encode(), TEXT
        else:
            data, content_type = body, TEXT
        self.status_counts[status] += 1
        headers = self._headers({"Content-Type": content_type}, *layers)
        return web.Response(status=status, body=data, headers=headers)


def _frame(event: str | bytes | Mapping[str, Any], le: bytes, *, named: bool = False) -> bytes:
    """One SSE event on the wire: bytes as given, text or JSON as `data:` lines; `named`
    (Anthropic's streams) puts a JSON event's `type` in an `event:` line first."""
    if isinstance(event, bytes):
        return event
    kind = event.get("type") if named and isinstance(event, Mapping) else None
    if isinstance(kind, str):
        return b"event: " + kind.encode() + le + _frame(event, le)
    if isinstance(event, str):
        data = event.encode()
    else:  # orjson takes dicts, not any Mapping
        data = orjson.dumps(event if isinstance(event, dict) else dict(event))
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        return b"".join([b"data: " + line + le for line in lines]) + le
    return b"data: " + data + le + le
