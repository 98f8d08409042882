"""`too_deep`: JSON that orjson reads but cannot write again, found cheaply."""

from __future__ import annotations

import orjson

from chain429.deep_json import WRITABLE_DEPTH, too_deep


def test_nesting_past_what_orjson_writes_is_too_deep() -> None:
    for depth, expected in ((WRITABLE_DEPTH, False), (WRITABLE_DEPTH + 1, True), (1000, True)):
        raw = "[" * depth + "]" * depth
        assert too_deep(raw, orjson.loads(raw)) is expected, depth
        assert too_deep(raw.encode(), orjson.loads(raw)) is expected, depth


def test_many_brackets_side_by_side_or_inside_strings_are_not() -> None:
    wide = "[" + ",".join(["{}"] * 500) + "]"
    quoted = orjson.dumps({"text": "[" * 600}).decode()
    assert not too_deep(wide, orjson.loads(wide))
    assert not too_deep(quoted, orjson.loads(quoted))
