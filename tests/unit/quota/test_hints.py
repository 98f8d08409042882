"""Retry hints, daily-exhaustion signals and error-body decoding, against real provider bodies."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import orjson
import pytest

from chain429.quota import hints
from chain429.quota.hints import (
    MAX_HORIZON,
    body_retry_delay,
    decode_error_body,
    error_message,
    is_daily_exhaustion,
    next_daily_reset,
    parse_duration,
    parse_retry_after,
)
from tests.unit.fixtures import providers as fx

NOW = 1788800000.0  # 2026-09-07T16:53:20Z


def approx(expected: float) -> Any:
    # pytest's default relative tolerance is ±30 min at epoch scale; hints must be exact.
    return pytest.approx(expected, rel=1e-12, abs=1e-9)


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def body(raw: bytes) -> Any:
    return decode_error_body(raw)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2m59.56s", 179.56),
        ("6m0s", 360.0),
        ("500ms", 0.5),
        ("12ms", 0.012),
        ("250ms", 0.25),
        ("1s", 1.0),
        ("7.66s", 7.66),
        ("2h30m0s", 9000.0),
        ("1h2m3.5s", 3723.5),
        ("7m12.3s", 432.3),
        ("9m38.016s", 578.016),
        ("4h17m", 15420.0),
        ("1m26.4s", 86.4),
        ("1.5us", 1.5e-6),
        ("3µs", 3e-6),
        ("100ns", 1e-7),
        ('"32s"', 32.0),  # protobuf JSON duration, quotes and all
        ("5.237548564s", 5.237548564),
        ("33011.382867097855", 33011.382867097855),  # Cerebras plain float seconds
        ("42", 42.0),
        (" 0 ", 0.0),
        ("", None),
        ("s", None),
        ("abc", None),
        ("1x", None),
        ("2 m", None),
        ("1.5.3s", None),
        ("-1s", None),
        ("-3", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    result = parse_duration(text)
    if seconds is None:
        assert result is None
    else:
        assert result == approx(seconds)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", NOW + 2),
        ("1.5", NOW + 1.5),
        ("24367", NOW + 24367),  # GitHub daily
        ("0", NOW),
        ("2m59.56s", NOW + 179.56),
        ("Mon, 07 Sep 2026 17:00:00 GMT", at("2026-09-07T17:00:00+00:00")),
        ("Mon, 07 Sep 2026 10:00:00 -0700", at("2026-09-07T17:00:00+00:00")),
        ("Mon, 07 Sep 2026 17:00:00 -0000", at("2026-09-07T17:00:00+00:00")),
        ("Mon, 07 Sep 2026 12:00:00 GMT", NOW),  # already past: retry now
        ("2026-09-07T17:00:00Z", at("2026-09-07T17:00:00+00:00")),  # RFC 3339 (Anthropic)
        ("2026-09-07T10:00:00.250-07:00", at("2026-09-07T17:00:00.250+00:00")),
        ("1788825600000", 1788825600.0),  # epoch ms (OpenRouter)
        ("1788825600", 1788825600.0),  # epoch seconds
        ("99999999", NOW + MAX_HORIZON),  # 3 years as a delta: clamped
        ("Fri, 07 Sep 2035 17:00:00 GMT", NOW + MAX_HORIZON),
        ("-5", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    result = parse_retry_after(value, NOW)
    if expected is None:
        assert result is None
    else:
        assert result == approx(expected)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        pytest.param(fx.GROQ_429_RPM, 2.0, id="groq-rpm"),
        pytest.param(fx.GROQ_429_TPM, 50.597142857, id="groq-tpm"),
        pytest.param(fx.GROQ_429_TPD, 578.016, id="groq-tpd"),
        pytest.param(fx.GROQ_429_RPD, 86.4, id="groq-rpd"),
        pytest.param(fx.OPENAI_429_RPM, 20.0, id="openai-rpm"),
        pytest.param(fx.OPENAI_429_RPD, 432.0, id="openai-rpd"),
        pytest.param(fx.GEMINI_429_DAILY, 32.0, id="gemini-retryinfo-daily"),
        pytest.param(fx.GEMINI_429_MINUTE, 26.0, id="gemini-retryinfo-minute"),
        pytest.param(fx.GEMINI_429_RETRY_PROSE, 5.237548564, id="gemini-prose"),
        pytest.param(fx.GITHUB_429_DAILY, 5631.0, id="github-daily"),
        pytest.param(fx.GITHUB_429_MINUTE, 46.0, id="github-minute"),
        pytest.param(fx.OPENROUTER_429_CAPACITY, 40.0, id="openrouter-availability"),
        pytest.param(
            fx.OPENROUTER_429_CAPACITY.replace(b'"retry_after":40', b'"retry_after":55'),
            55.0,
            id="structured-beats-prose",
        ),
        pytest.param(b"Please try again in 7m12.3s", 432.3, id="prose-go"),
        pytest.param(b'{"error":"retry after 30 seconds"}', 30.0, id="retry-after-words"),
        pytest.param(b'{"message":"try again in 5 hours"}', 18000.0, id="hours"),
        pytest.param(b'{"message":"please try again in 2m"}', 120.0, id="bare-minutes"),
        pytest.param(b'{"message":"try again in 1000h"}', MAX_HORIZON, id="clamped"),
        pytest.param(fx.CEREBRAS_429_QUEUE, None, id="cerebras-try-again-soon"),
        pytest.param(fx.NVIDIA_429, None, id="nvidia"),
        pytest.param(fx.MISTRAL_429_NEW, None, id="mistral"),
        pytest.param(fx.COHERE_429_MINUTE, None, id="cohere"),
        pytest.param(b"", None, id="empty"),
    ],
)
def test_body_retry_delay(raw: bytes, seconds: float | None) -> None:
    result = body_retry_delay(body(raw))
    if seconds is None:
        assert result is None
    else:
        assert result == approx(seconds)


H: dict[str, str] = {}


@pytest.mark.parametrize(
    ("status", "headers", "raw", "daily"),
    [
        pytest.param(429, H, fx.GEMINI_429_DAILY, True, id="gemini-perday"),
        pytest.param(429, H, fx.GEMINI_429_MINUTE, False, id="gemini-perminute"),
        pytest.param(429, H, fx.GEMINI_429_MINIMAL, False, id="gemini-minimal"),
        pytest.param(429, H, fx.GEMINI_429_NO_FREE_TIER, True, id="gemini-limit-0"),
        pytest.param(429, H, fx.GROQ_429_TPD, True, id="groq-tpd"),
        pytest.param(429, H, fx.GROQ_429_RPD, True, id="groq-rpd"),
        pytest.param(429, H, fx.GROQ_429_RPM, False, id="groq-rpm"),
        pytest.param(429, H, fx.GROQ_429_TPM, False, id="groq-tpm"),
        pytest.param(429, H, fx.OPENAI_429_RPD, True, id="openai-rpd"),
        pytest.param(429, H, fx.OPENAI_429_RPM, False, id="openai-rpm"),
        pytest.param(429, H, fx.OPENROUTER_429_DAILY, True, id="openrouter-daily"),
        pytest.param(429, H, fx.OPENROUTER_429_HIGH_BALANCE, True, id="openrouter-high-balance"),
        pytest.param(
            429,
            H,
            b'{"error":{"code":429,"metadata":{"limit_source":"openrouter_free_tier_daily"}}}',
            True,
            id="openrouter-limit-source",
        ),
        pytest.param(429, H, fx.OPENROUTER_429_PER_MIN, False, id="openrouter-per-min"),
        pytest.param(
            429,
            H,
            b'{"error":{"message":"Rate limit exceeded: free-models-per-min. Add 10 credits to '
            b'unlock 1000 free model requests per day","code":429}}',
            False,
            id="openrouter-per-min-with-upsell",
        ),
        pytest.param(429, H, fx.OPENROUTER_429_UPSTREAM, False, id="openrouter-upstream"),
        pytest.param(429, H, fx.GITHUB_429_DAILY, True, id="github-daily-body"),
        pytest.param(429, H, fx.GITHUB_429_MINUTE, False, id="github-minute-body"),
        pytest.param(429, fx.GITHUB_429_DAILY_HEADERS, b"", True, id="github-daily-header"),
        pytest.param(
            429,
            {"X-RateLimit-Type": "UserByModelByMinute"},
            b'{"message":"per day"}',
            False,
            id="github-minute-header-wins",
        ),
        pytest.param(429, H, fx.CLOUDFLARE_429_DAILY, True, id="cloudflare-4006"),
        pytest.param(429, H, fx.CLOUDFLARE_429_DAILY_3036, True, id="cloudflare-3036-code-only"),
        pytest.param(429, H, fx.COHERE_429_MONTH, True, id="cohere-month"),
        pytest.param(429, H, fx.COHERE_429_MINUTE, False, id="cohere-minute"),
        pytest.param(
            429,
            {"x-ratelimitbysize-remaining-month": "0"},
            fx.MISTRAL_429_OLD,
            True,
            id="mistral-old-month",
        ),
        pytest.param(
            429,
            {"X-RateLimit-Remaining-Tokens-Month": "0"},
            fx.MISTRAL_429_NEW,
            True,
            id="mistral-new-month",
        ),
        pytest.param(
            429,
            {"x-ratelimit-remaining-req-minute": "0", "x-ratelimit-remaining-tokens-month": "9"},
            fx.MISTRAL_429_NEW,
            False,
            id="mistral-minute",
        ),
        pytest.param(
            429,
            {**fx.CEREBRAS_200_FREE_HEADERS, "x-ratelimit-remaining-requests-day": "0"},
            fx.CEREBRAS_429_RPM,
            True,
            id="cerebras-day-header",
        ),
        pytest.param(429, fx.CEREBRAS_200_FREE_HEADERS, fx.CEREBRAS_429_TPM, False, id="cerebras"),
        pytest.param(429, H, fx.NVIDIA_429, False, id="nvidia"),
        pytest.param(402, H, fx.HF_402, False, id="not-a-429"),
        pytest.param(
            200, {"x-ratelimit-remaining-requests-day": "0"}, b"", False, id="success-is-not"
        ),
    ],
)
def test_is_daily_exhaustion(status: int, headers: dict[str, str], raw: bytes, daily: bool) -> None:
    assert is_daily_exhaustion(status, headers, body(raw)) is daily


@pytest.mark.parametrize(
    ("now", "mode", "expected"),
    [
        (at("2026-09-07T16:53:20+00:00"), "utc-midnight", at("2026-09-08T00:00:00+00:00")),
        (at("2026-09-08T00:10:00+00:00"), "utc-midnight", at("2026-09-09T00:00:00+00:00")),
        # seconds after our midnight: the provider's clock may still be before it (grace)
        (at("2026-09-08T00:00:00+00:00"), "utc-midnight", at("2026-09-08T00:05:00+00:00")),
        (at("2026-09-08T00:00:20+00:00"), "utc-midnight", at("2026-09-08T00:05:00+00:00")),
        (at("2026-09-08T07:01:00+00:00"), "pacific-midnight", at("2026-09-08T07:05:00+00:00")),
        (at("2026-09-07T16:53:20+00:00"), "rolling", at("2026-09-08T16:53:20+00:00")),
        # PDT (UTC-7): 05:00 local on the 8th -> midnight on the 9th is 07:00 UTC
        (at("2026-09-08T12:00:00+00:00"), "pacific-midnight", at("2026-09-09T07:00:00+00:00")),
        # still the 7th in Los Angeles
        (at("2026-09-08T03:00:00+00:00"), "pacific-midnight", at("2026-09-08T07:00:00+00:00")),
        # PST (UTC-8)
        (at("2026-01-15T12:00:00+00:00"), "pacific-midnight", at("2026-01-16T08:00:00+00:00")),
        # DST starts 2026-03-08 02:00 local: the midnight before is PST, the one after PDT
        (at("2026-03-08T06:00:00+00:00"), "pacific-midnight", at("2026-03-08T08:00:00+00:00")),
        (at("2026-03-08T09:00:00+00:00"), "pacific-midnight", at("2026-03-09T07:00:00+00:00")),
    ],
)
def test_next_daily_reset(now: float, mode: hints.DailyReset, expected: float) -> None:
    assert next_daily_reset(now, mode) == expected


def test_next_daily_reset_without_tz_database_errs_late(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(key: str) -> None:
        raise ZoneInfoNotFoundError(key)

    monkeypatch.setattr(hints, "ZoneInfo", missing)
    summer = next_daily_reset(at("2026-09-08T12:00:00+00:00"), "pacific-midnight")
    assert summer == at("2026-09-09T08:00:00+00:00")  # an hour after the true reset, never before


def test_next_daily_reset_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="weekly"):
        next_daily_reset(NOW, "weekly")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            fx.GEMINI_429_MINIMAL,
            {
                "error": {
                    "code": 429,
                    "message": "Resource has been exhausted (e.g. check quota).",
                    "status": "RESOURCE_EXHAUSTED",
                }
            },
            id="gemini-array-unwrapped",
        ),
        pytest.param(fx.CEREBRAS_429_RPM, orjson.loads(fx.CEREBRAS_429_RPM), id="cerebras-flat"),
        pytest.param(fx.NVIDIA_429, {"status": 429, "title": "Too Many Requests"}, id="nvidia"),
        pytest.param(fx.HF_402, orjson.loads(fx.HF_402), id="hf-string-error"),
        pytest.param(fx.CLOUDFLARE_1010, "error code: 1010", id="plain-text"),
        pytest.param(b"  \n", None, id="blank"),
        pytest.param(b"", None, id="empty"),
        pytest.param(b"[1, 2]", [1, 2], id="other-array-kept"),
        pytest.param(b"\xff\xfeoops", "\ufffd\ufffdoops", id="bad-utf8"),
        pytest.param('{"error":"str input"}', {"error": "str input"}, id="str-input"),
    ],
)
def test_decode_error_body(raw: bytes | str, expected: Any) -> None:
    assert decode_error_body(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(fx.GEMINI_503, "The service is currently unavailable.", id="gemini"),
        pytest.param(
            fx.CEREBRAS_404_ARCHIVED,
            "Model zai-glm-4.7 is archived and unavailable for the organization.",
            id="cerebras-flat",
        ),
        pytest.param(fx.NVIDIA_429, "Too Many Requests", id="nvidia-title"),
        pytest.param(
            fx.NVIDIA_400_DEGRADED,
            "Bad Request: Function id 'abc': DEGRADED function cannot be invoked",
            id="nvidia-title-detail",
        ),
        pytest.param(
            fx.HF_402,
            "You have exceeded your monthly included credits for Inference Providers. Subscribe "
            "to PRO to get 20x more monthly included credits.",
            id="hf-string",
        ),
        pytest.param(
            fx.CLOUDFLARE_429_DAILY,
            "you have used up your daily free allocation of 10,000 neurons, please upgrade to "
            "Cloudflare's Workers Paid plan if you would like to continue usage.",
            id="cloudflare-envelope",
        ),
        pytest.param(
            fx.MISTRAL_422_STREAM_OPTIONS,
            "body.stream_options.include_usage: Extra inputs are not permitted",
            id="mistral-422-detail",
        ),
        pytest.param(fx.MISTRAL_429_OLD, "Requests rate limit exceeded", id="mistral-old"),
        pytest.param(
            fx.OPENROUTER_429_UPSTREAM, "Provider returned error (Chutes)", id="openrouter-upstream"
        ),
        pytest.param(
            fx.CHUTES_402,
            "Quota exceeded and account balance is $0.0, please pay with fiat or send tao",
            id="detail-string",
        ),
        pytest.param(fx.CLOUDFLARE_1010, "error code: 1010", id="text"),
        pytest.param(
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            "502 Bad Gateway nginx",
            id="html",
        ),
        pytest.param(
            b'{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijklmnop1234."}}',
            "Incorrect API key provided: [redacted].",
            id="openai-key-redacted",
        ),
        pytest.param(
            b'{"message":"bad header Authorization: Bearer gsk_0123456789abcdef"}',
            "bad header Authorization: [redacted]",
            id="bearer-redacted",
        ),
        pytest.param(b'{"message":"multi\\n  line\\ttext"}', "multi line text", id="whitespace"),
        pytest.param(b"", "", id="empty"),
        pytest.param(b"{}", "", id="no-message"),
    ],
)
def test_error_message(raw: bytes, message: str) -> None:
    assert error_message(body(raw)) == message


def test_error_message_is_capped_at_300_chars() -> None:
    message = error_message({"error": {"message": "x" * 5000}})
    assert len(message) == 300
    assert message.endswith("…")


def test_gemini_daily_quota_id_survives_decoding() -> None:
    # Practical rule 3: keep bodies whole; the quotaId sits deep inside details.
    decoded = body(fx.GEMINI_429_DAILY)
    violations = decoded["error"]["details"][0]["violations"]
    assert violations[0]["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    assert not math.isnan(body_retry_delay(decoded) or math.nan)


def test_day_boundaries_are_utc() -> None:
    midnight = next_daily_reset(NOW, "utc-midnight")
    assert datetime.fromtimestamp(midnight, UTC).hour == 0


def test_http_date_without_zone_is_utc_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        got = parse_retry_after("Mon, 07 Sep 2026 17:00:00 -0000", NOW)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert got == at("2026-09-07T17:00:00+00:00")


@pytest.mark.parametrize(
    ("raw", "counter"),
    [
        pytest.param(
            b'{"message": "Tokens per day limit exceeded - too many tokens processed."}',
            "tokens",
            id="cerebras-tpd",
        ),
        pytest.param(
            b'{"message": "Requests per day limit exceeded - too many requests sent."}',
            "requests",
            id="cerebras-rpd",
        ),
        pytest.param(fx.OPENAI_429_RPD, "requests", id="openai-rpd"),
        pytest.param(fx.GROQ_429_TPD, "tokens", id="groq-tpd"),
        pytest.param(fx.CEREBRAS_429_TPM, None, id="per-minute-names-no-daily-counter"),
    ],
)
def test_daily_counter(raw: bytes, counter: str | None) -> None:
    assert hints.daily_counter(decode_error_body(raw)) == counter
