"""The SSE parser against the WHATWG line rules, chunk boundaries included."""

from __future__ import annotations

import random
import re

import pytest

from chain429.providers.sse import SSEEvent, SSEParser, encode_event


def parse(*chunks: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.close()


def datas(events: list[SSEEvent]) -> list[str | None]:
    return [e.data for e in events]


def test_lf_events_in_one_chunk() -> None:
    events = parse(b'data: {"a":1}\n\ndata: {"b":2}\n\n')
    assert datas(events) == ['{"a":1}', '{"b":2}']


def test_crlf_line_ends() -> None:
    assert datas(parse(b"data: a\r\n\r\ndata: b\r\n\r\n")) == ["a", "b"]


def test_cr_only_line_ends() -> None:
    assert datas(parse(b"data: a\r\rdata: b\r\r")) == ["a", "b"]


def test_cr_then_lf_in_next_chunk_is_one_line_end() -> None:
    # Counting the LF as a second line end would dispatch "a" and "b" separately.
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r\n") == []
    assert datas(parser.feed(b"\r\n")) == ["a\nb"]


def test_cr_then_empty_chunk_then_lf() -> None:
    parser = SSEParser()
    parser.feed(b"data: a\r")
    assert parser.feed(b"") == []
    assert parser.feed(b"\n") == []  # still the same line end
    assert datas(parser.feed(b"\n")) == ["a"]


def test_cr_at_chunk_end_then_blank_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert datas(parser.feed(b"\r")) == ["a"]


def test_comment_only_event_is_returned_for_keepalives() -> None:
    (event,) = parse(b": OPENROUTER PROCESSING\n\n")
    assert event.data is None
    assert event.comments == [" OPENROUTER PROCESSING"]
    assert not event.is_done


def test_comments_ride_along_with_data() -> None:
    (event,) = parse(b": one\ndata: x\n:two\n\n")
    assert event.data == "x"
    assert event.comments == [" one", "two"]


def test_event_id_and_retry_fields() -> None:
    (event,) = parse(b"event: ping\nid: 42\nretry: 1500\ndata: x\n\n")
    assert (event.event, event.id, event.retry, event.data) == ("ping", "42", 1500, "x")


@pytest.mark.parametrize("value", [b"1.5", b"-1", b"abc", b"", b"\xd9\xa3"])  # last: Arabic 3
def test_retry_only_when_all_ascii_digits(value: bytes) -> None:
    (event,) = parse(b"retry: " + value + b"\ndata: x\n\n")
    assert event.retry is None


def test_id_with_nul_is_ignored() -> None:
    (event,) = parse(b"id: a\x00b\ndata: x\n\n")
    assert event.id is None


def test_fields_do_not_leak_into_the_next_event() -> None:
    first, second = parse(b"event: e\nid: 1\nretry: 5\ndata: a\n\ndata: b\n\n")
    assert (first.event, first.id, first.retry) == ("e", "1", 5)
    assert (second.event, second.id, second.retry) == (None, None, None)


def test_empty_event_name_means_default() -> None:
    (event,) = parse(b"event:\ndata: x\n\n")
    assert event.event is None


def test_multi_line_data_is_joined_with_lf() -> None:
    assert datas(parse(b"data: a\ndata: b\ndata:\ndata: c\n\n")) == ["a\nb\n\nc"]


def test_done_marker() -> None:
    events = parse(b'data: {"x":1}\n\ndata: [DONE]\n\n')
    assert [e.is_done for e in events] == [False, True]


def test_field_without_colon_has_empty_value() -> None:
    assert datas(parse(b"data\n\n")) == [""]
    assert datas(parse(b"data\ndata\n\n")) == ["\n"]


def test_one_space_stripped_not_two() -> None:
    assert datas(parse(b"data:  x\n\n")) == [" x"]
    assert datas(parse(b"data:x\n\n")) == ["x"]
    assert datas(parse(b"data: \n\n")) == [""]


def test_unknown_fields_and_stray_blank_lines_give_nothing() -> None:
    assert parse(b"\n\n\nfoo: bar\n\n\n") == []
    assert datas(parse(b"foo: bar\ndata: x\n\n")) == ["x"]


def test_field_only_event_is_returned_without_data() -> None:
    (event,) = parse(b"event: ping\n\n")
    assert event.data is None
    assert event.event == "ping"


def test_utf8_split_across_chunks() -> None:
    payload = "héllo € 😀".encode()
    raw = b"data: " + payload + b"\n\n"
    for cut in range(1, len(raw)):
        assert datas(parse(raw[:cut], raw[cut:])) == ["héllo € 😀"], cut


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert datas(parse(b"data: \xff\xfe\n\n")) == ["\ufffd\ufffd"]


def test_bom_is_stripped_even_when_split() -> None:
    assert datas(parse(b"\xef\xbb", b"\xbfdata: x\n\n")) == ["x"]
    assert datas(parse(b"\xef", b"\xbb", b"\xbf", b"data: y\n\n")) == ["y"]


def test_bom_only_at_stream_start() -> None:
    # Later on, a BOM is just bytes of the field name, which makes the field unknown.
    assert datas(parse(b"data: x\n\n\xef\xbb\xbfdata: y\n\n")) == ["x"]


def test_partial_tail_is_kept_between_feeds() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a"') == []
    assert parser.buffered == len(b'data: {"a"')
    assert datas(parser.feed(b":1}\n\n")) == ['{"a":1}']
    assert parser.buffered == 0


def test_a_long_line_over_many_chunks() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: ") == []
    for _ in range(1000):
        assert parser.feed(b"x" * 100) == []
    assert parser.buffered == 6 + 100_000
    (event,) = parser.feed(b"\n\n")
    assert event.data == "x" * 100_000
    assert parser.buffered == 0


def test_buffered_counts_lines_of_an_unfinished_event() -> None:
    parser = SSEParser()
    parser.feed(b"data: a\ndata: b")
    assert parser.buffered == len(b"data: a\n") + len(b"data: b")


def test_close_returns_event_with_a_complete_data_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: [DONE]\n") == []
    assert datas(parser.close()) == ["[DONE]"]


def test_close_drops_an_unterminated_line() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a":1}\n\ndata: {"trunc') == [SSEEvent('{"a":1}')]
    assert parser.close() == []


def test_close_keeps_complete_lines_but_not_the_cut_one() -> None:
    parser = SSEParser()
    parser.feed(b"data: a\ndata: b")
    assert datas(parser.close()) == ["a"]


def test_close_drops_comment_only_leftovers_and_resets() -> None:
    parser = SSEParser()
    parser.feed(b": keepalive\n")
    assert parser.close() == []
    assert parser.buffered == 0
    assert datas(parser.feed(b"data: next\n\n")) == ["next"]


def test_byte_at_a_time_equals_whole() -> None:
    raw = (
        b"\xef\xbb\xbf: hi\r\ndata: \xc3\xa9\r\n\r\nevent: e\rid: 1\rdata: a\rdata:b\r\r"
        b"retry: 9\ndata: [DONE]\n\n"
    )
    whole = parse(raw)
    assert parse(*(raw[i : i + 1] for i in range(len(raw)))) == whole
    assert datas(whole) == ["é", "a\nb", "[DONE]"]


# A reference parser written straight from the spec, one decoded line at a time, to compare
# the chunked byte parser against on random streams and random cuts.
def reference(raw: bytes) -> list[SSEEvent]:
    text = raw.decode("utf-8", "replace").removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)
    lines.pop()  # after the last line end: unterminated, so not a line
    events: list[SSEEvent] = []
    data: list[str] = []
    fields: dict[str, str | int] = {}
    comments: list[str] = []
    for line in lines:
        if line == "":
            if data or comments or fields:
                events.append(
                    SSEEvent(
                        "\n".join(data) if data else None,
                        fields.get("event") or None,  # type: ignore[arg-type]
                        fields.get("id"),  # type: ignore[arg-type]
                        fields.get("retry"),  # type: ignore[arg-type]
                        comments,
                    )
                )
            data, fields, comments = [], {}, []
        elif line.startswith(":"):
            comments.append(line[1:])
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                fields["event"] = value
                if not value:
                    del fields["event"]
            elif name == "id" and "\x00" not in value:
                fields["id"] = value
            elif name == "retry" and value.isascii() and value.isdigit():
                fields["retry"] = int(value)
    if data:
        events.append(
            SSEEvent(
                "\n".join(data),
                fields.get("event") or None,  # type: ignore[arg-type]
                fields.get("id"),  # type: ignore[arg-type]
                fields.get("retry"),  # type: ignore[arg-type]
                comments,
            )
        )
    return events


PIECES = [
    'data: {"choices":[{"delta":{"content":"hé"}}]}',
    "data: [DONE]",
    "data:x",
    "data",
    "data:  two spaces",
    ": OPENROUTER PROCESSING",
    ":",
    "event: ping",
    "event:",
    "id: 7",
    "id",
    "retry: 250",
    "retry: 2x",
    "unknown: field",
    "data: € 😀",
    "",
    "",
    "",
]


@pytest.mark.parametrize("seed", range(200))
def test_random_streams_and_cuts_match_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    ends = ["\n", "\r", "\r\n"]
    text = "".join(rng.choice(PIECES) + rng.choice(ends) for _ in range(rng.randint(1, 30)))
    if rng.random() < 0.3:
        text += rng.choice(PIECES)  # an unterminated last line
    raw = text.encode()
    if rng.random() < 0.1:
        raw = b"\xef\xbb\xbf" + raw
    cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randint(0, 12))))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert parse(*chunks) == reference(raw)


@pytest.mark.parametrize(
    ("data", "wire"),
    [
        ('{"a":1}', b'data: {"a":1}\n\n'),
        (b"[DONE]", b"data: [DONE]\n\n"),
        ("", b"data: \n\n"),
        ("a\nb", b"data: a\ndata: b\n\n"),
        ("a\r\nb\rc", b"data: a\ndata: b\ndata: c\n\n"),
        ("a\n", b"data: a\ndata: \n\n"),
    ],
)
def test_encode_event(data: str | bytes, wire: bytes) -> None:
    assert encode_event(data) == wire


@pytest.mark.parametrize("data", ['{"x": "é"}', "", "line one\nline two", "\n\n", " lead"])
def test_encode_then_parse_round_trips(data: str) -> None:
    assert datas(parse(encode_event(data))) == [data]
