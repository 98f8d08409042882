"""A client's request: validated once, then rewritten per entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from chain429.engine.operations import CHAT, Operation
from chain429.errors import ProxyError
from chain429.vocabulary import Entry


@dataclass(slots=True)
class ClientRequest:
    operation: Operation
    body: dict[str, Any]
    stream: bool
    include_usage: bool  # the client itself asked for the usage chunk
    est_tokens: int  # prompt estimate plus the completion budget, for reservations

    @property
    def model(self) -> str | None:
        model = self.body.get("model")
        return model if isinstance(model, str) else None


def parse_request(raw: bytes, operation: Operation = CHAT) -> ClientRequest:
    """Validate just enough to route and to send; everything else is the upstream's business."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(
            400, f"The request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise ProxyError(400, "The request body must be a JSON object.", code="invalid_json")
    operation.check(body)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ProxyError(400, "'model' must be a string.", param="model")
    stream = body.get("stream") is True
    if stream and not operation.streams:
        raise ProxyError(400, "This endpoint does not stream.", param="stream")
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    budget = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
        raise ProxyError(400, "'max_tokens' must be a non-negative integer.", param="max_tokens")
    return ClientRequest(operation, body, stream, include_usage, len(raw) // 4 + budget)


def upstream_body(request: ClientRequest, entry: Entry, *, send_stream_options: bool) -> bytes:
    """The client's body for one entry: its model, its quirks, and usage for streams.

    Raises a 400 for a body that cannot be encoded (orjson reads deeper nesting than it
    writes); the walk builds it before reserving anything, so no entry is charged for it.
    """
    body = dict(request.body)
    body["model"] = entry.model
    for name in entry.preset.drop_fields:
        body.pop(name, None)
    if request.stream:
        if send_stream_options and entry.preset.stream_usage == "send":
            options = body.get("stream_options")
            merged = dict(options) if isinstance(options, dict) else {}
            merged["include_usage"] = True
            body["stream_options"] = merged
        elif not send_stream_options or entry.preset.stream_usage == "strip":
            body.pop("stream_options", None)
    try:
        return orjson.dumps(body)
    except TypeError as exc:
        raise ProxyError(
            400, f"The request body cannot be forwarded: {exc}.", code="invalid_json"
        ) from None
