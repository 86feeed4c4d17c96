"""The streams of the SSE adapters, byte for byte, against a stored rendering.

The stream renderers are built from pre-encoded templates for speed; this pins what they send (every
frame's bytes and its character count) so a faster renderer cannot change one byte. Ids are drawn
from a counter and renumbered by first appearance, the clock is fixed, so only the bytes the
renderer chooses remain. After a deliberate change of output, regenerate the stored rendering with
`PYTHONPATH=$PWD python tests/unit/test_stream_bytes.py` and review its diff.
"""
from __future__ import annotations

import gzip
import itertools
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from llm_mock import ReplyObject, ToolCall
from llm_mock.formats import anthropic, base, bedrock, gemini, openai_chat, openai_responses
from llm_mock.formats.base import Call, Route
from llm_mock.replies import ErrorReply, build_completion, normalise_reply

STORED = Path(__file__).with_name("stream_bytes.json.gz")  # gzip: the rendering is ~2 MB of JSON
CLOCK = 1_760_000_000.0
ID = re.compile(r"ID\d{6}[a-z]?")

TEXT = 'Hé said "naïve" — 東京 🌸 isn\'t a \\path\\ or </script>\n\ttab: ' * 2
REASONING = "Think: \"quotes\", ünïcode ✓ and a\nnewline. " * 2
ARGS = {"city": "Zürich", "note": 'say "hi"', "n": [1, 2.5, None, True]}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}

CHAT = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]}
RESPONSES = {"model": "gpt-4.1-mini", "stream": True, "instructions": "Be brief.", "input": "hi",
             "tools": [{"type": "function", "name": "get_weather", "parameters": SCHEMA},
                       {"type": "custom", "name": "run_code"}, {"type": "web_search"}],
             "metadata": {"k": "v"}, "temperature": 0.5, "reasoning": {"effort": "low", "summary": "auto"}}
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "get_weather", "input_schema": SCHEMA}]}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
          "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": SCHEMA}]}]}
THOUGHTS = {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"


def _replies() -> dict:
    tool = ToolCall("get_weather", ARGS)
    return {
        "text": ReplyObject(text=TEXT),
        "reasoning": ReplyObject(text=TEXT, reasoning=REASONING),
        "tools": ReplyObject(tools=[tool, ToolCall("get_weather", {"city": "Paris"}, id="call_given")]),
        "all": ReplyObject(text=TEXT, reasoning=REASONING, tools=[tool]),
        "reasoning_only": ReplyObject(reasoning=REASONING),
        "empty": ReplyObject(text=""),
        "signed": ReplyObject(text="ok", reasoning="r", signature="c2lnbmVk"),
        "custom": ReplyObject(tools=[ToolCall("run_code", 'print("hi")')]),
    }


def _cases() -> list:
    """(name, adapter, body, path, route options, reply name, chunk size)."""
    cases: list = []
    chunks = (0, 2, 7, 50)
    for reply in ("text", "reasoning", "tools", "all", "reasoning_only", "empty"):
        for size in chunks:
            cases.append(("chat", openai_chat.ChatCompletions(), CHAT, "/v1/chat/completions", {}, reply, size))
            cases.append(("messages", anthropic.Messages(), MESSAGES, "/v1/messages", {}, reply, size))
            cases.append(("gemini_sse", gemini.Gemini(), {**GEMINI, **THOUGHTS}, GEMINI_PATH + "?alt=sse",
                          {"stream": True}, reply, size))
    for reply in _replies():
        for size in (0, 3, 10):
            cases.append(("responses", openai_responses.Responses(), RESPONSES, "/v1/responses", {}, reply, size))
            cases.append(("responses_encrypted_logprobs", openai_responses.Responses(),
                          {**RESPONSES, "include": ["reasoning.encrypted_content", "message.output_text.logprobs"],
                           "top_logprobs": 2}, "/v1/responses", {}, reply, size))
            cases.append(("responses_max", openai_responses.Responses(), {**RESPONSES, "max_output_tokens": 9},
                          "/v1/responses", {}, reply, size))
            cases.append(("gemini_array", gemini.Gemini(), GEMINI, GEMINI_PATH, {"stream": True}, reply, size))
            cases.append(("gemini_n2", gemini.Gemini(), {**GEMINI, "generationConfig": {
                "candidateCount": 2, "thinkingConfig": {"includeThoughts": True}}},
                GEMINI_PATH + "?alt=sse", {"stream": True}, reply, size))
            cases.append(("chat_n2_usage", openai_chat.ChatCompletions(),
                          {**CHAT, "n": 2, "stream_options": {"include_usage": True}},
                          "/v1/chat/completions", {}, reply, size))
            cases.append(("chat_logprobs", openai_chat.ChatCompletions(),
                          {**CHAT, "logprobs": True, "top_logprobs": 1}, "/v1/chat/completions", {}, reply, size))
            cases.append(("messages_bedrock", bedrock.BedrockMessages(),
                          {k: v for k, v in MESSAGES.items() if k not in ("model", "stream")} |
                          {"anthropic_version": "bedrock-2023-05-31"},
                          "/model/anthropic.claude-sonnet-4-5/invoke-with-response-stream", {"stream": True},
                          reply, size))
    return cases


def _render(case: tuple) -> dict:
    """The stream of one case, the in-band failures after its third frame and its early end:
    each frame as [chars, text]."""
    _, adapter, body, path, options, reply, size = case
    target = path
    route = Route("POST", path.partition("?")[0], options=options)
    params = {"model": "gemini-2.5-flash"} if "gemini" in path else {"model": "anthropic.claude-sonnet-4-5"}
    call = Call("POST", path.partition("?")[0], params, {}, {}, json.dumps(body).encode(), None, route, target)
    request = adapter.parse(json.loads(json.dumps(body)), call)
    completion = build_completion(request, normalise_reply(_replies()[reply]), size)
    events = adapter.render_events(request, completion)
    events.request_id = "req_fixed"
    out: dict = {"frames": [[f.chars, _text(f.data)] for f in events.frames]}
    for kind in ("error", "failed"):
        out[kind] = [[f.chars, _text(f.data)] for f in adapter.inband_error(events, 3, ErrorReply(500), kind)]
    out["early"] = [[f.chars, _text(f.data)] for f in adapter.early_end(events, 3)]
    return out


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # Bedrock's binary event-stream
        return "b64:" + __import__("base64").b64encode(data).decode("ascii")


def _normalised(value: Any) -> Any:
    """Ids renumbered by first appearance in the whole rendering (the same id stays the same)."""
    text = json.dumps(value, ensure_ascii=False)
    seen: dict = {}
    return json.loads(ID.sub(lambda m: seen.setdefault(m.group(), f"ID{len(seen):06d}"), text))


def _deterministic(monkeypatch) -> None:
    """A fixed clock and ids `<prefix>ID<counter>` (a-z only when the format lower-cases them)."""
    counter = itertools.count()
    monkeypatch.setattr(time, "time", lambda: CLOCK)

    def random_id(prefix: str, length: int, table: bytes = b"") -> str:
        return f"{prefix}ID{next(counter):06d}"

    def hex_id(prefix: str, length: int = 48) -> str:
        return f"{prefix}ID{next(counter):06d}"

    def base58_id(prefix: str, length: int = 22) -> str:
        return f"{prefix}ID{next(counter):06d}"

    for module in (base, openai_chat, openai_responses, anthropic, gemini, bedrock,
                   sys.modules["llm_mock.formats.responses_state"]):
        for name, fake in (("random_id", random_id), ("hex_id", hex_id), ("base58_id", base58_id)):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, fake)


def _all() -> dict:
    rendered: dict = {}
    for case in _cases():
        key = f"{case[0]}/{case[5]}/{case[6]}"
        rendered[key] = _normalised(_render(case))
    return rendered


def test_streams_are_byte_identical_to_the_stored_rendering(monkeypatch):
    _deterministic(monkeypatch)
    stored = json.loads(gzip.decompress(STORED.read_bytes()))
    rendered = _all()
    assert sorted(rendered) == sorted(stored)
    for key in stored:
        assert rendered[key] == stored[key], key


def test_the_stored_rendering_covers_what_it_claims():
    stored = json.loads(gzip.decompress(STORED.read_bytes()))
    assert len(stored) > 150
    blob = json.dumps(stored, ensure_ascii=False)
    for needle in ("東京 🌸", "encrypted_content", '\\"logprob\\"', "thinking_delta", "input_json_delta",
                   "signature_delta", "functionCall", '\\"thought\\":true', "response.reasoning_summary_text.delta",
                   "response.custom_tool_call_input.delta", "response.incomplete", '\\"index\\":1',
                   '\\"usage\\":{\\"prompt_tokens\\"', "b64:"):
        assert needle in blob, needle


if __name__ == "__main__":  # regenerate the stored rendering
    with pytest.MonkeyPatch.context() as patch:
        _deterministic(patch)
        text = json.dumps(_all(), ensure_ascii=False, indent=0, sort_keys=True) + "\n"
        STORED.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    print(f"wrote {STORED}")
