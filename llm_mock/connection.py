"""The connection layer: one `BaseHTTPRequestHandler` per client connection.

It reads request heads (`http_request`), keeps the connection alive or closes it, enforces the
per-request deadline, and hands each request to `dispatch.serve`. It knows nothing of routes,
formats or rules. Nothing a client sends produces a traceback: a head that cannot be served is
answered here, in OpenAI's error shape, and the connection closed.
"""
from __future__ import annotations

import io
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any, Optional
from urllib.parse import urlsplit

from . import dispatch
from .formats import by_name
from .framing import dumps
from .http_request import HeadError, RequestDeadline, body_framing, read_headers
from .http_response import response_head
from .replies import ErrorReply
from .responder import CLIENT_GONE


class Connection(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm_mock"
    server: Any  # the `_HTTPServer` of `server.py`: `.app` is the MockServer
    raw_requestline: bytes

    def setup(self) -> None:
        # a timeout keeps the socket non-blocking for the pacer
        self.timeout = self.server.app.options.timeout or 86400.0  # type: ignore[misc]
        super().setup()
        self.rfile.close()
        self.reader = RequestDeadline(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self.reader)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def handle(self) -> None:
        try:
            super().handle()
        except CLIENT_GONE:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # the access log is dispatch's
        pass

    def parse_request(self) -> bool:
        """The request line and headers (`http_request`), keep-alive, body framing and `Expect`.

        `100 Continue` is not sent here: the head may already decide the answer (404, 405, 413), and
        then the client gets that instead, without sending the body (`send_continue`)."""
        self.command, self.close_connection, self.expect_continue = "", True, False
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(400, f"Bad request line {self.requestline[:80]!r}.")
            return False
        self.command, self.path, self.request_version = words
        if self.request_version not in ("HTTP/1.1", "HTTP/1.0"):
            self.send_error(505, f"HTTP version {self.request_version} is not supported; use HTTP/1.1.")
            return False
        if self.path[:1] != "/" and self.path.partition("://")[0].lower() in ("http", "https"):
            self.path = _origin_form(self.path)  # absolute-form, as sent to a proxy (RFC 9112 §3.2.2)
        try:
            self.headers = read_headers(self.rfile, self.server.app.options.max_head_size,  # type: ignore[assignment]
                                        len(self.raw_requestline))
            body_framing(self.headers)  # type: ignore[arg-type]
        except HeadError as bad:
            self.send_error(bad.status, bad.message)
            return False
        connection = self.headers.get("connection", "").lower()
        self.close_connection = "close" in connection if self.request_version == "HTTP/1.1" \
            else "keep-alive" not in connection
        self.expect_continue = self.headers.get("expect", "").lower() == "100-continue" \
            and self.request_version == "HTTP/1.1"
        return True

    def send_continue(self) -> None:
        """`100 Continue`, once, to a client that asked for it, just before its body is read."""
        if self.expect_continue:
            self.expect_continue = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """Malformed request lines and oversized heads, answered in OpenAI's error shape."""
        self.close_connection = True
        body = dumps(by_name("openai").render_error(ErrorReply(code, message or explain), "")).encode()
        try:
            self.wfile.write(response_head(code, [("content-type", "application/json"), ("connection", "close")],
                                           len(body)) + body)
        except OSError:
            pass

    def do_GET(self) -> None:
        dispatch.serve(self, "GET")

    def do_POST(self) -> None:
        dispatch.serve(self, "POST")

    def do_PUT(self) -> None:
        dispatch.serve(self, "PUT")

    def do_PATCH(self) -> None:
        dispatch.serve(self, "PATCH")

    def do_DELETE(self) -> None:
        dispatch.serve(self, "DELETE")

    def do_HEAD(self) -> None:
        dispatch.serve(self, "HEAD")

    def do_OPTIONS(self) -> None:
        dispatch.serve(self, "OPTIONS")


def _origin_form(target: str) -> str:
    """`http://host:port/v1/x?y` → `/v1/x?y`."""
    parts = urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
