"""Stream framings: how one event of a stream becomes bytes on the wire, and what opens and ends it.

An adapter renders a stream as a list of `Frame`s, each already framed by its `Framing`, so the
writer only chunks and paces bytes. The framing also owns the media type, the bytes that end a
complete stream (SSE's `data: [DONE]`, a JSON array's `]`) and a frame that is deliberately not
valid (the `malformed` fault).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON with raw UTF-8, as the real APIs send it."""


@dataclass
class Frame:
    """One event, already framed, with the number of text characters it carries (for `after_chars`
    faults and tokens-per-second pacing)."""

    data: bytes
    chars: int = 0


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
        if frames and frames[0].data.startswith(cls.separator):
            frames[0] = Frame(frames[0].data[len(cls.separator):], frames[0].chars)
        return frames
