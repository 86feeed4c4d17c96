"""The Ollama routes over raw HTTP: streaming by default, the NDJSON bytes, the probes clients make
(`HEAD /`, `/api/version`), the `{"error": …}` shape and failures inside a stream."""
from __future__ import annotations

import http.client
import json

import pytest

from llm_mock import ErrorReply, Fault, MockServer, ReplyObject, ToolCall

HELLO = {"model": "llama3.2", "messages": [{"role": "user", "content": "hello"}]}
FINAL_KEYS = {"model", "created_at", "message", "done", "done_reason", "total_duration", "load_duration",
              "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"}


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def call(server, method: str, path: str, body=None) -> tuple:
    """(status, headers, body bytes) of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        connection.request(method, path, body=data, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def lines(body: bytes) -> list:
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.split(b"\n")[:-1]]


def test_streaming_is_the_default(server):
    server.when("hello").reply("Hello world", chunk_size=6)
    status, headers, body = call(server, "POST", "/api/chat", HELLO)
    assert status == 200 and headers["content-type"] == "application/x-ndjson"
    objects = lines(body)
    assert [o["message"]["content"] for o in objects] == ["Hello ", "world", ""]
    assert [o["done"] for o in objects] == [False, False, True]
    assert set(objects[-1]) == FINAL_KEYS and objects[-1]["done_reason"] == "stop"
    assert all(set(o) == {"model", "created_at", "message", "done"} for o in objects[:-1])


def test_stream_false_is_one_object(server):
    server.when("hello").reply(ReplyObject(text="Hi", tools=[ToolCall("f", {"x": 1}, "call_1")]))
    status, headers, body = call(server, "POST", "/api/chat", {**HELLO, "stream": False})
    assert status == 200 and headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert set(answer) == FINAL_KEYS and answer["done"] is True
    assert answer["message"] == {"role": "assistant", "content": "Hi", "tool_calls": [
        {"id": "call_1", "function": {"index": 0, "name": "f", "arguments": {"x": 1}}}]}


def test_generate_stream_and_final_context(server):
    server.when("hello").reply("abcdef", chunk_size=3)
    status, _, body = call(server, "POST", "/api/generate", {"model": "llama3.2", "prompt": "hello"})
    objects = lines(body)
    assert status == 200 and [o["response"] for o in objects] == ["abc", "def", ""]
    assert objects[-1]["done"] and isinstance(objects[-1]["context"], list) and "message" not in objects[-1]


def test_loading_a_model(server):
    _, _, chat = call(server, "POST", "/api/chat", {"model": "llama3.2", "messages": []})
    _, _, generate = call(server, "POST", "/api/generate", {"model": "llama3.2", "stream": False})
    [loaded] = lines(chat)
    assert loaded["done_reason"] == "load" and loaded["message"] == {"role": "assistant", "content": ""}
    assert json.loads(generate)["done_reason"] == "load" and json.loads(generate)["response"] == ""


def test_tool_results_take_the_id_of_their_call(server):
    call(server, "POST", "/api/chat", {"model": "m", "stream": False, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {}}},
                                             {"id": "c2", "function": {"name": "f", "arguments": {}}}]},
        {"role": "tool", "content": "one", "tool_name": "f"},
        {"role": "tool", "content": "two", "tool_name": "f"}]})
    request = server.history.last().request
    assert [(m.role, m.tool_call_id) for m in request.messages] == [
        ("user", None), ("assistant", None), ("tool", "c1"), ("tool", "c2")]


def test_probes(server):
    status, headers, body = call(server, "GET", "/")
    assert (status, body) == (200, b"Ollama is running") and headers["content-type"].startswith("text/plain")
    status, headers, body = call(server, "HEAD", "/")
    assert status == 200 and body == b"" and headers["content-length"] == "17"
    status, _, body = call(server, "GET", "/api/version")
    assert status == 200 and json.loads(body)["version"].count(".") == 2
    status, _, body = call(server, "HEAD", "/api/tags")
    assert status == 200 and body == b""


@pytest.mark.parametrize("body, status, message", [
    ({"messages": []}, 400, "model is required"),
    ({**HELLO, "stream": "yes"}, 400, "cannot unmarshal string"),
    ({**HELLO, "messages": "hello"}, 400, "ChatRequest.messages"),
    ({**HELLO, "messages": [{"role": "robot", "content": "x"}]}, 400, "invalid message role"),
    ({**HELLO, "format": 3}, 400, "invalid format"),
    ({**HELLO, "options": {"num_predict": "lots"}}, 400, "num_predict"),
    ({**HELLO, "tools": [{"type": "function"}]}, 400, "invalid tool"),
])
def test_bad_requests(server, body, status, message):
    got, _, raw = call(server, "POST", "/api/chat", body)
    error = json.loads(raw)
    assert got == status and list(error) == ["error"] and message in error["error"]


def test_error_shape_on_every_failure(server):
    status, _, raw = call(server, "POST", "/api/chat", b"{not json")
    assert status == 400 and list(json.loads(raw)) == ["error"]
    status, _, raw = call(server, "POST", "/api/create", {"model": "x"})
    assert status == 404 and list(json.loads(raw)) == ["error"]
    status, headers, raw = call(server, "GET", "/api/chat")
    assert status == 405 and "POST" in headers["allow"] and list(json.loads(raw)) == ["error"]
    server.when("hello").reply(ErrorReply(429, "slow down"))
    status, _, raw = call(server, "POST", "/api/chat", HELLO)
    assert (status, json.loads(raw)) == (429, {"error": "slow down"})


def test_inband_error_line_and_malformed_line(server):
    server.when("hello").reply(ReplyObject(text="abcdef", fault=Fault("error", after_events=1)), chunk_size=3)
    server.when("bad").reply(ReplyObject(text="abcdef", fault=Fault("malformed", after_events=1)), chunk_size=3)
    status, _, body = call(server, "POST", "/api/chat", HELLO)
    objects = lines(body)
    assert status == 200 and objects[0]["message"]["content"] == "abc" and objects[1] == {"error": objects[1]["error"]}
    assert len(objects) == 2
    _, _, body = call(server, "POST", "/api/chat", {**HELLO, "messages": [{"role": "user", "content": "bad"}]})
    raw = body.split(b"\n")
    with pytest.raises(ValueError):
        json.loads(raw[1])
    assert json.loads(raw[-2])["done"] is True  # the stream goes on after the bad line
