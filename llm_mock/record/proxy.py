"""Forwarding to an upstream: the client's request as it came, the answer piece by piece with its timing.

`forward` sends the request with `http.client` (the client's own headers and body; auth included,
since the upstream needs it) and returns an `Exchange` whose `pieces()` yields the answer's body as
it arrives, each piece stamped with its time after the response head. The caller relays each piece
to the client at once, so a stream passes through with its real pacing, never buffered. `frames`
then cuts the pieces into the stream's own frames (an SSE event, an NDJSON line) for the recording,
each at the time its last byte arrived.
"""
from __future__ import annotations

import http.client
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit

UPSTREAM_TIMEOUT = 600.0
"""Seconds an upstream may stay silent: reasoning models think for minutes before their first byte."""

REQUEST_DROPPED = frozenset({"host", "content-length", "connection", "keep-alive", "proxy-connection", "te",
                             "trailer", "transfer-encoding", "upgrade", "expect", "accept-encoding"})
"""Request headers not forwarded: hop-by-hop ones, and `accept-encoding` (the upstream is asked for an
identity body, which the recorder can read and the client gets unchanged)."""

RESPONSE_DROPPED = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "content-length",
                              "date", "trailer", "upgrade"})
"""Response headers the relay sets itself (framing, date) and does not copy."""


class Upstream:
    """A base URL requests are forwarded to: `https://api.openai.com`, or with a path prefix
    (`https://gateway.example/openai`) that the request's path is appended to."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream {url!r} must be an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        try:
            self.port = parts.port
        except ValueError:
            raise ValueError(f"upstream {url!r} has an invalid port") from None
        self.base = parts.path.rstrip("/")

    def target(self, target: str) -> str:
        """The path and query to request upstream: the base path, then the client's, said once
        (`…/v1` and `/v1/chat/completions` give `…/v1/chat/completions`)."""
        if self.base and (target == self.base or target.startswith(self.base + "/")
                          or target.startswith(self.base + "?")):
            return target
        return self.base + target

    def connect(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=UPSTREAM_TIMEOUT)
        return http.client.HTTPConnection(self.host, self.port, timeout=UPSTREAM_TIMEOUT)

    def __str__(self) -> str:
        return self.url


@dataclass
class Exchange:
    """One forwarded request and its answer as it arrived: status, headers, the time to the head,
    and the body's pieces as (seconds after the head, bytes)."""

    method: str
    target: str
    request_headers: list
    request_body: bytes
    status: int = 0
    headers: list = field(default_factory=list)  # lower-case names, as the upstream sent them
    head_ms: float = 0.0
    incremental: bool = False  # chunked (or read to the close): relayed piece by piece
    received: list = field(default_factory=list)
    broken: Optional[BaseException] = None  # the upstream failed before the end of the body
    _response: Any = None
    _connection: Any = None
    _head_at: float = 0.0

    @property
    def body(self) -> bytes:
        """The whole body, decoded (see `decoded`)."""
        return b"".join(data for _, data in self.decoded)

    @property
    def encoded(self) -> bool:
        """The upstream compressed its answer although asked not to (gzip or deflate)."""
        return self.header_map.get("content-encoding", "").strip().lower() in ("gzip", "x-gzip", "deflate")

    @property
    def decoded(self) -> list:
        """The pieces with a gzip or deflate content encoding undone: what the recorder reads and saves."""
        if not self.encoded:
            return self.received
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or a zlib header, whichever it is
        try:
            pieces = [(at, inflate.decompress(data)) for at, data in self.received]
            tail = inflate.flush()
        except zlib.error:
            return self.received
        return pieces + ([(pieces[-1][0] if pieces else 0.0, tail)] if tail else [])

    @property
    def header_map(self) -> dict:
        return {name: value for name, value in self.headers}

    @property
    def media_type(self) -> str:
        return self.header_map.get("content-type", "").split(";")[0].strip().lower()

    def relayed_headers(self) -> list:
        return [(name, value) for name, value in self.headers if name not in RESPONSE_DROPPED]

    def pieces(self) -> Iterator[bytes]:
        """The body as it arrives; each piece kept with its time. An upstream that fails midway
        ends the iteration and leaves `broken` set."""
        response = self._response
        try:
            while True:
                data = response.read1(65536) if self.incremental else response.read()
                if not data:
                    return
                self.received.append((time.monotonic() - self._head_at, data))
                yield data
                if not self.incremental:
                    return
        except (OSError, http.client.HTTPException) as exc:
            self.broken = exc

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def forward(upstream: Upstream, method: str, target: str, headers: list, body: bytes) -> Exchange:
    """Send the request upstream and read the answer's head; the body is read through `pieces()`.
    Raises `OSError` / `http.client.HTTPException` when the upstream cannot be reached."""
    sent = [(name, value) for name, value in headers
            if name.lower() not in REQUEST_DROPPED and not name.lower().startswith("x-llm-mock-")]
    exchange = Exchange(method, upstream.target(target), sent, body)
    connection = upstream.connect()
    started = time.monotonic()
    try:
        connection.putrequest(method, exchange.target, skip_accept_encoding=True)
        for name, value in sent:
            connection.putheader(name, value)
        connection.putheader("accept-encoding", "identity")
        connection.putheader("content-length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
    except BaseException:
        connection.close()
        raise
    exchange._head_at = time.monotonic()
    exchange.head_ms = (exchange._head_at - started) * 1000
    exchange.status = response.status
    exchange.headers = [(name.lower(), value) for name, value in response.getheaders()]
    exchange.incremental = bool(response.chunked) or response.length is None
    exchange._response, exchange._connection = response, connection
    return exchange


# -- frames ------------------------------------------------------------------------------------
def _split_at(separators: tuple) -> Callable[[list], list]:
    def split(received: list) -> list:
        frames, buffer, at = [], b"", 0.0
        for at, data in received:
            buffer += data
            while True:
                cuts = [(buffer.find(s), s) for s in separators if buffer.find(s) >= 0]
                if not cuts:
                    break
                index, separator = min(cuts)
                end = index + len(separator)
                frames.append((at, buffer[:end]))
                buffer = buffer[end:]
        if buffer:
            frames.append((at, buffer))
        return frames
    return split


def _split_messages(received: list) -> list:
    """AWS event-stream messages, each as long as its prelude's total length says."""
    frames, buffer, at = [], b"", 0.0
    for at, data in received:
        buffer += data
        while len(buffer) >= 4 and 16 <= int.from_bytes(buffer[:4], "big") <= len(buffer):
            size = int.from_bytes(buffer[:4], "big")
            frames.append((at, buffer[:size]))
            buffer = buffer[size:]
    if buffer:
        frames.append((at, buffer))
    return frames


SPLITTERS: dict = {
    "application/vnd.amazon.eventstream": _split_messages,
    "text/event-stream": _split_at((b"\r\n\r\n", b"\n\n")),
    "application/x-ndjson": _split_at((b"\n",)),
    "application/jsonl": _split_at((b"\n",)),
}
"""Media type → how its stream divides into frames; other streams keep the pieces as they came."""


def register_splitter(media_type: str, split: Callable[[list], list]) -> None:
    """Teach the recorder where the frames of a stream in `media_type` end."""
    SPLITTERS[media_type] = split


def frames(exchange: Exchange) -> list:
    """(seconds after the head, frame bytes) for every frame of an answer sent piece by piece."""
    split = SPLITTERS.get(exchange.media_type)
    return split(exchange.decoded) if split else list(exchange.decoded)
