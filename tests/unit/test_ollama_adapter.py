"""The Ollama adapter as pure functions: parse, the NDJSON frames, the final object. No socket."""
from __future__ import annotations

import json

import pytest

from llm_mock.formats.base import Call, Route
from llm_mock.formats.ollama import Ollama
from llm_mock.replies import ErrorReply, ReplyObject, ToolCall, build_completion
from llm_mock.request import RequestError

ADAPTER = Ollama()
CHAT, GENERATE = Route("POST", "/api/chat"), Route("POST", "/api/generate", options={"generate": True})


def parse(body: dict, route=CHAT):
    return ADAPTER.parse(body, Call("POST", route.pattern, {}, {}, {}, b"", None, route, route.pattern))


def test_chat_parse():
    request = parse({"model": "qwen3", "messages": [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "hi", "images": ["iVBORw=="]},
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]},
        {"role": "tool", "content": "42", "tool_name": "f", "tool_call_id": "t1"}],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}],
        "options": {"num_predict": -1}, "think": "low", "format": "json"})
    assert (request.format, request.model, request.stream, request.max_tokens) == ("ollama", "qwen3", True, None)
    assert [(m.role, m.content) for m in request.messages] == [("system", "sys"), ("user", "hi"),
                                                              ("assistant", ""), ("tool", "42")]
    assert request.last_tool_call_id == "t1" and request.tool_names == ("f",) and request.system_message == "sys"


def test_generate_parse():
    request = parse({"model": "m", "prompt": "p", "system": "s", "stream": False, "options": {"num_predict": 9}},
                    GENERATE)
    assert [(m.role, m.content) for m in request.messages] == [("system", "s"), ("user", "p")]
    assert (request.stream, request.max_tokens, request.tools) == (False, 9, [])


@pytest.mark.parametrize("body", [{}, {"model": ""}, {"model": "m", "think": "max"},
                                  {"model": "m", "messages": [{"role": "user", "content": 5}]},
                                  {"model": "m", "options": []}])
def test_parse_errors(body):
    with pytest.raises(RequestError) as caught:
        parse(body)
    assert caught.value.status == 400 and caught.value.message


def render(body: dict, reply: ReplyObject, route=CHAT, chunk_size=0):
    request = parse(body, route)
    completion = build_completion(request, reply, chunk_size)
    return request, completion


def test_frames_are_lines_with_counts():
    request, c = render({"model": "m", "messages": [{"role": "user", "content": "x"}]},
                        ReplyObject(text="abcd", reasoning="rr", tools=[ToolCall("f", {"a": 1})]), chunk_size=2)
    frames = ADAPTER.render_events(request, c).frames
    assert all(f.data.endswith(b"\n") and f.data.count(b"\n") == 1 for f in frames)
    objects = [json.loads(f.data) for f in frames]
    assert [o["message"].get("thinking") for o in objects] == ["rr", None, None, None, None]
    assert [o["message"]["content"] for o in objects] == ["", "ab", "cd", "", ""]
    assert objects[3]["message"]["tool_calls"][0]["function"] == {"index": 0, "name": "f", "arguments": {"a": 1}}
    assert [f.chars for f in frames] == [2, 2, 2, 0, 0]
    final = objects[-1]
    assert final["done"] and final["eval_count"] == c.output_tokens and final["prompt_eval_count"] == c.input_tokens
    assert final["total_duration"] == final["load_duration"] + final["prompt_eval_duration"] + final["eval_duration"]


def test_generate_json_and_length():
    request, c = render({"model": "m", "prompt": "x", "options": {"num_predict": 1}}, ReplyObject(text="abcdefgh"),
                        GENERATE)
    answer = ADAPTER.render_json(request, c)
    assert (answer["response"], answer["done_reason"], answer["eval_count"]) == ("abcd", "length", 1)
    assert "message" not in answer and answer["context"]


def test_errors():
    assert ADAPTER.render_error(ErrorReply(404, "model 'x' not found"), "") == {"error": "model 'x' not found"}
    assert ADAPTER.render_error(ErrorReply(503), "")["error"].startswith("server busy")
    [line] = ADAPTER.inband_error(None, 3, None, "error")
    assert json.loads(line.data) == {"error": "internal server error"} and line.data.endswith(b"\n")
