"""Stream framings: how one event of a stream becomes bytes on the wire, and what opens and ends it.

An adapter renders a stream as a list of `Frame`s, each already framed by its `Framing`, so the
writer only chunks and paces bytes. The framing also owns the media type, the bytes that end a
complete stream (SSE's `data: [DONE]`, a JSON array's `]`) and a frame that is deliberately not
valid (the `malformed` fault).
"""
from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Callable
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any, Optional

from .plain import Plain

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _fast_dumps() -> Optional[Callable[[Any], str]]:
    """`_ENCODER.encode` without its per-call cost: `JSONEncoder.encode` builds a new C encoder each
    call (about 1 µs, several times a stream); this one is built once. It skips the circular-reference
    check (our values are trees). None where the C encoder is missing or not the one known here."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        iterencode = make(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False,
                          True)
    except TypeError:
        return None

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))

    sample = {"a": [1, 2.5, -0.0, 1e300, None, True, "é\"\n\u2028"], "b": {}, "c": []}
    return encode if encode(sample) == _ENCODER.encode(sample) else None


dumps: Callable[[Any], str] = _fast_dumps() or _ENCODER.encode
"""Compact JSON with raw UTF-8, as the real APIs send it."""


class Frame(Plain):
    """One event, already framed, with the number of text characters it carries (for `after_chars`
    faults and tokens-per-second pacing). Slotted: a stream makes hundreds, built faster without a dict."""

    __slots__ = ("data", "chars")

    def __init__(self, data: bytes, chars: int = 0):
        self.data, self.chars = data, chars


_quote = json.encoder.encode_basestring
data_of = attrgetter("data")  # a frame's (or run's) bytes, read in C


def cut(text: str, size: int) -> list:
    """`text` cut into `size`-character pieces (code points, never inside one); one piece when `size`
    is 0 or the text is no longer; none for no text."""
    if size <= 0 or len(text) <= size:
        return [text] if text else []
    if len(text) > _SLICED_AT_ONCE * size:
        return [text[i:i + size] for i in range(0, len(text), size)]
    return list(_slicer(len(text), size)(text))


def last_piece(text: str, size: int) -> int:
    """Where the last piece of `cut(text, size)` starts."""
    return 0 if size <= 0 or len(text) <= size else (len(text) - 1) // size * size


_SLICED_AT_ONCE = 1024


@lru_cache(maxsize=32)
def _slicer(length: int, size: int) -> Callable[[str], tuple]:
    """Cuts a text of `length` characters into `size`-character pieces in one C call (an `itemgetter`
    of every piece's slice): about twice as fast as a loop of slices for the ~200 pieces of a stream.
    Kept for the few lengths a test suite repeats; long texts (over `_SLICED_AT_ONCE` pieces) are cut
    in a loop instead, so the kept slices stay small."""
    return itemgetter(*[slice(i, i + size) for i in range(0, length, size)])  # length > size: 2 slices or more


_ESCAPED = bytes(range(0x20)) + b'"\\'  # the bytes a JSON string escapes (as `_quote` does)


class Run:
    """Many events of one kind at once: `before` + the piece as a JSON string + `after` for each piece
    of `text` cut every `size` characters (`cut`): the text deltas of a stream, 200 of them for a
    2000-character reply in 10-character chunks. `data` makes them all at once, with no object per
    event; `frames()` makes them one by one only when something needs them so (a fault's cut,
    pacing, a transport that re-frames each event). Both give the same bytes."""

    __slots__ = ("text", "size", "before", "after")

    def __init__(self, text: str, size: int, before: str, after: str):
        self.text, self.size, self.before, self.after = text, size, before, after

    @property
    def pieces(self) -> list:
        return cut(self.text, self.size)

    @property
    def data(self) -> bytes:
        text, size, before, after = self.text, self.size, self.before, self.after
        if not text:
            return b""
        encoded = text.encode()
        if len(encoded.translate(None, _ESCAPED)) < len(encoded):  # something to escape: each piece quoted
            return f"{before}{(after + before).join(map(_quote, self.pieces))}{after}".encode()
        # nothing to escape: a piece's JSON is the piece in quotes
        if len(encoded) == len(text) and 0 < size * size <= len(text):  # ASCII (a character is a byte), many pieces
            return _columns(encoded, size, f'{before}"'.encode(), f'"{after}'.encode())
        between = f'"{after}{before}"'
        return f'{before}"{between.join(self.pieces)}"{after}'.encode()

    def frames(self) -> list:
        before, after = self.before, self.after
        return [Frame((before + _quote(piece) + after).encode(), len(piece)) for piece in self.pieces]

    def split(self) -> tuple:
        """The first event as a `Frame`, and a `Run` of the others."""
        first = self.pieces[0]
        return (Frame((self.before + _quote(first) + self.after).encode(), len(first)),
                Run(self.text[len(first):], self.size, self.before, self.after))


def _columns(text: bytes, size: int, head: bytes, tail: bytes) -> bytes:
    """`head + piece + tail` for every `size`-byte piece of `text`, joined, without an object per piece:
    the event's template repeated once per whole piece, then each of the `size` columns of text (the
    j-th byte of every piece) written into it with one strided slice assignment. For 200 pieces of 10
    bytes that is 10 copies in C instead of 200 slices joined; `size * size <= len(text)` keeps the
    columns fewer than the pieces."""
    whole = len(text) - len(text) % size
    start, stride = len(head), len(head) + size + len(tail)
    out = bytearray(head + bytes(size) + tail) * (whole // size)
    for column in range(size):
        out[start + column::stride] = text[column:whole:size]
    if whole < len(text):
        out += head + text[whole:] + tail
    return bytes(out)


class Framing:
    """A stream framing. Subclasses set the media type and implement `frame`."""

    media_type: str = "application/octet-stream"
    headers: tuple = ()  # extra response headers of a stream in this framing
    opening: bytes = b""  # sent before the first frame
    terminator: bytes = b""  # sent after the last frame of a complete stream
    malformed: bytes = b""  # a frame that does not parse (the `malformed` fault)

    def frame(self, payload: Any, event: Optional[str] = None, chars: int = 0) -> Frame:
        raise NotImplementedError

    def response_headers(self) -> list:
        return [("content-type", self.media_type), *self.headers]


class SSE(Framing):
    """Server-sent events: optional `event:` line, one `data:` line, a blank line."""

    media_type = "text/event-stream; charset=utf-8"
    headers = (("cache-control", "no-cache"),)

    def __init__(self, terminator: bytes = b"", malformed: bytes = b'data: {"id": "malformed", "choices": [\n\n'):
        self.terminator, self.malformed = terminator, malformed

    def frame(self, payload: Any, event: Optional[str] = None, chars: int = 0) -> Frame:
        head = f"event: {event}\n" if event else ""
        return Frame(f"{head}data: {dumps(payload)}\n\n".encode(), chars)


class NDJSON(Framing):
    """Newline-delimited JSON: one object per line (Ollama)."""

    media_type = "application/x-ndjson"
    malformed = b'{"model": "malformed", "message": {\n'

    def frame(self, payload: Any, event: Optional[str] = None, chars: int = 0) -> Frame:
        return Frame(dumps(payload).encode() + b"\n", chars)


class JSONArray(Framing):
    """One JSON array streamed element by element (Gemini's `streamGenerateContent` without `alt=sse`):
    `[` first, `,` and a CRLF before every element but the first, `]` last, as Google sends it."""

    media_type = "application/json; charset=UTF-8"
    opening = b"["
    terminator = b"]"
    separator = b",\r\n"
    malformed = b',\r\n{"candidates": [\n'

    def frame(self, payload: Any, event: Optional[str] = None, chars: int = 0) -> Frame:
        return Frame(self.separator + dumps(payload).encode(), chars)

    @classmethod
    def first(cls, frames: list) -> list:
        """The frames with the first one's leading separator removed (the array's first element)."""
        if frames and isinstance(frames[0], Run) and frames[0].text:  # its first event on its own
            first, rest = frames[0].split()
            frames[0:1] = [first, rest] if rest.text else [first]
        if frames and frames[0].data.startswith(cls.separator):
            frames[0] = Frame(frames[0].data[len(cls.separator):], frames[0].chars)
        return frames


def event_stream_headers(headers: tuple) -> bytes:
    """Event-stream headers, all of string type (7): name length, name, type, value length, value."""
    out = []
    for name, value in headers:
        key, data = name.encode("utf-8"), value.encode("utf-8")
        if not 0 < len(key) < 256 or len(data) > 0xFFFF:
            raise ValueError(f"event-stream header {name!r} is too long")
        out.append(bytes((len(key),)) + key + b"\x07" + struct.pack("!H", len(data)) + data)
    return b"".join(out)


def event_stream_message(headers: bytes, payload: bytes) -> bytes:
    """One AWS event-stream message: total length, headers length, the prelude's CRC32, the headers,
    the payload, and the CRC32 of everything before it (integers big-endian)."""
    prelude = struct.pack("!II", 16 + len(headers) + len(payload), len(headers))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + headers + payload
    return message + struct.pack("!I", zlib.crc32(message))


_CHUNK_HEADERS = event_stream_headers(((":event-type", "chunk"), (":content-type", "application/json"),
                                       (":message-type", "event")))


class EventStream(Framing):
    """AWS event-stream (`application/vnd.amazon.eventstream`), as Bedrock's InvokeModelWithResponseStream
    sends it: one binary `chunk` message per event, its payload `{"bytes": "<base64 of the event's JSON>"}`;
    failures are `exception` messages named by `:exception-type`. `malformed` is a well-framed chunk
    whose event is cut-off JSON (the framing stays in step, as a bad SSE `data:` line does)."""

    media_type = "application/vnd.amazon.eventstream"
    headers = (("x-amzn-bedrock-content-type", "application/json"),)

    def __init__(self) -> None:
        self.malformed = self.chunk(b'{"type":"content_block_delta","index":0,"delta":').data

    def frame(self, payload: Any, event: Optional[str] = None, chars: int = 0) -> Frame:
        return self.chunk(dumps(payload).encode("utf-8"), chars)

    @staticmethod
    def chunk(event: bytes, chars: int = 0) -> Frame:
        """A `chunk` message carrying one event's JSON bytes."""
        return Frame(event_stream_message(_CHUNK_HEADERS, b'{"bytes":"' + base64.b64encode(event) + b'"}'), chars)

    @staticmethod
    def exception(kind: str, body: dict) -> Frame:
        """An `exception` message: `kind` is the lowerCamel member name botocore looks up
        (`modelStreamErrorException`), `body` its JSON (`{"message": ...}`)."""
        headers = event_stream_headers(((":exception-type", kind), (":content-type", "application/json"),
                                        (":message-type", "exception")))
        return Frame(event_stream_message(headers, dumps(body).encode("utf-8")))
