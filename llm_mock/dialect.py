"""Rules written with the Python API, turned back into the rule-file dialect (JSON), so they can
travel to a server in another process (`RemoteMockServer`) and be checked there like a file.

Matchers and replies that are data travel; Python callables cannot (they run only where they were
defined): a `TypeError` names the callable and says what to write instead.
"""
from __future__ import annotations

import json
import re
from typing import Any, Optional

from .chaos import Chaos
from .matching import MatchObject
from .replies import ErrorReply, Fault, ReplyObject, ReplyOptions, normalise_reply

_LOOKS_LIKE_REGEX = re.compile(r"^/(.+)/([A-Za-z]*)$", re.DOTALL)  # what a rule file reads as a regex
_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.VERBOSE, "x"))
_OPTION_NAMES = {"latency": "latency", "chunk_size": "chunkSize", "ttft": "ttft",
                 "tokens_per_second": "tokensPerSecond", "jitter": "jitter"}


def callable_name(value: Any) -> str:
    """`check_weather (test_app.py:12)`, `<lambda> (test_app.py:30)`: enough to find it."""
    name = getattr(value, "__name__", None) or type(value).__name__
    code = getattr(value, "__code__", None)
    if code is not None:
        return f"{name} ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})"
    return name


def _no_callable(value: Any, what: str, instead: str) -> TypeError:
    return TypeError(f"{what} {callable_name(value)} is a Python callable: it cannot travel to a server in "
                     f"another process; {instead}")


def pattern(value: Any, where: str) -> str:
    """A substring or a compiled regex as the dialect writes it (`"hello"`, `"/^hi/i"`)."""
    if isinstance(value, re.Pattern):
        if not value.pattern:
            return ""
        return f"/{value.pattern}/" + "".join(letter for flag, letter in _FLAGS if value.flags & flag)
    if isinstance(value, str):
        if _LOOKS_LIKE_REGEX.match(value):  # a substring a file would read as a regex: send it as one
            return f"/{re.escape(value)}/i"
        return value
    raise TypeError(f"{where} must be a string or a compiled regex, not {type(value).__name__}")


def match(value: Any) -> Any:
    """A matcher (`when(...)`) in the dialect: a string, "/regex/flags" or an object of fields."""
    if isinstance(value, (str, re.Pattern)):
        return pattern(value, "a matcher")
    if isinstance(value, MatchObject):
        value = {name: getattr(value, name) for name in ("message", "model", "system", "format", "tool_name",
                                                         "tool_call_id", "server_tool", "predicate")
                 if getattr(value, name) is not None}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "predicate":
                raise _no_callable(item, "the predicate", "match with message, model, system, format, "
                                   "tool_name, tool_call_id or server_tool")
            out[key] = pattern(item, f"when.{key}") if key in ("message", "model", "system") else item
        return out
    if callable(value):
        raise _no_callable(value, "the matcher", "match with a string, a compiled regex, a MatchObject or a dict "
                           "of fields")
    raise TypeError(f"a matcher must be a string, regex, MatchObject or dict, not {type(value).__name__}")


def reply(value: Any) -> dict:
    """A reply in the dialect, always as an object (a bare "$name" string would be a template)."""
    if callable(value) and not isinstance(value, (ReplyObject, ErrorReply, Fault)):
        raise _no_callable(value, "the reply", "reply with text, a dict or a ReplyObject")
    obj = normalise_reply(value)
    out: dict = {}
    if obj.text is not None:
        out["text"] = obj.text
    if obj.reasoning is not None:
        out["reasoning"] = obj.reasoning
    if obj.tools:
        out["tools"] = [_tool(tool) for tool in obj.tools]
    if obj.usage:
        out["usage"] = {key[:-7] if key.endswith("_tokens") else key: count for key, count in obj.usage.items()}
    if obj.error is not None:
        out["error"] = error(obj.error)
    if obj.fault is not None:
        out["fault"] = fault(obj.fault)
    return out or {"text": ""}


def _tool(tool: Any) -> dict:
    args = tool.args
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            args = None
        if not isinstance(args, dict):
            raise ValueError(f"tool call {tool.name}: a rule file's tool arguments are an object, and "
                             f"{tool.args!r} is not one")
    out = {"name": tool.name, "args": args}
    if tool.id is not None:
        out["id"] = tool.id
    return out


def error(e: ErrorReply) -> dict:
    out: dict = {"status": e.status}
    for key, name in (("message", "message"), ("type", "type"), ("code", "code"), ("param", "param"),
                      ("retry_after", "retryAfter"), ("should_retry", "shouldRetry")):
        if getattr(e, key) is not None:
            out[name] = getattr(e, key)
    if e.headers:
        out["headers"] = {str(k): str(v) for k, v in e.headers.items()}
    return out


def fault(f: Fault) -> dict:
    out: dict = {"kind": f.kind, "reason": f.reason, "stallMs": f.stall_ms}
    if f.after_events is not None:
        out["afterEvents"] = f.after_events
    if f.after_chars is not None:
        out["afterChars"] = f.after_chars
    if f.error is not None:
        out["error"] = error(f.error)
    return out


def options(value: Optional[ReplyOptions]) -> dict:
    if value is None:
        return {}
    return {name: getattr(value, key) for key, name in _OPTION_NAMES.items() if getattr(value, key) is not None}


def step(entry: Any) -> Any:
    """A `reply_sequence` entry: a reply, `(reply, ReplyOptions)` or `{reply, latency?, ...}`."""
    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], ReplyOptions):
        return {"reply": reply(entry[0]), **options(entry[1])}
    if isinstance(entry, dict) and "reply" in entry:
        return {**{k: v for k, v in entry.items() if k != "reply"}, "reply": reply(entry["reply"])}
    return reply(entry)


def chaos(value: Any) -> dict:
    if not isinstance(value, Chaos):
        raise TypeError(f"chaos must be a Chaos, not {type(value).__name__}")
    out: dict = {"seed": value.seed, "errorRate": value.error_rate, "errorStatuses": list(value.error_statuses),
                 "faults": dict(value.faults)}
    if value.retry_after is not None:
        out["retryAfter"] = value.retry_after
    return out
