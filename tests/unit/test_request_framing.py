"""Request bodies framed exactly (RFC 9112), as pure functions over a byte stream."""
from __future__ import annotations

import io

import pytest

from llm_mock.http_request import HeadError, Headers, body_framing, read_body, read_headers


def reader(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(data))


def chunked(data: bytes, limit: int = 1000) -> bytes:
    return read_body(reader(data), Headers([("transfer-encoding", "chunked")]), limit)


@pytest.mark.parametrize("size", [b"5", b"05", b"00005", b"5;name=value", b"5 ;ext", b"5\t;ext", b"5;"])
def test_chunk_sizes_in_hex_with_extensions(size):
    assert chunked(size + b"\r\nhello\r\n0\r\n\r\n") == b"hello"


def test_hex_digits_either_case_and_trailers():
    assert chunked(b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\nx-trailer: 1\r\n\r\n") == b"0123456789abcdefghij"


@pytest.mark.parametrize("size", [b"-1", b"0x5", b"5_0", b"+5", b" 5", b"5 ", b"g", b"", b"1" * 17, b"\xff"])
def test_anything_but_hex_digits_is_a_400(size):
    with pytest.raises(HeadError) as raised:
        chunked(size + b"\r\nhello\r\n0\r\n\r\n")
    assert raised.value.status == 400 and "chunk size" in raised.value.message


@pytest.mark.parametrize("data, words", [
    (b"a\r\nhello", "shorter than its size"),
    (b"5\r\nhello world\r\n0\r\n\r\n", "longer than its size"),
    (b"5\r\nhello\r\n", "ended before its last chunk"),
    (b"5\r\nhello\r\n0\r\nx-trailer: 1", "inside its trailers"),
    (b"5\r\nhelloXY0\r\n\r\n", "longer than its size"),
])
def test_short_and_long_chunks_are_400s(data, words):
    with pytest.raises(HeadError) as raised:
        chunked(data)
    assert raised.value.status == 400 and words in raised.value.message


def test_the_body_cap_counts_chunks():
    with pytest.raises(HeadError) as raised:
        chunked(b"400\r\n" + b"x" * 1024 + b"\r\n0\r\n\r\n", limit=1000)
    assert raised.value.status == 413


@pytest.mark.parametrize("pairs, status", [
    ([("content-length", "5"), ("transfer-encoding", "chunked")], 400),
    ([("transfer-encoding", "gzip, chunked")], 501),
    ([("transfer-encoding", "identity")], 501),
    ([("content-length", "-5")], 400),
    ([("content-length", "5"), ("content-length", "6")], 400),
    ([("content-length", "1" * 19)], 400),
])
def test_ambiguous_framing_is_refused(pairs, status):
    with pytest.raises(HeadError) as raised:
        body_framing(Headers(pairs))
    assert raised.value.status == status


def test_continue_is_asked_for_only_when_a_body_will_be_read():
    calls = []
    read_body(reader(b""), Headers([]), 10, lambda: calls.append("none"))
    with pytest.raises(HeadError):
        read_body(reader(b""), Headers([("content-length", "11")]), 10, lambda: calls.append("too big"))
    assert read_body(reader(b"hello"), Headers([("content-length", "5")]), 10, lambda: calls.append("ok")) == b"hello"
    assert calls == ["ok"]


def test_the_whole_head_is_capped():
    lines = b"".join(b"x-h%d: %s\r\n" % (n, b"v" * 1000) for n in range(70))
    with pytest.raises(HeadError) as raised:
        read_headers(reader(lines + b"\r\n"), 65536)
    assert raised.value.status == 431 and "head larger than" in raised.value.message
    assert len(read_headers(reader(lines + b"\r\n"), 128 * 1024).pairs) == 70
    small = b"a: 1\r\nb: 2\r\n\r\n"
    with pytest.raises(HeadError):
        read_headers(reader(small), len(small) - 1)
    assert read_headers(reader(small), len(small)).get("b") == "2"
