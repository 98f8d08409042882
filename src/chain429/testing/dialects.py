"""How each provider family spells rate-limit headers and 429 bodies, as the mock sends them."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any, Literal

from chain429.testing.anthropic import anthropic_error
from chain429.testing.budget import BudgetTracker, Kind, Period, Rejection
from chain429.testing.responses import error_body

Dialect = Literal["openai", "groq", "cerebras", "openrouter", "anthropic", "none"]
DIALECTS: tuple[Dialect, ...] = ("openai", "groq", "cerebras", "openrouter", "anthropic", "none")


def go_duration(seconds: float) -> str:
    """Go's `time.Duration.String()` at millisecond precision: "1m0s", "12.5s", "500ms"."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return f"{out}{secs}s"


# Per dialect: (what, windows to try in order, header suffix, Go durations or float seconds).
_HEADER_SPECS: dict[Dialect, tuple[tuple[Kind, tuple[Period, ...], str, bool], ...]] = {
    "openai": (
        ("requests", ("minute", "day"), "requests", True),
        ("tokens", ("minute", "day"), "tokens", True),
    ),
    # Groq's -requests counts per day and its -tokens per minute.
    "groq": (("requests", ("day",), "requests", True), ("tokens", ("minute",), "tokens", True)),
    "cerebras": (
        ("requests", ("day",), "requests-day", False),
        ("tokens", ("minute",), "tokens-minute", False),
    ),
    "openrouter": (),  # X-RateLimit-* only on its own 429s (see rejection_response)
    "anthropic": (),  # anthropic-ratelimit-*, see _anthropic_headers
    "none": (),  # Gemini-like: no rate-limit headers at all
}


def rate_limit_headers(dialect: Dialect, tracker: BudgetTracker) -> dict[str, str]:
    """The rate-limit headers every response carries under `dialect`."""
    now = tracker.clock()
    if dialect == "anthropic":
        return _anthropic_headers(tracker, now)
    headers: dict[str, str] = {}
    for kind, periods, suffix, go in _HEADER_SPECS[dialect]:
        window = next((w for p in periods if (w := tracker.window(kind, p))), None)
        if window is None:
            continue
        reset = window.reset(now)
        headers[f"x-ratelimit-limit-{suffix}"] = str(window.limit)
        headers[f"x-ratelimit-remaining-{suffix}"] = str(window.remaining(now))
        headers[f"x-ratelimit-reset-{suffix}"] = go_duration(reset) if go else repr(round(reset, 6))
    return headers


def rejection_response(
    dialect: Dialect, rejection: Rejection, model: str, now: float | None = None
) -> tuple[int, dict[str, Any] | list[Any], dict[str, str]]:
    """Status, body and extra headers (retry-after) a provider of `dialect` would answer.

    `now` (epoch seconds, default the wall clock) dates OpenRouter's epoch-ms reset.
    """
    status = 413 if rejection.too_large and dialect == "groq" else 429
    headers: dict[str, str] = {}
    if dialect == "openrouter":
        return status, *_openrouter_answer(rejection, time.time() if now is None else now)
    if dialect == "anthropic":
        return 429, _anthropic_body(rejection), {"retry-after": _retry_after(rejection)}
    if dialect != "none" and not rejection.too_large:
        headers["retry-after"] = str(max(1, math.ceil(rejection.retry_after)))
    if dialect == "none":
        return status, _gemini_body(rejection, model), headers
    if dialect == "cerebras":
        return status, _cerebras_body(rejection), headers
    return status, _openai_body(dialect, rejection, model), headers


def _anthropic_headers(tracker: BudgetTracker, now: float) -> dict[str, str]:
    """Anthropic's per-minute counters, each reset an RFC 3339 time (when it is full again)."""
    headers: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        window = tracker.window(kind, "minute")
        if window is None:
            continue
        reset = datetime.fromtimestamp(math.ceil(now + window.reset(now)), UTC)
        headers[f"anthropic-ratelimit-{kind}-limit"] = str(window.limit)
        headers[f"anthropic-ratelimit-{kind}-remaining"] = str(window.remaining(now))
        headers[f"anthropic-ratelimit-{kind}-reset"] = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
    return headers


def _anthropic_body(r: Rejection) -> dict[str, Any]:
    if r.kind == "concurrent":
        what = f"{r.limit} concurrent requests"
    else:
        what = f"{r.limit:,} {r.kind} per {r.period or 'minute'}"
    message = (
        f"This request would exceed the rate limit for your organization (org-mock) of {what}. "
        "For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the "
        "response headers for current usage. Please reduce the prompt length or the maximum "
        "tokens requested, or try again later."
    )
    return anthropic_error(429, message)


def _retry_after(r: Rejection) -> str:
    return str(max(1, math.ceil(60.0 if math.isinf(r.retry_after) else r.retry_after)))


_ABBREV = {
    ("requests", "minute"): "RPM",
    ("requests", "day"): "RPD",
    ("tokens", "minute"): "TPM",
    ("tokens", "day"): "TPD",
}


def _openai_body(dialect: Dialect, r: Rejection, model: str) -> dict[str, Any]:
    if r.kind == "concurrent":
        message = f"Too many concurrent requests for {model}. Please try again shortly."
        return error_body(429, message, "requests", "rate_limit_exceeded")
    period: Period = r.period or "minute"
    abbrev = _ABBREV[(r.kind, period)]
    if dialect == "groq":
        where = f"model `{model}` in organization `org_mock` service tier `on_demand`"
        unit = "minute" if period == "minute" else "day"
        tail = "Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing"
    else:
        where = f"{model} in organization org-mock"
        unit = "min" if period == "minute" else "day"
        tail = "Visit https://platform.openai.com/account/rate-limits to learn more."
    scope = f"on {r.kind} per {unit} ({abbrev}): Limit {r.limit}"
    if r.too_large:
        message = (
            f"Request too large for {where} {scope}, Requested {r.requested}, "
            f"Please reduce your message size and try again. {tail}"
        )
    else:
        message = (
            f"Rate limit reached for {where} {scope}, Used {r.used}, Requested {r.requested}. "
            f"Please try again in {go_duration(r.retry_after)}. {tail}"
        )
    body = error_body(429, message, r.kind, "rate_limit_exceeded")
    if dialect == "groq":
        del body["error"]["param"]  # Groq's envelope has no param
    return body


def _openrouter_answer(r: Rejection, now: float) -> tuple[dict[str, Any], dict[str, str]]:
    # OpenRouter sends no retry-after: X-RateLimit-Reset (epoch ms) on the 429, and the same
    # headers copied into error.metadata.headers.
    wait = 60.0 if math.isinf(r.retry_after) else r.retry_after
    headers = {
        "X-RateLimit-Limit": str(r.limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(math.ceil((now + wait) * 1000)),
    }
    scope = "free-models-per-day" if r.period == "day" else "free-models-per-min"
    message = f"Rate limit exceeded: {scope}. "
    if r.period == "day":
        message += "Add 10 credits to unlock 1000 free model requests per day"
    error = {"message": message, "code": 429, "metadata": {"headers": dict(headers)}}
    return {"error": error, "user_id": "user_mock"}, headers


def _cerebras_body(r: Rejection) -> dict[str, Any]:
    # Cerebras errors are flat, with no "error" wrapper.
    if r.kind == "concurrent":
        return {
            "message": "We're experiencing high traffic right now! Please try again soon.",
            "type": "too_many_requests_error",
            "param": "queue",
            "code": "queue_exceeded",
        }
    unit = "minute" if r.period == "minute" else "day"
    if r.kind == "requests":
        message = f"Requests per {unit} limit exceeded - too many requests sent."
        code = "request_quota_exceeded"
    else:
        message = f"Tokens per {unit} limit exceeded - too many tokens processed."
        code = "token_quota_exceeded"
    return {"message": message, "type": "too_many_requests_error", "param": "quota", "code": code}


_QUOTA_IDS = {
    ("requests", "minute"): "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
    ("requests", "day"): "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
    ("tokens", "minute"): "GenerateContentInputTokensPerModelPerMinute-FreeTier",
    ("tokens", "day"): "GenerateContentInputTokensPerModelPerDay-FreeTier",
}


def _gemini_body(r: Rejection, model: str) -> list[Any]:
    # Gemini's OpenAI-compatible endpoint wraps its error in a list and sends no headers.
    if r.kind == "concurrent" or r.period is None:
        message = "Resource has been exhausted (e.g. check quota)."
        return [{"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED"}}]
    metric = "generativelanguage.googleapis.com/generate_content_free_tier_" + (
        "requests" if r.kind == "requests" else "input_token_count"
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": _QUOTA_IDS[(r.kind, r.period)],
                    "quotaDimensions": {"model": model, "location": "global"},
                    "quotaValue": str(r.limit),
                }
            ],
        }
    ]
    if not r.too_large:
        delay = f"{max(1, math.ceil(r.retry_after))}s"
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
    )
    error = {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": details}
    return [{"error": error}]
