"""Anthropic on Vertex AI through the anthropic SDK's `AnthropicVertex` (an access token, a region and a
project): rawPredict, streamRawPredict, count-tokens, and both error shapes a Vertex client meets."""
from __future__ import annotations

import json

import anthropic
import pytest

from llm_mock import ErrorReply, Fault, MockServer, ReplyObject, ToolCall

MODEL = "claude-sonnet-4-5@20250929"
USER = [{"role": "user", "content": "hello vertex"}]
PREFIX = "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/"


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def vertex(server):
    return anthropic.AnthropicVertex(base_url=server.url + "/v1", region="us-east5", project_id="my-project",
                                     access_token="ya29.mock-token", max_retries=0,
                                     _strict_response_validation=True)


def test_text(server, vertex):
    server.when("hello vertex").reply("Hi from Vertex")
    message = vertex.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert message.content[0].text == "Hi from Vertex"
    assert message.model == MODEL and message.id.startswith("msg_vrtx_01")
    assert message._request_id.startswith("req_vrtx_011")
    entry = server.history.last()
    assert entry.path == PREFIX + MODEL + ":rawPredict"
    assert (entry.format, entry.transport, entry.model, entry.stream) == ("anthropic", "vertex", MODEL, False)
    assert entry.headers["authorization"] == "Bearer ya29.mock-token"
    assert "anthropic_version" in json.loads(entry.body)


def test_stream(server, vertex):
    server.when("hello").reply("Streamed by Vertex", chunk_size=4)
    events = list(vertex.messages.create(model=MODEL, max_tokens=100, messages=USER, stream=True))
    assert [e.type for e in events][:2] == ["message_start", "content_block_start"]
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == "Streamed by Vertex"
    assert server.history.last().path == PREFIX + MODEL + ":streamRawPredict"
    with vertex.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        assert stream.get_final_text() == "Streamed by Vertex"


def test_tool_use_and_thinking(server, vertex):
    server.when({"tool_name": "lookup"}).reply(ReplyObject(
        reasoning="Look it up first.", tools=[ToolCall("lookup", {"q": "llm_mock"}, id="toolu_01vertex")]))
    tools = [{"name": "lookup", "description": "search", "input_schema": {"type": "object"}}]
    message = vertex.messages.create(model=MODEL, max_tokens=1000, messages=USER, tools=tools,
                                     thinking={"type": "enabled", "budget_tokens": 500})
    assert [b.type for b in message.content] == ["thinking", "tool_use"]
    assert message.content[1].input == {"q": "llm_mock"} and message.stop_reason == "tool_use"
    with vertex.messages.stream(model=MODEL, max_tokens=1000, messages=USER, tools=tools) as stream:
        final = stream.get_final_message()
    assert final.content[0].thinking == "Look it up first." and final.content[1].id == "toolu_01vertex"


def test_count_tokens(server, vertex):
    counted = vertex.messages.count_tokens(model=MODEL, messages=USER)
    assert server.history.last().path == PREFIX + "count-tokens:rawPredict"
    server.fallback("x")
    assert counted.input_tokens == vertex.messages.create(model=MODEL, max_tokens=5, messages=USER).usage.input_tokens


@pytest.mark.parametrize("status, error_class, google_status", [
    (403, anthropic.PermissionDeniedError, "PERMISSION_DENIED"),
    (404, anthropic.NotFoundError, "NOT_FOUND"),
    (429, anthropic.RateLimitError, "RESOURCE_EXHAUSTED"),
    (500, anthropic.InternalServerError, "INTERNAL"),
    (503, anthropic.ServiceUnavailableError, "UNAVAILABLE"),
])
def test_platform_errors_in_google_shape(server, vertex, status, error_class, google_status):
    server.next_error(status, "refused by the mock")
    with pytest.raises(error_class) as raised:
        vertex.messages.create(model=MODEL, max_tokens=10, messages=USER)
    assert raised.value.body == {"error": {"code": status, "message": "refused by the mock", "status": google_status}}


def test_refused_body_in_anthropic_shape(server, vertex):
    with pytest.raises(anthropic.BadRequestError) as raised:
        vertex.messages.create(model=MODEL, max_tokens=0, messages=USER)
    assert raised.value.body["type"] == "error"
    assert raised.value.body["error"]["type"] == "invalid_request_error"
    assert raised.value.body["request_id"].startswith("req_vrtx_011")


def test_overloaded_in_stream_and_over_http(server, vertex):
    server.when("hello").reply(ReplyObject(text="A longer answer", fault=Fault("error", after_events=3)))
    with pytest.raises(anthropic.APIStatusError) as in_band:
        list(vertex.messages.create(model=MODEL, max_tokens=100, messages=USER, stream=True))
    assert in_band.value.body["error"]["type"] == "overloaded_error"
    server.reset()
    server.when("hello").reply(ErrorReply.overloaded())
    with pytest.raises(anthropic.OverloadedError) as raised:
        vertex.messages.create(model=MODEL, max_tokens=10, messages=USER)
    assert raised.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_unknown_route_is_a_google_404(server, vertex):
    with pytest.raises(anthropic.NotFoundError) as raised:  # Claude on Vertex takes raw predictions only
        vertex.post("/projects/my-project/locations/us-east5/publishers/anthropic/models/x:predict",
                    cast_to=object, body={})
    assert raised.value.body["error"]["status"] == "NOT_FOUND" and raised.value.body["error"]["code"] == 404


def test_rules_see_the_anthropic_format(server, vertex):
    server.when({"format": "anthropic", "model": "sonnet"}).reply("one rule for every Claude route")
    assert vertex.messages.create(model=MODEL, max_tokens=10, messages=USER).content[0].text.startswith("one rule")
