"""A stored Responses stream streamed again (`GET /v1/responses/{id}?stream=true`) is the stream the
client first received, byte for byte, whole or after `starting_after`; in background mode too."""
from __future__ import annotations

import http.client
import json

import pytest

from llm_mock import MockServer, ReplyObject, ToolCall

TEXT = 'Hé said "naïve" — 東京 🌸 isn\'t a \\path\\ or </script>\n\ttab: ' * 3


@pytest.fixture(scope="module")
def server():
    with MockServer() as mock:
        mock.when("plain").reply(TEXT, chunk_size=7)
        mock.when("everything").reply(ReplyObject(text=TEXT, reasoning="Think: \"x\"\n" * 4,
                                                  tools=[ToolCall("get_weather", {"city": "Zürich"})]),
                                      chunk_size=5)
        mock.when("whole").reply("one chunk", chunk_size=0)
        yield mock


def _call(server, method: str, path: str, body: dict | None = None) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, data, {"content-type": "application/json"} if data else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _events(body: bytes) -> list:
    """The stream's events, each with its blank line (an event's JSON holds no blank line)."""
    return [event + b"\n\n" for event in body.split(b"\n\n")[:-1]]


@pytest.mark.parametrize("said, extra", [
    ("plain", {}),
    ("everything", {"include": ["reasoning.encrypted_content", "message.output_text.logprobs"], "top_logprobs": 2}),
    ("everything", {"tools": [{"type": "function", "name": "get_weather"}], "metadata": {"k": "v"}}),
    ("whole", {"max_output_tokens": 2}),
])
def test_a_stream_streamed_again_is_the_same_bytes(server, said, extra):
    status, sent = _call(server, "POST", "/v1/responses", {"model": "gpt-4.1", "input": said, "stream": True,
                                                             **extra})
    assert status == 200
    events = _events(sent)
    assert b"".join(events) == sent and len(events) >= 5
    rid = json.loads(events[0].partition(b"data: ")[2])["response"]["id"]
    for _ in range(2):  # rendered again each time, the same each time
        status, again = _call(server, "GET", f"/v1/responses/{rid}?stream=true")
        assert status == 200 and again == sent
    for after in (0, 3, len(events) - 2, len(events) - 1, len(events) + 5):
        status, tail = _call(server, "GET", f"/v1/responses/{rid}?stream=true&starting_after={after}")
        assert status == 200 and tail == b"".join(events[after + 1:]), after


def test_a_background_response_streamed_later_is_a_whole_stream(server):
    status, body = _call(server, "POST", "/v1/responses", {"model": "gpt-4.1", "input": "plain", "background": True})
    assert status == 200
    rid = json.loads(body)["id"]
    status, first = _call(server, "GET", f"/v1/responses/{rid}?stream=true")
    events = [json.loads(e.partition(b"data: ")[2]) for e in _events(first)]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["id"] == rid
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == TEXT
    assert _call(server, "GET", f"/v1/responses/{rid}?stream=true") == (200, first)
    status, retrieved = _call(server, "GET", f"/v1/responses/{rid}")
    assert json.loads(retrieved)["output"] == events[-1]["response"]["output"]
