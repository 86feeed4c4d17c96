"""Matchers: what a rule answers to, compiled once into a predicate plus a readable description."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, Optional, Union

from . import formats
from .request import MockRequest

Pattern = Union[str, "re.Pattern[str]"]
Predicate = Callable[[MockRequest], bool]


@dataclass(frozen=True)
class MatchObject:
    """Fields combine with AND. `message`, `model` and `system` are case-insensitive substrings or
    compiled regexes; `format` is a registered format name (`openai`, `responses`, `anthropic`, …);
    `tool_name` must be among the offered tools; `server_tool` among the offered server tool types;
    `tool_call_id` equals the last tool result's id; `turn` is the request's place in its conversation:
    how many messages it carries, system messages aside (1 for a first question); `predicate(request)`
    runs last."""

    message: Optional[Pattern] = None
    model: Optional[Pattern] = None
    system: Optional[Pattern] = None
    format: Optional[str] = None
    tool_name: Optional[str] = None
    tool_call_id: Optional[str] = None
    server_tool: Optional[str] = None
    turn: Optional[int] = None
    predicate: Optional[Predicate] = None

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in formats.names():
            raise ValueError(f"format must be one of {', '.join(formats.names())}, got {self.format!r}")
        for name in ("message", "model", "system"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, re.Pattern)):
                raise ValueError(f"MatchObject.{name} must be a string or a compiled regex")
        for name in ("tool_name", "tool_call_id", "server_tool"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"MatchObject.{name} must be a string")
        if self.turn is not None and (not isinstance(self.turn, int) or isinstance(self.turn, bool) or self.turn < 1):
            raise ValueError("MatchObject.turn must be a positive integer")
        if self.predicate is not None and not callable(self.predicate):
            raise ValueError("MatchObject.predicate must be callable")


Match = Union[str, "re.Pattern[str]", MatchObject, "dict[str, Any]", Predicate]
"""What `when()` accepts: a substring of the last user message, a regex, a `MatchObject`, a dict of its
fields (camelCase names too), or a predicate on the request."""

_CAMEL = {"toolName": "tool_name", "toolCallId": "tool_call_id", "serverTool": "server_tool"}
_MATCH_FIELDS = {f.name for f in fields(MatchObject)}


def any_request(request: MockRequest) -> bool:
    """The matcher of `next_error`: every request (a near-miss report leaves such rules out)."""
    return True


def compile_match(match: Match) -> tuple[Predicate, str]:
    """(predicate, description) for any accepted matcher; `ValueError` for anything else, and for a
    regex that can backtrack catastrophically (`regex_safety`)."""
    test, description = _compile(match)
    patterns = [match] if isinstance(match, re.Pattern) else \
        [match.get(k) for k in ("message", "model", "system")] if isinstance(match, dict) else \
        [match.message, match.model, match.system] if isinstance(match, MatchObject) else []
    for pattern in patterns:
        if isinstance(pattern, re.Pattern):
            from . import regex_safety  # loaded by the first regex: a server without one never needs it

            problem = regex_safety.problem(pattern)
            if problem is not None:
                raise regex_safety.UnsafeRegex(f"when({description}): {problem}")
    return test, description


def _compile(match: Match) -> tuple[Predicate, str]:
    if isinstance(match, dict):
        unknown = {k for k in match if _CAMEL.get(k, k) not in _MATCH_FIELDS}
        if unknown:
            raise ValueError(f"unknown match field(s): {', '.join(sorted(unknown))}")
        given = {_CAMEL.get(k, k): v for k, v in match.items()}
        return _object_test(MatchObject(**given)), _describe_fields(given.items())  # described in written order
    if isinstance(match, str):
        return _text_test(match, "last_message"), f'"{match}"'
    if isinstance(match, re.Pattern):
        return _text_test(match, "last_message"), describe_pattern(match)
    if isinstance(match, MatchObject):
        return _object_test(match), _describe_object(match)
    if callable(match):
        return match, "(predicate)"
    raise ValueError(f"a matcher must be a string, regex, MatchObject, dict or callable, got {type(match).__name__}")


def match_fields(match: Match) -> list[tuple[str, Any]]:
    """The named conditions of a matcher as written, `[(field, expected), ...]` (a string or regex is
    `message`, a callable `predicate`), so a near-miss report can check them one by one."""
    if isinstance(match, dict):
        return [(_CAMEL.get(key, key), value) for key, value in match.items() if value is not None]
    if isinstance(match, (str, re.Pattern)):
        return [("message", match)]
    if isinstance(match, MatchObject):
        return [(f.name, getattr(match, f.name)) for f in fields(match) if getattr(match, f.name) is not None]
    if callable(match):
        return [("predicate", match)]
    return []


def _text_test(pattern: Pattern, attribute: str) -> Predicate:
    if isinstance(pattern, str):
        needle = pattern.lower()
        return lambda req: needle in getattr(req, attribute).lower()
    search = pattern.search
    return lambda req: search(getattr(req, attribute)) is not None


def _object_test(m: MatchObject) -> Predicate:
    tests: list[Callable[..., bool]] = []  # matchers binding their expected value as a default argument
    for name, attribute in (("message", "last_message"), ("model", "model"), ("system", "system_message")):
        value = getattr(m, name)
        if value is not None:
            tests.append(_text_test(value, attribute))
    if m.format is not None:
        tests.append(lambda req, f=m.format: req.format == f)
    if m.tool_name is not None:
        tests.append(lambda req, n=m.tool_name: n in req.tool_names)
    if m.server_tool is not None:
        tests.append(lambda req, t=m.server_tool: t in req.server_tool_types)
    if m.tool_call_id is not None:
        tests.append(lambda req, i=m.tool_call_id: req.last_tool_call_id == i)
    if m.turn is not None:
        tests.append(lambda req, n=m.turn: turn_of(req) == n)
    if m.predicate is not None:
        tests.append(m.predicate)
    return lambda req: all(test(req) for test in tests)


def turn_of(request: MockRequest) -> int:
    """How many messages the request's conversation holds, system messages aside."""
    return sum(1 for message in request.messages if message.role != "system")


def describe_pattern(pattern: re.Pattern[str]) -> str:
    flags = "".join(c for flag, c in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
                    if pattern.flags & flag)
    return f"/{pattern.pattern}/{flags}"


def _describe_object(m: MatchObject) -> str:
    return _describe_fields((f.name, getattr(m, f.name)) for f in fields(m))


def _describe_fields(items: Iterable[tuple[str, Any]]) -> str:
    """`{model=gpt-4, message=hi}`: set fields in the given order, a predicate last and unnamed."""
    parts, predicate = [], False
    for name, value in items:
        if name == "predicate":
            predicate = value is not None
        elif value is not None:
            parts.append(f"{name}={describe_pattern(value) if isinstance(value, re.Pattern) else value}")
    return "{" + ", ".join(parts + (["predicate"] if predicate else [])) + "}"
