"""Retry hints and daily-exhaustion signals read from upstream error headers and bodies."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

DailyReset = Literal["utc-midnight", "rolling", "pacific-midnight"]
LongPeriod = Literal["day", "month"]

DAY = 86_400.0
# No provider resets anything further out than a month; larger values are misreads (an epoch taken
# for a delta, a unit mix-up), so every hint is clamped to this horizon.
MAX_HORIZON = 31 * DAY
MESSAGE_LIMIT = 300

_GO_UNITS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ns": 1e-9,
}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|h|m|s)")

# "try again in 7m12.3s", "retry in 5.237548564s", "try again in 2m"
_PROSE_GO = re.compile(r"(?:try again|retry) in\s+((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)(?![a-z])", re.I)
# "wait 5631 seconds", "retry after 40 seconds", "try again in 5 hours"
_PROSE_WORDS = re.compile(
    r"(?:try again|retry|wait)(?:\s+(?:in|after|for))?\s+(\d+(?:\.\d+)?)\s*"
    r"(seconds?|secs?|minutes?|mins?|hours?|hrs?)\b",
    re.I,
)
_WORD_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}

# Order matters: an explicit daily marker wins over a minute marker in the same body (Gemini can
# list several violated quotas), and a minute marker wins over the loose "per day" wording that
# OpenRouter's upsell sentence ("… 1000 free model requests per day") adds to every free 429.
_DAILY_MARKERS = (
    "perday",  # Gemini quotaId GenerateRequestsPerDayPerProjectPerModel-FreeTier
    "(rpd)",
    "(tpd)",
    "free-models-per-day",  # also covers -high-balance
    "openrouter_free_tier_daily",
    "userbymodelbyday",
    "daily free allocation",  # Cloudflare neurons
)
_MONTHLY_MARKERS = (
    "/ month",  # Cohere trial key
    "per month",
    "monthly included credits",  # Hugging Face router (a 402, but the same words may come)
)
# Groq and OpenAI name the counter a 429 is about, with its numbers.
_USAGE = re.compile(
    r"on (tokens|requests|output tokens|input tokens) per (minute|day) \(\w+\): "
    r"Limit (\d+),(?: Used (\d+),)? Requested ~?(\d+)",
    re.I,
)
# Which counter a daily 429 names: Cerebras' "Tokens per day limit exceeded", OpenAI's "(TPD)".
_DAILY_COUNTER = re.compile(r"\b(tokens?|requests?) per day\b|\((tpd|rpd)\)", re.I)
# After a calendar reset, a provider whose clock runs a little behind ours still says "daily
# quota spent" for a while: its reset is minutes away, not a day.
RESET_GRACE_S = 300.0
_MINUTE_MARKERS = (
    "perminute",
    "(rpm)",
    "(tpm)",
    "(itpm)",
    "(otpm)",
    "free-models-per-min",
    "userbymodelbyminute",
    "/ minute",
    "per minute",
)
_LOOSE_DAILY_MARKERS = ("per day", "daily")
_NO_FREE_TIER = re.compile(r"\blimit: 0\b")  # Gemini: the model has no free quota at all
_CLOUDFLARE_DAILY_CODES = frozenset({3036, 4006})

_SECRET = re.compile(
    r"(?i:bearer\s+)\S+|\b(?:sk-or-v1-|sk-|gsk_|nvapi-|hf_|csk-|xai-|AIza)[A-Za-z0-9_\-]{8,}"
)
_TAG = re.compile(r"<[^>]{0,200}>")
_SPACE = re.compile(r"\s+")


def parse_duration(text: str) -> float | None:
    """Seconds in a Go (`1h2m3.5s`, `500ms`) or protobuf (`"32s"`) duration, or a plain number."""
    text = text.strip().strip('"').strip()
    if not text:
        return None
    if text[-1].isalpha():  # skip float()'s exception on the common Go form; this runs per response
        parts = _GO_PART.findall(text)
        if sum(len(n) + len(u) for n, u in parts) != len(text):
            return None
        value = sum(float(n) * _GO_UNITS[u] for n, u in parts)
    else:
        try:
            value = float(text)
        except ValueError:
            return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def parse_retry_after(value: str, now: float) -> float | None:
    """Absolute epoch from a Retry-After or reset value: delta s, Go duration, epoch, HTTP-date
    or RFC 3339 time."""
    value = value.strip()
    if not value:
        return None
    if value[-1].isalpha():  # a Go duration, or an HTTP-date ending in "GMT"
        delta = parse_duration(value)
        if delta is not None:
            return _clamp(now + delta, now)
    else:
        try:
            return _from_number(float(value), now)
        except ValueError:
            pass  # an HTTP-date with a numeric zone ("-0700")
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:  # an RFC 3339 time, as Anthropic gives its resets: "2026-01-01T00:00:30Z"
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
    if when.tzinfo is None:  # "-0000" means UTC in RFC 5322
        when = when.replace(tzinfo=UTC)
    return _clamp(when.timestamp(), now)


def _from_number(number: float, now: float) -> float | None:
    if not math.isfinite(number) or number < 0:
        return None
    # Magnitude tells the forms apart: OpenRouter sends an epoch in ms, some send epoch seconds,
    # everyone else a delta. No delta is anywhere near 1e9 s (31 years).
    if number > 1e12:
        return _clamp(number / 1000.0, now)
    if number > 1e9:
        return _clamp(number, now)
    return _clamp(now + number, now)


def _clamp(at: float, now: float) -> float:
    return min(max(at, now), now + MAX_HORIZON)


def body_retry_delay(body: Any) -> float | None:
    """Seconds the body asks us to wait: Gemini RetryInfo, OpenRouter availability, or prose."""
    delay = _structured_delay(body)
    if delay is None:
        delay = _prose_delay(body_text(body))
    return None if delay is None else min(delay, MAX_HORIZON)


def _structured_delay(body: Any) -> float | None:
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    holders = (error, body) if isinstance(error, dict) else (body,)
    for holder in holders:
        availability = holder.get("availability")
        if isinstance(availability, dict):
            seconds = _number(availability.get("retry_after"))
            if seconds is not None:
                return seconds
        details = holder.get("details")
        if isinstance(details, list):
            for detail in details:
                if not isinstance(detail, dict):
                    continue
                if str(detail.get("@type", "")).endswith("RetryInfo"):
                    delay = detail.get("retryDelay")
                    if isinstance(delay, str) and (seconds := parse_duration(delay)) is not None:
                        return seconds
    return None


def _prose_delay(text: str) -> float | None:
    match = _PROSE_GO.search(text)
    if match:
        return parse_duration(match.group(1))
    match = _PROSE_WORDS.search(text)
    if match:
        return float(match.group(1)) * _WORD_UNITS[match.group(2)[0].lower()]
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def is_daily_exhaustion(status: int, headers: Mapping[str, str], body: Any) -> bool:
    """Whether a 429 means a daily/monthly cap is spent (so a short retry hint must be ignored)."""
    return long_exhaustion(status, headers, body) is not None


def long_exhaustion(status: int, headers: Mapping[str, str], body: Any) -> LongPeriod | None:
    """Which long cap a 429 says is spent: "day", "month", or None for a short-term limit."""
    if status != 429:
        return None
    for key, value in headers.items():
        name = key.lower()
        if name == "x-ratelimit-type":
            # GitHub Models names the exhausted counter outright.
            return "day" if "byday" in value.lower() else None
        if (
            name.startswith(("x-ratelimit-remaining-", "x-ratelimitbysize-remaining-"))
            and name.endswith(("-day", "-month"))
            and _number(value) == 0
        ):
            return "month" if name.endswith("-month") else "day"  # Cerebras, SambaNova, Mistral
    text = body_text(body).lower()
    if any(marker in text for marker in _MONTHLY_MARKERS):
        return "month"
    if any(marker in text for marker in _DAILY_MARKERS) or _NO_FREE_TIER.search(text):
        return "day"
    if _cloudflare_daily(body):
        return "day"
    if any(marker in text for marker in _MINUTE_MARKERS):
        return None
    return "day" if any(marker in text for marker in _LOOSE_DAILY_MARKERS) else None


def is_cloudflare_daily(body: Any) -> bool:
    """Cloudflare's daily free allocation refills at 00:00 UTC, whatever the provider type."""
    return _cloudflare_daily(body) or "daily free allocation" in body_text(body).lower()


@dataclass(frozen=True, slots=True)
class Usage:
    """The counter a Groq/OpenAI-style 429 body names: "on tokens per day (TPD): Limit 100000,
    Used 97050, Requested 3619"."""

    kind: Literal["requests", "tokens"]
    period: Literal["minute", "day"]
    limit: int
    used: int | None  # absent in "Request too large" bodies
    requested: int

    @property
    def remaining(self) -> int | None:
        return None if self.used is None else max(0, self.limit - self.used)


def quota_usage(body: Any) -> Usage | None:
    match = _USAGE.search(body_text(body))
    if match is None:
        return None
    kind: Literal["requests", "tokens"] = (
        "requests" if match.group(1).lower() == "requests" else "tokens"
    )
    period: Literal["minute", "day"] = "day" if match.group(2).lower() == "day" else "minute"
    used = match.group(4)
    return Usage(
        kind,
        period,
        int(match.group(3)),
        int(used) if used is not None else None,
        int(match.group(5)),
    )


def daily_counter(body: Any) -> Literal["requests", "tokens"] | None:
    """The kind of counter a daily 429's body says is spent, if it names one."""
    match = _DAILY_COUNTER.search(body_text(body))
    if match is None:
        return None
    named = (match.group(1) or match.group(2)).lower()
    return "requests" if named.startswith(("request", "rpd")) else "tokens"


def _cloudflare_daily(body: Any) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return False
    return any(isinstance(e, dict) and e.get("code") in _CLOUDFLARE_DAILY_CODES for e in errors)


def next_month_reset(now: float) -> float:
    """The first instant of next month, UTC: when a monthly cap refills."""
    today = datetime.fromtimestamp(now, UTC)
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def next_daily_reset(now: float, mode: DailyReset) -> float:
    """When a daily quota exhausted at `now` refills.

    Within `RESET_GRACE_S` after a calendar reset, the provider's own reset is taken to be just
    behind ours, so the answer is the end of the grace, not a whole day.
    """
    if mode == "rolling":
        return now + DAY  # worst case for a 24 h window: the oldest use ages out a day later
    upcoming = _calendar_reset(now, mode)
    previous = _calendar_reset(now - DAY, mode)
    if now - previous < RESET_GRACE_S:
        return previous + RESET_GRACE_S
    return upcoming


def _calendar_reset(now: float, mode: DailyReset) -> float:
    if mode == "utc-midnight":
        return (math.floor(now / DAY) + 1) * DAY
    if mode == "pacific-midnight":
        try:
            zone: ZoneInfo | timezone = ZoneInfo("America/Los_Angeles")
        except ZoneInfoNotFoundError:
            # No tz database (slim image, Windows without tzdata): PST all year resets an hour
            # late in summer, never early.
            zone = timezone(timedelta(hours=-8))
        local = datetime.fromtimestamp(now, zone)
        tomorrow = local.date() + timedelta(days=1)
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).timestamp()
    raise ValueError(f"unknown daily reset mode {mode!r}")


def decode_error_body(body: bytes | str) -> Any:
    """Upstream error body as JSON (Gemini's `[{"error":…}]` unwrapped), else text, else None."""
    if not body.strip():
        return None
    try:
        decoded: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return text.strip()
    if (
        isinstance(decoded, list)
        and decoded
        and isinstance(decoded[0], dict)
        and "error" in decoded[0]
    ):
        return decoded[0]
    return decoded


def body_text(body: Any) -> str:
    """Every string in a decoded body joined with newlines, for marker and prose searches."""
    return "\n".join(_strings(body, 0))


def _strings(node: Any, depth: int) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif depth < 8:
        if isinstance(node, dict):
            for value in node.values():
                yield from _strings(value, depth + 1)
        elif isinstance(node, list):
            for item in node:
                yield from _strings(item, depth + 1)


def error_message(body: Any) -> str:
    """A short, key-free human message from any provider's error body shape."""
    return clean_message(_raw_message(body, 0))


def clean_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Collapse whitespace, drop HTML tags and anything that looks like a credential, truncate."""
    if "<" in text:
        text = _TAG.sub(" ", text)
    text = _SECRET.sub("[redacted]", _SPACE.sub(" ", text).strip())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _raw_message(body: Any, depth: int) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return _raw_message(body[0], depth + 1) if body and depth < 4 else ""
    if not isinstance(body, dict) or depth >= 4:
        return ""
    error = body.get("error")
    if isinstance(error, str):  # Hugging Face router
        return error
    if isinstance(error, dict):
        text = _raw_message(error, depth + 1)
        provider = _provider_name(error)
        return f"{text} ({provider})" if text and provider else text
    message = body.get("message")
    if isinstance(message, str):  # Cerebras/Cohere/Mistral flat bodies, or the inner error dict
        return message
    if isinstance(message, dict | list):  # Mistral 422 wraps pydantic's detail list in message
        return _raw_message(message, depth + 1)
    detail = body.get("detail")
    if isinstance(detail, list):
        return "; ".join(_validation_item(item) for item in detail if isinstance(item, dict))
    title = body.get("title")
    if isinstance(title, str):  # NVIDIA problem details
        return f"{title}: {detail}" if isinstance(detail, str) and detail else title
    if isinstance(detail, str):
        return detail
    errors = body.get("errors")
    if isinstance(errors, list) and errors:  # Cloudflare envelope
        return _raw_message(errors[0], depth + 1)
    return ""


def _provider_name(error: dict[str, Any]) -> str:
    metadata = error.get("metadata")
    name = metadata.get("provider_name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


def _validation_item(item: dict[str, Any]) -> str:
    loc = item.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list) else ""
    msg = str(item.get("msg", ""))
    return f"{where}: {msg}" if where else msg
