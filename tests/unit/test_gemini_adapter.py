"""The Gemini adapter as pure functions: parse (both spellings), render (JSON, both stream framings),
errors. No socket."""
from __future__ import annotations

import json

import pytest

from llm_mock.formats.base import Call, Events, Route
from llm_mock.formats.gemini import Gemini, google_error
from llm_mock.replies import ErrorReply, ReplyObject, ToolCall, build_completion
from llm_mock.request import RequestError

ADAPTER = Gemini()
STREAM = Route("POST", "/v1beta/models/{model}:streamGenerateContent", options={"stream": True})


def parse(body: dict, target: str = "/v1beta/models/gemini-2.5-flash:generateContent", route=None):
    path = target.partition("?")[0]
    return ADAPTER.parse(body, Call("POST", path, {"model": "gemini-2.5-flash"}, {}, {}, b"", None,
                                    route or Route("POST", path), target))


def test_camel_and_snake_case_read_alike():
    camel = parse({"systemInstruction": {"parts": [{"text": "sys"}]},
                   "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                   "generationConfig": {"maxOutputTokens": 7, "candidateCount": 3},
                   "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object"}}]},
                             {"googleSearch": {}}]})
    snake = parse({"system_instruction": {"parts": [{"text": "sys"}]},
                   "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                   "generation_config": {"max_output_tokens": 7, "candidate_count": 3},
                   "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {"type": "object"}}]},
                             {"google_search": {}}]})
    for request in (camel, snake):
        assert (request.format, request.model, request.stream) == ("gemini", "gemini-2.5-flash", False)
        assert (request.system_message, request.last_message, request.max_tokens, request.n) == ("sys", "hi", 7, 3)
        assert request.tool_names == ("f",) and request.server_tool_types == ("googleSearch",)
    assert camel.input_tokens == snake.input_tokens


def test_function_responses_are_tool_turns_with_the_ids_of_their_calls():
    request = parse({"contents": [
        {"role": "user", "parts": [{"text": "two cities"}]},
        {"role": "model", "parts": [{"thought": True, "text": "hidden"},
                                    {"functionCall": {"name": "w", "args": {"c": "A"}, "id": "a1"}},
                                    {"functionCall": {"name": "w", "args": {"c": "B"}, "id": "b2"}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"r": 1}}},
                                   {"functionResponse": {"name": "w", "response": {"r": 2}}}]}]})
    assert [(m.role, m.content, m.tool_call_id) for m in request.messages] == [
        ("user", "two cities", None), ("assistant", "", None),
        ("tool", '{"r":1}', "a1"), ("tool", '{"r":2}', "b2")]
    assert request.last_message == "two cities" and request.last_tool_call_id == "b2"
    explicit = parse({"contents": [{"parts": [{"functionResponse": {"name": "w", "id": "x9", "response": {}}}]}]})
    assert explicit.last_tool_call_id == "x9"


def test_parse_errors_name_the_field():
    with pytest.raises(RequestError) as caught:
        parse({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": "2"}})
    assert caught.value.param == "generation_config.candidate_count" and caught.value.status == 400


def completion(request, reply, chunk_size=0):
    return build_completion(request, reply, chunk_size)


def test_stream_frames_in_the_sse_framing():
    request = parse({"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"candidateCount": 2}},
                    "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", STREAM)
    assert request.stream
    events = ADAPTER.render_events(request, completion(request, ReplyObject(text="abcdef"), 4))
    chunks = [json.loads(f.data[6:]) for f in events.frames]
    assert all(f.data.startswith(b"data: ") and f.data.endswith(b"}\r\n\r\n") for f in events.frames)
    assert [(c["candidates"][0]["index"], c["candidates"][0].get("finishReason")) for c in chunks] == [
        (0, None), (0, "STOP"), (1, None), (1, "STOP")]
    assert ["candidatesTokenCount" in c["usageMetadata"] for c in chunks] == [False, False, False, True]
    assert [f.chars for f in events.frames] == [4, 2, 4, 2]


def test_stream_frames_in_the_json_array_framing():
    request = parse({"contents": [{"parts": [{"text": "hi"}]}]},
                    "/v1beta/models/gemini-2.5-flash:streamGenerateContent", STREAM)
    framing = ADAPTER.framing_for(request)
    events = ADAPTER.render_events(request, completion(request, ReplyObject(text="abcdef"), 2))
    body = framing.opening + b"".join(f.data for f in events.frames) + framing.terminator
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in json.loads(body)] == ["ab", "cd", "ef"]
    assert not events.frames[0].data.startswith(b",") and events.frames[1].data.startswith(b",\r\n{")
    first_error = ADAPTER.inband_error(events, 0, ErrorReply(503), "error")
    assert json.loads(b"[" + b"".join(f.data for f in first_error)) == [google_error(ErrorReply(503))]
    later = ADAPTER.inband_error(events, 1, None, "error")
    assert json.loads(b"[" + events.frames[0].data + b"".join(f.data for f in later))[1]["error"]["code"] == 500
    assert ADAPTER.early_end(events, 1)[0].data == b"]" and ADAPTER.early_end(Events([], context=False), 1) == []


def test_thought_signature_placement():
    include = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"thinkingConfig": {
        "include_thoughts": True}}}
    plain = {"contents": [{"parts": [{"text": "hi"}]}]}
    thought = ReplyObject(text="t", reasoning="r")
    call = ReplyObject(reasoning="r", tools=[ToolCall("f", {}), ToolCall("g", {})])
    shapes = {}
    for name, body, reply in (("shown", include, thought), ("hidden", plain, thought), ("call", plain, call)):
        request = parse(body)
        parts = ADAPTER.render_json(request, completion(request, reply))["candidates"][0]["content"]["parts"]
        shapes[name] = [sorted(p) for p in parts]
    assert shapes == {"shown": [["text", "thought", "thoughtSignature"], ["text"]],
                      "hidden": [["text", "thoughtSignature"]],
                      "call": [["functionCall", "thoughtSignature"], ["functionCall"]]}


@pytest.mark.parametrize("status, name", [(400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"),
                                          (403, "PERMISSION_DENIED"), (404, "NOT_FOUND"),
                                          (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE"),
                                          (504, "DEADLINE_EXCEEDED"), (418, "INVALID_ARGUMENT"), (502, "INTERNAL")])
def test_status_names(status, name):
    body = ADAPTER.render_error(ErrorReply(status), "req")
    assert body["error"]["code"] == status and body["error"]["status"] == name and body["error"]["message"]
    assert body["error"]["details"] == []


def test_error_details_and_explicit_status():
    body = google_error(ErrorReply(400, "bad", type="FAILED_PRECONDITION", param="contents", retry_after=2.5))
    assert body["error"]["status"] == "FAILED_PRECONDITION"
    assert [d["@type"].rsplit(".", 1)[1] for d in body["error"]["details"]] == ["BadRequest", "RetryInfo"]
    assert body["error"]["details"][1]["retryDelay"] == "2.5s"
    assert google_error(ErrorReply(400, type="invalid_request_error"))["error"]["status"] == "INVALID_ARGUMENT"
