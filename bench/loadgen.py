"""An asyncio load generator on raw sockets, so the bench runs anywhere without `wrk`.

Callback-based protocols rather than coroutines: the client must stay cheaper than the server it
measures, and the ceiling run shows where the client itself tops out.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Optional

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.IGNORECASE)
_LAST_CHUNK = b"0\r\n\r\n"

HOST = "127.0.0.1"


def build_request(path: str, body: dict, port: int, headers: Optional[dict] = None) -> bytes:
    """A complete keep-alive POST, built once and sent as is for every request."""
    data = json.dumps(body, separators=(",", ":")).encode()
    lines = [f"POST {path} HTTP/1.1", f"host: {HOST}:{port}", "content-type: application/json",
             "accept: application/json", "user-agent: llm-mock-bench/1", f"content-length: {len(data)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def response_end(buffer: bytes) -> int:
    """Length of the complete response at the start of `buffer`, or 0 while it is incomplete.

    A chunked body is complete when the buffer ends with the last chunk: the client sends one
    request at a time and an SSE chunk's data ends in a blank line, never in `\\r\\n0\\r\\n`."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return 0
    head = buffer[:head_end]
    length = _LENGTH.search(head)
    if length is not None:
        total = head_end + 4 + int(length.group(1))
        return total if len(buffer) >= total else 0
    if _CHUNKED.search(head):
        if buffer.endswith(_LAST_CHUNK) and (len(buffer) == head_end + 9 or buffer.endswith(b"\r\n" + _LAST_CHUNK)):
            return len(buffer)
        return 0
    return len(buffer)  # no length, no chunking: a close-delimited reply we do not expect


def split_response(raw: bytes) -> tuple:
    """(head, [chunk payloads]) of a chunked response, or (head, [body]) of a sized one."""
    head_end = raw.index(b"\r\n\r\n") + 4
    head, body = raw[:head_end], raw[head_end:]
    if not _CHUNKED.search(head):
        return head, [body]
    chunks, at = [], 0
    while True:
        line_end = body.index(b"\r\n", at)
        size = int(body[at:line_end], 16)
        if size == 0:
            return head, chunks
        chunks.append(body[line_end + 2: line_end + 2 + size])
        at = line_end + 4 + size


@dataclass
class LoadResult:
    """A closed-loop run: per-request latencies (seconds) and what went wrong."""

    requests: int = 0
    elapsed: float = 0.0
    latencies: list = field(default_factory=list)
    errors: int = 0
    mismatched: int = 0  # responses of another size than the sample (a different or broken answer)
    server_cpu: float = 0.0  # seconds of the server's CPU time during the run (set by the caller)

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_per_request_us(self) -> float:
        return self.server_cpu / self.requests * 1e6 if self.requests else float("nan")


class _LoopClient(asyncio.Protocol):
    """One keep-alive connection that sends the next request as soon as a response completes."""

    def __init__(self, run: _ClosedLoop):
        self.run, self.buffer, self.sent_at, self.transport = run, b"", 0.0, None
        self.waiting = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.send()

    def send(self) -> None:
        self.buffer = b""
        self.waiting = True
        self.sent_at = time.perf_counter()
        self.transport.write(self.run.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        size = response_end(self.buffer)
        if size:
            self.waiting = False
            self.run.completed(self, time.perf_counter() - self.sent_at, self.buffer)

    def connection_lost(self, exc) -> None:
        if self.waiting:
            self.run.result.errors += 1
        self.run.lost(self)


class _ClosedLoop:
    def __init__(self, request: bytes, deadline: float, limit: Optional[int], expect: Optional[int]):
        self.request, self.deadline, self.limit, self.expect = request, deadline, limit, expect
        self.result = LoadResult()
        self.issued = 0
        self.open = 0
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    def completed(self, client: _LoopClient, latency: float, response: bytes) -> None:
        result = self.result
        result.requests += 1
        result.latencies.append(latency)
        if not response.startswith(b"HTTP/1.1 200"):
            result.errors += 1
        elif self.expect is not None and len(response) != self.expect:
            result.mismatched += 1
        if self.more():
            client.send()
        else:
            client.transport.close()

    def more(self) -> bool:
        if self.limit is not None:
            if self.issued >= self.limit:
                return False
            self.issued += 1
            return True
        return time.perf_counter() < self.deadline

    def lost(self, client) -> None:
        self.open -= 1
        if self.open == 0 and not self.done.done():
            self.done.set_result(None)


async def closed_loop(port: int, request: bytes, connections: int, duration: float = 0.0,
                      total: Optional[int] = None, expect: Optional[int] = None) -> LoadResult:
    """Keep `connections` connections busy for `duration` seconds (or `total` requests)."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    run = _ClosedLoop(request, started + duration, total, expect)
    if total is not None:
        run.issued = min(connections, total)
        connections = run.issued
    run.open = connections
    await asyncio.gather(*(loop.create_connection(lambda: _LoopClient(run), HOST, port)
                           for _ in range(connections)))
    await run.done
    run.result.elapsed = time.perf_counter() - started
    return run.result


async def fetch(port: int, request: bytes, timeout: float = 30.0) -> bytes:
    """One complete raw response (for checking it and for the ceiling to replay)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(request)
    buffer = b""
    try:
        while not response_end(buffer):
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                raise ConnectionError("connection closed before the response ended")
            buffer += data
    finally:
        writer.close()
    return buffer


@dataclass
class StreamTiming:
    """One timed stream: seconds from connect to first byte, and the arrival time of each event."""

    ok: bool = False
    error: str = ""
    ttfb: float = 0.0
    event_times: list = field(default_factory=list)


class _TimedStream(asyncio.Protocol):
    def __init__(self, request: bytes, started: float, done: asyncio.Future):
        self.request, self.started, self.done = request, started, done
        self.timing = StreamTiming()
        self.buffer = b""
        self.last_byte = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.buffer:
            self.timing.ttfb = now - self.started
        self.buffer += data
        events = (self.last_byte + data).count(b"\n\n")
        self.last_byte = data[-1:]
        self.timing.event_times.extend([now] * events)
        if response_end(self.buffer):
            self.timing.ok = self.buffer.startswith(b"HTTP/1.1 200")
            self.timing.error = "" if self.timing.ok else self.buffer[:40].decode("latin-1")
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.timing.ok and not self.timing.error:
            self.timing.error = f"connection lost: {exc or 'closed early'}"
        if not self.done.done():
            self.done.set_result(self.timing)


async def _one_stream(port: int, request: bytes, streams: list) -> StreamTiming:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    started = time.perf_counter()
    try:
        _, protocol = await loop.create_connection(lambda: _TimedStream(request, started, done), HOST, port)
    except OSError as exc:
        return StreamTiming(error=f"connect: {exc!r}")
    streams.append(protocol)
    return await done


async def timed_streams(port: int, request: bytes, count: int, timeout: float = 60.0) -> tuple:
    """Open `count` streams at once; returns (timings, wall seconds from the first connect to the
    last end). One watchdog for all (not a timer per stream) ends what is still open at `timeout`."""
    loop = asyncio.get_running_loop()
    streams: list = []
    watchdog = loop.call_later(timeout, lambda: [stream.transport.abort() for stream in streams])
    started = time.perf_counter()
    timings = await asyncio.gather(*(_one_stream(port, request, streams) for _ in range(count)))
    wall = time.perf_counter() - started
    watchdog.cancel()
    return timings, wall
