"""A client's request: validated once, then rewritten per entry.

A request in another API than chat (/v1/messages) is translated to chat for most entries;
`native` keeps it as the client sent it, for entries whose preset serves that API itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from chain429.engine.operations import CHAT, Operation
from chain429.errors import ProxyError
from chain429.providers.presets import IMAGE_TOKENS
from chain429.vocabulary import Entry


@dataclass(slots=True)
class ClientRequest:
    operation: Operation
    body: dict[str, Any]
    stream: bool
    include_usage: bool  # the client itself asked for the usage chunk
    prompt_tokens: int  # estimated from the text, media left out
    images: int = 0  # image parts, counted by each provider's own rule
    max_tokens: int | None = None  # the completion budget the client set, if any
    # The same request in the client's own API (an Anthropic body, operation MESSAGES), for
    # entries that speak it natively; None when the client spoke chat (or no API we pass on).
    native: ClientRequest | None = None

    @property
    def model(self) -> str | None:
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    @property
    def est_tokens(self) -> int:
        """Prompt plus completion budget, before any provider's rules: for logs and stats."""
        return self.input_tokens + (self.max_tokens or 0)

    @property
    def input_tokens(self) -> int:
        """The prompt, images counted at the common rate: what Anthropic's count_tokens says."""
        return self.prompt_tokens + self.images * IMAGE_TOKENS

    def for_entry(self, entry: Entry) -> ClientRequest | None:
        """What `entry` gets: the native request if it serves that API, else this one if it
        serves this operation, else None (the entry cannot serve it)."""
        if self.native is not None and entry.serves(self.native.operation.name):
            return self.native
        return self if entry.serves(self.operation.name) else None

    def tokens_for(self, entry: Entry) -> int:
        """What `entry`'s provider will count against its token limits for this request.

        Images count by the preset's per-image rule, not by the characters of their base64;
        a request with no max_tokens counts what the provider reserves for it (Cerebras: the
        whole sequence length).
        """
        preset = entry.preset
        if not self.operation.generates:  # embeddings: the input is all that counts
            return self.prompt_tokens
        budget = self.max_tokens if self.max_tokens is not None else preset.unbounded_max_tokens
        return self.prompt_tokens + self.images * preset.image_tokens + budget


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object, or the client's 400."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(
            400, f"The request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise ProxyError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def parse_request(raw: bytes, operation: Operation = CHAT) -> ClientRequest:
    """Validate just enough to route and to send; everything else is the upstream's business."""
    body = json_object(raw)
    operation.check(body)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ProxyError(400, "'model' must be a string.", param="model")
    stream = body.get("stream") is True
    if stream and not operation.streams:
        raise ProxyError(400, "This endpoint does not stream.", param="stream")
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    budget = body.get("max_completion_tokens") or body.get("max_tokens")
    if budget is not None and (
        not isinstance(budget, int) or isinstance(budget, bool) or budget < 0
    ):
        raise ProxyError(400, "'max_tokens' must be a non-negative integer.", param="max_tokens")
    prompt, images = _prompt_estimate(raw, body)
    return ClientRequest(operation, body, stream, include_usage, prompt, images, budget)


def native_request(
    chat: ClientRequest, operation: Operation, body: dict[str, Any]
) -> ClientRequest:
    """The client's own `body` in `operation`'s API, beside its `chat` translation.

    It carries the chat request's estimate (images counted by each provider's rule, not by
    their base64) and budget, so an entry reserves the same whichever body it is sent.
    """
    operation.check(body)
    return ClientRequest(
        operation,
        body,
        chat.stream,
        include_usage=False,
        prompt_tokens=chat.prompt_tokens,
        images=chat.images,
        max_tokens=chat.max_tokens,
    )


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _prompt_estimate(raw: bytes, body: dict[str, Any]) -> tuple[int, int]:
    """Text tokens (about 4 bytes each) and the number of images.

    Most bodies carry no media: the byte length alone is the estimate. Otherwise the media's
    own bytes are left out (a 600 kB base64 image is not 150k tokens) and images are counted.
    """
    if _MEDIA not in raw and _AUDIO not in raw:
        return len(raw) // 4, 0
    media_bytes, images = 0, 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "image_url":
                images += 1
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                media_bytes += len(url) if isinstance(url, str) else 0
            elif kind == "input_audio":
                audio = part.get("input_audio")
                data = audio.get("data") if isinstance(audio, dict) else None
                media_bytes += len(data) if isinstance(data, str) else 0
    return max(0, len(raw) - media_bytes) // 4, images


_MEDIA = b'"image_url"'
_AUDIO = b'"input_audio"'


def upstream_body(request: ClientRequest, entry: Entry, *, send_stream_options: bool) -> bytes:
    """The client's body for one entry: its model, its quirks, and usage for streams.

    Raises a 400 for a body that cannot be encoded (orjson reads deeper nesting than it
    writes); the walk builds it before reserving anything, so no entry is charged for it.
    """
    body = dict(request.body)
    body["model"] = entry.model
    for name in entry.preset.drop_fields:
        body.pop(name, None)
    if request.stream and request.operation.api == "openai":  # stream_options is OpenAI's
        if send_stream_options and entry.preset.stream_usage == "send":
            options = body.get("stream_options")
            merged = dict(options) if isinstance(options, dict) else {}
            merged["include_usage"] = True
            body["stream_options"] = merged
        elif not send_stream_options or entry.preset.stream_usage == "strip":
            body.pop("stream_options", None)
    return encode(body)


def encode(body: dict[str, Any]) -> bytes:
    """A body as JSON, or the client's 400: orjson reads deeper nesting than it writes."""
    try:
        return orjson.dumps(body)
    except TypeError as exc:
        raise ProxyError(
            400, f"The request body cannot be forwarded: {exc}.", code="invalid_json"
        ) from None
