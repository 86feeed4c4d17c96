"""HTTP/1.1 responses written by hand: the head, chunked SSE framing, and the pacing schedule.

The schedule is absolute (start + offset) rather than a fixed sleep after each write, so a hundred
10 ms gaps add up to a second, not a second plus every wake-up's overshoot. `pacer.py` keeps it.
"""
from __future__ import annotations

import random
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Optional

LAST_CHUNK = b"0\r\n\r\n"
SSE_HEADERS = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]


_REASONS = {status.value: status.phrase for status in HTTPStatus}
_REASONS[529] = "Site Overloaded"
_date = [0, ""]  # (second, formatted): the Date header changes once a second


def _http_date() -> str:
    now = int(time.time())
    if _date[0] != now:
        _date[:] = [now, formatdate(now, usegmt=True)]
    return _date[1]


def response_head(status: int, headers: list, length: Optional[int] = None) -> bytes:
    """Status line and headers; `Content-Length` when `length` is given, else chunked."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}", f"date: {_http_date()}"]
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
