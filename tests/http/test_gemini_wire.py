"""The Gemini routes byte for byte over raw HTTP: both stream framings, both field spellings, the
`?key=` form, Google's error envelope, header-routed model listings and faults on a JSON array.
Every answer is checked against the google-genai SDK's own models (unknown fields forbidden)."""
from __future__ import annotations

import http.client
import io
import json
import time

import pytest
from google.genai import types

from llm_mock import ErrorReply, Fault, MockServer, ReplyObject, ToolCall

BASE = "/v1beta/models/gemini-2.5-flash"
HELLO = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def call(server, method: str, path: str, body=None, headers=None) -> tuple:
    """(status, headers, body bytes) of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        connection.request(method, path, body=data, headers={"content-type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def strict(payload: dict) -> types.GenerateContentResponse:
    """The payload as the SDK's response model, refusing any field the SDK does not know."""
    return types.GenerateContentResponse.model_validate(payload)


def test_json_answer_is_a_strict_response(server):
    server.when("hello").reply(ReplyObject(text="Hi!", reasoning="hmm", tools=[ToolCall("f", {"a": 1}, "id1")]))
    status, headers, body = call(server, "POST", BASE + ":generateContent", {
        **HELLO, "generationConfig": {"thinkingConfig": {"includeThoughts": True}}})
    assert status == 200 and headers["content-type"].startswith("application/json")
    data = json.loads(body)
    response = strict(data)
    parts = data["candidates"][0]["content"]["parts"]
    assert [list(p) for p in parts] == [["text", "thought", "thoughtSignature"], ["text"],
                                        ["functionCall", "thoughtSignature"]]
    assert parts[2]["functionCall"] == {"name": "f", "args": {"a": 1}, "id": "id1"}
    assert response.candidates[0].finish_reason == "STOP"
    assert set(data["usageMetadata"]) == {"promptTokenCount", "candidatesTokenCount", "totalTokenCount",
                                          "promptTokensDetails", "thoughtsTokenCount"}


def test_sse_stream_bytes(server):
    server.when("hello").reply("Hello world", chunk_size=6)
    status, headers, body = call(server, "POST", BASE + ":streamGenerateContent?alt=sse", HELLO)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = body.split(b"\r\n\r\n")
    assert events[-1] == b"" and all(e.startswith(b"data: {") and b"\n" not in e for e in events[:-1])
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert [strict(c).text for c in chunks] == ["Hello ", "world"]
    assert "finishReason" not in chunks[0]["candidates"][0] and chunks[1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[0]["usageMetadata"] == {"promptTokenCount": chunks[1]["usageMetadata"]["promptTokenCount"],
                                          "totalTokenCount": chunks[1]["usageMetadata"]["promptTokenCount"]}


def test_json_array_stream(server):
    server.when("hello").reply("Hello world, in three", chunk_size=8)
    status, headers, body = call(server, "POST", BASE + ":streamGenerateContent", HELLO)
    assert status == 200 and headers["content-type"] == "application/json; charset=UTF-8"
    assert headers["transfer-encoding"] == "chunked"
    assert body.startswith(b'[{"candidates"') and body.endswith(b"}]") and body.count(b"}},\r\n{") == 0
    assert body.count(b",\r\n{") == 2
    chunks = json.loads(body)
    assert "".join(strict(c).text for c in chunks) == "Hello world, in three"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("framing", ["?alt=sse", ""])
def test_inband_error_and_truncation_in_both_framings(server, framing):
    server.when("hello").reply(ReplyObject(text="abcdefghij", fault=Fault("error", after_events=1,
                                                                          error=ErrorReply(429))), chunk_size=3)
    server.when("cut").reply(ReplyObject(text="abcdefghij", fault=Fault("truncate", after_events=2)), chunk_size=3)
    server.when("zero").reply(ReplyObject(text="abcdefghij", fault=Fault("error", after_events=0)), chunk_size=3)
    path = BASE + ":streamGenerateContent" + framing
    _, _, errored = call(server, "POST", path, HELLO)
    _, _, cut = call(server, "POST", path, {"contents": [{"parts": [{"text": "cut"}]}]})
    _, _, first = call(server, "POST", path, {"contents": [{"parts": [{"text": "zero"}]}]})
    if framing:
        errored_chunks = [json.loads(e[6:]) for e in errored.split(b"\r\n\r\n") if e]
        cut_chunks = [json.loads(e[6:]) for e in cut.split(b"\r\n\r\n") if e]
        first_chunks = [json.loads(e[6:]) for e in first.split(b"\r\n\r\n") if e]
    else:
        errored_chunks, cut_chunks, first_chunks = json.loads(errored), json.loads(cut), json.loads(first)
    assert strict(errored_chunks[0]).text == "abc"
    assert errored_chunks[1] == {"error": {"code": 429, "message": errored_chunks[1]["error"]["message"],
                                           "status": "RESOURCE_EXHAUSTED", "details": []}}
    assert [strict(c).text for c in cut_chunks] == ["abc", "def"]
    assert all("finishReason" not in c["candidates"][0] for c in cut_chunks)
    assert first_chunks == [{"error": {"code": 500, "message": first_chunks[0]["error"]["message"],
                                       "status": "INTERNAL", "details": []}}]


def test_snake_case_fields_and_the_key_query(server):
    server.log.level, server.log.priority, server.log.stream = "info", 3, io.StringIO()
    server.when({"message": "hello", "system": "terse"}).reply("word " * 50)
    status, _, body = call(server, "POST", BASE + ":generateContent?key=SECRET-KEY-123", {
        "contents": [{"role": "user", "parts": [{"text": "hello"},
                                                 {"inline_data": {"mime_type": "image/png", "data": "iVBORw=="}}]}],
        "system_instruction": {"parts": [{"text": "Be terse."}]},
        "generation_config": {"max_output_tokens": 3, "candidate_count": 2},
        "tools": [{"function_declarations": [{"name": "lookup", "parameters_json_schema": {"type": "object"}}]},
                  {"google_search": {}}, {"codeExecution": {}}],
        "tool_config": {"function_calling_config": {"mode": "AUTO"}}})
    assert status == 200
    data = json.loads(body)
    assert [c["finishReason"] for c in data["candidates"]] == ["MAX_TOKENS", "MAX_TOKENS"]
    request = server.history.last().request
    assert (request.max_tokens, request.n, request.system_message) == (3, 2, "Be terse.")
    assert request.tool_names == ("lookup",) and request.server_tool_types == ("googleSearch", "codeExecution")
    assert request.tools[0].parameters == {"type": "object"}
    deadline = time.monotonic() + 5  # the access line is written just after the answer
    while ":generateContent" not in server.log.stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    log = server.log.stream.getvalue()
    assert ":generateContent?key=***" in log and "SECRET-KEY-123" not in log


@pytest.mark.parametrize("body, message", [
    ({}, "contents is not specified"),
    ({"contents": "hi"}, "Invalid value at 'contents'"),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "valid role"),
    ({"contents": [{"role": "user", "parts": []}]}, "parts must not be empty"),
    ({**HELLO, "generationConfig": {"candidateCount": 9}}, "candidate_count"),
    ({**HELLO, "generationConfig": {"maxOutputTokens": "many"}}, "max_output_tokens"),
    ({**HELLO, "tools": [{"functionDeclarations": [{"description": "no name"}]}]}, "Name cannot be empty"),
])
def test_bad_requests(server, body, message):
    status, _, raw = call(server, "POST", BASE + ":generateContent", body)
    error = json.loads(raw)["error"]
    assert status == 400 and error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"] and isinstance(error["details"], list)


def test_not_json_and_unknown_routes(server):
    status, _, raw = call(server, "POST", BASE + ":generateContent", b"{nope")
    assert status == 400 and json.loads(raw)["error"]["status"] == "INVALID_ARGUMENT"
    status, _, raw = call(server, "POST", "/v1beta/cachedContents?key=abc")
    error = json.loads(raw)["error"]
    assert (status, error["status"]) == (404, "NOT_FOUND") and "abc" not in error["message"]
    status, _, raw = call(server, "GET", BASE + ":generateContent")
    assert status == 404 and json.loads(raw)["error"]["status"] == "NOT_FOUND"
    status, headers, raw = call(server, "GET", "/v1beta/modelz/gemini-2.5-flash")
    assert status == 404 and "error" in json.loads(raw) and json.loads(raw)["error"]["code"] == 404


def test_shared_v1_models_listing_follows_the_headers(server):
    _, _, gemini = call(server, "GET", "/v1/models", headers={"x-goog-api-key": "k"})
    _, _, openai = call(server, "GET", "/v1/models")
    assert json.loads(gemini)["models"][0]["name"].startswith("models/gemini")
    assert json.loads(openai)["object"] == "list"
    _, _, one = call(server, "GET", "/v1/models/gemini-2.5-pro", headers={"x-goog-api-client": "google-genai-sdk"})
    assert json.loads(one)["name"] == "models/gemini-2.5-pro"
    _, _, beta = call(server, "GET", "/v1beta/models?pageSize=2")
    page = json.loads(beta)
    assert len(page["models"]) == 2 and page["nextPageToken"] == "2"


def test_embed_content_and_count_tokens_shapes(server):
    status, _, raw = call(server, "POST", "/v1beta/models/gemini-embedding-001:embedContent",
                          {"content": {"parts": [{"text": "a cat"}]}, "outputDimensionality": 8})
    values = json.loads(raw)["embedding"]["values"]
    assert status == 200 and len(values) == 8 and abs(sum(v * v for v in values) - 1) < 1e-6
    status, _, raw = call(server, "POST", "/v1beta/models/gemini-embedding-001:batchEmbedContents",
                          {"requests": [{"content": {"parts": [{"text": "a cat"}]}, "output_dimensionality": 8}]})
    assert status == 200 and json.loads(raw)["embeddings"][0]["values"] == values
    status, _, raw = call(server, "POST", "/v1beta/models/gemini-embedding-001:embedContent",
                          {"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 0})
    assert status == 400 and "output_dimensionality" in json.loads(raw)["error"]["message"]
    status, _, raw = call(server, "POST", BASE + ":countTokens", {"generateContentRequest": {
        "model": "models/gemini-2.5-flash", **HELLO}})
    counted = json.loads(raw)
    assert status == 200 and counted["totalTokens"] == counted["promptTokensDetails"][0]["tokenCount"] > 0
