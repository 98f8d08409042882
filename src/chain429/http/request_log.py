"""Turns one client request's fate into a `RequestRecord`, whatever way it ended.

`finish` completes the record, publishes it once as a `RequestFinished` event (the request log
writer, metrics and /health counters subscribe to it) and writes the access-log line.

Every answer of a logged request, errors and streams included, names the record in
`X-429chain-Request-Id` (`add_request_id`), so a client (the UI's playground) can find its own
request in the log or the live feed, whatever other traffic the chain has.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from aiohttp import web

from chain429.engine.request import ClientRequest
from chain429.engine.walk import Attempt, Served, WalkFailed
from chain429.errors import ProxyError
from chain429.events import EventHub, RequestFinished
from chain429.http.state import AppState, Runtime
from chain429.storage.records import CACHE_PROVIDER, AttemptRecord, RequestRecord
from chain429.vocabulary import QUOTA_KINDS, Chain, RequestOutcome

logger = logging.getLogger("chain429.requests")
REQUEST_ID_HEADER = "X-429chain-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)


class RequestLog:
    """Filled in as the request goes; `finish` writes it exactly once."""

    __slots__ = ("_chain", "_chat", "_done", "_events", "_started", "content", "record")

    @classmethod
    def of(
        cls, request: web.Request, state: AppState, runtime: Runtime, endpoint: str
    ) -> RequestLog:
        """The log of `request`, whose answer will name it (`add_request_id`)."""
        log = cls(state, runtime, endpoint)
        request[REQUEST_ID] = log.record.id
        return log

    def __init__(self, state: AppState, runtime: Runtime, endpoint: str) -> None:
        self._events: EventHub = state.events
        self._started = time.monotonic()
        self._done = False
        self._chain: Chain | None = None
        self._chat: ClientRequest | None = None
        # Prompt and completion text, only when settings.log_content asks for it.
        self.content: dict[str, str] | None = {} if runtime.settings.log_content else None
        self.record = RequestRecord(
            id=state.request_ids(),
            ts=time.time(),
            key_label="",
            chain=None,
            requested_model=None,
            provider=None,
            model=None,
            stream=False,
            status=0,
            outcome="",
            endpoint=endpoint,
        )

    def request(self, chat: ClientRequest, chain: Chain) -> None:
        self._chat, self._chain = chat, chain
        self.record.requested_model = chat.model
        self.record.stream = chat.stream
        self.record.chain = chain.name
        self.record.prompt_tokens = chat.est_tokens  # replaced by real usage when known
        self.record.tokens_estimated = True
        if self.content is not None:
            self.content["prompt"] = _text(chat.body.get("messages"))

    def served(self, served: Served) -> None:
        self.record.provider = served.entry.provider
        self.record.model = served.entry.model
        self._attempts(served.attempts)
        if served.stream is not None:
            self.record.ttft_ms = (time.monotonic() - self._started) * 1000

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self._started) * 1000

    def cached(self, provider: str, model: str) -> None:
        """Answered from the cache: no upstream call; `model` names who served it first."""
        self.record.provider = CACHE_PROVIDER
        self.record.model = f"{provider}/{model}"
        self.record.attempts = []
        self.record.calls = self.record.skipped = self.record.rate_limited = 0

    def completion(self, body: bytes) -> None:
        """The answer's text (a chat completion's, or a native Anthropic message's)."""
        if self.content is not None:
            try:
                data = orjson.loads(body)
                if data.get("type") == "message":
                    blocks = data["content"]
                    text = " ".join(b["text"] for b in blocks if b.get("type") == "text")
                else:
                    text = str(data["choices"][0]["message"]["content"])
                self.content["completion"] = _clip(text)
            except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
                pass

    def usage(self, usage: dict[str, Any] | None) -> None:
        if not usage:
            return
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if completion is None and isinstance(prompt, int):
            completion = 0  # embeddings: input tokens only
        if isinstance(prompt, int) and isinstance(completion, int):
            self.record.prompt_tokens = prompt
            self.record.completion_tokens = completion
            total = usage.get("total_tokens")
            self.record.total_tokens = total if isinstance(total, int) else prompt + completion
            self.record.tokens_estimated = False

    def failed(self, error: ProxyError, outcome: RequestOutcome) -> None:
        self.record.error = error.message
        if isinstance(error, WalkFailed):
            self._attempts(error.attempts)
        self.finish(error.status, outcome)

    def finish(self, status: int, outcome: RequestOutcome, error: str | None = None) -> None:
        if self._done:
            return
        self._done = True
        record = self.record
        record.status, record.outcome = status, outcome
        record.error = error or record.error
        record.latency_ms = (time.monotonic() - self._started) * 1000
        if record.total_tokens is None and record.tokens_estimated and record.prompt_tokens:
            record.total_tokens = record.prompt_tokens
        self._events.publish(RequestFinished(record, self._chain, self._chat))
        if logger.isEnabledFor(logging.INFO):
            fields = _log_fields(record)
            if self.content:
                fields.update(self.content)
            logger.info("chat completion", extra={"fields": fields})

    def _attempts(self, attempts: list[Attempt]) -> None:
        records = []
        for seq, attempt in enumerate(attempts):
            provider, _, model = attempt.entry.partition("/")
            records.append(
                AttemptRecord(
                    seq,
                    provider,
                    model,
                    str(attempt.kind),
                    attempt.status,
                    round(attempt.latency_ms, 2),
                    attempt.reason,
                    attempt.skipped,
                )
            )
        self.record.attempts = records
        self.record.calls = sum(1 for a in attempts if not a.skipped)
        self.record.skipped = len(attempts) - self.record.calls
        self.record.rate_limited = sum(
            1 for a in attempts if not a.skipped and a.kind in QUOTA_KINDS
        )


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Runs just before headers go out (`on_response_prepare`): streams and the error
    middleware's answers carry it too."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id


def _log_fields(record: RequestRecord) -> dict[str, object]:
    """The access-log line: what happened, never what was said."""
    fields: dict[str, object] = {
        "id": record.id,  # whole: a prefix is not unique, and the stats API needs it all
        "chain": record.chain,
        "status": record.status,
        "outcome": record.outcome,
        "ms": round(record.latency_ms, 1),
        "calls": record.calls,
        "skipped": record.skipped,
    }
    if record.provider:
        fields["served"] = f"{record.provider}/{record.model}"
        fields["stream"] = record.stream
    if record.error:
        fields["error"] = record.error
    return fields


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _text(messages: object) -> str:
    """The last message's text, for the log (only with log_content)."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return ""
    content = messages[-1].get("content")
    if isinstance(content, list):
        content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return _clip(str(content or ""))
