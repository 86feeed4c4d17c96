"""Reading an HTTP/1.1 request, head and body: quickly, and within bounds.

The standard library parses headers with the `email` package, which costs more than everything
else a request needs; a request head is simpler than a mail message. Limits match the standard
library's (65 536 bytes a line, 100 headers); a client that trickles its request is cut off.
"""
from __future__ import annotations

import socket
import time
from typing import Optional

MAX_LINE = 65536
MAX_HEADERS = 100


class HeadError(Exception):
    """A request head that cannot be served; answered with `status` and the connection closed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Headers:
    """Request headers: names lower-cased, repeated headers joined with ", " (as rules see them)."""

    __slots__ = ("pairs", "joined")

    def __init__(self, pairs: list):
        self.pairs = tuple(pairs)
        joined: dict = {}
        for name, value in self.pairs:
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
        self.joined = joined

    def get(self, name: str, default=None):
        return self.joined.get(name.lower(), default)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self.joined

    def items(self):
        return self.pairs


def read_headers(rfile) -> Headers:
    """The header lines after the request line, up to the blank line."""
    buffered = rfile.peek(MAX_LINE)
    end = buffered.find(b"\r\n\r\n")
    if end >= 0 and end < MAX_LINE and buffered[:2] != b"\r\n":  # the whole head is in: split it at once
        lines = rfile.read(end + 4)[:end].split(b"\r\n")
        if len(lines) > MAX_HEADERS:
            raise HeadError(431, f"Too many request headers (more than {MAX_HEADERS}).")
        return Headers([_header(line) for line in lines])
    pairs: list = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HeadError(431, "Request header line too long.")
        if line in (b"\r\n", b"\n", b""):
            return Headers(pairs)
        if len(pairs) >= MAX_HEADERS:
            raise HeadError(431, f"Too many request headers (more than {MAX_HEADERS}).")
        pairs.append(_header(line.rstrip(b"\r\n")))


def _header(line: bytes) -> tuple:
    name, colon, value = line.decode("iso-8859-1").partition(":")
    if not colon or not name or name != name.strip():
        raise HeadError(400, f"Malformed request header line {line[:80]!r}.")
    return name.lower(), value.strip()


def read_body(rfile, headers: Headers, limit: int) -> bytes:
    """The body, by Content-Length or chunked; at most `limit` bytes (else 413)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked(rfile, limit)
    length = headers.get("content-length")
    if length is None:
        return b""
    if not (length.isascii() and length.isdigit()):
        raise HeadError(400, f"Invalid Content-Length header: {length!r}")
    size = int(length)
    if size > limit:
        raise HeadError(413, f"Request body of {size} bytes exceeds the limit of {limit} bytes.")
    body = rfile.read(size)
    if len(body) < size:
        raise HeadError(400, "Request body ended before Content-Length bytes arrived.")
    return body


def _read_chunked(rfile, limit: int) -> bytes:
    parts: list = []
    total = 0
    while True:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HeadError(400, "Malformed chunked request body.") from None
        if size == 0:
            while rfile.readline(1024).strip():  # trailers
                pass
            return b"".join(parts)
        total += size
        if total > limit:
            raise HeadError(413, f"Request body exceeds the limit of {limit} bytes.")
        parts.append(rfile.read(size))
        rfile.readline(1024)


class RequestDeadline(socket.SocketIO):
    """A connection's reader: once a request's first byte is in, the rest (head and body) must follow
    within `timeout`. The socket's timeout bounds each read alone: a client trickling a byte at a time
    could otherwise hold a thread forever. `deadline = None` waits for the next request."""

    _sock: socket.socket

    def __init__(self, sock, timeout: float):
        super().__init__(sock, "rb")
        self.timeout = timeout
        self.deadline: Optional[float] = None

    def readinto(self, buffer) -> int:
        if self.deadline is None:
            count = super().readinto(buffer)
            self.deadline = time.monotonic() + self.timeout
            return count or 0
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive within the timeout")
        if left > self.timeout / 2:  # plenty left: the socket's own timeout is bound enough
            return super().readinto(buffer) or 0
        self._sock.settimeout(left)
        try:
            return super().readinto(buffer) or 0
        finally:
            self._sock.settimeout(self.timeout)
