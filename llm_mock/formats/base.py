"""The format adapter protocol, and the small helpers every adapter shares.

An adapter is pure: a parsed JSON body in, a `MockRequest` out; a `Completion` in, a JSON body or
a list of SSE frames out. It knows no socket, no rule engine and no CLI.
"""
from __future__ import annotations

import json
import os
import string
from dataclasses import dataclass
from typing import Any, Optional

from ..replies import Completion, ErrorReply

_ALNUM = string.ascii_letters + string.digits
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON with raw UTF-8, as the real APIs send it."""

quote = json.encoder.encode_basestring
"""A string as a JSON string literal (what `dumps` does for a str, without its overhead)."""


def deltas(pieces: list, before: str, after: str) -> list:
    """One frame per piece: `before` + the piece as JSON + `after`, the template built once."""
    return [Frame((before + quote(piece) + after).encode("utf-8"), len(piece)) for piece in pieces]


def _table(alphabet: str) -> bytes:
    """Maps each byte value to a character of `alphabet`: random bytes become an id in one call."""
    return bytes(ord(alphabet[i % len(alphabet)]) for i in range(256))


_ALNUM_TABLE, _BASE58_TABLE = _table(_ALNUM), _table(_BASE58)


def random_id(prefix: str, length: int, table: bytes = _ALNUM_TABLE) -> str:
    return prefix + os.urandom(length).translate(table).decode("ascii")


def hex_id(prefix: str, length: int = 48) -> str:
    return prefix + os.urandom(length // 2).hex()


def base58_id(prefix: str, length: int = 22) -> str:
    return random_id(prefix, length, _BASE58_TABLE)


@dataclass
class Frame:
    """One SSE event, already framed (`event:`/`data:` lines and the blank line), with the number
    of text characters it carries (for `after_chars` faults and tokens-per-second pacing)."""

    data: bytes
    chars: int = 0


@dataclass
class Events:
    """A rendered stream: its frames plus what an in-band failure needs to continue it (ids)."""

    frames: list
    context: Any = None
    request_id: str = ""  # set by the handler: an in-band error repeats the response's id


def sse(payload: dict, event: Optional[str] = None, chars: int = 0) -> Frame:
    body = dumps(payload)
    head = f"event: {event}\n" if event else ""
    return Frame(f"{head}data: {body}\n\n".encode("utf-8"), chars)


class FormatAdapter:
    """One wire format. Subclasses set the class attributes and implement the five methods."""

    name: str = ""
    path: str = ""
    request_id_header = "x-request-id"
    terminator: bytes = b""  # sent after the last event of a complete stream (`data: [DONE]`)
    malformed: bytes = b'data: {"id": "malformed", "choices": [\n\n'  # a `data:` line that is not JSON

    def new_request_id(self) -> str:
        return hex_id("req_", 32)

    def parse(self, body: dict, headers: dict, path: str):
        """The normalised `MockRequest`, or `RequestError` (400) naming the problem."""
        raise NotImplementedError

    def render_json(self, request, completion: Completion) -> dict:
        raise NotImplementedError

    def render_events(self, request, completion: Completion) -> Events:
        raise NotImplementedError

    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        raise NotImplementedError

    def inband_error(self, events: Events, sent: int, error: Optional[ErrorReply], kind: str) -> list:
        """Frames that end a started stream with a failure (the format's usual one when `error` is
        None), after `sent` frames went out."""
        raise NotImplementedError

    def early_end(self, events: Events, sent: int) -> list:
        """Frames that end a started stream cleanly but early, without a finish reason."""
        return [Frame(self.terminator)] if self.terminator else []


# The OpenAI error `type`/`code` and default message for each status (wire-protocol §6.1).
OPENAI_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Permission denied."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    409: ("invalid_request_error", None, "Conflict."),
    413: ("invalid_request_error", "request_too_large", "Request body too large."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def openai_error_body(error: ErrorReply) -> dict:
    kind, code, message = OPENAI_ERRORS.get(error.status, ("server_error" if error.status >= 500
                                                          else "invalid_request_error", None, "Error."))
    if error.type is not None:  # an explicit type: the code is exactly what was given
        kind, code = error.type, error.code
    return {"error": {
        "message": error.message or message,
        "type": kind,
        "param": error.param,
        "code": error.code if error.code is not None else code,
    }}
