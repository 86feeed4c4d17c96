"""A failure inside the server is never silent: whatever closes a connection (or answers 500)
because of the server's own state is logged at error level, with the traceback at debug, at every
log level but an explicit `none`."""
from __future__ import annotations

import http.client
import io
import json
import socket
import time

import pytest

from llm_mock import MockServer
from llm_mock.formats.openai_chat import ChatCompletions
from llm_mock.pacing import Pacer

CHAT = "/v1/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
LEVELS = [None, "error", "info", "debug", "none"]


def post(server, body=BODY, timeout=5) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request("POST", CHAT, json.dumps(body), {"content-type": "application/json"})
        response = conn.getresponse()
        try:
            return response.status, response.read()
        except http.client.IncompleteRead as cut:  # the connection closed mid-body
            return response.status, cut.partial
    finally:
        conn.close()


def logging_server(level, **options) -> tuple:
    stream = io.StringIO()
    server = MockServer(log_level=level, **options)
    server.log.stream = stream
    return server, stream


def wait_for(predicate, timeout=3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def errors(stream) -> list:
    return [line for line in stream.getvalue().splitlines() if "ERROR" in line]


@pytest.mark.parametrize("level", LEVELS)
def test_a_failing_renderer_is_a_500_and_an_error_line(monkeypatch, level):
    def broken(self, request, completion):
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(ChatCompletions, "render_json", broken)
    server, stream = logging_server(level)
    with server:
        status, body = post(server)
    assert status == 500 and b"llm_mock internal error: RuntimeError" in body
    if level == "none":
        assert stream.getvalue() == ""
        return
    assert len(errors(stream)) == 1
    assert "POST /v1/chat/completions failed inside llm_mock: RuntimeError: renderer broke" in errors(stream)[0]
    assert ("Traceback" in stream.getvalue()) == (level == "debug")


@pytest.mark.parametrize("level", LEVELS)
def test_a_connection_closed_by_a_failure_before_dispatch_is_logged(monkeypatch, level):
    def broken(*args):
        raise KeyError("state")

    monkeypatch.setattr("llm_mock.connection.read_headers", broken)
    server, stream = logging_server(level)
    with server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
        assert sock.recv(100) == b""  # closed without an answer
        if level == "none":
            time.sleep(0.1)
            assert stream.getvalue() == ""
            return
        assert wait_for(lambda: errors(stream))
    line = errors(stream)[0]
    assert "closed without an answer, llm_mock failed: KeyError: 'state'" in line
    assert f"127.0.0.1:{client_port}" in line
    assert ("Traceback" in stream.getvalue()) == (level == "debug")


def test_a_client_going_away_is_not_an_error():
    server, stream = logging_server("info")
    with server:
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 100\r\n\r\n{")
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.sendall(b"GET /v1/mod")
        time.sleep(0.2)
        assert post(server)[0] == 200
    assert errors(stream) == []


def test_a_failure_in_the_pacer_fails_one_stream_and_keeps_the_others(monkeypatch):
    advance = Pacer._advance
    calls = []

    def flaky(self, job):
        calls.append(job)
        if len(calls) == 1:
            raise RuntimeError("pacer broke")
        return advance(self, job)

    monkeypatch.setattr(Pacer, "_advance", flaky)
    server, stream = logging_server(None)
    with server:
        server.when("hello").reply("one two three four", chunk_size=4, latency=20)
        stream_body = {**BODY, "stream": True}
        status, first = post(server, stream_body)  # used to hang: the pacer thread had died
        assert status == 200 and b"[DONE]" not in first
        status, second = post(server, stream_body)
        assert status == 200 and second.rstrip().endswith(b"data: [DONE]")
    assert any("failed inside llm_mock: RuntimeError: pacer broke" in line for line in errors(stream))
