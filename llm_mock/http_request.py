"""Reading an HTTP/1.1 request, head and body: quickly, within bounds, and framed exactly (RFC 9112).

The standard library parses headers with the `email` package, which costs more than everything
else a request needs; a request head is simpler than a mail message. Limits: 65 536 bytes a line,
100 headers, and the whole head (request line included) `max_head_size`, 64 KiB by default; a
client that trickles its request is cut off.

A body is framed by `Content-Length` or by `Transfer-Encoding: chunked`, never both (§6.1: a
request with both is refused, as is any other transfer coding). Chunk sizes are hex digits only
(no sign, `0x` or `_`, which Python's `int(…, 16)` would take), and each chunk's data must end
exactly where its size says. Every framing error is a `HeadError`: the answer closes the connection,
since where the next request would begin is unknown.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Optional

MAX_LINE = 65536
MAX_HEADERS = 100
MAX_HEAD = 65536  # the default of `max_head_size`
_HEX = frozenset(b"0123456789abcdefABCDEF")
_MAX_CHUNK_DIGITS = 16


class HeadError(Exception):
    """A request head that cannot be served; answered with `status` and the connection closed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Headers:
    """Request headers: names lower-cased, repeated headers joined with ", " (as rules see them)."""

    __slots__ = ("pairs", "joined")

    def __init__(self, pairs: list, joined: Optional[dict] = None):
        self.pairs = tuple(pairs)
        if joined is None:
            joined = {}
            for name, value in self.pairs:
                joined[name] = f"{joined[name]}, {value}" if name in joined else value
        self.joined = joined

    def get(self, name: str, default=None):
        return self.joined.get(name.lower(), default)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self.joined

    def items(self):
        return self.pairs


def read_headers(rfile, limit: int = MAX_HEAD, used: int = 0) -> Headers:
    """The header lines after the request line (`used` bytes), up to the blank line; at most `limit`
    bytes in all."""
    buffered = rfile.peek(MAX_LINE)
    end = buffered.find(b"\r\n\r\n")
    if 0 <= end < MAX_LINE and buffered[:2] != b"\r\n":  # the whole head is in: split it at once
        if used + end + 4 > limit:
            raise HeadError(431, f"Request head larger than {limit} bytes.")
        lines = rfile.read(end + 4)[:end].decode("iso-8859-1").split("\r\n")
        if len(lines) > MAX_HEADERS:
            raise HeadError(431, f"Too many request headers (more than {MAX_HEADERS}).")
        return _parsed(lines)
    pairs: list = []
    size = used
    while True:
        line = rfile.readline(min(MAX_LINE, max(limit - size, 0)) + 1)
        size += len(line)
        if size > limit:
            raise HeadError(431, f"Request head larger than {limit} bytes.")
        if len(line) > MAX_LINE:
            raise HeadError(431, "Request header line too long.")
        if line in (b"\r\n", b"\n", b""):
            return Headers(pairs)
        if len(pairs) >= MAX_HEADERS:
            raise HeadError(431, f"Too many request headers (more than {MAX_HEADERS}).")
        pairs.append(_header(line.rstrip(b"\r\n").decode("iso-8859-1")))


def _header(line: str) -> tuple:
    name, colon, value = line.partition(":")
    if not colon or not name or name != name.strip():
        raise HeadError(400, f"Malformed request header line {line.encode('iso-8859-1')[:80]!r}.")
    return name.lower(), value.strip()


def _parsed(lines: list) -> Headers:
    """A whole head's lines (decoded at once) as `Headers`, in one pass (`_header` inlined: a head
    has a dozen or more lines, and a call per line cost more than the rest of reading it)."""
    pairs = []
    joined: dict = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise HeadError(400, f"Malformed request header line {line.encode('iso-8859-1')[:80]!r}.")
        name, value = name.lower(), value.strip()
        pairs.append((name, value))
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return Headers(pairs, joined)


def body_framing(headers: Headers) -> Optional[int]:
    """How the body is framed: its `Content-Length`, or None for chunked (0: no body). A `HeadError`
    for anything ambiguous or unsupported."""
    coding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if coding is not None:
        if length is not None:
            raise HeadError(400, "A request may not carry both Content-Length and Transfer-Encoding.")
        if coding.strip().lower() != "chunked":
            raise HeadError(501, f"Transfer-Encoding {coding[:40]!r} is not supported; send chunked or "
                                 "Content-Length.")
        return None
    if length is None:
        return 0
    if not (length.isascii() and length.isdigit()) or len(length) > 18:
        raise HeadError(400, f"Invalid Content-Length header: {length[:40]!r}")
    return int(length)


def read_body(rfile, headers: Headers, limit: int, on_continue: Optional[Callable[[], None]] = None) -> bytes:
    """The body, by Content-Length or chunked; at most `limit` bytes (else 413). `on_continue` is
    called just before the body is read (to send `100 Continue` to a client that waits for it)."""
    size = body_framing(headers)
    if size == 0:
        return b""
    if size is not None and size > limit:
        raise HeadError(413, f"Request body of {size} bytes exceeds the limit of {limit} bytes.")
    if on_continue is not None:
        on_continue()
    if size is None:
        return _read_chunked(rfile, limit)
    body = rfile.read(size)
    if len(body) < size:
        raise HeadError(400, "Request body ended before Content-Length bytes arrived.")
    return body


def _read_chunked(rfile, limit: int) -> bytes:
    parts: list = []
    total = 0
    while True:
        size = _chunk_size(rfile.readline(1024))
        if size == 0:
            for _ in range(MAX_HEADERS + 1):  # trailers, up to a blank line
                line = rfile.readline(MAX_LINE + 1)
                if line in (b"\r\n", b"\n"):
                    return b"".join(parts)
                if not line.endswith(b"\n"):
                    raise HeadError(400, "Chunked request body ended inside its trailers.")
            raise HeadError(431, f"Too many trailer fields (more than {MAX_HEADERS}).")
        total += size
        if total > limit:
            raise HeadError(413, f"Request body exceeds the limit of {limit} bytes.")
        data = rfile.read(size)
        if len(data) < size:
            raise HeadError(400, f"Chunk shorter than its size ({len(data)} of {size} bytes before the end).")
        parts.append(data)
        end = rfile.read(2)
        if end != b"\r\n":
            raise HeadError(400, f"Chunk longer than its size ({size} bytes, then {end!r} instead of CRLF).")


def _chunk_size(line: bytes) -> int:
    """`1*HEXDIG [ BWS ";" chunk-ext ] CRLF`; anything else, or no line at all, is a 400."""
    if not line.endswith(b"\n"):
        raise HeadError(400, "Chunked request body ended before its last chunk." if not line
                        else "Malformed chunk size line.")
    head = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    digits, semicolon, _ = head.partition(b";")
    if semicolon:
        digits = digits.rstrip(b" \t")  # BWS before the extension
    if not digits or len(digits) > _MAX_CHUNK_DIGITS or not all(c in _HEX for c in digits):
        raise HeadError(400, f"Malformed chunk size {digits[:20]!r}: hex digits only.")
    return int(digits, 16)


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
