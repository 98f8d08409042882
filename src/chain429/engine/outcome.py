"""The outcome table: what an upstream reply or failure means, and what the walk does about it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from chain429.engine.upstream import ResponseTooLarge
from chain429.providers.presets import Refill
from chain429.quota.headers import RateLimitSnapshot, Window, parse_rate_limit_headers
from chain429.quota.hints import (
    DailyReset,
    LongPeriod,
    body_retry_delay,
    body_text,
    clean_message,
    daily_counter,
    decode_error_body,
    error_message,
    is_cloudflare_daily,
    long_exhaustion,
    next_daily_reset,
    next_month_reset,
    quota_usage,
)
from chain429.vocabulary import Outcome, OutcomeKind

# A stated wait this long on a daily 429 is the real reset; shorter ones (Gemini's 32 s
# retryDelay on a per-day quota) belong to some other counter.
_LONG_HINT = 600.0
_DETAIL_LIMIT = 160
_LONG_PERIODS = frozenset({"day", "month"})
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",  # Cloudflare "exceeded this model context window limit"
    "reduce the length",
    "too many tokens",
    "request too large",  # Groq 413: one request is bigger than the whole TPM bucket
    "tokens_limit_reached",  # GitHub Models 8k input cap
    "request body too large",
    "max_tokens_exceeded",
    "token_limit_exceeded",
    "prompt is too long",
)
_BAD_KEY_MARKERS = (
    "api key not valid",  # Gemini answers a bad key with 400
    "api_key_invalid",
    "invalid api key",
    "invalid_api_key",
    "incorrect api key",
)
_MODEL_GONE = re.compile(r"model_not_found|not a valid model|\bmodel\b[^.\n]*\bdoes not exist")
_MODEL_GONE_AVAILABILITY = frozenset({"free_variant_ended", "model_deprecated", "no_endpoints"})
# OpenRouter in-band errors that carry a type instead of a numeric code.
_ERROR_TYPE_STATUS = {
    "rate_limit_exceeded": 429,
    "payment_required": 402,
    "context_length_exceeded": 400,
    "provider_unavailable": 502,
    "provider_overloaded": 503,
    "timeout": 504,
}
# Anthropic's error types (its error bodies and stream `error` events), as the status each
# comes with: an in-band error is then classified as that reply would be.
_ANTHROPIC_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_TIMEOUT_NAMES = frozenset({"ServerTimeoutError", "TimeoutException"})  # aiohttp, httpx
_CONNECTION_NAMES = frozenset(
    {"ClientConnectionError", "ClientPayloadError", "ServerDisconnectedError", "TransportError"}
)
_MALFORMED_NAMES = frozenset({"ContentTypeError", "DecodingError"})
# Other failures of the HTTP clients themselves (aiohttp, httpx): still the upstream's doing.
_CLIENT_NAMES = frozenset({"ClientError", "HTTPError"})


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    daily_reset: DailyReset = "utc-midnight",
    dialect: str = "generic",
    snapshot: RateLimitSnapshot | None = None,
    refill: Refill = "fixed",
) -> Outcome:
    """Classify an upstream HTTP reply; `dialect` names how its rate-limit headers read, and
    `refill` how its counters refill (a token bucket's stated waits hold for daily counters too).

    Pass the `snapshot` already parsed from `headers` to spare parsing them again.
    """
    if 200 <= status < 300:
        return Outcome(OutcomeKind.SUCCESS, status, f"{status} ok")
    if snapshot is None:
        snapshot = parse_rate_limit_headers(dialect, headers, now)
    return _classify(status, headers, decode_error_body(body), now, daily_reset, snapshot, refill)


def classify_stream_error(
    event: Mapping[str, Any], *, now: float, daily_reset: DailyReset = "utc-midnight"
) -> Outcome:
    """Classify an in-band `{"error": …}` event (OpenRouter, HTTP 200) as if it were its status."""
    error = event.get("error")
    if not isinstance(error, dict):
        detail = clean_message(str(error or ""), _DETAIL_LIMIT)
        return Outcome(OutcomeKind.UPSTREAM_ERROR, None, _join("stream error", detail))
    status = _in_band_status(error)
    if status is None or 200 <= status < 300:
        detail = clean_message(error_message(error), _DETAIL_LIMIT)
        return Outcome(OutcomeKind.UPSTREAM_ERROR, status, _join("stream error", detail))
    return _classify(status, {}, {"error": error}, now, daily_reset, None, "fixed")


def classify_anthropic_error(event: Mapping[str, Any], *, now: float) -> Outcome:
    """Classify an Anthropic `{"type": "error", "error": {"type": …}}` seen where an answer
    should be (a stream's `error` event) as the reply its error type stands for."""
    error = event.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    status = _ANTHROPIC_TYPE_STATUS.get(kind) if isinstance(kind, str) else None
    if status is None:
        detail = clean_message(error_message(event), _DETAIL_LIMIT)
        return Outcome(OutcomeKind.UPSTREAM_ERROR, None, _join("stream error", detail))
    return _classify(status, {}, event, now, "utc-midnight", None, "fixed")


def classify_exception(exc: BaseException) -> Outcome | None:
    """Classify a failure to get a reply at all, or None when the upstream is not to blame.

    Only timeouts, socket errors, the HTTP client's own errors and an answer over its size cap
    count against an entry. Any other exception is a fault of ours (a request body that cannot
    be encoded, a bug): charging it to the entry would let one request shape open the breaker
    of every entry. Callers re-raise CancelledError themselves.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    # TimeoutError is an OSError, so it must be checked first. aiohttp is matched by class name
    # so this module stays free of the HTTP client.
    if isinstance(exc, TimeoutError) or names & _TIMEOUT_NAMES:
        kind, label = OutcomeKind.TIMEOUT, "timeout"
    elif isinstance(exc, OSError) or names & _CONNECTION_NAMES:
        kind, label = OutcomeKind.CONNECTION_ERROR, "connection error"
    elif isinstance(exc, ResponseTooLarge) or names & _MALFORMED_NAMES:
        kind, label = OutcomeKind.MALFORMED, "malformed response"
    elif names & _CLIENT_NAMES:
        kind, label = OutcomeKind.UPSTREAM_ERROR, "upstream error"
    else:
        return None
    detail = clean_message(str(exc), _DETAIL_LIMIT)
    described = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return Outcome(kind, None, f"{label} ({described})")


def rejects_stream_options(status: int, body: bytes | str) -> bool:
    """Whether a 400/422 complains about `stream_options` (Mistral, Cohere, some NIM models)."""
    if status not in (400, 422):
        return False
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    return b"stream_options" in raw or b"include_usage" in raw


def _classify(
    status: int,
    headers: Mapping[str, str],
    decoded: Any,
    now: float,
    daily_reset: DailyReset,
    snapshot: RateLimitSnapshot | None,
    refill: Refill,
) -> Outcome:
    text = body_text(decoded).lower()
    detail = clean_message(error_message(decoded), _DETAIL_LIMIT)
    windows, retry_hint = _header_hints(snapshot, decoded, now)

    # Rate-limit, credit and auth come first: a 429 message names the model and could pass for
    # a dead-model error. Everything keys on the status, never on numbers in the prose.
    if status == 429:
        return _too_many(
            headers, decoded, text, detail, windows, retry_hint, now, daily_reset, refill
        )
    if status == 402:
        if "in_flight_budget" in text and retry_hint is not None:
            # OpenRouter: too much spend in flight right now, not an empty balance.
            return _outcome(OutcomeKind.RATE_LIMITED, 402, "rate limited", now, retry_hint)
        if "can only afford" in text:
            # OpenRouter: credits cover a smaller request; this one is too big, not the entry.
            return _too_big(402, detail, decoded, now)
        return _outcome(OutcomeKind.QUOTA_EXHAUSTED, 402, "quota exhausted", now)
    if status in (401, 403):
        if "error code: 1010" in text:
            # Cloudflare's bot block on the client's User-Agent, not a bad key.
            return _outcome(OutcomeKind.UPSTREAM_ERROR, status, "blocked by Cloudflare", now)
        if _any(text, _CONTEXT_MARKERS):  # Together: 403 when input + max_tokens > context
            return _context(status, detail, decoded, now)
        if "moderation" in text or "flagged" in text:
            # OpenRouter's moderation judged the client's own content: tell the client.
            return _outcome(
                OutcomeKind.CLIENT_ERROR,
                status,
                "rejected by moderation",
                now,
                None,
                detail,
                error_body=decoded,
            )
        phrase = "invalid API key" if status == 401 else "access denied"
        return _outcome(OutcomeKind.AUTH_FAILED, status, phrase, now)
    if status in (404, 410) or _availability_code(decoded) in _MODEL_GONE_AVAILABILITY:
        return _outcome(OutcomeKind.MODEL_NOT_FOUND, status, "model not found", now, None, detail)
    if status == 413 or (status in (400, 422) and _any(text, _CONTEXT_MARKERS)):
        return _context(status, detail, decoded, now)
    if status in (400, 422):
        if _any(text, _BAD_KEY_MARKERS):
            return _outcome(OutcomeKind.AUTH_FAILED, status, "invalid API key", now)
        if "degraded function cannot be invoked" in text:
            # NVIDIA: the deployment is sick; another entry can serve the same request.
            return _outcome(OutcomeKind.UPSTREAM_ERROR, status, "upstream error", now, None, detail)
        if _MODEL_GONE.search(text):
            return _outcome(
                OutcomeKind.MODEL_NOT_FOUND, status, "model not found", now, None, detail
            )
        return _outcome(
            OutcomeKind.CLIENT_ERROR, status, "bad request", now, None, detail, error_body=decoded
        )
    # 529 is Anthropic's overload: provider-wide and passing, so it falls through like a 503.
    phrase = "overloaded" if status == 529 else "upstream error"
    return _outcome(OutcomeKind.UPSTREAM_ERROR, status, phrase, now, retry_hint, detail)


def _too_many(
    headers: Mapping[str, str],
    decoded: Any,
    text: str,
    detail: str,
    windows: tuple[Window, ...],
    retry_hint: float | None,
    now: float,
    daily_reset: DailyReset,
    refill: Refill,
) -> Outcome:
    if "insufficient_quota" in text:
        # OpenAI billing: waiting never clears it. (Gemini's daily 429 reuses the same prose,
        # so this keys on the code, not the message.)
        return _outcome(OutcomeKind.QUOTA_EXHAUSTED, 429, "quota exhausted (billing)", now)
    if "request too large" in text:  # Groq OTPM: one request exceeds the bucket; waiting won't help
        return _context(429, detail, decoded, now)
    if "queue_exceeded" in text:  # Cerebras: provider capacity, not our quota
        return _outcome(OutcomeKind.RATE_LIMITED, 429, "provider over capacity", now, retry_hint)
    usage = quota_usage(decoded)
    if usage is not None and usage.requested > usage.limit:
        # Groq: "Limit 7000, Used 0, Requested ~12903": no wait makes this request fit here.
        return _too_big(429, detail, decoded, now)
    delay = body_retry_delay(decoded)
    period = long_exhaustion(429, headers, decoded) or _spent_long_window(windows)
    if period is not None:
        if is_cloudflare_daily(decoded):
            daily_reset = "utc-midnight"  # whatever the provider type says
        at = _long_retry_at(windows, retry_hint, delay, now, daily_reset, period, refill)
        phrase = "monthly quota exhausted" if period == "month" else "daily quota exhausted"
        counter = daily_counter(decoded) if period == "day" else None
        return _outcome(
            OutcomeKind.QUOTA_EXHAUSTED, 429, phrase, now, at, daily=True, counter=counter
        )
    if retry_hint is None:
        resets = [w.reset_at for w in windows if w.exhausted and w.reset_at is not None]
        retry_hint = max(resets) if resets else None
    if retry_hint is None and delay is not None:
        retry_hint = now + delay
    return _outcome(OutcomeKind.RATE_LIMITED, 429, "rate limited", now, retry_hint)


def _spent_long_window(windows: tuple[Window, ...]) -> LongPeriod | None:
    for window in windows:
        if window.exhausted and window.period in ("day", "month"):
            return "month" if window.period == "month" else "day"
    return None


def _long_retry_at(
    windows: tuple[Window, ...],
    retry_hint: float | None,
    delay: float | None,
    now: float,
    daily_reset: DailyReset,
    period: LongPeriod,
    refill: Refill,
) -> float:
    """When a spent daily (or monthly) cap refills. The daily classification wins over a short
    `retry-after` header: that one belongs to some other counter (Gemini's 32 s `retryDelay`, a
    `retry-after: 58` on a requests-per-day 429), and trusting it re-probes a spent cap all day.
    A token-bucket provider (Groq, Cerebras) is the exception: its daily bucket refills steadily,
    so its stated wait is when this request fits again, not some other counter's.
    """
    resets = [
        w.reset_at
        for w in windows
        if w.exhausted and w.period in _LONG_PERIODS and w.reset_at is not None
    ]
    if resets:  # the provider named the long counter and its reset
        return max(resets)
    header_wait = retry_hint - now if retry_hint is not None else None
    if header_wait is not None and (header_wait > _LONG_HINT or refill == "continuous"):
        return now + header_wait
    # The body's own words describe the counter it names: a rolling (token-bucket) daily quota
    # refills continuously, so its stated wait is true at any length.
    if delay is not None and (
        daily_reset == "rolling" or refill == "continuous" or delay > _LONG_HINT
    ):
        return now + delay
    if period == "month":
        return next_month_reset(now)
    return next_daily_reset(now, daily_reset)


def _header_hints(
    snapshot: RateLimitSnapshot | None, decoded: Any, now: float
) -> tuple[tuple[Window, ...], float | None]:
    windows = snapshot.windows if snapshot else ()
    retry_hint = snapshot.retry_at if snapshot else None
    embedded = None if windows else _embedded_headers(decoded)
    if embedded:
        # OpenRouter repeats its X-RateLimit-* headers in error.metadata.headers, the only
        # place they survive in an in-band stream error.
        extra = parse_rate_limit_headers("generic", embedded, now)
        if extra is not None:
            windows = extra.windows
            retry_hint = retry_hint if retry_hint is not None else extra.retry_at
    return windows, retry_hint


def _embedded_headers(decoded: Any) -> dict[str, str] | None:
    error = decoded.get("error") if isinstance(decoded, dict) else None
    metadata = error.get("metadata") if isinstance(error, dict) else None
    headers = metadata.get("headers") if isinstance(metadata, dict) else None
    if not isinstance(headers, dict):
        return None
    return {str(k): str(v) for k, v in headers.items()}


def _availability_code(decoded: Any) -> str | None:
    if not isinstance(decoded, dict):
        return None
    error = decoded.get("error")
    for holder in (error, decoded):
        availability = holder.get("availability") if isinstance(holder, dict) else None
        if isinstance(availability, dict) and isinstance(availability.get("code"), str):
            return str(availability["code"])
    return None


def _in_band_status(error: Mapping[str, Any]) -> int | None:
    code = error.get("code")
    for number in (code, error.get("http_status")):
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        if isinstance(number, int) and not isinstance(number, bool):
            return number if 100 <= number <= 599 else None
    metadata = error.get("metadata")
    error_type = metadata.get("error_type") if isinstance(metadata, dict) else None
    for candidate in (error_type, error.get("error_type"), error.get("type"), code):
        if isinstance(candidate, str) and candidate in _ERROR_TYPE_STATUS:
            return _ERROR_TYPE_STATUS[candidate]
    return None


def _too_big(status: int, detail: str, decoded: Any, now: float) -> Outcome:
    """A refusal of this request's size, not of the entry: move on, cool nothing."""
    return _context(status, detail, decoded, now, "request too large for this entry's limit")


def _context(
    status: int,
    detail: str,
    decoded: Any,
    now: float,
    phrase: str = "request too large for this model",
) -> Outcome:
    return _outcome(
        OutcomeKind.CONTEXT_LENGTH, status, phrase, now, None, detail, error_body=decoded
    )


def _outcome(
    kind: OutcomeKind,
    status: int,
    phrase: str,
    now: float,
    retry_at: float | None = None,
    detail: str = "",
    *,
    daily: bool = False,
    error_body: Any = None,
    counter: Literal["requests", "tokens"] | None = None,
) -> Outcome:
    message = f"{status} {phrase}"
    if retry_at is not None:
        message += f" ({'resets' if daily else 'retry'} in {_span(retry_at - now)})"
    return Outcome(
        kind, status, _join(message, detail), retry_at, daily, error_body, counter=counter
    )


def _join(message: str, detail: str) -> str:
    return f"{message}: {detail}" if detail else message


def _span(seconds: float) -> str:
    """42s, 9m38s, 5h12m, 2d3h: short enough for a log line."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60}s" if s % 60 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60}m" if s % 3600 // 60 else f"{s // 3600}h"
    return f"{s // 86400}d{s % 86400 // 3600}h" if s % 86400 // 3600 else f"{s // 86400}d"


def _any(text: str, markers: tuple[str, ...]) -> bool:
    return any(marker in text for marker in markers)
