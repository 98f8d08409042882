"""The mock's budget windows and how each dialect spells them, without sockets."""

from __future__ import annotations

import math

import pytest

from chain429.testing.budget import Budget, BudgetTracker, Rejection, Window
from chain429.testing.dialects import go_duration, rate_limit_headers, rejection_response


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0004, "0s"),
        (0.012, "12ms"),
        (0.5, "500ms"),
        (1, "1s"),
        (12.5, "12.5s"),
        (60, "1m0s"),
        (179.56, "2m59.56s"),
        (3600, "1h0m0s"),
        (9000, "2h30m0s"),
        (578.016, "9m38.016s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_window_slides_entry_by_entry() -> None:
    window = Window("requests", "minute", 2)
    window.add(0.0, 1)
    window.add(30.0, 1)
    assert window.remaining(40.0) == 0
    assert window.wait(40.0, 1) == 20.0  # the first entry leaves at 60
    assert window.reset(40.0) == 20.0
    assert window.remaining(60.0) == 1
    assert window.remaining(90.0) == 2
    assert window.reset(90.0) == 0.0


def test_token_wait_frees_enough_from_the_oldest_entries() -> None:
    window = Window("tokens", "minute", 100)
    window.add(0.0, 30)
    window.add(10.0, 30)
    window.add(20.0, 30)
    assert window.wait(25.0, 10) == 0.0
    assert window.wait(25.0, 50) == 45.0  # two entries must leave: the second goes at 70
    assert window.wait(25.0, 101) == math.inf


def test_admit_spends_only_when_every_window_has_room() -> None:
    clock = FakeClock()
    tracker = BudgetTracker(Budget(rpm=10, tpm=100), clock)
    assert tracker.admit(80, 0) is None
    rejection = tracker.admit(30, 0)
    assert rejection == Rejection("tokens", "minute", 100, 80, 30, 60.0)
    requests = tracker.window("requests", "minute")
    assert requests is not None
    assert requests.used(clock.now) == 1


def test_admit_reports_the_longest_wait() -> None:
    clock = FakeClock()
    tracker = BudgetTracker(Budget(rpm=1, rpd=1), clock)
    tracker.admit(1, 0)
    clock.now = 10.0
    rejection = tracker.admit(1, 0)
    assert rejection is not None
    assert (rejection.kind, rejection.period, rejection.retry_after) == ("requests", "day", 86390.0)


def test_oversized_request_is_too_large() -> None:
    tracker = BudgetTracker(Budget(tpm=100), FakeClock())
    rejection = tracker.admit(101, 0)
    assert rejection is not None
    assert rejection.too_large
    assert rejection.retry_after == math.inf


def test_concurrency_limit() -> None:
    tracker = BudgetTracker(Budget(concurrent=2), FakeClock())
    assert tracker.admit(1, 1) is None
    rejection = tracker.admit(1, 2)
    assert rejection is not None
    assert rejection.kind == "concurrent"


def test_openai_headers_fall_back_to_daily_windows() -> None:
    tracker = BudgetTracker(Budget(rpd=5, tpd=1000), FakeClock())
    tracker.admit(10, 0)
    assert rate_limit_headers("openai", tracker) == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "4",
        "x-ratelimit-reset-requests": "24h0m0s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "990",
        "x-ratelimit-reset-tokens": "24h0m0s",
    }


def test_groq_rpm_body_reads_like_groq() -> None:
    rejection = Rejection("requests", "minute", 30, 30, 1, 2.0)
    status, body, headers = rejection_response("groq", rejection, "llama-3.1-8b-instant")
    assert (status, headers) == (429, {"retry-after": "2"})
    assert isinstance(body, dict)
    assert body["error"]["type"] == "requests"
    assert "param" not in body["error"]
    assert body["error"]["message"].startswith(
        "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_mock` service "
        "tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1. "
        "Please try again in 2s."
    )


def test_openai_daily_body_names_rpd() -> None:
    rejection = Rejection("requests", "day", 200, 200, 1, 432.0)
    _, body, _ = rejection_response("openai", rejection, "gpt-4o-mini")
    assert isinstance(body, dict)
    assert "on requests per day (RPD): Limit 200" in body["error"]["message"]
    assert "Please try again in 7m12s." in body["error"]["message"]


def test_gemini_body_names_the_quota_and_retry_delay() -> None:
    rejection = Rejection("requests", "day", 20, 20, 1, 31.2)
    status, body, headers = rejection_response("none", rejection, "gemini-2.5-flash")
    assert (status, headers) == (429, {})
    assert isinstance(body, list)
    details = body[0]["error"]["details"]
    violation = details[0]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    assert details[1]["retryDelay"] == "32s"


def test_openrouter_429_has_epoch_ms_reset_headers_and_no_retry_after() -> None:
    rejection = Rejection("requests", "day", 50, 50, 1, 3600.0)
    status, body, headers = rejection_response("openrouter", rejection, "x:free", now=1000.0)
    assert status == 429
    assert headers == {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str((1000 + 3600) * 1000),
    }
    assert isinstance(body, dict)
    assert body["error"]["message"].startswith("Rate limit exceeded: free-models-per-day.")
    assert body["error"]["metadata"]["headers"] == headers
    # Successful answers carry no rate-limit headers at all.
    tracker = BudgetTracker(Budget(rpd=50), FakeClock())
    assert rate_limit_headers("openrouter", tracker) == {}
