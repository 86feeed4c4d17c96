"""What a rule answers: reply dataclasses, their normalisation, and the completion adapters render.

A reply is written loosely (a string, a dict, a `ReplyObject`, a callable returning one); it is
normalised once into a `ReplyObject`, then turned into a `Completion`: the exact text chunks, tool
arguments, finish reason and usage that every adapter renders, identically streamed or not.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Union

from . import embeddings as _embeddings
from . import logprobs as _logprobs
from .framing import cut
from .plain import Plain
from .tokens import estimate_tokens, truncate_to_tokens

if TYPE_CHECKING:
    from .logprobs import LogProb
    from .request import MockRequest


@dataclass
class ToolCall:
    """A tool call in a reply. `id` is generated in the format's style when omitted."""

    name: str
    args: Union[dict[str, Any], str] = field(default_factory=dict)  # a custom tool's input is a string
    id: Optional[str] = None

    @property
    def input(self) -> dict[str, Any]:
        """The arguments as an object (Anthropic `tool_use.input`); a JSON string is parsed."""
        if isinstance(self.args, dict):
            return self.args
        try:
            value = json.loads(self.args) if isinstance(self.args, str) else None
        except ValueError:
            value = None
        return value if isinstance(value, dict) else {}

    @property
    def arguments(self) -> str:
        """The arguments as the JSON string the wire carries."""
        return self.args if isinstance(self.args, str) else _compact(self.args)


@dataclass
class ErrorReply:
    """An HTTP error answer in the vendor's error shape (status, message, type), with optional headers.

    `retry_after` (seconds) sets `retry-after` and `retry-after-ms`; `should_retry` sets
    `x-should-retry`, which both SDKs obey over their status rules.
    """

    status: int = 500
    message: Optional[str] = None
    type: Optional[str] = None
    code: Optional[str] = None
    param: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: Optional[float] = None
    should_retry: Optional[bool] = None

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or isinstance(self.status, bool) or not 100 <= self.status <= 599:
            raise ValueError(f"error status must be an integer from 100 to 599, got {self.status!r}")

    @classmethod
    def rate_limited(cls, retry_after: float = 1, message: Optional[str] = None, **kw: Any) -> ErrorReply:
        """429 with `retry-after`: the SDKs wait that long, then retry."""
        return cls(429, message, retry_after=retry_after, **kw)

    @classmethod
    def overloaded(cls, message: str = "Overloaded", **kw: Any) -> ErrorReply:
        """Anthropic's 529 `overloaded_error` (OpenAI routes get a 529 with a server_error body)."""
        return cls(529, message, type="overloaded_error", **kw)

    def response_headers(self) -> list[tuple[str, str]]:
        out = [(k.lower(), str(v)) for k, v in self.headers.items()]
        if self.retry_after is not None:
            out.append(("retry-after", _number(self.retry_after)))
            out.append(("retry-after-ms", _number(self.retry_after * 1000)))
        if self.should_retry is not None:
            out.append(("x-should-retry", "true" if self.should_retry else "false"))
        return out


FAULT_KINDS = ("error", "failed", "incomplete", "disconnect", "truncate", "stall", "malformed", "reset", "empty")


@dataclass
class Fault:
    """A failure after the 200 has been sent (or instead of the body), reproducibly.

    kind: `error` (the format's in-band error event), `failed` (Responses `response.failed`),
    `incomplete` (Responses `response.incomplete`; `length` / `max_tokens` elsewhere), `disconnect`
    (close without a terminator), `truncate` (end cleanly, early, without a finish reason), `stall`
    (stop sending, hold the connection for `stall_ms`), `malformed` (one bad `data:` line),
    `reset` (TCP reset), `empty` (200 with no events / an empty body).
    Triggered after `after_events` SSE events or `after_chars` characters of text (default 0 events).
    """

    kind: str
    after_events: Optional[int] = None
    after_chars: Optional[int] = None
    error: Optional[ErrorReply] = None
    reason: str = "max_output_tokens"
    stall_ms: int = 30000

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if isinstance(self.error, dict):
            self.error = error_from(self.error)


@dataclass
class ReplyObject:
    """A structured reply: text, reasoning, tool calls, usage override, an HTTP error or a fault.

    `embeddings` answers an embeddings request: one vector (a list of numbers) for every input, or
    a list of vectors, the i-th for input i (inputs beyond the list get computed vectors).
    `logprobs` gives the text's log-probabilities, sent when the client asks for them: a list of
    `{token, logprob, top_logprobs?: [{token, logprob}]}` whose tokens spell the text.
    `signature` is the reasoning's opaque signature as a real API sent it (Anthropic's thinking
    `signature`, Responses' `encrypted_content`); without it one is derived from the reasoning."""

    text: Optional[str] = None
    reasoning: Optional[str] = None
    tools: list[ToolCall] = field(default_factory=list)
    usage: Optional[dict[str, int]] = None
    error: Optional[ErrorReply] = None
    fault: Optional[Fault] = None
    embeddings: Union[list[float], list[list[float]], None] = None
    logprobs: Optional[list[Union[dict[str, Any], LogProb]]] = None  # dicts as written; `LogProb`s once checked
    signature: Optional[str] = None
    replayed: ClassVar[bool] = False  # a recording's reply (`record.recorded.Replayed`), answered by record/


@dataclass
class ReplyOptions:
    """How a reply is paced: `latency` ms between SSE events, `chunk_size` characters per text
    delta; or `ttft` ms to the first token then `tokens_per_second`; `jitter` ms of seeded noise."""

    latency: Optional[float] = None
    chunk_size: Optional[int] = None
    ttft: Optional[float] = None
    tokens_per_second: Optional[float] = None
    jitter: Optional[float] = None

    def over(self, base: ReplyOptions) -> ReplyOptions:
        """These options laid over `base`: each key set here wins."""
        return ReplyOptions(  # spelt out: `dataclasses.fields()` on every request cost more than the rest
            base.latency if self.latency is None else self.latency,
            base.chunk_size if self.chunk_size is None else self.chunk_size,
            base.ttft if self.ttft is None else self.ttft,
            base.tokens_per_second if self.tokens_per_second is None else self.tokens_per_second,
            base.jitter if self.jitter is None else self.jitter)


Reply = Union[str, ReplyObject, ErrorReply, Fault, "dict[str, Any]", None]
"""One reply as written: text, a `ReplyObject`, an `ErrorReply`, a `Fault`, a dict of `ReplyObject`'s fields,
or None (empty text)."""
Resolver = Union[Reply, Callable[["MockRequest"], Union[Reply, Awaitable[Reply]]]]
"""What `.reply()` and `fallback()` accept: a `Reply`, or a callable (plain or async) that returns one for the
request."""

_REPLY_KEYS = {f.name for f in fields(ReplyObject)}


def normalise_reply(value: Reply) -> ReplyObject:
    """Any accepted reply shape as a `ReplyObject`; a clear `ValueError` for anything else."""
    if isinstance(value, ReplyObject):
        changes: dict[str, Any] = {}
        if value.usage is not None:
            usage = usage_from(value.usage)
            if usage != value.usage:
                changes["usage"] = usage
        if value.tools and not all(isinstance(t, ToolCall) for t in value.tools):
            changes["tools"] = [tool_from(t) for t in value.tools]
        if isinstance(value.error, dict):
            changes["error"] = error_from(value.error)
        if value.embeddings is not None:
            changes["embeddings"] = _vectors(value.embeddings)
        if value.logprobs is not None:
            changes["logprobs"] = _entries(value.logprobs, value.text)
        return replace(value, **changes) if changes else value
    if value is None:
        return ReplyObject(text="")
    if isinstance(value, str):
        return ReplyObject(text=value)
    if isinstance(value, ErrorReply):
        return ReplyObject(error=value)
    if isinstance(value, Fault):
        return ReplyObject(fault=value)
    if isinstance(value, dict):
        unknown = set(value) - _REPLY_KEYS
        if unknown:
            raise ValueError(f"unknown reply field(s): {', '.join(sorted(unknown))}")
        for key in ("text", "reasoning", "signature"):
            if value.get(key) is not None and not isinstance(value[key], str):
                raise ValueError(f"reply field {key!r} must be a string")
        tools = value.get("tools") or []
        if not isinstance(tools, list):
            raise ValueError("reply field 'tools' must be a list")
        error = value.get("error")
        fault = value.get("fault")
        return ReplyObject(
            text=value.get("text"),
            reasoning=value.get("reasoning"),
            tools=[tool_from(t) for t in tools],
            usage=usage_from(value["usage"]) if value.get("usage") is not None else None,
            error=error_from(error) if isinstance(error, dict) else error,
            fault=Fault(**fault) if isinstance(fault, dict) else fault,
            embeddings=_vectors(value.get("embeddings")),
            logprobs=_entries(value.get("logprobs"), value.get("text")),
            signature=value.get("signature"),
        )
    raise ValueError(f"a reply must be a string, dict, ReplyObject or ErrorReply, got {type(value).__name__}")


def _vectors(value: Any) -> Optional[list]:
    return None if value is None else _embeddings.check_vectors(value)


def _entries(value: Any, text: Optional[str]) -> Optional[list]:
    return None if value is None else _logprobs.from_rule(value, text)
USAGE_KEYS = ("input", "output", "reasoning", "cached")


def usage_from(value: Any) -> dict[str, int]:
    """A usage override checked: `{input?, output?, reasoning?, cached?}` (or `input_tokens`, …), each a
    whole number of tokens, 0 or more; returned with the short keys."""
    if not isinstance(value, dict):
        raise ValueError(f"reply usage must be a dict of token counts, got {type(value).__name__}")
    usage = {}
    for key, count in value.items():
        name = key[:-7] if isinstance(key, str) and key.endswith("_tokens") else key
        if name not in USAGE_KEYS:
            raise ValueError(f"unknown usage field {key!r} (known: {', '.join(USAGE_KEYS)})")
        if name in usage:
            raise ValueError(f"usage field {name!r} given twice")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"usage field {key!r} must be a whole number of tokens, 0 or more, got {count!r}")
        usage[name] = count
    return usage


def tool_from(value: Any) -> ToolCall:
    if isinstance(value, ToolCall):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        unknown = set(value) - {"name", "args", "arguments", "input", "id"}
        if unknown:
            raise ValueError(f"unknown tool call field(s): {', '.join(sorted(unknown))}")
        args = value.get("args", value.get("arguments", value.get("input", {})))
        return ToolCall(value["name"], {} if args is None else args, value.get("id"))
    raise ValueError("a tool call needs a 'name' string (and optional 'args', 'id')")


def error_from(value: dict[str, Any]) -> ErrorReply:
    unknown = set(value) - {f.name for f in fields(ErrorReply)}
    if unknown:
        raise ValueError(f"unknown error field(s): {', '.join(sorted(unknown))}")
    return ErrorReply(**value)


class Completion(Plain):
    """The reply as every adapter renders it: chunks, finish reason and usage fixed once."""

    __slots__ = ("text", "reasoning", "tools", "finish", "input_tokens", "output_tokens", "reasoning_tokens",
                 "chunk_size", "cached_tokens", "embeddings", "logprobs", "signature")

    def __init__(self, text: Optional[str], reasoning: Optional[str], tools: list, finish: str, input_tokens: int,
                 output_tokens: int, reasoning_tokens: int, chunk_size: int, cached_tokens: int = 0,
                 embeddings: Optional[list] = None, logprobs: Optional[list] = None, signature: Optional[str] = None):
        self.text, self.reasoning, self.tools = text, reasoning, tools
        self.finish = finish  # stop | tool_calls | length | content_filter
        self.input_tokens, self.output_tokens, self.reasoning_tokens = input_tokens, output_tokens, reasoning_tokens
        self.chunk_size, self.cached_tokens = chunk_size, cached_tokens
        self.embeddings = embeddings  # a rule's vectors (embeddings requests)
        self.logprobs = logprobs  # a rule's `LogProb`s for the text
        self.signature = signature  # the reasoning's signature as given; None: derived from the reasoning

    def replaced(self, **changes: Any) -> Completion:
        """A copy with `changes` (what `dataclasses.replace` would give)."""
        copy = Completion(*self._values())
        for name, value in changes.items():
            setattr(copy, name, value)
        return copy

    @property
    def emits_text(self) -> bool:
        """Text is emitted when there is some, or when nothing else would be (an empty reply)."""
        return bool(self.text) or (not self.tools and not self.reasoning)

    def chunks(self, text: Optional[str]) -> list:
        """`text` cut into `chunk_size` characters (code points, never inside one); one chunk if 0."""
        return cut(text or "", self.chunk_size)


def build_completion(request: MockRequest, reply: ReplyObject, chunk_size: int,
                     fault: Optional[Fault] = None) -> Completion:
    """Fix text, tools, finish reason and usage for `reply` answering `request`.

    A `max_tokens`-style limit in the request truncates reasoning, then text, then drops tools,
    and ends with `length`, as the real APIs do; an `incomplete` fault does the same after
    `after_chars` characters (half the text by default).
    """
    text, reasoning, tools = reply.text, reply.reasoning, list(reply.tools)
    finish = "tool_calls" if tools else "stop"
    if fault is not None and fault.kind == "incomplete":
        keep = fault.after_chars if fault.after_chars is not None else len(text or "") // 2
        text, tools = (text or "")[:keep], []
        finish = "content_filter" if fault.reason == "content_filter" else "length"
    usage = reply.usage or {}
    limit = request.max_tokens
    if limit is not None and "output" not in usage:
        budget, uncut = limit, (reasoning, text)  # after an `incomplete` fault, which keeps its own finish
        reasoning, used = _take(reasoning, budget)
        budget -= used
        text, used2 = _take(text, budget)
        budget -= used2
        needed = sum(estimate_tokens(t.name + t.arguments) for t in tools)
        if (reasoning, text) != uncut or needed > budget:
            tools, finish = [], "length"
    reasoning_tokens = estimate_tokens(reasoning)
    if usage:  # usage set by the reply: each figure it gives wins (most replies give none)
        reasoning_tokens = _usage(usage, "reasoning", reasoning_tokens)
    output = estimate_tokens(text) + reasoning_tokens + sum(estimate_tokens(t.name + t.arguments) for t in tools)
    return Completion(
        text=text,
        reasoning=reasoning,
        tools=tools,
        finish=finish,
        input_tokens=_usage(usage, "input", request.input_tokens) if usage else request.input_tokens,
        output_tokens=_usage(usage, "output", output) if usage else output,
        reasoning_tokens=reasoning_tokens,
        chunk_size=chunk_size,
        cached_tokens=_usage(usage, "cached", 0) if usage else 0,
        embeddings=reply.embeddings,
        logprobs=reply.logprobs,
        signature=reply.signature,
    )


def _take(text: Optional[str], budget: int) -> tuple:
    if not text:
        return text, 0
    cut = truncate_to_tokens(text, max(budget, 0))
    return cut, estimate_tokens(cut)


def _usage(usage: dict, key: str, default: int) -> int:
    value = usage.get(key, usage.get(f"{key}_tokens"))
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def thinking_signature(thinking: str) -> str:
    """A stable, opaque signature for a thinking block (clients echo it back; nobody verifies it)."""
    import hashlib  # on first use: a server start need not load it

    digest = hashlib.sha256(thinking.encode("utf-8")).digest()
    return "Eq" + base64.b64encode(b"llm_mock" + digest * 3).decode("ascii")


_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
