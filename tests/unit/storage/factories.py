"""Request records for the storage tests: varied enough to exercise every column."""

from __future__ import annotations

from typing import Any

from chain429.storage.records import AttemptRecord, RequestRecord

BASE_TS = 1_767_225_600.0  # 2026-01-01T00:00:00Z
OUTCOMES = ("success", "success", "success", "exhausted", "client_disconnect", "stream_failed")


def make_record(i: int, *, ts: float | None = None, **fields: Any) -> RequestRecord:
    """The i-th of a family of records: some fallbacks, some failures, some skips, some NULLs."""
    outcome = OUTCOMES[i % len(OUTCOMES)]
    served = outcome == "success"
    calls = 1 + i % 3
    attempts = [
        AttemptRecord(
            seq=seq,
            provider=f"p{seq}",
            model=f"m{seq}",
            outcome="success" if served and seq == calls - 1 else "rate_limited",
            status=200 if served and seq == calls - 1 else 429,
            latency_ms=10.0 + seq,
            reason="" if served and seq == calls - 1 else "429 from upstream",
            skipped=False,
        )
        for seq in range(calls)
    ]
    if i % 4 == 0:
        attempts.append(
            AttemptRecord(len(attempts), "cold", "m9", "cooling_down", None, 0.0, "cooldown", True)
        )
    values: dict[str, Any] = {
        "id": f"req{i:08d}",
        "ts": BASE_TS + i * 600.0 if ts is None else ts,  # ten minutes apart: several days
        "key_label": f"sk-…{i % 3:04d}",
        "chain": None if i % 7 == 0 else f"chain{i % 2}",
        "requested_model": f"chain{i % 2}",
        "provider": f"p{calls - 1}" if served else None,
        "model": f"m{calls - 1}" if served else None,
        "stream": i % 2 == 1,
        "status": 200 if served else (499 if outcome == "client_disconnect" else 502),
        "outcome": outcome,
        "prompt_tokens": 10 + i % 5 if served else None,
        "completion_tokens": 20 + i % 7 if served else None,
        "total_tokens": 30 + i % 5 + i % 7 if served else None,
        "tokens_estimated": i % 5 == 0,
        "latency_ms": 100.0 + i % 13 * 0.25,
        "ttft_ms": 42.5 if i % 2 == 1 else None,
        "calls": calls,
        "skipped": 1 if i % 4 == 0 else 0,
        "rate_limited": sum(a.status == 429 for a in attempts),
        "error": None if served else f"upstream said no ({i})",
        "attempts": attempts,
    }
    values.update(fields)
    return RequestRecord(**values)


def make_records(n: int, start: int = 0) -> list[RequestRecord]:
    return [make_record(i) for i in range(start, start + n)]
