"""The format adapter contract, the routes adapters declare, and the helpers every adapter shares.

An adapter is pure: a parsed JSON body in, a `MockRequest` out; a `Completion` in, a JSON body or
a list of framed events out. It knows no socket, no rule engine and no CLI. It declares its own
routes (`routes`), its stream framing (`framing`), its error shape (`render_error`) and the header
that carries a request id; `formats/__init__.py` collects them into the route table.
"""
from __future__ import annotations

import json
import os
import random
import string
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Optional

from ..framing import SSE, Frame, Framing, Run, data_of
from ..framing import dumps as dumps  # re-exported: adapters build their bodies with it
from ..plain import Plain
from ..replies import Completion, ErrorReply
from ..request import MockRequest, RequestError

_ALNUM = string.ascii_letters + string.digits
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

quote = json.encoder.encode_basestring
"""A string as a JSON string literal (what `dumps` does for a str, without its overhead)."""


def deltas(text: Optional[str], size: int, before: str, after: str) -> list:
    """One event per `size`-character piece of `text`: `before` + the piece as JSON + `after`, as a
    `Run` (made at once, cut into frames only when needed), in a list to extend a stream's parts with."""
    return [Run(text, size, before, after)] if text else []


def _table(alphabet: str) -> bytes:
    """Maps each byte value to a character of `alphabet`: random bytes become an id in one call."""
    return bytes(ord(alphabet[i % len(alphabet)]) for i in range(256))


_ALNUM_TABLE, _BASE58_TABLE = _table(_ALNUM), _table(_BASE58)


# Ids need to be unique, not secret: a generator seeded from the OS, reseeded in a forked child, is
# several times cheaper than `os.urandom` (a system call) twice a request.
_random = random.Random()
os.register_at_fork(after_in_child=_random.seed)
_bits = _random.getrandbits


def random_id(prefix: str, length: int, table: bytes = _ALNUM_TABLE) -> str:
    return prefix + _bits(length * 8).to_bytes(length, "little").translate(table).decode("ascii")


def hex_id(prefix: str, length: int = 48) -> str:
    size = length // 2
    return prefix + _bits(size * 8).to_bytes(size, "little").hex()


def uuid4() -> str:
    """A random (version 4, RFC 4122 variant) UUID as text, as `str(uuid.uuid4())` gives it without
    importing `uuid` (which imports `platform`) or a system call."""
    value = (_bits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (4 << 76) | (0x8000 << 48)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def base58_id(prefix: str, length: int = 22) -> str:
    return random_id(prefix, length, _BASE58_TABLE)


_SSE = SSE()


def sse(payload: dict, event: Optional[str] = None, chars: int = 0) -> Frame:
    """One server-sent event (`event:` line when named)."""
    return _SSE.frame(payload, event, chars)


class Events:
    """A rendered stream: its parts (each a `Frame`, or a `Run` of many events of one kind) plus what
    an in-band failure needs to continue it (ids). `frames` is every event as a `Frame` of its own,
    made on first use (a fault's cut, pacing, a transport that re-frames events); an unpaced stream
    without a fault is sent from `data()`, and its runs are never cut into frames."""

    __slots__ = ("parts", "context", "request_id", "_frames")

    def __init__(self, frames: list, context: Any = None, request_id: str = ""):
        self.parts, self.context = frames, context
        self.request_id = request_id  # set by the dispatcher: an in-band error repeats the response's id
        self._frames: Optional[list] = None

    @property
    def frames(self) -> list:
        if self._frames is None:
            parts = self.parts
            if any(type(part) is Run for part in parts):
                self._frames = []
                for part in parts:
                    if type(part) is Run:
                        self._frames += part.frames()
                    else:
                        self._frames.append(part)
            else:
                self._frames = parts
        return self._frames

    @frames.setter
    def frames(self, frames: list) -> None:
        self.parts = self._frames = frames

    def data(self) -> list:
        """The bytes of the stream, part by part (a run's events in one bytes)."""
        return list(map(data_of, self.parts if self._frames is None else self._frames))


class Call(Plain):
    """One HTTP request as a route handler sees it: the path's named parts, the query, the headers
    (lower-cased names) and the raw body. `app` is the server, for handlers that keep state."""

    __slots__ = ("method", "path", "params", "query", "headers", "body", "app", "route", "target", "session")

    def __init__(self, method: str, path: str, params: Optional[Mapping[str, str]] = None,
                 query: Optional[Mapping[str, str]] = None, headers: Optional[Mapping[str, str]] = None,
                 body: bytes = b"", app: Any = None, route: Optional[Route] = None, target: str = "",
                 session: Optional[str] = None):
        self.method, self.path = method, path
        self.params: Mapping[str, str] = {} if params is None else params
        self.query: Mapping[str, str] = {} if query is None else query
        self.headers: Mapping[str, str] = {} if headers is None else headers
        self.body, self.app, self.route = body, app, route
        self.target = target  # the path with its query string, as the client sent it
        self.session = session  # the session the request named (header or `/session/{id}` prefix)


class Answer(Plain):
    """What a route handler returns when the answer is not a 200 JSON body: a status, a body
    (a dict/list is sent as JSON, bytes as they are) and extra headers."""

    __slots__ = ("body", "status", "headers", "media_type")

    def __init__(self, body: Any = None, status: int = 200, headers: tuple = (),
                 media_type: str = "application/json"):
        self.body, self.status, self.headers, self.media_type = body, status, headers, media_type


class Route(Plain):
    """One entry of the route table: a method, a path pattern with named parts (`{model}`) and
    literal suffixes (`:generateContent`), and the handler. `handler` None is the completion flow
    (parse → rules → render); otherwise `handler(call, adapter)` returns a JSON-able body or an
    `Answer`. `by_headers` routes are shared by several vendors (model listings): the adapter that
    answers is the one the request's headers point to. `options` are read by the adapter's `parse`
    (for example `{"stream": True}` on a route that always streams)."""

    __slots__ = ("method", "pattern", "handler", "options", "by_headers")

    def __init__(self, method: str, pattern: str, handler: Optional[Callable[..., Any]] = None,
                 options: Optional[Mapping[str, Any]] = None, by_headers: bool = False):
        self.method, self.pattern, self.handler = method, pattern, handler
        self.options: Mapping[str, Any] = {} if options is None else options
        self.by_headers = by_headers


class FormatAdapter(ABC):
    """One wire format: its routes, how its requests parse, how its answers, streams and errors
    render. Subclasses set `name` and `routes` and implement the abstract methods."""

    name: ClassVar[str] = ""  # the format name rules match on (`format=`)
    transport: ClassVar[str] = ""  # a second way to reach the same format (Azure, Bedrock, Vertex)
    routes: ClassVar[tuple] = ()
    prefixes: ClassVar[tuple] = ()  # path prefixes that point to this format (its 404s on them)
    header_hints: ClassVar[tuple] = ()  # request headers that point to this format
    request_id_header: ClassVar[str] = "x-request-id"
    framing: ClassVar[Framing] = _SSE
    journal: ClassVar[bool] = True  # its requests go in the history

    def new_request_id(self) -> str:
        return hex_id("req_", 32)

    def framing_for(self, request: MockRequest) -> Framing:
        """The framing of this request's stream (a format may offer more than one)."""
        return self.framing

    @abstractmethod
    def parse(self, body: dict, call: Call) -> MockRequest:
        """The normalised `MockRequest`, or `RequestError` (400) naming the problem."""

    @abstractmethod
    def render_json(self, request: MockRequest, completion: Completion) -> Any:
        """The whole answer as one JSON value."""

    @abstractmethod
    def render_events(self, request: MockRequest, completion: Completion) -> Events:
        """The answer as a stream of framed events (without the framing's opening and terminator)."""

    @abstractmethod
    def render_error(self, error: ErrorReply, request_id: str) -> Any:
        """The body of an HTTP error answer in this format's shape."""

    def error_headers(self, error: ErrorReply) -> list:
        """Headers an HTTP error carries in this format besides the request id (Bedrock's error type)."""
        return []

    @abstractmethod
    def inband_error(self, events: Events, sent: int, error: Optional[ErrorReply], kind: str) -> list:
        """Frames that end a started stream with a failure (the format's usual one when `error` is
        None), after `sent` frames went out."""

    def defer(self, request: MockRequest, completion: Optional[Completion], error: Optional[ErrorReply], fault: Any,
              options: Any) -> Any:
        """Answer a background request (`request.background`) at once and finish it later; the body
        of the immediate answer. Only formats with a background mode (Responses) have one."""
        raise NotImplementedError(f"the {self.name} format has no background mode")

    def early_end(self, events: Events, sent: int) -> list:
        """Frames that end a started stream cleanly but early, without a finish reason."""
        return [Frame(self.framing.terminator)] if self.framing.terminator else []


def json_body(call: Call) -> dict:
    """The request body as a JSON object, or the 400 the APIs give."""
    return parse_json_object(call.body, call.headers.get("content-type"))


def parse_json_object(body: bytes, content_type: Optional[str]) -> dict:
    if content_type and "json" not in content_type.lower():
        raise RequestError(f"Unsupported Content-Type {content_type!r}: send the body as application/json.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        if text.startswith("\ufeff"):  # as json.loads says it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        data = _decode(text)
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"We could not parse the JSON body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("The request body must be a JSON object.")
    if ("\\ud" in text or "\\uD" in text) and _lone_surrogate(data):  # only \u escapes make them
        raise RequestError("We could not parse the JSON body of your request: a \\u escape is an unpaired "
                           "UTF-16 surrogate.")
    return data


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


_decode = json.JSONDecoder(parse_constant=_not_json).decode  # one decoder: json.loads with an option makes one a call


def _lone_surrogate(value: Any) -> bool:
    """True if any key or string in `value` holds an unpaired surrogate (it cannot be sent back as UTF-8)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# The OpenAI error `type`/`code` and default message for each status (protocol-notes §6).
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
