"""HTTP/1.1 responses written by hand: one write per JSON response, chunked SSE, paced on deadlines.

Pacing keeps absolute deadlines (start + offset) rather than sleeping a fixed gap after each write,
so a hundred 10 ms gaps add up to a second, not a second plus every wake-up's overshoot.
"""
from __future__ import annotations

import random
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Callable, Optional

LAST_CHUNK = b"0\r\n\r\n"
SSE_HEADERS = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]


def response_head(status: int, headers: list, length: Optional[int] = None) -> bytes:
    """Status line and headers; `Content-Length` when `length` is given, else chunked."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = {529: "Site Overloaded"}.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {reason}", f"date: {formatdate(usegmt=True)}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def schedule(frames: list, latency: float = 0, ttft: float = 0, tokens_per_second: float = 0,
             jitter: float = 0, rng: Optional[random.Random] = None) -> Optional[list]:
    """Send time of each frame, in seconds from the first; None when nothing is paced.

    `latency` ms between events; or `ttft` ms before the first text then `tokens_per_second`
    (about four characters a token); `jitter` adds up to that many ms to each gap.
    """
    if not (latency or ttft or tokens_per_second or jitter):
        return None
    rng = rng or random.Random(0)
    offsets, at, seen_text = [], 0.0, False
    for index, frame in enumerate(frames):
        if ttft or tokens_per_second:
            if frame.chars and not seen_text:
                at, seen_text = max(at, (ttft or 0) / 1000), True
            elif frame.chars and tokens_per_second:
                at += frame.chars / 4 / tokens_per_second
        elif index:
            at += latency / 1000
        if jitter and index:
            at += rng.uniform(0, jitter / 1000)
        offsets.append(at)
    return offsets


def write_stream(write: Callable[[bytes], None], head: bytes, frames: list, offsets: Optional[list],
                 end: bytes = LAST_CHUNK) -> int:
    """Write `head` then each frame as a chunk, on schedule; `end` closes the body. Returns the
    number of frames written (raising whatever the socket raises on a client that went away)."""
    if offsets is None:  # unpaced: the whole body in one write
        write(head + b"".join(chunk(frame.data) for frame in frames) + end)
        return len(frames)
    start = time.monotonic()
    pending = head
    for index, frame in enumerate(frames):
        delay = start + offsets[index] - time.monotonic()
        if delay > 0:
            if pending:
                write(pending)
                pending = b""
            time.sleep(delay)
        pending += chunk(frame.data)
    write(pending + end)
    return len(frames)
