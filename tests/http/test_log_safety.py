"""What a client sends reaches the log escaped and shortened: no escape sequence sets the terminal's
title or clears the screen, and a 60 KB path is not a 60 KB log line."""
from __future__ import annotations

import io
import json
import socket

from llm_mock import MockServer
from llm_mock.log import Logger

HOSTILE = "hi \x1b]0;pwned\x07 then \x1b[2J\x1b[H cleared\r\x9b31m \u202egnp.exe"


def exchange(server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def post(path: str, body: dict) -> bytes:
    data = json.dumps(body, ensure_ascii=False).encode()
    return (f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\n"
            f"content-length: {len(data)}\r\n\r\n").encode("latin-1") + data


def logged(level: str, *requests: bytes) -> str:
    stream = io.StringIO()
    with MockServer() as server:
        server.log = Logger(level, stream=stream)
        server.when("hi").reply("ok")
        for request in requests:
            exchange(server, request)
    return stream.getvalue()


def assert_safe(log: str, longest: int = 600) -> None:
    for char in "\x1b\x07\r\x9b\u202e":
        assert char not in log, repr(char)
    assert all(len(line) < longest for line in log.splitlines()), max(map(len, log.splitlines()))


def test_control_characters_in_a_message_and_a_path_are_escaped():
    path = "/v1/chat/completions?q=\x1b[2J\x07".encode("latin-1").decode("latin-1")
    log = logged("debug", post(path, {"model": "m\x1b[31m", "messages": [{"role": "user", "content": HOSTILE}]}))
    assert_safe(log)
    assert '"hi \\x1b]0;pwned\\x07 then \\x1b[2J\\x1b[H cleared \\x9b31m \\u202egnp.exe"' in log  # CR: a space
    assert "POST /v1/chat/completions?q=\\x1b[2J\\x07 [json]" in log
    assert "model=m\\x1b[31m" in log


def test_a_60_kb_path_is_not_a_60_kb_line():
    long_path = "/v1/" + "a" * 60_000
    log = logged("debug", f"GET {long_path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode(),
                 post("/v1/chat/completions", {"model": "m" * 50_000, "messages": [
                     {"role": "user", "content": "hi " + "x" * 50_000}],
                     "tools": [{"type": "function", "function": {"name": f"tool_{n}", "parameters": {}}}
                               for n in range(500)]}))
    assert_safe(log)
    assert "GET /v1/aaaa" in log and "404" in log and "… [json]" in log


def test_every_line_is_escaped_whatever_logs_it():
    stream = io.StringIO()
    log = Logger("debug", stream=stream)
    log.error("rule \x1b[2J failed\nTraceback line \x07")
    log.problem("warning", "x" * 10_000)
    text = stream.getvalue()
    assert_safe(text, 2100)
    assert "rule \\x1b[2J failed\n" in text and "Traceback line \\x07" in text  # a traceback keeps its lines
    assert "… (8000 more characters)" in text
