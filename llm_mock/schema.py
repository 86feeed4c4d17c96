"""The rule file schema: each field checked, named in errors, and turned into what the Python API takes.

Keys may be camelCase or snake_case (`chunkSize` / `chunk_size`); anything else is an `Invalid`
naming the field, with a suggestion when a known key is close.
"""
from __future__ import annotations

import math
import re
from typing import Any

from . import formats
from .chaos import Chaos
from .embeddings import check_vectors
from .logprobs import from_rule
from .matching import MatchObject
from .replies import FAULT_KINDS, ReplyObject, ReplyOptions, normalise_reply

OPTION_KEYS = ("latency", "chunk_size", "ttft", "tokens_per_second", "jitter")
_REGEX = re.compile(r"^/(.+)/([A-Za-z]*)$", re.DOTALL)
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0, "g": 0}


class Invalid(Exception):
    """A field that is not what the schema expects: `field` is its dotted path, `reason` says why."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field, self.reason = field, reason


def reply_object(value: Any, where: str) -> ReplyObject:
    """A reply written as an object: text, reasoning, tools, usage, error, fault, embeddings, logprobs."""
    if not isinstance(value, dict):
        raise Invalid(where, f"a reply must be a string or an object, not {kind(value)}")
    spec = keys(value, ("text", "reasoning", "signature", "tools", "usage", "error", "fault", "embeddings",
                        "logprobs"), where)
    for key in ("text", "reasoning", "signature"):
        if key in spec:
            string(spec[key], child(where, key))
    if "tools" in spec:
        spec["tools"] = _tools(spec["tools"], child(where, "tools"))
    if "usage" in spec:
        spec["usage"] = _usage(spec["usage"], child(where, "usage"))
    if "error" in spec:
        spec["error"] = _error(spec["error"], child(where, "error"))
    if "fault" in spec:
        spec["fault"] = _fault(spec["fault"], child(where, "fault"))
    if "embeddings" in spec:
        spec["embeddings"] = _checked(check_vectors, spec.field("embeddings"), spec["embeddings"])
    if "logprobs" in spec:
        at = spec.field("logprobs")
        entries = spec["logprobs"]
        if isinstance(entries, list):  # each entry's keys in either spelling (topLogprobs / top_logprobs)
            entries = [dict(keys(e, ("token", "logprob", "top_logprobs"), f"{at}[{i}]")) if isinstance(e, dict)
                       else e for i, e in enumerate(entries)]
        spec["logprobs"] = _checked(from_rule, at, entries, spec.get("text"))
    return normalised(spec, where)


def _checked(check: Any, where: str, *args: Any) -> Any:
    """`check(*args)`, its `ValueError` as an `Invalid` naming the field."""
    try:
        return check(*args)
    except ValueError as exc:
        raise Invalid(where, str(exc).replace("reply field ", "")) from None


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def child(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


class Spec(dict):
    """An object's fields under snake_case names; `field(key)` is the path as the file spelled it."""

    def __init__(self, where: str):
        super().__init__()
        self.where = where
        self.written: dict = {}

    def field(self, key: str) -> str:
        return child(self.where, self.written.get(key, key))


def keys(value: dict, allowed: tuple, where: str) -> Spec:
    """`value` with snake_case keys; an unknown or doubly spelled key is an error naming it."""
    result = Spec(where)
    for key, item in value.items():
        name = _snake(key) if isinstance(key, str) else key
        if name not in allowed:
            spellings = [camel(a) for a in allowed] + list(allowed)
            import difflib  # on first use: a server start need not load it

            close = difflib.get_close_matches(str(key), spellings, 1)
            expected = ", ".join(camel(a) for a in allowed)
            hint = f"; did you mean {close[0]}?" if close else f" (expected: {expected})"
            raise Invalid(child(where, key), "unknown key" + hint)
        if name in result:
            raise Invalid(child(where, key), f"given twice ({camel(name)} and {name} are the same key)")
        result[name] = item
        result.written[name] = key
    return result


def kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise Invalid(where, f"must be a string, not {kind(value)}")
    return value


def number(value: Any, where: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0):
        raise Invalid(where, f"must be a {'positive' if positive else 'non-negative'} number, not {value!r}")
    return value


def count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(where, f"must be a non-negative integer, not {value!r}")
    return value


def flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(where, f"must be true or false, not {value!r}")
    return value


def options(spec: Spec) -> ReplyOptions:
    """Pacing keys of a rule or a sequence step, as `ReplyOptions`."""
    values: dict = {}
    for key in OPTION_KEYS:
        if key in spec:
            at = spec.field(key)
            values[key] = count(spec[key], at) if key == "chunk_size" else \
                number(spec[key], at, positive=key == "tokens_per_second")
    return ReplyOptions(**values)


def _pattern(value: Any, where: str) -> Any:
    """A substring, or a regex written "/pattern/flags"."""
    if isinstance(value, re.Pattern):
        return _safe(value, where)
    text = string(value, where)
    found = _REGEX.match(text)
    if found is None:
        return text
    pattern, letters = found.groups()
    flags = 0
    for letter in letters:
        if letter not in _REGEX_FLAGS:
            raise Invalid(where, f"unknown regex flag {letter!r} in {text!r} (flags: i m s x u g); "
                                 "for a literal slash write \\/ inside a regex")
        flags |= _REGEX_FLAGS[letter]
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise Invalid(where, f"invalid regex {text!r}: {exc}") from None
    return _safe(compiled, where)


def _safe(pattern: re.Pattern[str], where: str) -> re.Pattern[str]:
    from . import regex_safety  # loaded by the first regex: rule files without one never need it

    problem = regex_safety.problem(pattern)
    if problem is not None:
        raise Invalid(where, problem)
    return pattern


def when(value: Any, where: str) -> Any:
    """A matcher as `compile_match` takes it."""
    if isinstance(value, re.Pattern):
        return _safe(value, where)
    if isinstance(value, MatchObject):
        for key in ("message", "model", "system"):
            _safe(getattr(value, key), child(where, key))
        return value
    if callable(value) and not isinstance(value, type):
        return value
    if isinstance(value, str):
        return _pattern(value, where)
    if not isinstance(value, dict):
        raise Invalid(where, f"must be a string, \"/regex/flags\" or an object, not {kind(value)}")
    spec = keys(value, ("message", "model", "system", "format", "tool_name", "tool_call_id", "server_tool", "turn"),
                where)
    for key in ("message", "model", "system"):
        if key in spec:
            spec[key] = _pattern(spec[key], child(where, key))
    if "turn" in spec and (count(spec["turn"], child(where, "turn")) < 1):
        raise Invalid(child(where, "turn"), "must be a positive integer (1 for a conversation's first message)")
    for key in ("format", "tool_name", "tool_call_id", "server_tool"):
        if key in spec:
            string(spec[key], spec.field(key))
    if "format" in spec and spec["format"] not in formats.names():
        raise Invalid(child(where, "format"), f"must be one of {', '.join(formats.names())}, not {spec['format']!r}")
    return dict(spec)  # a dict keeps the written order for the rule's description


def _tools(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise Invalid(where, f"must be an array of tool calls, not {kind(value)}")
    tools = []
    for index, tool in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(tool, dict):
            raise Invalid(at, f"a tool call must be an object {{name, args, id?}}, not {kind(tool)}")
        spec = keys(tool, ("name", "args", "id"), at)
        if not spec.get("name") or not isinstance(spec["name"], str):
            raise Invalid(child(at, "name"), "must be a non-empty string")
        if "args" in spec and not isinstance(spec["args"], (dict, str)):
            raise Invalid(child(at, "args"), f"must be an object (or a string: a custom tool's input), "
                                             f"not {kind(spec['args'])}")
        if "id" in spec:
            string(spec["id"], child(at, "id"))
        tools.append(spec)
    return tools


def _usage(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise Invalid(where, f"must be an object {{input, output, reasoning, cached}}, not {kind(value)}")
    spec = keys(value, ("input", "output", "reasoning", "cached"), where)
    return {key: count(item, child(where, key)) for key, item in spec.items()}


def _error(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise Invalid(where, f"must be an object {{status, message, type?}}, not {kind(value)}")
    spec = keys(value, ("status", "message", "type", "code", "param", "headers", "retry_after", "should_retry"),
                where)
    status = spec.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise Invalid(child(where, "status"), f"must be an HTTP status from 100 to 599, not {status!r}")
    for key in ("message", "type", "code", "param"):
        if key in spec:
            string(spec[key], child(where, key))
    headers = spec.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise Invalid(child(where, "headers"), "must be an object of header names to strings")
    if "retry_after" in spec:
        number(spec["retry_after"], spec.field("retry_after"))
    if "should_retry" in spec:
        flag(spec["should_retry"], spec.field("should_retry"))
    return spec


def error_spec(value: Any, where: str) -> dict:
    """An error written as an object `{status, message?, type?, ...}`, with snake_case keys."""
    return dict(_error(value, where))


def _fault(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise Invalid(where, f"must be an object {{kind, afterEvents?, afterChars?, ...}}, not {kind(value)}")
    spec = keys(value, ("kind", "after_events", "after_chars", "error", "reason", "stall_ms"), where)
    if spec.get("kind") not in FAULT_KINDS:
        raise Invalid(child(where, "kind"), f"must be one of {', '.join(FAULT_KINDS)}, not {spec.get('kind')!r}")
    for key in ("after_events", "after_chars", "stall_ms"):
        if key in spec:
            count(spec[key], spec.field(key))
    if "reason" in spec:
        string(spec["reason"], child(where, "reason"))
    if "error" in spec:
        spec["error"] = _error(spec["error"], child(where, "error"))
    return spec


def recording(value: Any, where: str, steps: int) -> dict:
    """A recorded rule's `recording`: the exchange id (one per step of `replies`) and the hashes of
    the system prompt and tool set it was recorded with (each checked only when present)."""
    if not isinstance(value, dict):
        raise Invalid(where, f"must be an object {{id, system?, tools?}}, not {kind(value)}")
    spec = keys(value, ("id", "system", "tools"), where)
    ids = spec.get("id")
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise Invalid(child(where, "id"), "must be an exchange id, or an array of them (one per step of `replies`)")
    if len(ids) != steps:
        raise Invalid(child(where, "id"), f"names {len(ids)} exchange(s) for {steps} "
                                          f"repl{'y' if steps == 1 else 'ies'}")
    for key in ("system", "tools"):
        if key in spec and not (isinstance(spec[key], str) and spec[key].startswith("sha256:")):
            raise Invalid(child(where, key), f'must be a hash written "sha256:…", not {spec[key]!r}')
    return {"ids": ids, "system": spec.get("system"), "tools": spec.get("tools")}


def chaos(value: Any, where: str) -> Chaos:
    if isinstance(value, Chaos):
        return value
    if not isinstance(value, dict):
        raise Invalid(where, f"must be an object {{seed, errorRate, errorStatuses, faults, retryAfter}}, "
                             f"not {kind(value)}")
    spec = keys(value, ("seed", "error_rate", "error_statuses", "faults", "retry_after"), where)
    try:
        return Chaos(**spec)
    except (TypeError, ValueError) as exc:
        raise Invalid(where, str(exc)) from None


def normalised(value: Any, where: str) -> ReplyObject:
    try:
        return normalise_reply(value)
    except (TypeError, ValueError) as exc:
        raise Invalid(where, str(exc)) from None
