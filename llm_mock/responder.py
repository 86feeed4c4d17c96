"""Writing one request's answer: the only place bytes of an answer leave the server.

Every write goes through a `Responder`, which puts the request in the history before the first
byte of its answer (so a client holding a response always finds it recorded), and finishes
faulty answers: close, reset, or stall then close.
"""
from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional

from .framing import dumps
from .history import RecordedRequest
from .http_response import CLOSE_DELIMITED, LAST_CHUNK, chunk, response_head
from .replies import ErrorReply

JSON_TYPE = ("content-type", "application/json")
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout, TimeoutError)
"""What a write or read raises when the client went away (or stopped reading in time)."""


class Responder:
    """Answers one request on `connection`, recording `entry` in `history` first."""

    def __init__(self, connection: Any, entry: RecordedRequest, history: Any, head_only: bool = False,
                 extra_headers: Sequence[tuple] = ()):
        self.connection = connection
        self.entry = entry
        self.history = history
        self.head_only = head_only  # HEAD: the head a GET would get, no body
        self.extra_headers = list(extra_headers)  # on every answer (CORS)
        self.published = False
        self.capture = False  # keep what the body was, in `sent` (log level `all`)
        self.sent: Optional[bytes] = None

    def publish(self, status: int, outcome: str) -> None:
        """Record the request (once) with this status and outcome; later calls only update them."""
        self.entry.status, self.entry.outcome = status, outcome
        if not self.published:
            self.published = True
            self.history.record(self.entry)

    def send(self, status: int, headers: list, body: bytes, outcome: str = "ok") -> None:
        """A whole answer with a `Content-Length` body, in one write."""
        self.publish(status, outcome)
        if self.extra_headers:
            headers = [*headers, *self.extra_headers]
        if self.connection.close_connection:
            headers = [*headers, ("connection", "close")]
        elif self.connection.request_version == "HTTP/1.0":  # kept open: an HTTP/1.0 client must be told
            headers = [*headers, ("connection", "keep-alive")]
        head = response_head(status, headers, len(body))
        if self.capture:
            self.sent = body
        self.connection.wfile.write(head if self.head_only else head + body)

    def send_json(self, status: int, value: Any, headers: list, outcome: str = "ok") -> None:
        self.send(status, [JSON_TYPE, *headers], dumps(value).encode("utf-8"), outcome)

    def send_error(self, adapter: Any, error: ErrorReply, request_id: str, outcome: str = "rejected",
                   headers: Optional[list] = None) -> None:
        """An HTTP error in `adapter`'s shape, with its request id and the error's own headers."""
        extra = [(adapter.request_id_header, request_id), *adapter.error_headers(error), *error.response_headers(),
                 *(headers or ())]
        self.send_json(error.status, adapter.render_error(error, request_id), extra, outcome)

    def stream(self, headers: list, frames: list, offsets: Optional[list], complete: bool, pacer: Any) -> None:
        """A chunked body of `frames` (bytes), each at its offset (seconds) or all at once. An HTTP/1.0
        client cannot read chunked encoding: it gets the frames as they are, and the end of the body
        is the end of the connection."""
        if self.extra_headers:
            headers = [*headers, *self.extra_headers]
        if self.connection.request_version == "HTTP/1.0":
            self.connection.close_connection = True
            head = response_head(200, [*headers, ("connection", "close")], CLOSE_DELIMITED)
            wrap, last = (lambda frame: frame), b""
        else:
            head = response_head(200, headers)
            wrap, last = chunk, LAST_CHUNK if complete else b""
        if self.capture:
            self.sent = b"".join(frames)
        if self.head_only:
            self.connection.wfile.write(head)
        elif offsets is None:  # unpaced: the whole response, one chunk, one write
            size = sum(map(len, frames))
            if wrap is chunk and size:  # the chunk's size line and CRLF joined in with the frames: one copy
                frames = [head, b"%x\r\n" % size, *frames, b"\r\n", last]
            else:
                frames = [head, *frames, last]
            self.connection.wfile.write(b"".join(frames))
        else:
            pacer.send(self.connection.connection, head, [wrap(frame) for frame in frames], offsets, last)

    def relay(self, status: int, headers: list, pieces: Iterable[bytes], before_end: Callable[[], None]) -> None:
        """An answer passed through as it arrives (a proxied stream): the head, each piece as one
        chunk the moment it comes, then `before_end()` (which may raise to leave the body
        unfinished), then the end of the body."""
        write = self.connection.wfile.write
        if self.connection.close_connection:
            headers = [*headers, ("connection", "close")]
        write(response_head(status, headers))
        for piece in pieces:
            if piece:
                write(chunk(piece))
        before_end()
        write(LAST_CHUNK)

    def end_connection(self, how: str, data: bytes = b"", stall_ms: float = 0) -> None:
        """Finish a faulty answer: `close`, `reset` (a TCP RST), or `stall` then close."""
        conn = self.connection
        conn.close_connection = True
        sock = conn.connection
        if data:
            conn.wfile.write(data)
        if how == "stall":  # hold the connection until the client gives up or stall_ms passes
            deadline = time.monotonic() + stall_ms / 1000
            while time.monotonic() < deadline:
                readable, _, _ = select.select([sock], [], [], min(0.25, max(deadline - time.monotonic(), 0)))
                try:
                    if readable and not sock.recv(65536):  # what the client sends is discarded
                        break
                except OSError:
                    break
        if how == "reset":  # close now: socketserver's shutdown(SHUT_WR) would send a FIN before the RST
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.rfile.close()
            sock.close()
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
