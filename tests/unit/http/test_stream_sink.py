"""The cache's stream sink: bounded, and it lets go of what it held once past the bound."""

from __future__ import annotations

from chain429.http.stream_sink import StreamSink


def test_a_stream_within_the_bound_is_kept_whole() -> None:
    sink = StreamSink(10)
    for part in (b"abc", b"defg", b"hij"):
        sink.append(part)
    assert sink.body() == b"abcdefghij"


def test_past_the_bound_nothing_is_held_and_nothing_is_given() -> None:
    sink = StreamSink(10)
    for part in (b"abcdef", b"ghijk", b"more", b"and more"):
        sink.append(part)
    assert sink.overflowed
    assert sink.parts == []  # the first part is let go too, not kept until the stream ends
    assert sink.body() is None
