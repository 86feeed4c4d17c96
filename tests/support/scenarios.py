"""Shared pieces of the wire-format tests: the replies every format is checked with, what each must
look like once rendered, the tools requests offer, and id shapes. (Raw HTTP: `support.raw_http`.)"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from llm_mock import ReplyObject, ToolCall

# -- the replies ------------------------------------------------------------------------------
SCENARIOS = {
    "plain": ReplyObject(text="Hello! How can I help?"),
    "text_reasoning": ReplyObject(text="The answer is 4.", reasoning="Two plus two makes four."),
    "one_tool": ReplyObject(text="Let me check the weather.", tools=[ToolCall("get_weather", {"city": "Paris"})]),
    "parallel_tools": ReplyObject(reasoning="Two lookups are needed.", tools=[
        ToolCall("get_weather", {"city": "Zürich", "units": "metric"}),
        ToolCall("get_time", {"zone": "Asia/Tokyo"}),
    ]),
    "empty": "",
    "reasoning_only": ReplyObject(reasoning="Thinking, with nothing to say."),
    "tools_only": ReplyObject(tools=[ToolCall("list_files", {})]),
}
SCENARIO_NAMES = list(SCENARIOS)
CHUNK = 5  # characters per delta in streamed scenarios, so every text arrives in several pieces

UNICODE_TEXT = "Héllo wörld 😀👍🏽 日本語のテキスト e\u0301 🇫🇷 done"
"""Two-byte, three-byte and four-byte characters, a skin-tone modifier, a flag and a combining accent."""


@dataclass(frozen=True)
class Expected:
    """What a scenario renders to: text (None when no text part is emitted), reasoning, tool calls."""

    text: Optional[str]
    reasoning: Optional[str]
    tools: tuple  # ((name, args), …)

    @property
    def finish(self) -> str:
        return "tool_calls" if self.tools else "stop"


def expected(name: str) -> Expected:
    reply = SCENARIOS[name]
    if isinstance(reply, str):
        return Expected(reply, None, ())
    tools = tuple((t.name, t.args) for t in reply.tools)
    emits_text = bool(reply.text) or not (tools or reply.reasoning)
    return Expected((reply.text or "") if emits_text else None, reply.reasoning, tools)


def add_scenario(server, name: str, **options):
    """A rule answering the message `scenario <name>` with that scenario, in `CHUNK`-sized pieces."""
    options.setdefault("chunk_size", CHUNK)
    return server.when(f"scenario {name}").reply(SCENARIOS[name], **options)


# -- tools offered in requests -----------------------------------------------------------------
TOOL_SCHEMAS = {
    "get_weather": {"type": "object", "properties": {"city": {"type": "string"}, "units": {"type": "string"}},
                    "required": ["city"]},
    "get_time": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
    "list_files": {"type": "object", "properties": {}},
}


def chat_tools() -> list:
    return [{"type": "function", "function": {"name": n, "description": f"The {n} tool", "parameters": p}}
            for n, p in TOOL_SCHEMAS.items()]


def responses_tools() -> list:
    return [{"type": "function", "name": n, "description": f"The {n} tool", "parameters": p, "strict": False}
            for n, p in TOOL_SCHEMAS.items()]


def anthropic_tools() -> list:
    return [{"name": n, "description": f"The {n} tool", "input_schema": p} for n, p in TOOL_SCHEMAS.items()]


# -- ids ---------------------------------------------------------------------------------------
ID_PATTERNS = {
    "chatcmpl": r"chatcmpl-[A-Za-z0-9]{29}",
    "call": r"call_[A-Za-z0-9]{24}",
    "resp": r"resp_[0-9a-f]{48}",
    "msg": r"msg_[0-9a-f]{48}",
    "fc": r"fc_[0-9a-f]{48}",
    "rs": r"rs_[0-9a-f]{48}",
    "msg_01": r"msg_01[1-9A-HJ-NP-Za-km-z]{22}",
    "toolu_01": r"toolu_01[1-9A-HJ-NP-Za-km-z]{22}",
    "openai_request": r"req_[0-9a-f]{32}",
    "anthropic_request": r"req_011[1-9A-HJ-NP-Za-km-z]{24}",
}


def assert_id(value, kind: str) -> None:
    assert isinstance(value, str) and re.fullmatch(ID_PATTERNS[kind], value), f"{value!r} is not a {kind} id"


def assert_chunked(pieces: list, text: str, size: int) -> None:
    """`pieces` are `text` cut every `size` characters, each a whole number of valid characters."""
    assert "".join(pieces) == text
    assert all(len(piece) == size for piece in pieces[:-1]) and 0 < len(pieces[-1]) <= size, pieces
    for piece in pieces:
        piece.encode("utf-8")  # a lone surrogate (half a character) cannot be encoded
