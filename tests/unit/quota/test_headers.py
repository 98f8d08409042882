"""Each header dialect, fed the provider's real header set, yields the expected windows."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from chain429.quota.headers import (
    DIALECTS,
    RateLimitSnapshot,
    Window,
    parse_rate_limit_headers,
)
from chain429.quota.hints import MAX_HORIZON
from tests.unit.fixtures import providers as fx

NOW = 1788800000.0  # 2026-09-07T16:53:20Z; OpenRouter's reset is the next UTC midnight
W = Window


def snap(*windows: Window, retry_at: float | None = None) -> RateLimitSnapshot:
    return RateLimitSnapshot(observed_at=NOW, windows=windows, retry_at=retry_at)


def rounded(snapshot: RateLimitSnapshot | None) -> RateLimitSnapshot | None:
    """Float sums like NOW + 179.56 differ in the last bit; compare to the microsecond."""
    if snapshot is None:
        return None
    windows = tuple(
        W(
            w.kind,
            w.period,
            w.limit,
            w.remaining,
            None if w.reset_at is None else round(w.reset_at, 6),
        )
        for w in snapshot.windows
    )
    retry_at = None if snapshot.retry_at is None else round(snapshot.retry_at, 6)
    return RateLimitSnapshot(snapshot.observed_at, windows, retry_at)


CASES = [
    pytest.param(
        "openai",
        fx.OPENAI_200_HEADERS,
        snap(
            W("requests", "minute", 60, 59, NOW + 1),
            W("tokens", "minute", 150000, 149984, NOW + 360),
        ),
        id="openai",
    ),
    pytest.param(
        "openai",
        {**fx.OPENAI_200_HEADERS, **fx.OPENAI_LIVE_EXTRA_HEADERS},
        snap(
            W("requests", "minute", 60, 59, NOW + 0.012),
            W("tokens", "minute", 150000, 149984, NOW + 360),
        ),
        id="openai-live-12ms-usage-based-skipped",
    ),
    pytest.param(
        "groq",
        fx.GROQ_200_HEADERS,
        snap(
            W("requests", "day", 14400, 14370, NOW + 179.56),  # Groq's requests counter is RPD
            W("tokens", "minute", 18000, 17997, NOW + 7.66),
        ),
        id="groq",
    ),
    pytest.param(
        "groq",
        fx.GROQ_429_HEADERS,
        snap(
            W("requests", "day", 14400, 14370, NOW + 179.56),
            W("tokens", "minute", 18000, 17997, NOW + 7.66),
            retry_at=NOW + 2,
        ),
        id="groq-429-retry-after",
    ),
    pytest.param(
        "cerebras",
        fx.CEREBRAS_200_DOCS_HEADERS,
        snap(
            W("requests", "day", 1000000000, 999997455, NOW + 33011.382867097855),
            W("tokens", "minute", 1000000000, 999998298, NOW + 11.382867097854614),
        ),
        id="cerebras-docs",
    ),
    pytest.param(
        "cerebras",
        fx.CEREBRAS_200_FREE_HEADERS,
        snap(
            W("requests", "day", 14400, 14391, NOW + 52311.2),
            W("tokens", "minute", 60000, 0, NOW + 41.7),
        ),
        id="cerebras-free",
    ),
    pytest.param(
        "cerebras",
        {
            "x-ratelimit-limit-requests-minute": "30",
            "x-ratelimit-remaining-requests-minute": "29",
            "x-ratelimit-reset-requests-minute": "12.5",
            "x-ratelimit-limit-requests-hour": "900",
            "x-ratelimit-limit-tokens-hour": "1000000",
            "x-ratelimit-limit-tokens-day": "1000000",
            "x-ratelimit-remaining-tokens-day": "999000",
        },
        snap(
            W("requests", "minute", 30, 29, NOW + 12.5),
            W("requests", "hour", 900, None, None),
            W("tokens", "hour", 1000000, None, None),
            W("tokens", "day", 1000000, 999000, None),
        ),
        id="cerebras-other-windows",
    ),
    pytest.param(
        "openrouter",
        fx.OPENROUTER_429_DAILY_HEADERS,
        snap(W("requests", "day", 50, 0, fx.OPENROUTER_DAILY_RESET)),
        id="openrouter-daily-ms-epoch",
    ),
    pytest.param(
        "openrouter",
        {
            "X-RateLimit-Limit": "20",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int((NOW + 40) * 1000)),
        },
        snap(W("requests", "unknown", 20, 0, NOW + 40)),
        id="openrouter-per-minute",
    ),
    pytest.param(
        "mistral",
        fx.MISTRAL_200_NEW_HEADERS,
        snap(
            W("requests", "minute", 720, 717, None),
            W("tokens", "minute", 5000000, 4999911, None),
        ),
        id="mistral-new",
    ),
    pytest.param(
        "mistral",
        {
            "x-ratelimit-limit-tokens-month": "1000000000",
            "x-ratelimit-remaining-tokens-month": "0",
            "x-ratelimit-reset-tokens-month": "86400",
        },
        snap(W("tokens", "month", 1000000000, 0, NOW + 86400)),
        id="mistral-new-month",
    ),
    pytest.param(
        "mistral",
        fx.MISTRAL_200_OLD_HEADERS,
        snap(
            W("tokens", "minute", 500000, 499948, NOW + 42),
            W("tokens", "month", 1000000000, 998734112, None),
        ),
        id="mistral-old",
    ),
    pytest.param(
        "together",
        fx.TOGETHER_200_HEADERS,
        snap(W("requests", "second", 1, 0, NOW + 1), W("tokens", "second", 1000, 880, None)),
        id="together-dynamic-skipped",
    ),
    pytest.param(
        "github",
        fx.GITHUB_200_HEADERS,
        snap(
            W("requests", "unknown", None, 19998, None),
            W("tokens", "unknown", None, 1997968, None),
        ),
        id="github-200",
    ),
    pytest.param(
        "github",
        fx.GITHUB_429_DAILY_HEADERS,
        snap(W("requests", "day", None, 0, NOW + 24367), retry_at=NOW + 24367),
        id="github-429-day",
    ),
    pytest.param(
        "github",
        fx.GITHUB_429_MINUTE_HEADERS,
        snap(W("requests", "minute", None, 0, NOW + 46), retry_at=NOW + 46),
        id="github-429-minute",
    ),
    pytest.param(
        "openai",
        fx.SAMBANOVA_200_HEADERS,
        snap(
            W("requests", "minute", 60, 59, NOW + 53),
            W("requests", "day", 12000, 11980, NOW + 15420),
        ),
        id="sambanova-requests-day",
    ),
    pytest.param(
        "openai",
        fx.SCALEWAY_200_HEADERS,
        snap(
            W("requests", "minute", 600, 599, NOW + 0.25),
            W("tokens", "minute", 1000000, 999976, NOW + 0.035),
        ),
        id="scaleway-ms",
    ),
    pytest.param(
        "generic",
        {"RateLimit-Limit": "100", "RateLimit-Remaining": "7", "RateLimit-Reset": "30"},
        snap(W("requests", "unknown", 100, 7, NOW + 30)),
        id="generic-ietf",
    ),
    pytest.param(
        "generic",
        {"RateLimit": "limit=10, remaining=5, reset=30"},
        snap(W("requests", "unknown", 10, 5, NOW + 30)),
        id="generic-combined",
    ),
    pytest.param(
        "generic",
        {"RateLimit-Limit": "100, 100;w=60", "RateLimit-Remaining": "0", "RateLimit-Reset": "12"},
        snap(W("requests", "minute", 100, 0, NOW + 12)),
        id="generic-draft03-window",
    ),
    pytest.param(
        "generic",
        {"RateLimit": '"default";r=50;t=30', "RateLimit-Policy": '"default";q=100;w=86400'},
        snap(W("requests", "day", 100, 50, NOW + 30)),
        id="generic-draft08",
    ),
    pytest.param(
        "generic",
        fx.OPENAI_200_HEADERS,
        snap(
            W("requests", "minute", 60, 59, NOW + 1),
            W("tokens", "minute", 150000, 149984, NOW + 360),
        ),
        id="generic-reads-openai-style",
    ),
    pytest.param(
        "generic",
        fx.OPENROUTER_429_DAILY_HEADERS,
        snap(W("requests", "day", 50, 0, fx.OPENROUTER_DAILY_RESET)),
        id="generic-reads-openrouter",
    ),
    pytest.param("none", {"Retry-After": "7"}, snap(retry_at=NOW + 7), id="none-retry-after"),
    pytest.param("none", fx.OPENAI_200_HEADERS, None, id="none-ignores-windows"),
    pytest.param("openai", fx.PLAIN_200_HEADERS, None, id="nothing-relevant"),
    pytest.param("openai", {}, None, id="empty"),
    pytest.param("openrouter", fx.OPENAI_200_HEADERS, None, id="wrong-family"),
]


@pytest.mark.parametrize(("dialect", "headers", "expected"), CASES)
def test_dialect(dialect: str, headers: dict[str, str], expected: RateLimitSnapshot | None) -> None:
    assert rounded(parse_rate_limit_headers(dialect, headers, NOW)) == rounded(expected)


@pytest.mark.parametrize(("dialect", "headers", "expected"), CASES)
def test_dialect_reads_aiohttp_multidict_in_any_case(
    dialect: str, headers: dict[str, str], expected: RateLimitSnapshot | None
) -> None:
    shouted = CIMultiDictProxy(
        CIMultiDict({**fx.PLAIN_200_HEADERS, **{k.upper(): v for k, v in headers.items()}})
    )
    assert rounded(parse_rate_limit_headers(dialect, shouted, NOW)) == rounded(expected)


@pytest.mark.parametrize(
    ("headers", "retry_at"),
    [
        ({"retry-after": "2"}, NOW + 2),
        ({"Retry-After": "1.5"}, NOW + 1.5),
        ({"retry-after": "Mon, 07 Sep 2026 17:00:00 GMT"}, NOW + 400),
        ({"retry-after-ms": "1500", "retry-after": "9"}, NOW + 1.5),  # ms is the finer one
        ({"retry-after-ms": "junk", "retry-after": "9"}, NOW + 9),
        ({"retry-after-ms": "-10", "retry-after": "9"}, NOW + 9),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "NaN"}, None),
        ({"retry-after": "99999999"}, NOW + MAX_HORIZON),
    ],
)
def test_retry_after_in_every_dialect(headers: dict[str, str], retry_at: float | None) -> None:
    for dialect in DIALECTS:
        snapshot = parse_rate_limit_headers(dialect, headers, NOW)
        got = snapshot.retry_at if snapshot else None
        assert got == retry_at, dialect


@pytest.mark.parametrize(
    ("headers", "window"),
    [
        ({"x-ratelimit-remaining-requests": "-5"}, W("requests", "minute", None, 0, None)),
        ({"x-ratelimit-limit-requests": "NaN"}, None),
        ({"x-ratelimit-limit-requests": "60.0"}, W("requests", "minute", 60, None, None)),
        ({"x-ratelimit-reset-requests": "bogus"}, None),
        ({"x-ratelimit-reset-requests": "-1s"}, None),
        (
            {"x-ratelimit-reset-requests": "2000h"},  # 83 days
            W("requests", "minute", None, None, NOW + MAX_HORIZON),
        ),
        (
            {"x-ratelimit-reset-requests": str(int(NOW) - 60)},  # an epoch just past
            W("requests", "minute", None, None, NOW),
        ),
    ],
)
def test_absurd_values_are_clamped_or_dropped(
    headers: dict[str, str], window: Window | None
) -> None:
    snapshot = parse_rate_limit_headers("openai", headers, NOW)
    assert (snapshot.windows if snapshot else ()) == ((window,) if window else ())


def test_exhausted_means_remaining_zero() -> None:
    snapshot = parse_rate_limit_headers("cerebras", fx.CEREBRAS_200_FREE_HEADERS, NOW)
    assert snapshot is not None
    assert [w.exhausted for w in snapshot.windows] == [False, True]


def test_anthropic_headers_give_requests_and_the_binding_token_counter() -> None:
    """Anthropic's per-minute counters, resets as RFC 3339 times; `tokens-*` is the most
    restrictive token limit in effect, so it stands for the input and output families."""
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2026-09-07T16:53:22Z",
        "anthropic-ratelimit-tokens-limit": "38000",
        "anthropic-ratelimit-tokens-remaining": "12000",
        "anthropic-ratelimit-tokens-reset": "2026-09-07T16:54:00Z",
        "anthropic-ratelimit-input-tokens-limit": "30000",
        "anthropic-ratelimit-input-tokens-remaining": "25000",
        "anthropic-ratelimit-input-tokens-reset": "2026-09-07T16:53:30Z",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "8000",
        "anthropic-ratelimit-output-tokens-reset": "2026-09-07T16:53:20Z",
        "retry-after": "7",
        "request-id": "req_011",
    }
    assert parse_rate_limit_headers("anthropic", headers, NOW) == snap(
        W("requests", "minute", 50, 49, NOW + 2),
        W("tokens", "minute", 38000, 12000, NOW + 40),
        retry_at=NOW + 7,
    )
    # Without the combined family, the input or output counter with less left stands in.
    for name in [k for k in headers if k.startswith("anthropic-ratelimit-tokens-")]:
        del headers[name]
    headers["anthropic-ratelimit-output-tokens-remaining"] = "0"
    snapshot = parse_rate_limit_headers("anthropic", headers, NOW)
    assert snapshot is not None
    assert snapshot.windows[1] == W("tokens", "minute", 8000, 0, NOW)
    # Other dialects ignore Anthropic's headers.
    assert (
        parse_rate_limit_headers("generic", {"anthropic-ratelimit-requests-limit": "5"}, NOW)
        is None
    )


def test_unknown_dialect_is_an_error() -> None:
    with pytest.raises(ValueError, match="groqq"):
        parse_rate_limit_headers("groqq", fx.GROQ_200_HEADERS, NOW)


def test_dialect_names_are_the_ones_presets_use() -> None:
    expected = {"openai", "groq", "cerebras", "openrouter", "mistral", "together", "github"}
    expected.add("anthropic")
    assert frozenset({*expected, "none", "generic"}) == DIALECTS
