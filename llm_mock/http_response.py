"""Writing HTTP/1.1 responses by hand: the status line and headers, and chunked encoding.

One `bytes` per response head (a cached `Date`, no `email` header objects) and one write per
JSON answer keep the request path short; streams are chunked bodies of framed events.
"""
from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Optional

LAST_CHUNK = b"0\r\n\r\n"
CLOSE_DELIMITED = -1  # a `length` meaning: no Content-Length, not chunked


_REASONS = {status.value: status.phrase for status in HTTPStatus}
_REASONS[529] = "Site Overloaded"
_date: list = [0, ""]  # (second, formatted): the Date header changes once a second


def _http_date() -> str:
    now = int(time.time())
    if _date[0] != now:
        _date[:] = [now, formatdate(now, usegmt=True)]
    return str(_date[1])


def response_head(status: int, headers: list, length: Optional[int] = None) -> bytes:
    """Status line and headers; `Content-Length` when `length` is given, chunked when it is None,
    neither for `CLOSE_DELIMITED` (the body ends with the connection: HTTP/1.0)."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}", f"date: {_http_date()}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if status != 204 and length != CLOSE_DELIMITED:  # a 204 says nothing of a body (RFC 9110 §8.6)
        lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)
