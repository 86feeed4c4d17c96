"""The cloud routes over raw HTTP: stream media types and bytes, and the error shapes of paths and methods
no route takes, as each cloud's clients expect them."""
from __future__ import annotations

import base64
import http.client
import json
import struct
import zlib

import pytest

from llm_mock import MockServer

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
BEDROCK_BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                "messages": [{"role": "user", "content": "raw bytes"}]}
VERTEX = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/"


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


def send(server, method: str, path: str, body=None):
    """(status, headers dict, body bytes) on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=data, headers={"content-type": "application/json"} if data else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def messages(data: bytes) -> list:
    """(headers, payload) of each event-stream message, checking both CRCs."""
    out = []
    while data:
        total, header_length = struct.unpack("!II", data[:8])
        assert struct.unpack("!I", data[8:12])[0] == zlib.crc32(data[:8])
        assert struct.unpack("!I", data[total - 4:total])[0] == zlib.crc32(data[:total - 4])
        headers, at = {}, 12
        while at < 12 + header_length:
            name = data[at + 1:at + 1 + data[at]].decode()
            at += 1 + data[at]
            (size,) = struct.unpack("!H", data[at + 1:at + 3])
            headers[name] = data[at + 3:at + 3 + size].decode()
            at += 3 + size
        out.append((headers, data[12 + header_length:total - 4]))
        data = data[total:]
    return out


def test_bedrock_stream_bytes(server):
    server.fallback("raw event-stream")
    status, headers, body = send(server, "POST", f"/model/{MODEL}/invoke-with-response-stream", BEDROCK_BODY)
    assert status == 200
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    assert headers["x-amzn-bedrock-content-type"] == "application/json"
    assert headers["transfer-encoding"] == "chunked"
    decoded = messages(body)
    assert all(h == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
               for h, _ in decoded)
    events = [json.loads(base64.b64decode(json.loads(payload)["bytes"])) for _, payload in decoded]
    assert [e["type"] for e in events][0] == "message_start" and events[-1]["type"] == "message_stop"


def test_bedrock_json_and_errors(server):
    status, headers, body = send(server, "POST", f"/model/{MODEL}/invoke", BEDROCK_BODY)
    assert status == 200 and headers["content-type"] == "application/json" and json.loads(body)["type"] == "message"
    status, headers, body = send(server, "GET", f"/model/{MODEL}/invoke")
    assert status == 405 and "POST" in headers["allow"]
    assert headers["x-amzn-errortype"].startswith("ValidationException:")
    assert list(json.loads(body)) == ["message"]
    status, headers, body = send(server, "POST", f"/model/{MODEL}/converse", BEDROCK_BODY)
    assert status == 404 and headers["x-amzn-errortype"].startswith("ResourceNotFoundException:")
    assert list(json.loads(body)) == ["message"]
    status, headers, body = send(server, "POST", f"/model/{MODEL}/invoke", {"max_tokens": 5})
    assert status == 400 and headers["x-amzn-errortype"].startswith("ValidationException:")
    assert json.loads(body)["message"].startswith("Malformed input request: #: required key [anthropic_version]")


def test_vertex_errors(server):
    status, _, body = send(server, "POST", VERTEX + "claude@1:predict", {})
    assert status == 404
    assert json.loads(body)["error"]["status"] == "NOT_FOUND"
    status, _, body = send(server, "POST", VERTEX + "claude@1:rawPredict", {"messages": []})
    assert status == 400 and json.loads(body)["error"] == {"type": "invalid_request_error",
                                                           "message": "anthropic_version: Field required"}
    server.fallback("sse")
    status, headers, body = send(server, "POST", VERTEX + "claude@1:streamRawPredict",
                                 {**BEDROCK_BODY, "stream": True})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert body.startswith(b"event: message_start\ndata: ") and headers["request-id"].startswith("req_vrtx_011")


def test_azure_unknown_paths_and_missing_version(server):
    status, _, body = send(server, "POST", "/openai/deployments/d/embeddingz?api-version=1", {})
    assert status == 404 and json.loads(body)["error"]["code"] == "404"
    status, headers, body = send(server, "POST", "/openai/deployments/d/chat/completions",
                                 {"messages": [{"role": "user", "content": "x"}]})
    assert status == 404 and json.loads(body) == {"error": {"code": "404", "message": "Resource not found"}}
    assert headers["x-request-id"]
