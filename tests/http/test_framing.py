"""HTTP/1.1 framing over real sockets (RFC 9112): chunk sizes, Content-Length with
Transfer-Encoding, bodies on any method, HTTP/1.0 clients, absolute-form targets,
`Expect: 100-continue`, and the size of a request head."""
from __future__ import annotations

import json
import socket
import time

import pytest

from llm_mock import MockServer

CHAT = "/v1/chat/completions"
BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
STREAM = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()


@pytest.fixture(scope="module")
def server():
    with MockServer() as s:
        s.when("hi").reply("Hello there, friend.")
        yield s


def connect(server, timeout: float = 5) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_until_close(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        data += b"<<timeout>>"
    except ConnectionResetError:
        data += b"<<reset>>"
    return data


def read_response(sock: socket.socket, to_head: bool = False) -> tuple:
    """The next response on `sock`, with a Content-Length body (or none): (status, headers, body).
    Bytes after it stay buffered for the next call, so pipelined answers are read one by one."""
    reader = _readers.get(sock)
    if reader is None:
        reader = _readers[sock] = sock.makefile("rb")
    status_line = reader.readline()
    assert status_line, "closed before a response"
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").rstrip("\r\n").partition(": ")
        headers[name] = value
    length = 0 if to_head else int(headers.get("content-length", 0))  # an answer to HEAD has no body
    return int(status_line.split()[1]), headers, reader.read(length)


_readers: dict = {}


def head(path: str, fields: dict, method: str = "POST", version: str = "HTTP/1.1") -> bytes:
    return (f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


def chunked_post(size_line: bytes, rest: bytes) -> bytes:
    return head(CHAT, {"host": "x", "content-type": "application/json", "transfer-encoding": "chunked"}) + \
        size_line + b"\r\n" + rest


def refused_and_closed(server, data: bytes, status: int, words: str) -> None:
    with connect(server) as sock:
        sock.sendall(data)
        started = time.monotonic()
        code, headers, body = read_response(sock)
        assert (code, headers.get("connection")) == (status, "close")
        assert words in json.loads(body)["error"]["message"]
        assert read_until_close(sock) == b""  # closed: what follows cannot be framed
        assert time.monotonic() - started < 2


# -- item 8: chunk sizes ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [b"-1", b"0x58", b"5_8", b"+58", b" 58", b"58 ", b"z"])
def test_chunk_sizes_are_hex_digits_only(server, size):
    """`-1` used to read to the end of the connection, past the body cap."""
    refused_and_closed(server, chunked_post(size, b"x" * 4000), 400, "chunk size")


def test_a_negative_chunk_size_does_not_read_on(server):
    with connect(server, timeout=3) as sock:
        sock.sendall(chunked_post(b"-1", b"x" * 1000))  # and the client never closes its side
        code, headers, _ = read_response(sock)
        assert code == 400 and headers["connection"] == "close"


def test_a_short_chunk_is_a_400_and_closes(server):
    with connect(server) as sock:
        sock.sendall(chunked_post(b"%x" % (len(BODY) + 10), BODY + b"\r\n0\r\n\r\n"))
        sock.shutdown(socket.SHUT_WR)
        code, headers, body = read_response(sock)
        assert code == 400 and headers["connection"] == "close" and b"shorter than its size" in body


def test_a_long_chunk_is_a_400_and_closes(server):
    refused_and_closed(server, chunked_post(b"%x" % (len(BODY) - 5), BODY + b"\r\n0\r\n\r\n"), 400,
                       "longer than its size")


def test_well_formed_chunks_with_extensions_are_served(server):
    half = len(BODY) // 2
    data = chunked_post(b"%X;ext=1" % half, BODY[:half] + b"\r\n%x\r\n" % (len(BODY) - half) + BODY[half:] +
                        b"\r\n0\r\n\r\n") + head("/v1/models", {"host": "x"}, "GET")
    with connect(server) as sock:
        sock.sendall(data)
        code, _, body = read_response(sock)
        assert code == 200 and json.loads(body)["choices"][0]["message"]["content"] == "Hello there, friend."
        assert read_response(sock)[0] == 200  # the connection stays usable


# -- item 9: Content-Length with Transfer-Encoding --------------------------------------------------
def test_content_length_and_transfer_encoding_together_is_a_400_and_closes(server):
    data = head(CHAT, {"host": "x", "content-type": "application/json", "content-length": "3",
                       "transfer-encoding": "chunked"}) + b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n"
    refused_and_closed(server, data, 400, "both Content-Length and Transfer-Encoding")


def test_an_unknown_transfer_coding_is_a_501_and_closes(server):
    data = head(CHAT, {"host": "x", "transfer-encoding": "gzip"}) + b"junk"
    refused_and_closed(server, data, 501, "Transfer-Encoding 'gzip' is not supported")


# -- item 10: a body on any method is read or drained --------------------------------------------------
@pytest.mark.parametrize("method, path, status", [
    ("GET", "/v1/models", 200), ("HEAD", "/v1/models", 200), ("GET", "/v1/models/gpt-4o", 200),
    ("OPTIONS", CHAT, 204), ("DELETE", "/v1/nothing", 404), ("GET", CHAT, 405),
])
def test_a_body_on_any_method_is_drained(server, method, path, status):
    """A GET with a body used to leave it unread: the next request was parsed as `helloGET`."""
    first = head(path, {"host": "x", "content-length": "5"}, method) + b"hello"
    with connect(server) as sock:
        sock.sendall(first + head("/v1/models", {"host": "x"}, "GET"))
        code, headers, body = read_response(sock, method == "HEAD")
        assert code == status
        if method == "HEAD":
            assert body == b"" and int(headers["content-length"]) > 0
        assert read_response(sock)[0] == 200


# -- item 11: HEAD like GET ------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/claude-x"])
def test_head_is_answered_like_get_without_the_body(server, path):
    with connect(server) as sock:
        sock.sendall(head(path, {"host": "x"}, "GET") + head(path, {"host": "x"}, "HEAD") +
                     head(path, {"host": "x"}, "GET"))
        got, headed, again = read_response(sock), read_response(sock, True), read_response(sock)
    assert got[0] == headed[0] == again[0] == 200
    assert headed[2] == b"" and headed[1]["content-length"] == got[1]["content-length"] == str(len(got[2]))
    assert headed[1]["content-type"] == got[1]["content-type"]


# -- item 12: HTTP/1.0 ---------------------------------------------------------------------------------
def test_an_http_1_0_stream_is_close_delimited(server):
    with connect(server) as sock:
        sock.sendall(head(CHAT, {"content-type": "application/json", "content-length": str(len(STREAM))},
                          version="HTTP/1.0") + STREAM)
        data = read_until_close(sock)
    response_head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in response_head.lower() and b"content-length" not in response_head.lower()
    assert b"\r\nconnection: close" in response_head
    events = [line[6:] for line in body.decode().split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1]
                   if json.loads(e)["choices"])
    assert text == "Hello there, friend."


def test_an_http_1_0_keep_alive_request_is_told_it_is_kept(server):
    request = head(CHAT, {"content-type": "application/json", "content-length": str(len(BODY)),
                          "connection": "keep-alive"}, version="HTTP/1.0") + BODY
    with connect(server) as sock:
        sock.sendall(request)
        code, headers, _ = read_response(sock)
        assert code == 200 and headers["connection"] == "keep-alive"
        sock.sendall(request)
        assert read_response(sock)[1]["connection"] == "keep-alive"
    with connect(server) as sock:  # without keep-alive: closed after the answer
        sock.sendall(head("/v1/models", {}, "GET", "HTTP/1.0"))
        code, headers, _ = read_response(sock)
        assert code == 200 and headers["connection"] == "close" and read_until_close(sock) == b""


def test_an_absolute_form_target_is_served_like_its_path(server):
    before = len(server.history)
    with connect(server) as sock:
        target = f"http://127.0.0.1:{server.port}{CHAT}"
        sock.sendall(head(target, {"host": "x", "content-type": "application/json",
                                   "content-length": str(len(BODY))}) + BODY +
                     head("HTTP://example.com/v1/models?limit=1", {"host": "x"}, "GET"))
        code, _, body = read_response(sock)
        assert code == 200 and json.loads(body)["choices"][0]["message"]["content"] == "Hello there, friend."
        assert read_response(sock)[0] == 200
    assert [e.path for e in server.history.all[before:]] == [CHAT, "/v1/models?limit=1"]


# -- item 12: Expect: 100-continue -----------------------------------------------------------------
def expect(server, path: str, length: int, method: str = "POST") -> bytes:
    with connect(server, timeout=3) as sock:
        sock.sendall(head(path, {"host": "x", "content-type": "application/json", "content-length": str(length),
                                 "expect": "100-continue"}, method))
        return read_until_close(sock)  # the body is never sent


@pytest.mark.parametrize("path, method, length, status", [
    ("/v1/nothing", "POST", 10, 404), (CHAT, "PUT", 10, 405), (CHAT, "POST", 33 * 1024 * 1024, 413),
])
def test_expect_continue_gets_the_final_status_when_the_head_decides_it(server, path, method, length, status):
    data = expect(server, path, length, method)
    assert data.startswith(f"HTTP/1.1 {status} ".encode()) and b"100 Continue" not in data
    assert b"\r\nconnection: close\r\n" in data and not data.endswith(b"<<timeout>>")


def test_expect_continue_on_a_good_request_gets_100_then_the_answer(server):
    with connect(server) as sock:
        sock.sendall(head(CHAT, {"host": "x", "content-type": "application/json", "content-length": str(len(BODY)),
                                 "expect": "100-continue"}))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(BODY)
        code, _, body = read_response(sock)
        assert code == 200 and b"Hello there" in body


# -- item 12: the size of a head -------------------------------------------------------------------
def test_the_whole_head_is_capped_at_64_kib(server):
    fields = {f"x-filler-{n}": "v" * 1000 for n in range(70)}  # each line and the count are within limits
    with connect(server) as sock:
        sock.sendall(head("/v1/models", {"host": "x", **fields}, "GET"))
        code, headers, body = read_response(sock)
    assert code == 431 and b"head larger than 65536 bytes" in body


def test_the_head_cap_is_an_option():
    fields = {f"x-filler-{n}": "v" * 1000 for n in range(70)}
    with MockServer(max_head_size=128 * 1024) as big, connect(big) as sock:
        sock.sendall(head("/v1/models", {"host": "x", **fields}, "GET"))
        assert read_response(sock)[0] == 200
