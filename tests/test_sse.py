"""The event-stream decoder and the upstream chunk reader, fed every awkward wire shape."""

from __future__ import annotations

import pytest

from cip.chat import sse
from cip.chat.llm import LlmFailure, parse_chunk
from cip.chat.sse import Event, EventStreamDecoder


def decode_all(pieces: list[bytes]) -> list[Event]:
    decoder = EventStreamDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    return events + decoder.close()


def every_split(wire: bytes) -> list[list[bytes]]:
    """The wire cut in two at every byte, and cut into single bytes."""
    return [[wire[:cut], wire[cut:]] for cut in range(len(wire) + 1)] + [
        [bytes([byte]) for byte in wire]
    ]


STREAM = (
    ": keep-alive\n\n"
    'data: {"content": "Привет 🌍"}\n\n'
    'data:{"content": "no space"}\r\n\r\n'
    "event: usage\rdata: first line\rdata: second line\r\r"
    "id: 7\nretry: 100\ndata:  two spaces\n\n"
    "data\n\n"
    "data: [DONE]\n\n"
).encode()
EXPECTED = [
    Event('{"content": "Привет 🌍"}'),
    Event('{"content": "no space"}'),
    Event("first line\nsecond line", event="usage"),
    Event(" two spaces"),  # only one space after the colon is part of the syntax
    Event(""),  # a bare `data` line is an empty data field
    Event("[DONE]"),
]


def test_any_split_of_the_stream_gives_the_same_events() -> None:
    for pieces in every_split(STREAM):
        assert decode_all(pieces) == EXPECTED, pieces


def test_a_character_split_across_reads_is_reassembled() -> None:
    wire = "data: ё🍋\n\n".encode()
    decoder = EventStreamDecoder()
    assert decoder.feed(wire[:7]) == []  # ends inside the two-byte "ё"
    assert decoder.feed(wire[7:10]) == []  # ends inside the four-byte lemon
    assert decoder.feed(wire[10:]) == [Event("ё🍋")]


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [Event("a")]
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [Event("b")]


def test_comments_alone_produce_nothing() -> None:
    assert decode_all([b": keep-alive\n\n: ping\r\n\r\n:\n\n"]) == []


def test_a_leading_byte_order_mark_is_ignored() -> None:
    assert decode_all([b"\xef\xbb", b"\xbfdata: x\n\n"]) == [Event("x")]


def test_a_last_event_without_its_blank_line_is_delivered_at_the_end() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(b'data: {"last": true}') == []
    assert decoder.close() == [Event('{"last": true}')]


def test_an_unknown_field_and_a_lone_event_name_dispatch_nothing() -> None:
    assert decode_all([b"event: orphan\nfoo: bar\n\ndata: x\n\n"]) == [Event("x")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert decode_all([b"data: \xff\n\n"]) == [Event("\ufffd")]


def test_an_endless_line_is_refused() -> None:
    decoder = EventStreamDecoder()
    with pytest.raises(sse.LineTooLong):
        for _ in range(20):
            decoder.feed(b"x" * 100_000)


def test_encode_writes_real_utf8_json() -> None:
    assert sse.encode({"content": "Да"}) == 'data: {"content":"Да"}\n\n'.encode()
    assert sse.encode({"a": 1}, event="meta") == b'event: meta\ndata: {"a":1}\n\n'


def test_chunk_content_reasoning_finish_and_usage() -> None:
    chunk = parse_chunk(
        '{"choices": [{"index": 0, "delta": {"content": "Hi",'
        ' "reasoning_content": null}, "finish_reason": null}]}'
    )
    assert chunk.choices[0].delta.content == "Hi"
    thinking = parse_chunk(
        '{"choices": [{"delta": {"content": null, "reasoning_content": "hmm"}}]}'
    )
    assert thinking.choices[0].delta.content is None
    final = parse_chunk('{"choices": [], "usage": {"total_tokens": 3}}')
    assert (final.choices, final.usage) == ([], {"total_tokens": 3})
    stop = parse_chunk('{"choices": [{"delta": {}, "finish_reason": "stop"}], "extra": 1}')
    assert stop.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ('{"choices": [oops', "llm_bad_response"),
        ("not json", "llm_bad_response"),
        ('["a list"]', "llm_bad_response"),
        ('{"choices": "none"}', "llm_bad_response"),
        ('{"choices": [{"delta": {"content": 5}}]}', "llm_bad_response"),
        ('{"error": {"message": "overloaded"}}', "llm_error"),
    ],
)
def test_unreadable_chunks_and_error_objects_fail(data: str, code: str) -> None:
    with pytest.raises(LlmFailure) as info:
        parse_chunk(data)
    assert info.value.kind == code
