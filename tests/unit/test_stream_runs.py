"""A stream's runs (many text deltas made at once) send the same bytes as its frames one by one.

An unpaced stream without a fault is sent from `Events.data()`, where a `Run` joins all its events
in one go; faults, pacing and re-framing transports read `Events.frames`. Both must be the same
bytes, for every adapter, reply shape and chunk size, with text that needs JSON escapes and without.
"""
from __future__ import annotations

import json

import pytest

from llm_mock import ReplyObject, ToolCall
from llm_mock.formats import anthropic, azure, bedrock, gemini, ollama, openai_chat, openai_responses, vertex
from llm_mock.formats.base import Call, Events, Route, deltas
from llm_mock.framing import Frame, JSONArray, Run
from llm_mock.replies import Completion, build_completion, normalise_reply

PLAIN = "The quick brown fox jumps over the lazy dog. " * 9
ESCAPED = 'Hé said "naïve" — 東京 🌸 \\path\\ </script>\n\ttab ' * 3
ARGS = {"city": "Zürich", "n": [1, 2.5, None, True]}
REPLIES = {
    "plain": ReplyObject(text=PLAIN),
    "escaped": ReplyObject(text=ESCAPED),
    "plain_reasoning": ReplyObject(text=PLAIN, reasoning=PLAIN[:50]),
    "escaped_reasoning": ReplyObject(text=PLAIN, reasoning=ESCAPED),
    "tools": ReplyObject(text=PLAIN, tools=[ToolCall("get_weather", ARGS)]),
    "tools_only": ReplyObject(tools=[ToolCall("get_weather", ARGS), ToolCall("f", {})]),
    "empty": ReplyObject(text=""),
    "signed": ReplyObject(text="ok then", reasoning="r", signature="c2lnbmVk"),
}
CHAT = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"max_tokens": 4096, "messages": [{"role": "user", "content": "hi"}]}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
          "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
GEMINI_STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
OLLAMA = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
VERTEX_STREAM = "/v1/projects/p/locations/l/publishers/anthropic/models/claude:streamRawPredict"
ADAPTERS = {  # name: (adapter, body, path, route options)
    "chat": (openai_chat.ChatCompletions(), CHAT, "/v1/chat/completions", {}),
    "chat_n2_usage": (openai_chat.ChatCompletions(), {**CHAT, "n": 2, "stream_options": {"include_usage": True}},
                      "/v1/chat/completions", {}),
    "azure_chat": (azure.AzureChatCompletions(), CHAT, "/openai/v1/chat/completions", {}),
    "messages": (anthropic.Messages(), {**MESSAGES, "model": "claude-sonnet-4-5", "stream": True},
                 "/v1/messages", {}),
    "bedrock": (bedrock.BedrockMessages(), {**MESSAGES, "anthropic_version": "bedrock-2023-05-31"},
                "/model/anthropic.claude-sonnet-4-5/invoke-with-response-stream", {"stream": True}),
    "vertex": (vertex.VertexMessages(), {**MESSAGES, "anthropic_version": "vertex-2023-10-16"}, VERTEX_STREAM,
               {"stream": True}),
    "gemini_sse": (gemini.Gemini(), GEMINI, GEMINI_STREAM + "?alt=sse", {"stream": True}),
    "gemini_array": (gemini.Gemini(), GEMINI, GEMINI_STREAM, {"stream": True}),
    "gemini_n2": (gemini.Gemini(), {**GEMINI, "generationConfig": {
        "candidateCount": 2, "thinkingConfig": {"includeThoughts": True}}}, GEMINI_STREAM, {"stream": True}),
    "ollama_chat": (ollama.Ollama(), OLLAMA, "/api/chat", {}),
    "ollama_generate": (ollama.Ollama(), {"model": "m", "prompt": "hi"}, "/api/generate", {"generate": True}),
    "responses": (openai_responses.Responses(), {"model": "gpt-4.1-mini", "stream": True, "input": "hi"},
                  "/v1/responses", {}),
}


def _events(name: str, reply: str, size: int) -> Events:
    adapter, body, path, options = ADAPTERS[name]
    route = Route("POST", path.partition("?")[0], options=options)
    call = Call("POST", path.partition("?")[0], {"model": "gemini-2.5-flash"}, {}, {}, json.dumps(body).encode(),
                None, route, path)
    request = adapter.parse(json.loads(json.dumps(body)), call)
    return adapter.render_events(request, build_completion(request, normalise_reply(REPLIES[reply]), size))


@pytest.mark.parametrize("size", [0, 1, 7, 10, 64])
@pytest.mark.parametrize("reply", sorted(REPLIES))
@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_the_parts_bytes_are_the_frames_bytes(name, reply, size):
    events = _events(name, reply, size)
    sent = b"".join(events.data())  # before anything cut the runs into frames
    frames = events.frames
    assert all(type(frame) is Frame for frame in frames)
    assert sent == b"".join(frame.data for frame in frames)
    assert b"".join(events.data()) == sent  # and the same once they are cut


def test_text_deltas_are_runs_on_the_common_path():
    events = _events("messages", "plain", 10)
    assert sum(type(part) is Run for part in events.parts) == 1 and len(events.parts) < 10
    assert len(events.frames) > 40


@pytest.mark.parametrize("size", [0, 1, 2, 3, 10])
@pytest.mark.parametrize("text", ["abcde", 'a"b\\c\n', "東京🌸xé", "x", "\u2028\x00\x1f", "The quick brown fox. " * 30,
                                  "The quick brown fox. " * 30 + "é", "0123456789" * 20, "abc" * 67])
def test_a_run_is_its_frames_joined(text, size):
    run = Run(text, size, 'data: {"t":', "}\n\n")
    frames = run.frames()
    pieces = [text[i:i + size] for i in range(0, len(text), size)] if size else [text]
    assert run.pieces == pieces
    assert run.data == b"".join(f.data for f in frames)
    assert [f.chars for f in frames] == [len(p) for p in pieces]
    assert [json.loads(f.data[6:])["t"] for f in frames] == pieces
    first, rest = run.split()
    assert [first, *rest.frames()] == frames


def test_deltas_of_nothing_add_no_part():
    assert deltas("", 10, "a", "b") == [] and deltas(None, 10, "a", "b") == [] and Run("", 3, "a", "b").data == b""


def test_a_json_array_opens_without_separator_when_a_run_comes_first():
    frames = [Run("ab", 1, ',\r\n{"t":', "}")]
    JSONArray.first(frames)
    assert b"[" + b"".join(f.data for f in frames) + b"]" == b'[{"t":"a"},\r\n{"t":"b"}]'


def test_events_frames_can_be_replaced():
    events = Events([Run("a", 1, "<", ">")])
    events.frames = [Frame(b"x")]
    assert events.data() == [b"x"] and events.parts == events.frames


@pytest.mark.parametrize("size", [0, 1, 3, 10])
@pytest.mark.parametrize("text", ["", "a", "abc", "abcd", "東京🌸 é" * 40, "x" * 5000])
def test_chunks_are_code_point_slices(text, size):
    c = Completion(text, None, [], "stop", 1, 1, 0, size)
    expected = [text[i:i + size] for i in range(0, len(text), size)] if size else [text]
    assert c.chunks(text) == (expected if text else [])
