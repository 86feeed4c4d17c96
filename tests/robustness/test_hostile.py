"""Hostile input on every route: a 400 in the vendor's shape naming the problem, never a 500, a
traceback or a dropped connection; size caps; slow, idle and vanishing clients; rules that raise.

Never stricter than the real API: odd but valid requests pass (tests/http/test_odd_valid_requests.py),
and so do the captured Claude Code and Codex requests (tests/http/test_captures.py).
"""
from __future__ import annotations

import json
import socket
import time

import anthropic
import openai
import pytest

from llm_mock import MockServer
from support.clients import anthropic_client, openai_client
from support.raw_http import BODIES, connect, exchange, os_threads, post, request_bytes, wait_for

CHAT, RESPONSES, MESSAGES = BODIES
LIMIT_FIELD = {CHAT: "max_tokens", RESPONSES: "max_output_tokens", MESSAGES: "max_tokens"}
LIST_FIELD = {CHAT: "messages", RESPONSES: "input", MESSAGES: "messages"}


def without(path: str, key: str) -> bytes:
    return json.dumps({k: v for k, v in BODIES[path].items() if k != key}).encode()


def with_value(path: str, key: str, value) -> bytes:
    return json.dumps({**BODIES[path], key: value}).encode()


def bad_requests():
    """(route, body, content type, the word the message must contain, the `param` OpenAI names)."""
    for path in BODIES:
        yield path, b'{"model": "m", "messages": [', None, "JSON", None
        yield path, b"[1, 2, 3]", None, "JSON object", None
        yield path, b'"just a string"', None, "JSON object", None
        yield path, b"", None, "JSON", None
        yield path, with_value(path, "model", 5), None, "model", "model"
        yield path, with_value(path, LIST_FIELD[path], 5), None, LIST_FIELD[path], LIST_FIELD[path]
        yield path, with_value(path, "stream", "yes"), None, "stream", "stream"
        yield path, with_value(path, LIMIT_FIELD[path], "10"), None, LIMIT_FIELD[path], LIMIT_FIELD[path]
        yield path, without(path, "model"), None, "model", "model"
        yield path, without(path, LIST_FIELD[path]), None, LIST_FIELD[path], LIST_FIELD[path]
        yield path, with_value(path, "model", "caf\udce9").replace(b"\\udce9", b"\xe9"), None, "UTF-8", None
        yield path, json.dumps(BODIES[path]).encode(), "text/plain", "Content-Type", None
        yield path, with_value(path, "model", "\ud800"), None, "surrogate", None  # sent back, it is not UTF-8
        yield path, json.dumps(BODIES[path]).encode()[:-1] + b', "temperature": NaN}', None, "NaN", None
    yield CHAT, with_value(CHAT, "messages", "x"), None, "messages", "messages"
    yield CHAT, with_value(CHAT, "n", 0), None, "'n'", "n"
    yield CHAT, with_value(CHAT, "messages", [5]), None, "messages[0]", "messages[0]"
    yield CHAT, with_value(CHAT, "messages", [{"role": ["user"], "content": "hi"}]), None, "Invalid value", \
        "messages[0].role"
    yield CHAT, with_value(CHAT, "tools", [{"type": ["function"]}]), None, "tools[0].type", "tools[0].type"
    yield RESPONSES, with_value(RESPONSES, "input", [{"role": {"x": 1}, "content": "hi"}]), None, "Invalid value", \
        "input[0].role"
    yield MESSAGES, with_value(MESSAGES, "messages", "x"), None, "messages", None
    yield MESSAGES, without(MESSAGES, "max_tokens"), None, "max_tokens", None
    yield MESSAGES, with_value(MESSAGES, "max_tokens", 0), None, "max_tokens", None
    yield MESSAGES, with_value(MESSAGES, "messages", [{"role": "robot", "content": "hi"}]), None, "role", None


def assert_vendor_error(path: str, status: int, headers: dict, body: bytes, word: str, param=None) -> dict:
    """The body is the vendor's error shape with a message containing `word`; returns the error."""
    assert b"Traceback" not in body
    parsed = json.loads(body)
    if path == MESSAGES:
        assert set(parsed) == {"type", "error", "request_id"} and parsed["type"] == "error"
        assert headers["request-id"] == parsed["request_id"]
        error = parsed["error"]
        assert set(error) == {"type", "message"}
    else:
        error = parsed["error"]
        assert set(parsed) == {"error"} and set(error) == {"message", "type", "param", "code"}
        assert headers["x-request-id"].startswith("req_")
        assert error["param"] == param
    assert word in error["message"]
    return error


@pytest.mark.parametrize("path, body, content_type, word, param", list(bad_requests()))
def test_bad_request_is_a_400_naming_the_problem_and_keeps_the_connection(server, path, body, content_type,
                                                                           word, param):
    conn = connect(server)
    status, headers, reply = post(conn, path, body, {"content-type": content_type} if content_type else None)
    assert status == 400
    error = assert_vendor_error(path, status, headers, reply, word, param)
    assert error["type"] == "invalid_request_error"
    assert "connection" not in headers  # the body was read whole: the connection stays open
    status, _, _ = post(conn, path, BODIES[path])
    assert status == 200
    assert [entry.outcome for entry in server.history] == ["rejected", "ok"]


def test_the_sdks_raise_bad_request_naming_the_field(server, oai, claude):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], n=0)
    assert caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model=5, input="hi")
    assert caught.value.param == "model"
    with pytest.raises(anthropic.BadRequestError, match="messages") as caught:
        claude.messages.create(model="claude-mock", max_tokens=10, messages="x")
    assert caught.value.body["error"]["type"] == "invalid_request_error"


# -- size limits -------------------------------------------------------------------------------

@pytest.fixture
def capped():
    with MockServer(max_body_size=1024) as server:
        yield server


def padded(path: str, size: int) -> bytes:
    """A valid body of exactly `size` bytes."""
    body = {**BODIES[path], "metadata": {"pad": ""}}
    body["metadata"]["pad"] = "x" * (size - len(json.dumps(body).encode()))
    return json.dumps(body).encode()


@pytest.mark.parametrize("path", list(BODIES))
def test_a_body_over_the_cap_is_a_413_in_the_vendor_shape(capped, path):
    conn = connect(capped)
    assert post(conn, path, padded(path, 1024))[0] == 200  # at the cap: fine
    status, headers, body = post(conn, path, padded(path, 1025))
    assert status == 413 and headers["connection"] == "close"
    error = assert_vendor_error(path, status, headers, body, "1024 bytes")
    assert error["type"] == ("request_too_large" if path == MESSAGES else "invalid_request_error")


@pytest.mark.parametrize("path", list(BODIES))
def test_a_chunked_body_over_the_cap_is_a_413(capped, path):
    data = padded(path, 1500)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 400]), data[i:i + 400]) for i in range(0, 1500, 400))
    out, elapsed = exchange(capped, request_bytes(path, chunked + b"0\r\n\r\n", {"content-length": None,
                                                                                 "transfer-encoding": "chunked"}))
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and elapsed < 2
    assert_vendor_error(path, 413, dict(line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:]),
                        body, "1024 bytes")
    small = padded(path, 900)
    out, _ = exchange(capped, request_bytes(path, b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small),
                                            {"content-length": None, "transfer-encoding": "chunked",
                                             "connection": "close"}))
    assert out.startswith(b"HTTP/1.1 200 ")


def test_the_sdks_see_the_413(capped):
    big = [{"role": "user", "content": "x" * 2000}]
    with pytest.raises(anthropic.RequestTooLargeError):
        anthropic_client(capped).messages.create(model="claude-mock", max_tokens=10, messages=big)
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client(capped).chat.completions.create(model="gpt-4o-mini", messages=big)
    assert caught.value.status_code == 413


@pytest.mark.parametrize("extra, status", [
    (b"x-big: " + b"a" * 70_000 + b"\r\n", 431),
    (b"".join(b"x-h%d: v\r\n" % i for i in range(150)), 431),
])
def test_oversized_headers_are_refused_without_a_hang(server, extra, status):
    data = b"POST /v1/messages HTTP/1.1\r\nhost: x\r\n" + extra + b"content-length: 2\r\n\r\n{}"
    out, elapsed = exchange(server, data)
    assert out.startswith(b"HTTP/1.1 %d " % status) and elapsed < 2
    assert json.loads(out.partition(b"\r\n\r\n")[2])["error"]["message"]


def test_an_overlong_request_line_is_refused(server):
    out, elapsed = exchange(server, b"POST /v1/messages?" + b"q" * 70_000 + b" HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 414 ") and elapsed < 2


@pytest.mark.parametrize("length", ["abc", "-5", "1e3"])
def test_a_bad_content_length_is_a_400(server, length):
    out, _ = exchange(server, request_bytes(MESSAGES, b"{}", {"content-length": length}))
    assert out.startswith(b"HTTP/1.1 400 ") and b"Content-Length" in out


# -- slow, idle and vanishing clients ---------------------------------------------------------

@pytest.fixture
def impatient():
    with MockServer(timeout=0.5) as server:
        server.fallback("hello")
        yield server


def test_half_a_body_then_silence_is_cut_off(impatient):
    baseline = os_threads()
    data = request_bytes(MESSAGES, b'{"model": "claude-mock", "max_tokens": 10, ', {"content-length": "500"})
    out, elapsed = exchange(impatient, data)
    assert out == b"" and 0.4 < elapsed < 1.5  # closed after about the timeout, without an answer
    wait_for(lambda: os_threads() <= baseline)
    wait_for(lambda: [e.outcome for e in impatient.history] == ["disconnected"])


def test_an_idle_keep_alive_connection_is_closed(impatient):
    conn = connect(impatient)
    assert post(conn, CHAT, BODIES[CHAT])[0] == 200
    started = time.monotonic()
    assert conn.sock.recv(1) == b""  # the server closes the idle connection
    assert 0.4 < time.monotonic() - started < 1.5


def test_a_trickling_client_cannot_hold_a_thread(impatient):
    body = json.dumps(BODIES[CHAT]).encode()
    data = request_bytes(CHAT, body)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=5) as sock:
        try:
            for byte in data:  # each byte well within the timeout, the whole far beyond it
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
                if time.monotonic() - started > 4:
                    break
            reply = sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            reply = b""
    assert time.monotonic() - started < 3 and not reply.startswith(b"HTTP/1.1 200")


def saying(path: str, text: str, **extra) -> dict:
    """The route's minimal body with `text` as the user's message."""
    body = {**BODIES[path], **extra}
    if path == RESPONSES:
        body["input"] = text
    else:
        body["messages"] = [{"role": "user", "content": text}]
    return body


@pytest.mark.parametrize("path", list(BODIES))
def test_a_client_leaving_mid_stream_frees_its_thread_quietly(capfd, path):
    with MockServer(log_level="error") as server:
        server.when("hi").reply("word " * 60, latency=50, chunk_size=5)  # 3 s of events
        data = json.dumps(saying(path, "hi", stream=True)).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(request_bytes(path, data))
            received = b""
            while received.partition(b"\r\n\r\n")[2].count(b"\n\n") < 2:
                received += sock.recv(65536)
        started = time.monotonic()
        wait_for(lambda: [e.outcome for e in server.history] == ["disconnected"])
        wait_for(lambda: server.open_connections == 0)  # its connection thread has finished
        assert time.monotonic() - started < 1.5  # noticed at the next event, not at the stream's end
        assert server.history.last().status == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err


@pytest.mark.parametrize("path", list(BODIES))
def test_a_rule_that_raises_is_a_500_naming_it_and_the_server_goes_on(capfd, path):
    with MockServer(log_level="error") as server:
        server.when("boom").reply(lambda request: 1 / 0)
        server.when(lambda request: request.last_message == "explode" and request.raw["missing"]).reply("x")
        server.when("hi").reply("hello")
        conn = connect(server)
        for said, rule, cause in (("boom", '"boom"', "ZeroDivisionError"), ("explode", "(predicate)", "KeyError")):
            status, headers, body = post(conn, path, saying(path, said))
            assert status == 500
            error = assert_vendor_error(path, status, headers, body, f"rule {rule} raised {cause}")
            assert error["type"] == ("api_error" if path == MESSAGES else "server_error")
        status, _, body = post(conn, path, saying(path, "hi"))
        assert status == 200 and b"hello" in body
        assert [(e.status, e.outcome, e.rule) for e in server.history] == [
            (500, "rule error", '"boom"'), (500, "rule error", "(predicate)"), (200, "ok", '"hi"')]
    err = capfd.readouterr().err
    assert err.count("Traceback (most recent call last)") == 2
    assert "ZeroDivisionError: division by zero" in err and "KeyError: 'missing'" in err


def test_the_sdks_see_a_raising_rule_as_a_server_error(server, oai, claude):
    server.when("boom").reply(lambda request: {"text": 5})  # an invalid reply is the rule's failure too
    with pytest.raises(openai.InternalServerError, match="reply field 'text' must be a string"):
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "boom"}])
    with pytest.raises(anthropic.InternalServerError, match='rule "boom" raised ValueError'):
        claude.messages.create(model="claude-mock", max_tokens=10, messages=[{"role": "user", "content": "boom"}])
