"""The normalised request: what every format adapter produces and every rule sees.

Rules never look at wire shapes; they match on these fields, so one rule answers the same
conversation whether it arrives as Chat Completions, Responses or Anthropic Messages.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from .tokens import estimate_tokens


class RequestError(ValueError):
    """The body is not a valid request for its format; answered with 400 in the format's shape."""

    def __init__(self, message: str, param: Optional[str] = None, status: int = 400, code: Optional[str] = None,
                 type: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status
        self.code = code  # the error `code`; with `type` given, exactly this (None: null)
        self.type = type


@dataclass(frozen=True)
class Message:
    """One turn, flattened: role is system / user / assistant / tool; content is its text."""

    role: str
    content: str
    tool_call_id: Optional[str] = None


@dataclass(frozen=True)
class ToolDef:
    """A tool the client offered (user-defined: function or custom)."""

    name: str
    description: Optional[str] = None
    parameters: Optional[dict[str, Any]] = None
    type: str = "function"
    namespace: Optional[str] = None

    @property
    def custom(self) -> bool:
        """A free-form (`custom`) tool: its calls carry a string input, not JSON arguments."""
        return self.type == "custom"


@dataclass
class MockRequest:
    """One request, normalised across the wire formats. `format` is the wire format rules match on;
    `transport` says which cloud carried it when that is not the vendor's own API."""

    format: str
    model: str
    stream: bool
    messages: list[Message] = field(default_factory=list)
    last_message: str = ""
    system_message: str = ""
    tools: Optional[list[ToolDef]] = None
    tool_names: tuple[str, ...] = ()
    server_tool_types: tuple[str, ...] = ()
    last_tool_call_id: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""
    raw: Any = None  # the parsed JSON body as the client sent it
    max_tokens: Optional[int] = None
    n: int = 1
    include_usage: bool = False
    body: Optional[bytes] = field(default=None, repr=False)
    transport: str = ""  # the cloud route it came by ("azure", "bedrock", "vertex"); "" for the vendor's own
    logprobs: Optional[int] = None  # alternatives per token when the client asked for log-probabilities

    # Not fields: set by formats whose requests live on in server state (Responses).
    stateful = False  # completed from stored state: the history keeps this parsed request
    background = False  # answered at once, finished later (Responses `background: true`)

    @property
    def streaming(self) -> bool:
        """Alias of `stream`, the name the project we replace used."""
        return self.stream

    @property
    def retry_count(self) -> int:
        """The SDK's `x-stainless-retry-count`; anything non-numeric counts as a first attempt."""
        value = self.headers.get("x-stainless-retry-count", "0")
        try:
            return max(int(value), 0)
        except (TypeError, ValueError):
            return 0

    @property
    def input_tokens(self) -> int:
        """Estimated prompt tokens: every message plus each tool's name, description and schema."""
        total = sum(estimate_tokens(m.content) + 3 for m in self.messages)
        for tool in self.tools or ():
            description = tool.description if isinstance(tool.description, str) else None  # clients send anything
            total += estimate_tokens(tool.name) + estimate_tokens(description)
            if tool.parameters:
                total += estimate_tokens(json.dumps(tool.parameters))
        return max(total, 1)


def finish(request: MockRequest, messages: list[Message]) -> MockRequest:
    """Fill the derived fields (last user message, system text, last tool call id) from `messages`."""
    request.messages = messages
    for message in reversed(messages):
        if message.role == "user":
            request.last_message = message.content
            break
    for message in messages:
        if message.role == "system":
            request.system_message = message.content
            break
    for message in reversed(messages):
        if message.tool_call_id:
            request.last_tool_call_id = message.tool_call_id
            break
    return request


def text_of(content: Any, part_types: tuple = ("text", "input_text", "output_text")) -> str:
    """Content as text: a string as is, a list of parts joined by newlines, anything else empty."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict) and part.get("type") in part_types and isinstance(part.get("text"), str):
                pieces.append(part["text"])
        return "\n".join(pieces)
    return ""


def require(body: dict, key: str, kind: type | tuple, what: str) -> Any:
    """Return body[key], or raise the 400 the real API gives when it is missing or mistyped."""
    if key not in body or body[key] is None:
        raise RequestError(f"Missing required parameter: '{key}'.", key)
    value = body[key]
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
        raise RequestError(f"Invalid type for '{key}': expected {what}, but got {_json_type(value)}.", key)
    return value


def optional(body: dict, key: str, kind: type | tuple, what: str, default: Any = None) -> Any:
    """Return body[key] if present and well typed, `default` when absent or null, else a 400."""
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
        raise RequestError(f"Invalid type for '{key}': expected {what}, but got {_json_type(value)}.", key)
    return value


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
