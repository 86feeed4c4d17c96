"""What the admin routes share: their error shape, JSON bodies in, query values, and the scope
(the server, or one session of it) a request acts on."""
from __future__ import annotations

import json
from functools import partial
from typing import Any, Optional

from ..formats.base import Answer, Call
from ..loader import unique_keys
from ..request import RequestError

ERROR_TYPES = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               413: "request_too_large", 500: "server_error"}
_UNIQUE_KEYS = partial(unique_keys, message='duplicate key "{}"')  # a body naming a key twice: a 400


def error_body(status: int, message: str, **extra: Any) -> dict:
    """`{"error": {"message", "type", ...}}`: the admin API's one error shape."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request")
    return {"error": {"message": message, "type": kind, **extra}}


def error_answer(status: int, message: str, headers: tuple = (), **extra: Any) -> Answer:
    return Answer(error_body(status, message, **extra), status, headers)


def read_json(call: Call) -> Any:
    """The body as any JSON value (an object key given twice is an error, as in rule files)."""
    content_type = call.headers.get("content-type")
    if content_type and "json" not in content_type.lower():
        raise RequestError(f"Unsupported Content-Type {content_type!r}: send the body as application/json.")
    try:
        text = call.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"The body is not valid UTF-8 (byte {exc.start}).") from None
    if not text.strip():
        raise RequestError("The body is empty: send a JSON value.")
    try:
        return json.loads(text, object_pairs_hook=_UNIQUE_KEYS)
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"The body is not valid JSON: {exc}") from None


def flag(call: Call, name: str) -> bool:
    """A true/false query parameter (`?first=true`, `?first=1`; absent is false)."""
    value = call.query.get(name)
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("", "1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise RequestError(f"query parameter {name} must be true or false, not {value!r}", name)


def integer(call: Call, name: str) -> Optional[int]:
    """A whole-number query parameter, or None when absent."""
    value = call.query.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise RequestError(f"query parameter {name} must be a whole number, not {value!r}", name)
    return int(value)


def scope(call: Call) -> Any:
    """What the request acts on: the server, or the session it names (`?session=`, the header or
    the `/session/{id}` prefix), created on first use. Either has the rule-building API (`engine`,
    `history`, `fallback`, `next_error`, `reset`, `is_done`)."""
    name = call.query.get("session") or call.session
    if not name:
        return call.app
    if name == "*":
        raise RequestError("session=* (every session) is for reading the journal only", "session")
    return call.app.sessions.get(name)
