"""`normalize_responses`: answers that came only as reasoning get that reasoning as content."""

from __future__ import annotations

from typing import Any, Literal


def copy_reasoning(data: dict[str, Any], part: Literal["message", "delta"]) -> bool:
    """Copy `reasoning_content` into an empty `content`, for clients that only read `content`.

    `part` is "message" for a whole completion and "delta" for a stream chunk.
    Returns whether anything changed.
    """
    changed = False
    for choice in data.get("choices") or ():
        body = choice.get(part) if isinstance(choice, dict) else None
        if isinstance(body, dict) and not body.get("content"):
            reasoning = body.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                body["content"] = reasoning
                changed = True
    return changed


def total_tokens(usage: dict[str, Any] | None) -> int | None:
    total = usage.get("total_tokens") if usage else None
    return total if isinstance(total, int) else None
