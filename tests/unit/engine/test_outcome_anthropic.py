"""The outcome table against Anthropic's replies: error bodies, 529, and stream `error` events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from chain429.engine.outcome import classify_anthropic_error, classify_response
from chain429.vocabulary import Action, OutcomeKind

NOW = 1788800000.0  # 2026-09-07T16:53:20Z
K = OutcomeKind


def body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}


RATE_LIMIT = body(
    "rate_limit_error",
    "This request would exceed the rate limit for your organization (org-1) of 50,000 input "
    "tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
)
ANTHROPIC_HEADERS = {
    "retry-after": "12",
    "anthropic-ratelimit-input-tokens-limit": "50000",
    "anthropic-ratelimit-input-tokens-remaining": "0",
    "anthropic-ratelimit-input-tokens-reset": "2026-09-07T16:53:50Z",
}


@pytest.mark.parametrize(
    ("status", "reply", "kind", "action"),
    [
        (429, RATE_LIMIT, K.RATE_LIMITED, Action.COOLDOWN),
        (529, body("overloaded_error", "Overloaded"), K.UPSTREAM_ERROR, Action.COUNT_FAILURE),
        (400, body("invalid_request_error", "max_tokens: Field required"), K.CLIENT_ERROR, None),
        (
            400,
            body("invalid_request_error", "prompt is too long: 208310 tokens > 200000"),
            None,
            None,
        ),
        (401, body("authentication_error", "invalid x-api-key"), K.AUTH_FAILED, None),
        (
            403,
            body("permission_error", "Your API key does not have permission"),
            K.AUTH_FAILED,
            None,
        ),
        (404, body("not_found_error", "model: claude-nope"), K.MODEL_NOT_FOUND, None),
        (
            413,
            body("request_too_large", "Request exceeds the maximum size"),
            K.CONTEXT_LENGTH,
            None,
        ),
        (500, body("api_error", "Internal server error"), K.UPSTREAM_ERROR, None),
    ],
)
def test_anthropic_error_bodies(
    status: int, reply: dict[str, Any], kind: OutcomeKind | None, action: Action | None
) -> None:
    outcome = classify_response(
        status, ANTHROPIC_HEADERS, orjson.dumps(reply), now=NOW, dialect="anthropic"
    )
    assert outcome.kind is (kind or K.CONTEXT_LENGTH)
    assert outcome.status == status
    if action is not None:
        assert outcome.action is action


def test_an_anthropic_429_waits_for_retry_after() -> None:
    outcome = classify_response(
        429, ANTHROPIC_HEADERS, orjson.dumps(RATE_LIMIT), now=NOW, dialect="anthropic"
    )
    assert outcome.retry_at == NOW + 12  # retry-after, before the counter's own reset


def test_a_529_says_overloaded_and_keeps_its_retry_hint() -> None:
    reply = orjson.dumps(body("overloaded_error", "Overloaded"))
    outcome = classify_response(529, {"retry-after": "5"}, reply, now=NOW, dialect="anthropic")
    assert outcome.message.startswith("529 overloaded")
    assert outcome.retry_at == NOW + 5


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("overloaded_error", K.UPSTREAM_ERROR),
        ("api_error", K.UPSTREAM_ERROR),
        ("rate_limit_error", K.RATE_LIMITED),
        ("invalid_request_error", K.CLIENT_ERROR),
        ("authentication_error", K.AUTH_FAILED),
        ("not_found_error", K.MODEL_NOT_FOUND),
        ("something_new", K.UPSTREAM_ERROR),
    ],
)
def test_a_stream_error_event_classifies_as_its_type(kind: str, expected: OutcomeKind) -> None:
    outcome = classify_anthropic_error(body(kind, "it went wrong"), now=NOW)
    assert outcome.kind is expected


def test_an_error_event_without_a_type_is_an_upstream_error() -> None:
    outcome = classify_anthropic_error({"type": "error", "error": "boom"}, now=NOW)
    assert outcome.kind is K.UPSTREAM_ERROR and outcome.status is None
