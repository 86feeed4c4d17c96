"""Socket-free tests of the cloud transports: the AWS event-stream encoder (checked by a decoder written
here and by botocore's), and the Bedrock, Vertex and Azure adapters' parse and render as pure functions."""
from __future__ import annotations

import base64
import json
import struct
import zlib

import pytest

from llm_mock import formats
from llm_mock.faults import apply_fault
from llm_mock.formats.anthropic import Messages
from llm_mock.formats.azure import AzureChatCompletions, AzureResponses
from llm_mock.formats.base import Call, Route
from llm_mock.formats.bedrock import BedrockMessages
from llm_mock.formats.vertex import VertexMessages
from llm_mock.framing import EventStream, event_stream_headers, event_stream_message
from llm_mock.replies import ErrorReply, Fault, ToolCall, build_completion, normalise_reply
from llm_mock.request import RequestError

BEDROCK, VERTEX = BedrockMessages(), VertexMessages()
AZURE_CHAT, AZURE_RESPONSES = AzureChatCompletions(), AzureResponses()
MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "messages": [{"role": "user", "content": "hello cloud"}]}


# -- a small event-stream decoder, independent of the encoder ------------------------------------------
def decode(data: bytes) -> list:
    """(headers dict, payload bytes) of each message; asserts lengths and both CRCs."""
    messages, at = [], 0
    while at < len(data):
        total, header_length, prelude_crc = struct.unpack("!III", data[at:at + 12])
        assert prelude_crc == zlib.crc32(data[at:at + 8]), "prelude CRC"
        message = data[at:at + total]
        assert len(message) == total, "message cut short"
        assert struct.unpack("!I", message[-4:])[0] == zlib.crc32(message[:-4]), "message CRC"
        headers, pos = {}, 12
        while pos < 12 + header_length:
            name_length = message[pos]
            name = message[pos + 1:pos + 1 + name_length].decode()
            pos += 1 + name_length
            assert message[pos] == 7, "string header"
            (value_length,) = struct.unpack("!H", message[pos + 1:pos + 3])
            headers[name] = message[pos + 3:pos + 3 + value_length].decode()
            pos += 3 + value_length
        assert pos == 12 + header_length
        messages.append((headers, message[12 + header_length:-4]))
        at += total
    return messages


def events_of(frames: list) -> list:
    """The Anthropic events carried by `chunk` messages (other messages as (headers, payload))."""
    out = []
    for headers, payload in decode(b"".join(frame.data for frame in frames)):
        if headers.get(":event-type") == "chunk":
            out.append(json.loads(base64.b64decode(json.loads(payload)["bytes"])))
        else:
            out.append((headers, json.loads(payload)))
    return out


def call(path: str, params: dict, route: Route, query: dict | None = None) -> Call:
    return Call("POST", path, params, query or {}, {}, b"", None, route, path)


def bedrock_call(stream: bool) -> Call:
    route = BEDROCK.routes[1 if stream else 0]
    return call(f"/model/{MODEL_ID}/invoke", {"model": MODEL_ID}, route)


def completion(request, reply, fault=None):
    return build_completion(request, normalise_reply(reply), 5, fault)


# -- the encoder ----------------------------------------------------------------------------------
def test_chunk_message_matches_the_worked_example():
    """dialects §4.3: the `message_stop` chunk is 135 bytes, prelude CRC 0x87ea2bf3, message CRC 0xba48ab22."""
    data = EventStream.chunk(b'{"type":"message_stop"}').data
    assert len(data) == 135
    assert data[:12] == bytes.fromhex("000000870000004b87ea2bf3")
    assert data[-4:] == bytes.fromhex("ba48ab22")
    [(headers, payload)] = decode(data)
    assert headers == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    assert payload == b'{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="}'


def test_exception_message_headers_and_payload():
    [(headers, payload)] = decode(EventStream.exception("modelStreamErrorException", {"message": "boom"}).data)
    assert headers == {":exception-type": "modelStreamErrorException", ":content-type": "application/json",
                       ":message-type": "exception"}
    assert json.loads(payload) == {"message": "boom"}


def test_round_trip_of_unicode_and_large_payloads():
    event = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "héllo ✓ " * 4000}}
    frame = EventStream().frame(event, chars=7)
    assert frame.chars == 7
    assert events_of([frame]) == [event]


def test_a_flipped_byte_breaks_the_crc():
    data = bytearray(EventStream.chunk(b'{"type":"ping"}').data)
    data[30] ^= 1
    with pytest.raises(AssertionError, match="CRC"):
        decode(bytes(data))


def test_header_limits():
    with pytest.raises(ValueError):
        event_stream_headers((("x" * 256, "v"),))
    with pytest.raises(ValueError):
        event_stream_headers((("name", "v" * 70000),))
    empty = event_stream_message(b"", b"")
    assert len(empty) == 16 and decode(empty) == [({}, b"")]


def test_malformed_frame_is_well_framed_with_cut_off_json():
    [(headers, payload)] = decode(EventStream().malformed)
    assert headers[":event-type"] == "chunk"
    with pytest.raises(ValueError):
        json.loads(base64.b64decode(json.loads(payload)["bytes"]))


def test_botocore_decodes_the_messages():
    eventstream = pytest.importorskip("botocore.eventstream")
    frames = [EventStream.chunk(b'{"type":"message_stop"}'),
              EventStream.exception("throttlingException", {"message": "slow"})]
    buffer = eventstream.EventStreamBuffer()
    data = b"".join(f.data for f in frames)
    for at in range(0, len(data), 10):  # split arbitrarily, as HTTP chunks may
        buffer.add_data(data[at:at + 10])
    decoded = list(buffer)
    assert [m.headers for m in decoded] == [
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"},
        {":exception-type": "throttlingException", ":content-type": "application/json",
         ":message-type": "exception"}]
    assert decoded[0].payload == b'{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="}'


# -- Bedrock --------------------------------------------------------------------------------------
def test_bedrock_parse_takes_the_model_from_the_path_and_the_stream_from_the_route():
    request = BEDROCK.parse(dict(BODY), bedrock_call(stream=True))
    assert (request.format, request.transport, request.model, request.stream) == (
        "anthropic", "bedrock", MODEL_ID, True)
    assert request.last_message == "hello cloud"
    assert BEDROCK.parse(dict(BODY), bedrock_call(stream=False)).stream is False


@pytest.mark.parametrize("body, message", [
    ({**BODY, "model": "x"}, "Malformed input request: #: extraneous key [model] is not permitted, please "
                             "reformat your input and try again."),
    ({**BODY, "stream": True}, "#: extraneous key [stream] is not permitted"),
    ({k: v for k, v in BODY.items() if k != "anthropic_version"}, "#: required key [anthropic_version] not found"),
])
def test_bedrock_refuses_first_party_bodies(body, message):
    with pytest.raises(RequestError) as refused:
        BEDROCK.parse(body, bedrock_call(stream=False))
    assert message in refused.value.message
    assert refused.value.status == 400


def test_bedrock_accepts_any_anthropic_version():
    for version in ("bedrock-2023-05-31", "2026-10-21", "anything"):
        assert BEDROCK.parse({**BODY, "anthropic_version": version}, bedrock_call(False)).model == MODEL_ID


def test_bedrock_stream_is_the_messages_events_reframed():
    request = BEDROCK.parse(dict(BODY), bedrock_call(stream=True))
    c = completion(request, {"text": "Hello from Bedrock", "reasoning": "hmm",
                             "tools": [ToolCall("get_weather", {"city": "Paris"})]})
    events = events_of(BEDROCK.render_events(request, c).frames)
    first_party = [json.loads(f.data.split(b"data: ", 1)[1]) for f in Messages().render_events(request, c).frames]
    assert [e["type"] for e in events] == [e["type"] for e in first_party]
    assert events[0]["message"]["id"].startswith("msg_bdrk_01")
    assert events[0]["message"]["model"] == MODEL_ID
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta"
                   and e["delta"]["type"] == "text_delta")
    assert text == "Hello from Bedrock"
    assert events[-1] == {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": c.input_tokens, "outputTokenCount": c.output_tokens,
        "invocationLatency": 0, "firstByteLatency": 0}}


def test_bedrock_json_is_the_message_object():
    request = BEDROCK.parse(dict(BODY), bedrock_call(stream=False))
    body = BEDROCK.render_json(request, completion(request, "Hi"))
    assert body["id"].startswith("msg_bdrk_01") and body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": "Hi"}] and body["model"] == MODEL_ID


@pytest.mark.parametrize("error, name", [
    (ErrorReply(400), "ValidationException"), (ErrorReply(403), "AccessDeniedException"),
    (ErrorReply(404), "ResourceNotFoundException"), (ErrorReply(429), "ThrottlingException"),
    (ErrorReply(500), "InternalServerException"), (ErrorReply(503), "ServiceUnavailableException"),
    (ErrorReply(429, type="ModelNotReadyException"), "ModelNotReadyException"),
    (ErrorReply.overloaded(), "ServiceUnavailableException"),
])
def test_bedrock_error_shape(error, name):
    assert BEDROCK.error_headers(error) == [("x-amzn-errortype",
                                             f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/")]
    body = BEDROCK.render_error(error, "rid")
    assert list(body) == ["message"] and body["message"]
    assert BEDROCK.render_error(ErrorReply(429, "custom"), "rid") == {"message": "custom"}


@pytest.mark.parametrize("error, member, message", [
    (None, "modelStreamErrorException", "The model stream was interrupted. Try your request again."),
    (ErrorReply(429, "slow down"), "throttlingException", "slow down"),
    (ErrorReply(503), "serviceUnavailableException", "Bedrock is unable to process your request."),
    (ErrorReply(403, "no"), "modelStreamErrorException", "no"),  # not a member of the stream's union
])
def test_bedrock_inband_error_is_an_exception_message(error, member, message):
    request = BEDROCK.parse(dict(BODY), bedrock_call(stream=True))
    events = BEDROCK.render_events(request, completion(request, "Hello there, a longer text"))
    cut = apply_fault(BEDROCK, BEDROCK.framing, events, Fault("error", after_events=3, error=error))
    decoded = events_of(cut.frames)
    assert [e["type"] for e in decoded[:3]] == ["message_start", "content_block_start", "ping"]
    headers, body = decoded[3]
    assert headers[":message-type"] == "exception" and headers[":exception-type"] == member
    assert body == {"message": message}
    assert len(decoded) == 4 and cut.end == "body"


def test_bedrock_truncate_and_malformed_keep_the_framing():
    request = BEDROCK.parse(dict(BODY), bedrock_call(stream=True))
    events = BEDROCK.render_events(request, completion(request, "Hello there, a longer text"))
    truncated = events_of(apply_fault(BEDROCK, BEDROCK.framing, events, Fault("truncate", after_events=4)).frames)
    assert [e["type"] for e in truncated][-2:] == ["content_block_delta", "message_stop"]
    assert len(truncated) == 5
    malformed = apply_fault(BEDROCK, BEDROCK.framing, events, Fault("malformed", after_events=2)).frames
    decode(b"".join(f.data for f in malformed))  # every message still well framed
    assert malformed[2].data == BEDROCK.framing.malformed
    assert len(malformed) == len(events.frames) + 1


# -- Vertex ---------------------------------------------------------------------------------------
VERTEX_PATH = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929"


def test_vertex_routes_match_in_order():
    table = formats.table()
    assert table.match("POST", VERTEX_PATH + ":rawPredict").route is VERTEX.routes[1]
    match = table.match("POST", VERTEX_PATH + ":streamRawPredict")
    assert match.route is VERTEX.routes[2] and match.params["model"] == "claude-sonnet-4-5@20250929"
    counting = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict"
    assert table.match("POST", counting).route is VERTEX.routes[0]


def test_vertex_parse():
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    stream = VERTEX.parse(dict(body), call(VERTEX_PATH + ":streamRawPredict", {"model": "claude@1"},
                                           VERTEX.routes[2]))
    assert (stream.model, stream.stream, stream.transport, stream.format) == ("claude@1", True, "vertex", "anthropic")
    plain = VERTEX.parse(dict(body), call(VERTEX_PATH + ":rawPredict", {"model": "claude@1"}, VERTEX.routes[1]))
    assert plain.stream is False
    with pytest.raises(RequestError, match="anthropic_version: Field required"):
        VERTEX.parse({"max_tokens": 10, "messages": []}, call(VERTEX_PATH, {"model": "m"}, VERTEX.routes[1]))


@pytest.mark.parametrize("error, expected", [
    (ErrorReply(429), {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}),
    (ErrorReply(403), {"error": {"code": 403, "status": "PERMISSION_DENIED"}}),
    (ErrorReply(404, "Invalid URL", "invalid_request_error"), {"error": {"code": 404, "status": "NOT_FOUND",
                                                                         "message": "Invalid URL"}}),
    (ErrorReply(500), {"error": {"code": 500, "status": "INTERNAL"}}),
    (ErrorReply(503), {"error": {"code": 503, "status": "UNAVAILABLE"}}),
    (ErrorReply(400, "no", type="FAILED_PRECONDITION"), {"error": {"code": 400, "status": "FAILED_PRECONDITION",
                                                                   "message": "no"}}),
    (ErrorReply(400, "messages: Field required"), {"type": "error", "error": {
        "type": "invalid_request_error", "message": "messages: Field required"}}),
    (ErrorReply.overloaded(), {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
])
def test_vertex_error_shapes(error, expected):
    body = VERTEX.render_error(error, "req_vrtx_011x")
    for key, value in expected.items():
        if isinstance(value, dict):
            assert {k: body[key][k] for k in value} == value
            assert body[key].get("message")
        else:
            assert body[key] == value
    if "type" in expected:
        assert body["request_id"] == "req_vrtx_011x"


# -- Azure ----------------------------------------------------------------------------------------
DEPLOYMENT = "/openai/deployments/my-gpt/chat/completions"
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def test_azure_deployment_is_the_model_unless_the_body_names_one():
    route = AZURE_CHAT.routes[0]
    query = {"api-version": "2024-10-21"}
    assert AZURE_CHAT.parse(dict(CHAT), call(DEPLOYMENT, {"deployment": "my-gpt"}, route, query)).model == "my-gpt"
    named = AZURE_CHAT.parse({**CHAT, "model": "gpt-4o"}, call(DEPLOYMENT, {"deployment": "my-gpt"}, route, query))
    assert (named.model, named.transport, named.format) == ("gpt-4o", "azure", "openai")


def test_azure_deployment_routes_need_api_version():
    with pytest.raises(RequestError) as refused:
        AZURE_CHAT.parse(dict(CHAT), call(DEPLOYMENT, {"deployment": "d"}, AZURE_CHAT.routes[0]))
    assert refused.value.status == 404
    assert AZURE_CHAT.render_error(ErrorReply(404, refused.value.message), "") == {
        "error": {"code": "404", "message": "Resource not found"}}
    with pytest.raises(RequestError):
        AZURE_RESPONSES.parse({"model": "m", "input": "x"}, call("/openai/responses", {}, AZURE_RESPONSES.routes[0]))
    v1 = AZURE_RESPONSES.parse({"model": "m", "input": "x"},
                               call("/openai/v1/responses", {}, AZURE_RESPONSES.routes[1]))
    assert (v1.format, v1.transport) == ("responses", "azure")


def test_azure_errors():
    throttled = AZURE_CHAT.render_error(ErrorReply(429, retry_after=3), "")["error"]
    assert throttled["code"] == "429" and "ChatCompletions_Create" in throttled["message"]
    assert "retry after 3 seconds" in throttled["message"]
    assert AZURE_RESPONSES.render_error(ErrorReply(401), "")["error"]["code"] == "401"
    named = AZURE_CHAT.render_error(ErrorReply(404, "gone", code="DeploymentNotFound"), "")["error"]
    assert (named["code"], named["message"]) == ("DeploymentNotFound", "gone")
    invalid = AZURE_CHAT.render_error(ErrorReply(400, "bad", param="messages"), "")["error"]
    assert invalid == {"message": "bad", "type": "invalid_request_error", "param": "messages", "code": None}


def test_azure_chat_carries_content_filter_results():
    request = AZURE_CHAT.parse({**CHAT, "model": "m"}, call("/openai/v1/chat/completions", {}, AZURE_CHAT.routes[1]))
    c = completion(request, "Hello from Azure")
    body = AZURE_CHAT.render_json(request, c)
    assert body["prompt_filter_results"][0]["content_filter_results"]["hate"] == {"filtered": False,
                                                                                  "severity": "safe"}
    assert body["choices"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    chunks = [json.loads(f.data[6:]) for f in AZURE_CHAT.render_events(request, c).frames]
    assert chunks[0]["choices"] == [] and chunks[0]["prompt_filter_results"]
    assert chunks[1]["choices"][0]["content_filter_results"] == {}  # the role chunk
    texts = [ch for ch in chunks[1:] if ch["choices"] and ch["choices"][0]["delta"].get("content")]
    assert "".join(ch["choices"][0]["delta"]["content"] for ch in texts) == "Hello from Azure"
    assert all(ch["choices"][0]["content_filter_results"]["sexual"]["filtered"] is False for ch in texts)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"][0]["content_filter_results"] == {}
