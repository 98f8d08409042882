"""The cache key: canonical, chain-resolved, and None for what must not be cached."""

from __future__ import annotations

from typing import Any

from chain429.cache.key import cache_key

BASE: dict[str, Any] = {
    "model": "fast",
    "temperature": 0,
    "messages": [{"role": "user", "content": "hi"}],
}


def key(body: dict[str, Any], **kw: Any) -> str | None:
    return cache_key("chat", "fast", body, **kw)


def test_field_order_and_delivery_fields_do_not_change_the_key() -> None:
    reordered = {"messages": BASE["messages"], "temperature": 0, "model": "alias"}
    assert key(BASE) == key(reordered)
    extra = BASE | {"user": "u1", "stream": True, "stream_options": {"include_usage": True}}
    assert key(BASE) == key(extra | {"metadata": {"a": 1}})


def test_what_changes_the_answer_changes_the_key() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert key(BASE) != key(BASE | {"tools": tools})
    assert key(BASE) != key(BASE | {"response_format": {"type": "json_object"}})
    assert key(BASE) != key(BASE | {"max_tokens": 5})
    assert key(BASE) != cache_key("chat", "other-chain", BASE)
    assert key(BASE) != cache_key("completions", "fast", BASE)


def test_nondeterministic_requests_are_not_cached_unless_allowed() -> None:
    assert key(BASE | {"temperature": 0.7}) is None
    assert key({k: v for k, v in BASE.items() if k != "temperature"}) is None  # default 1.0
    assert key(BASE | {"top_p": 0.9}) is None
    assert key(BASE | {"top_p": 0.9, "seed": 1}) is not None
    assert key(BASE | {"n": 2}) is None
    assert key(BASE | {"temperature": 0.7}, nondeterministic=True) is not None
    # Embeddings are deterministic whatever they say.
    assert cache_key("embeddings", "vec", {"input": "x"}, generates=False) is not None
