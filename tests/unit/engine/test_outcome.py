"""The outcome table, row by row, against real provider replies."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import orjson
import pytest

from chain429.engine.outcome import (
    classify_exception,
    classify_response,
    classify_stream_error,
    rejects_stream_options,
)
from chain429.engine.upstream import ResponseTooLarge
from chain429.quota.hints import DailyReset, decode_error_body
from chain429.vocabulary import POLICY, Action, Outcome, OutcomeKind
from tests.unit.fixtures import providers as fx

NOW = 1788800000.0  # 2026-09-07T16:53:20Z
UTC_MIDNIGHT = 1788825600.0  # 2026-09-08T00:00:00Z
PACIFIC_MIDNIGHT = UTC_MIDNIGHT + 7 * 3600  # 2026-09-08T00:00:00-07:00
NEXT_MONTH = 1790812800.0  # 2026-10-01T00:00:00Z
K = OutcomeKind
NO: dict[str, str] = {}


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        (K.SUCCESS, Action.SUCCEED),
        (K.RATE_LIMITED, Action.COOLDOWN),
        (K.QUOTA_EXHAUSTED, Action.LONG_COOLDOWN),
        (K.AUTH_FAILED, Action.COOLDOWN_PROVIDER),
        (K.MODEL_NOT_FOUND, Action.COOLDOWN),  # the tracker gives it a long default
        (K.CONTEXT_LENGTH, Action.NEXT),
        (K.CLIENT_ERROR, Action.RETURN),
        (K.UPSTREAM_ERROR, Action.COUNT_FAILURE),
        (K.TIMEOUT, Action.COUNT_FAILURE),
        (K.CONNECTION_ERROR, Action.COUNT_FAILURE),
        (K.MALFORMED, Action.COUNT_FAILURE),
    ],
)
def test_policy_row(kind: OutcomeKind, action: Action) -> None:
    assert POLICY[kind] is action
    assert Outcome(kind, None, "x").action is action


def test_policy_covers_every_kind() -> None:
    assert set(POLICY) == set(OutcomeKind)


def row(
    status: int,
    body: bytes,
    kind: OutcomeKind,
    retry_in: float | None = None,
    *,
    headers: dict[str, str] = NO,
    daily: bool = False,
    reset: DailyReset = "utc-midnight",
    dialect: str = "generic",
    retry_at: float | None = None,
    id: str,
) -> Any:
    expected_at = (
        retry_at if retry_at is not None else (None if retry_in is None else NOW + retry_in)
    )
    return pytest.param(status, headers, body, reset, dialect, kind, daily, expected_at, id=id)


ROWS = [
    row(200, b'{"choices":[]}', K.SUCCESS, id="200"),
    row(204, b"", K.SUCCESS, id="204"),
    # --- 429: per-minute vs daily, retry_at from the right place ---
    row(429, fx.OPENAI_429_RPM, K.RATE_LIMITED, 20, id="openai-rpm-body-delay"),
    row(
        429,
        fx.OPENAI_429_RPD,
        K.QUOTA_EXHAUSTED,
        daily=True,
        retry_at=UTC_MIDNIGHT,
        id="openai-rpd",
    ),
    row(429, fx.OPENAI_429_BILLING, K.QUOTA_EXHAUSTED, id="openai-insufficient-quota"),
    row(
        429,
        fx.GROQ_429_RPM,
        K.RATE_LIMITED,
        2,
        headers=fx.GROQ_429_HEADERS,
        dialect="groq",
        id="groq-rpm-retry-after",
    ),
    row(429, fx.GROQ_429_RPM, K.RATE_LIMITED, 2, id="groq-rpm-body"),
    # "Limit 7000, Used 0, Requested ~12903": this request can never fit here; cool nothing.
    row(429, fx.GROQ_429_TPM, K.CONTEXT_LENGTH, id="groq-tpm-request-over-the-limit"),
    row(429, fx.GROQ_429_TPD, K.QUOTA_EXHAUSTED, daily=True, retry_at=UTC_MIDNIGHT, id="groq-tpd"),
    row(
        429,
        fx.GROQ_429_TPD,
        K.QUOTA_EXHAUSTED,
        578.016,
        daily=True,
        reset="rolling",
        id="groq-tpd-rolling-trusts-body",
    ),
    row(
        429,
        fx.GROQ_429_RPD,
        K.QUOTA_EXHAUSTED,
        86.4,
        daily=True,
        reset="rolling",
        id="groq-rpd-rolling",
    ),
    row(
        429,
        fx.GROQ_429_RPD,
        K.QUOTA_EXHAUSTED,
        179.56,
        headers={**fx.GROQ_200_HEADERS, "x-ratelimit-remaining-requests": "0"},
        daily=True,
        dialect="groq",
        id="groq-rpd-header-counter",
    ),
    row(413, fx.GROQ_413_TPM, K.CONTEXT_LENGTH, id="groq-413-request-too-large"),
    row(429, fx.GROQ_429_OTPM, K.CONTEXT_LENGTH, id="groq-429-otpm-request-too-large"),
    row(429, fx.CEREBRAS_429_RPM, K.RATE_LIMITED, id="cerebras-rpm"),
    row(
        429,
        fx.CEREBRAS_429_TPM,
        K.RATE_LIMITED,
        41.7,
        headers=fx.CEREBRAS_200_FREE_HEADERS,
        dialect="cerebras",
        id="cerebras-tpm-exhausted-window-reset",
    ),
    row(429, fx.CEREBRAS_429_QUEUE, K.RATE_LIMITED, id="cerebras-queue"),
    row(
        429,
        fx.CEREBRAS_429_QUEUE,
        K.RATE_LIMITED,
        3,
        headers={"retry-after": "3", "x-ratelimit-remaining-requests-day": "0"},
        id="cerebras-queue-is-capacity-not-quota",
    ),
    row(
        429,
        fx.CEREBRAS_429_RPM,
        K.QUOTA_EXHAUSTED,
        52311.2,
        headers={**fx.CEREBRAS_200_FREE_HEADERS, "x-ratelimit-remaining-requests-day": "0"},
        daily=True,
        dialect="cerebras",
        id="cerebras-requests-day-zero",
    ),
    row(402, fx.CEREBRAS_402, K.QUOTA_EXHAUSTED, id="cerebras-402"),
    row(404, fx.CEREBRAS_404_ARCHIVED, K.MODEL_NOT_FOUND, id="cerebras-404-archived"),
    row(
        429,
        fx.OPENROUTER_429_DAILY,
        K.QUOTA_EXHAUSTED,
        headers=fx.OPENROUTER_429_DAILY_HEADERS,
        daily=True,
        reset="pacific-midnight",  # proves the header's reset is used, not the mode's
        dialect="openrouter",
        retry_at=fx.OPENROUTER_DAILY_RESET,
        id="openrouter-daily-headers",
    ),
    row(
        429,
        fx.OPENROUTER_429_DAILY,
        K.QUOTA_EXHAUSTED,
        daily=True,
        reset="pacific-midnight",
        retry_at=fx.OPENROUTER_DAILY_RESET,
        id="openrouter-daily-headers-in-body",
    ),
    row(
        429,
        fx.OPENROUTER_429_HIGH_BALANCE,
        K.QUOTA_EXHAUSTED,
        daily=True,
        retry_at=UTC_MIDNIGHT,
        id="openrouter-high-balance",
    ),
    row(429, fx.OPENROUTER_429_PER_MIN, K.RATE_LIMITED, id="openrouter-per-min"),
    row(
        429,
        fx.OPENROUTER_429_PER_MIN,
        K.RATE_LIMITED,
        40,
        headers={
            "X-RateLimit-Limit": "20",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int((NOW + 40) * 1000)),
        },
        dialect="openrouter",
        id="openrouter-per-min-ms-reset",
    ),
    row(429, fx.OPENROUTER_429_UPSTREAM, K.RATE_LIMITED, id="openrouter-upstream"),
    row(429, fx.OPENROUTER_429_GENERIC, K.RATE_LIMITED, id="openrouter-generic"),
    row(429, fx.OPENROUTER_429_CAPACITY, K.RATE_LIMITED, 40, id="openrouter-capacity"),
    # "can only afford 92985": a smaller request still goes; move on, cool nothing.
    row(402, fx.OPENROUTER_402, K.CONTEXT_LENGTH, id="openrouter-402-can-only-afford"),
    row(
        402,
        b'{"error":{"code":402,"message":"Insufficient credits"}}',
        K.QUOTA_EXHAUSTED,
        id="openrouter-402",
    ),
    row(
        402,
        b'{"error":{"code":402,"message":"in_flight_budget_exhausted"}}',
        K.RATE_LIMITED,
        5,
        headers={"Retry-After": "5"},
        id="openrouter-402-in-flight-budget",
    ),
    row(404, fx.OPENROUTER_404_FREE_ENDED, K.MODEL_NOT_FOUND, id="openrouter-free-variant-ended"),
    row(
        400,
        b'{"error":{"code":400,"message":"gone","availability":{"code":"free_variant_ended"}}}',
        K.MODEL_NOT_FOUND,
        id="openrouter-free-variant-ended-any-status",
    ),
    row(403, fx.OPENROUTER_403_MODERATION, K.CLIENT_ERROR, id="openrouter-403-moderation"),
    row(
        429,
        fx.GEMINI_429_DAILY,
        K.QUOTA_EXHAUSTED,
        daily=True,
        reset="pacific-midnight",
        retry_at=PACIFIC_MIDNIGHT,  # not NOW + 32: the retryDelay is ignored
        id="gemini-daily-ignores-retrydelay",
    ),
    row(
        429,
        fx.GEMINI_429_DAILY,
        K.QUOTA_EXHAUSTED,
        daily=True,
        retry_at=UTC_MIDNIGHT,
        id="gemini-daily-default-mode",
    ),
    row(429, fx.GEMINI_429_MINUTE, K.RATE_LIMITED, 26, id="gemini-per-minute"),
    row(429, fx.GEMINI_429_MINIMAL, K.RATE_LIMITED, id="gemini-minimal"),
    row(429, fx.GEMINI_429_RETRY_PROSE, K.RATE_LIMITED, 5.237548564, id="gemini-prose"),
    row(
        429,
        fx.GEMINI_429_NO_FREE_TIER,
        K.QUOTA_EXHAUSTED,
        daily=True,
        reset="pacific-midnight",
        retry_at=PACIFIC_MIDNIGHT,
        id="gemini-limit-0",
    ),
    row(503, fx.GEMINI_503, K.UPSTREAM_ERROR, id="gemini-503"),
    row(400, fx.GEMINI_400_DOUBLE_CREDENTIAL, K.CLIENT_ERROR, id="gemini-400"),
    row(404, fx.GEMINI_404_GONE, K.MODEL_NOT_FOUND, id="gemini-404-no-longer-available"),
    row(
        400,
        b'[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",'
        b'"status":"INVALID_ARGUMENT"}}]',
        K.AUTH_FAILED,
        id="gemini-400-bad-key",
    ),
    row(
        429,
        fx.GITHUB_429_DAILY,
        K.QUOTA_EXHAUSTED,
        24367,  # the header's daily counter, over the body's 5631
        headers=fx.GITHUB_429_DAILY_HEADERS,
        daily=True,
        dialect="github",
        id="github-daily-headers",
    ),
    row(429, fx.GITHUB_429_DAILY, K.QUOTA_EXHAUSTED, 5631, daily=True, id="github-daily-body"),
    row(
        429,
        fx.GITHUB_429_MINUTE,
        K.RATE_LIMITED,
        46,
        headers=fx.GITHUB_429_MINUTE_HEADERS,
        dialect="github",
        id="github-minute",
    ),
    row(413, fx.GITHUB_413, K.CONTEXT_LENGTH, id="github-413-tokens-limit"),
    row(429, fx.MISTRAL_429_NEW, K.RATE_LIMITED, id="mistral-new"),
    row(429, fx.MISTRAL_429_OLD, K.RATE_LIMITED, id="mistral-old"),
    row(
        429,
        fx.MISTRAL_429_OLD,
        K.QUOTA_EXHAUSTED,
        headers={**fx.MISTRAL_200_OLD_HEADERS, "x-ratelimitbysize-remaining-month": "0"},
        daily=True,
        dialect="mistral",
        retry_at=NEXT_MONTH,
        id="mistral-month-spent",
    ),
    row(
        429,
        fx.MISTRAL_429_NEW,
        K.RATE_LIMITED,
        headers={**fx.MISTRAL_200_NEW_HEADERS, "x-ratelimit-remaining-req-minute": "0"},
        dialect="mistral",
        id="mistral-minute-spent",
    ),
    row(422, fx.MISTRAL_422_STREAM_OPTIONS, K.CLIENT_ERROR, id="mistral-422"),
    row(429, fx.NVIDIA_429, K.RATE_LIMITED, id="nvidia-429"),
    row(400, fx.NVIDIA_400_DEGRADED, K.UPSTREAM_ERROR, id="nvidia-degraded"),
    row(
        429,
        fx.CLOUDFLARE_429_DAILY,
        K.QUOTA_EXHAUSTED,
        daily=True,
        retry_at=UTC_MIDNIGHT,
        id="cloudflare-neurons",
    ),
    row(403, fx.CLOUDFLARE_1010, K.UPSTREAM_ERROR, id="cloudflare-1010-is-not-auth"),
    row(429, fx.TOGETHER_429, K.RATE_LIMITED, id="together-429"),
    row(
        503,
        b'{"error":{"message":"capacity"}}',
        K.UPSTREAM_ERROR,
        7,
        headers={"retry-after": "7"},
        id="together-503-retry-after",
    ),
    row(403, fx.TOGETHER_403_CONTEXT, K.CONTEXT_LENGTH, id="together-403-context"),
    row(
        429,
        fx.COHERE_429_MONTH,
        K.QUOTA_EXHAUSTED,
        daily=True,
        retry_at=NEXT_MONTH,
        id="cohere-month",
    ),
    row(429, fx.COHERE_429_MINUTE, K.RATE_LIMITED, id="cohere-minute"),
    row(402, fx.HF_402, K.QUOTA_EXHAUSTED, id="hf-402"),
    row(402, fx.CHUTES_402, K.QUOTA_EXHAUSTED, id="chutes-402"),
    row(400, fx.SAMBANOVA_400, K.CLIENT_ERROR, id="sambanova-400"),
    row(400, fx.OPENAI_400_CONTEXT, K.CONTEXT_LENGTH, id="openai-400-context"),
    row(
        400,
        b'{"error":{"message":"Please reduce the length of the messages or completion."}}',
        K.CONTEXT_LENGTH,
        id="reduce-the-length",
    ),
    row(
        422,
        b'{"error":{"message":"too many tokens in the prompt"}}',
        K.CONTEXT_LENGTH,
        id="422-too-many-tokens",
    ),
    row(
        400,
        b'{"error":{"message":"number of input and maximum output tokens (24092) exceeded this '
        b'model context window limit (24000)."}}',
        K.CONTEXT_LENGTH,
        id="cloudflare-context-window",
    ),
    row(413, b"", K.CONTEXT_LENGTH, id="413-empty"),
    # --- auth, models, and the rest ---
    row(401, b'{"error":{"message":"Invalid API Key"}}', K.AUTH_FAILED, id="401"),
    row(403, b'{"error":{"message":"Forbidden"}}', K.AUTH_FAILED, id="403"),
    row(410, b'{"error":{"message":"model deprecated"}}', K.MODEL_NOT_FOUND, id="410-gone"),
    row(
        400,
        b'{"error":{"message":"The model `llama-9` does not exist or you do not have access."}}',
        K.MODEL_NOT_FOUND,
        id="400-model-does-not-exist",
    ),
    row(
        400,
        b'{"error":{"message":"foo is not a valid model ID","code":400}}',
        K.MODEL_NOT_FOUND,
        id="openrouter-400-invalid-model",
    ),
    row(422, b'{"detail":[{"loc":["body","n"],"msg":"bad"}]}', K.CLIENT_ERROR, id="422"),
    row(408, b"", K.UPSTREAM_ERROR, id="408"),
    row(409, b"", K.UPSTREAM_ERROR, id="409"),
    row(425, b"", K.UPSTREAM_ERROR, id="425"),
    row(498, b'{"error":{"code":"capacity_exceeded"}}', K.UPSTREAM_ERROR, id="groq-498-flex"),
    row(499, b"", K.UPSTREAM_ERROR, id="499"),
    row(500, b"", K.UPSTREAM_ERROR, id="500"),
    row(502, b"<html><title>502 Bad Gateway</title></html>", K.UPSTREAM_ERROR, id="502-html"),
    row(504, b"queue full", K.UPSTREAM_ERROR, id="sambanova-504"),
    row(418, b"", K.UPSTREAM_ERROR, id="418-anything-else"),
    row(302, b"", K.UPSTREAM_ERROR, id="302-redirect"),
    # --- practical rules: match on status, not prose ---
    row(
        500,
        b'{"error":{"message":"upstream said 404 model not found"}}',
        K.UPSTREAM_ERROR,
        id="500-says-404",
    ),
    row(
        429,
        b'{"error":{"message":"Rate limit reached for model `x` which does not exist in tier"}}',
        K.RATE_LIMITED,
        id="429-naming-a-model",
    ),
]


@pytest.mark.parametrize(
    ("status", "headers", "body", "reset", "dialect", "kind", "daily", "retry_at"), ROWS
)
def test_classify_response(
    status: int,
    headers: dict[str, str],
    body: bytes,
    reset: DailyReset,
    dialect: str,
    kind: OutcomeKind,
    daily: bool,
    retry_at: float | None,
) -> None:
    outcome = classify_response(status, headers, body, now=NOW, daily_reset=reset, dialect=dialect)
    assert (outcome.kind, outcome.status, outcome.daily) == (kind, status, daily)
    if retry_at is None:
        assert outcome.retry_at is None
    else:
        assert outcome.retry_at == pytest.approx(retry_at, rel=0, abs=1e-6)


@pytest.mark.parametrize(
    ("headers", "body", "retry_in"),
    [
        pytest.param(
            {"retry-after-ms": "1500", "retry-after": "9", "x-ratelimit-remaining-tokens": "0"},
            fx.OPENAI_429_RPM,
            1.5,
            id="retry-after-ms-first",
        ),
        pytest.param(
            {
                "retry-after": "9",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "30s",
            },
            fx.OPENAI_429_RPM,
            9,
            id="then-retry-after",
        ),
        pytest.param(
            {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "30s"},
            fx.OPENAI_429_RPM,
            30,
            id="then-exhausted-window-reset",
        ),
        pytest.param(
            {"x-ratelimit-remaining-tokens": "5", "x-ratelimit-reset-tokens": "30s"},
            fx.OPENAI_429_RPM,
            20,
            id="a-window-with-room-is-no-hint",
        ),
        pytest.param(
            {
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "30s",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "45s",
            },
            fx.OPENAI_429_RPM,
            45,
            id="latest-of-several-exhausted",
        ),
    ],
)
def test_rate_limit_retry_at_order(headers: dict[str, str], body: bytes, retry_in: float) -> None:
    outcome = classify_response(429, headers, body, now=NOW, dialect="openai")
    assert outcome.kind is K.RATE_LIMITED
    assert outcome.retry_at == pytest.approx(NOW + retry_in, rel=0, abs=1e-6)


@pytest.mark.parametrize(
    ("headers", "body", "reset", "expected"),
    [
        pytest.param(
            {"retry-after": "7200"},
            fx.GEMINI_429_DAILY,
            "pacific-midnight",
            NOW + 7200,
            id="long-retry-after-is-the-reset",
        ),
        pytest.param(
            {"retry-after": "60"},
            fx.GEMINI_429_DAILY,
            "pacific-midnight",
            PACIFIC_MIDNIGHT,
            id="short-retry-after-ignored",
        ),
        pytest.param(
            {"retry-after": "58"},
            fx.GROQ_429_RPD.replace(b" Please try again in 1m26.4s.", b""),
            "rolling",
            NOW + 86400,
            id="daily-wins-over-a-short-retry-after",
        ),
        pytest.param(
            {"retry-after": "60"},
            fx.GROQ_429_TPD,
            "rolling",
            NOW + 578.016,
            id="rolling-trusts-the-bodys-own-words",
        ),
        pytest.param(NO, fx.GROQ_429_TPD, "utc-midnight", UTC_MIDNIGHT, id="short-body-ignored"),
        pytest.param(NO, fx.GROQ_429_TPD, "rolling", NOW + 578.016, id="rolling-body"),
        pytest.param(
            NO,
            fx.OPENAI_429_RPD.replace(b"7m12s", b"6h12m"),
            "utc-midnight",
            NOW + 6 * 3600 + 12 * 60,
            id="long-body-delay",
        ),
        pytest.param(NO, fx.COHERE_429_MONTH, "rolling", NEXT_MONTH, id="month-no-hint"),
        pytest.param(
            NO, fx.CLOUDFLARE_429_DAILY, "rolling", UTC_MIDNIGHT, id="cloudflare-is-utc-midnight"
        ),
    ],
)
def test_daily_retry_at(
    headers: dict[str, str], body: bytes, reset: DailyReset, expected: float
) -> None:
    outcome = classify_response(429, headers, body, now=NOW, daily_reset=reset)
    assert (outcome.kind, outcome.daily) == (K.QUOTA_EXHAUSTED, True)
    assert outcome.retry_at == pytest.approx(expected, rel=0, abs=1e-6)


@pytest.mark.parametrize(
    ("status", "headers", "body", "message"),
    [
        (429, {"retry-after": "42"}, fx.NVIDIA_429, "429 rate limited (retry in 42s)"),
        (429, NO, fx.GROQ_429_RPM, "429 rate limited (retry in 2s)"),
        (429, NO, fx.NVIDIA_429, "429 rate limited"),
        (429, NO, fx.GROQ_429_TPD, "429 daily quota exhausted (resets in 7h6m)"),
        (
            429,
            fx.GITHUB_429_DAILY_HEADERS,
            fx.GITHUB_429_DAILY,
            "429 daily quota exhausted (resets in 6h46m)",
        ),
        (429, NO, fx.OPENAI_429_BILLING, "429 quota exhausted (billing)"),
        (402, NO, fx.HF_402, "402 quota exhausted"),
        (
            401,
            NO,
            b'{"error":{"message":"Incorrect API key provided: sk-abcdefghijkl12345"}}',
            "401 invalid API key",
        ),
        (403, NO, b"", "403 access denied"),
        (403, NO, fx.CLOUDFLARE_1010, "403 blocked by Cloudflare"),
        (
            404,
            NO,
            fx.CEREBRAS_404_ARCHIVED,
            "404 model not found: Model zai-glm-4.7 is archived and unavailable for the "
            "organization.",
        ),
        (503, NO, fx.GEMINI_503, "503 upstream error: The service is currently unavailable."),
        (503, {"retry-after": "120"}, b"", "503 upstream error (retry in 2m)"),
        (
            422,
            NO,
            fx.MISTRAL_422_STREAM_OPTIONS,
            "422 bad request: body.stream_options.include_usage: Extra inputs are not permitted",
        ),
        (
            500,
            NO,
            b'{"error":{"message":"echo Authorization: Bearer sk-live-abcdefghijklmnop"}}',
            "500 upstream error: echo Authorization: [redacted]",
        ),
    ],
)
def test_message(status: int, headers: dict[str, str], body: bytes, message: str) -> None:
    assert classify_response(status, headers, body, now=NOW).message == message


def test_message_stays_short_for_huge_bodies() -> None:
    huge = orjson.dumps({"error": {"message": "x" * 10_000}})
    assert len(classify_response(500, NO, huge, now=NOW).message) < 200


@pytest.mark.parametrize(
    ("status", "body", "forwarded"),
    [
        pytest.param(400, fx.GEMINI_400_DOUBLE_CREDENTIAL, True, id="client-error-unwrapped"),
        pytest.param(422, fx.MISTRAL_422_STREAM_OPTIONS, True, id="client-error"),
        pytest.param(400, fx.OPENAI_400_CONTEXT, True, id="context-length"),
        pytest.param(429, fx.GROQ_429_RPM, False, id="rate-limited"),
        pytest.param(503, fx.GEMINI_503, False, id="upstream"),
    ],
)
def test_error_body_is_the_decoded_upstream_body(status: int, body: bytes, forwarded: bool) -> None:
    outcome = classify_response(status, NO, body, now=NOW)
    assert outcome.error_body == (decode_error_body(body) if forwarded else None)
    if forwarded:
        assert isinstance(outcome.error_body, dict)  # Gemini's array is unwrapped


class ClientError(Exception):
    """Stand-ins shaped like aiohttp's hierarchy, matched by class name only."""


class ClientConnectionError(ClientError):
    pass


class ServerDisconnectedError(ClientConnectionError):
    pass


class ClientPayloadError(ClientError):
    pass


class ContentTypeError(ClientError):
    pass


class TransportError(Exception):
    """httpx-shaped stand-ins (httpx is used off the hot path, e.g. in admin calls)."""


class TimeoutException(TransportError):
    pass


class ConnectError(TransportError):
    pass


class DecodingError(Exception):
    pass


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), K.TIMEOUT),
        (aiohttp.ServerTimeoutError("read timed out"), K.TIMEOUT),  # also a connection error
        (aiohttp.ConnectionTimeoutError(), K.TIMEOUT),
        (ConnectionResetError(104, "reset by peer"), K.CONNECTION_ERROR),
        (ConnectionRefusedError(), K.CONNECTION_ERROR),
        (OSError("network unreachable"), K.CONNECTION_ERROR),
        (aiohttp.ServerDisconnectedError(), K.CONNECTION_ERROR),
        (aiohttp.ClientOSError(), K.CONNECTION_ERROR),
        (aiohttp.ClientPayloadError("truncated"), K.CONNECTION_ERROR),
        (ServerDisconnectedError(), K.CONNECTION_ERROR),
        (ClientPayloadError(), K.CONNECTION_ERROR),
        (ResponseTooLarge("over the cap"), K.MALFORMED),
        (ContentTypeError(), K.MALFORMED),
        (TimeoutException(), K.TIMEOUT),
        (ConnectError(), K.CONNECTION_ERROR),
        (DecodingError(), K.MALFORMED),
        (ClientError(), K.UPSTREAM_ERROR),
    ],
)
def test_classify_exception(exc: BaseException, kind: OutcomeKind) -> None:
    outcome = classify_exception(exc)
    assert outcome is not None
    assert (outcome.kind, outcome.status, outcome.retry_at) == (kind, None, None)
    assert type(exc).__name__ in outcome.message


def test_exception_message_has_no_secret() -> None:
    exc = OSError("proxy refused Authorization: Bearer nvapi-abcdefghijklmnop")
    message = classify_exception(exc).message
    assert "nvapi" not in message
    assert message == "connection error (OSError: proxy refused Authorization: [redacted])"


@pytest.mark.parametrize(
    ("event", "kind", "status", "retry_at"),
    [
        pytest.param(fx.OPENROUTER_STREAM_429, K.RATE_LIMITED, 429, None, id="openrouter-429"),
        pytest.param(
            {"error": {"code": "429", "message": "x"}}, K.RATE_LIMITED, 429, None, id="str-code"
        ),
        pytest.param(
            {"error": {"code": 402, "message": "Insufficient credits"}},
            K.QUOTA_EXHAUSTED,
            402,
            None,
            id="402",
        ),
        pytest.param(
            {"error": {"message": "x", "metadata": {"error_type": "provider_overloaded"}}},
            K.UPSTREAM_ERROR,
            503,
            None,
            id="error-type-only",
        ),
        pytest.param(
            {"error": {"code": 400, "message": "x", "type": "context_length_exceeded"}},
            K.CONTEXT_LENGTH,
            400,
            None,
            id="context",
        ),
        pytest.param(
            orjson.loads(fx.OPENROUTER_429_DAILY),
            K.QUOTA_EXHAUSTED,
            429,
            fx.OPENROUTER_DAILY_RESET,
            id="daily-with-embedded-headers",
        ),
        pytest.param(
            orjson.loads(fx.OPENROUTER_429_CAPACITY),
            K.RATE_LIMITED,
            429,
            NOW + 40,
            id="capacity-no-code-uses-http-status-field",
        ),
        pytest.param({"error": "boom"}, K.UPSTREAM_ERROR, None, None, id="string-error"),
        pytest.param({"error": {"message": "?"}}, K.UPSTREAM_ERROR, None, None, id="no-code"),
        pytest.param({"error": {"code": 200}}, K.UPSTREAM_ERROR, 200, None, id="code-200"),
        pytest.param({"error": {"code": 9999}}, K.UPSTREAM_ERROR, None, None, id="bogus-code"),
    ],
)
def test_classify_stream_error(
    event: dict[str, Any], kind: OutcomeKind, status: int | None, retry_at: float | None
) -> None:
    outcome = classify_stream_error(event, now=NOW)
    assert (outcome.kind, outcome.status, outcome.retry_at) == (kind, status, retry_at)


@pytest.mark.parametrize(
    ("status", "body", "rejects"),
    [
        (422, fx.MISTRAL_422_STREAM_OPTIONS, True),
        (400, b'{"error":{"message":"Unrecognized request argument: stream_options"}}', True),
        (400, '{"detail":"include_usage is not supported"}', True),
        (429, b"stream_options", False),
        (400, fx.SAMBANOVA_400, False),
        (200, fx.MISTRAL_422_STREAM_OPTIONS, False),
    ],
)
def test_rejects_stream_options(status: int, body: bytes | str, rejects: bool) -> None:
    assert rejects_stream_options(status, body) is rejects


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad"),
        TypeError("Recursion limit reached"),  # orjson.dumps of a body nested too deep
        json.JSONDecodeError("x", "doc", 0),
        orjson.JSONDecodeError("x", "doc", 0),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
        RuntimeError("?"),
        KeyError("choices"),
    ],
)
def test_local_exceptions_are_not_the_upstreams_fault(exc: BaseException) -> None:
    """A fault of ours must never be charged to an entry (it would feed every breaker)."""
    assert classify_exception(exc) is None


def test_a_daily_429_names_its_counter() -> None:
    """The tracker draws the line of a spent tokens-per-day bucket from it (quota.drained)."""
    body = b'{"message": "Tokens per day limit exceeded - too many tokens processed."}'
    outcome = classify_response(
        429, {"retry-after": "100"}, body, now=NOW, dialect="cerebras", refill="continuous"
    )
    assert (outcome.kind, outcome.daily, outcome.counter) == (K.QUOTA_EXHAUSTED, True, "tokens")
    assert outcome.retry_at == pytest.approx(NOW + 100)
    minute = classify_response(429, {}, fx.CEREBRAS_429_TPM, now=NOW, dialect="cerebras")
    assert minute.counter is None
