"""The bench's wire table and peer set-up, socket-free: how each wire's stream is read back into
text and counted, and what a peer says when it cannot be installed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

import peers  # noqa: E402  (bench/ is put on the path above)
from lineup import check  # noqa: E402
from workloads import WIRES, WORKLOADS, Workload, request_for  # noqa: E402


def sse(*events: dict, event_names: bool = False) -> bytes:
    return b"".join((b"event: %s\n" % event["type"].encode() if event_names else b"")
                    + b"data: " + json.dumps(event).encode() + b"\n\n" for event in events)


def chunked(head: bytes, payload: bytes, pieces: int = 3) -> bytes:
    size = -(-len(payload) // pieces)
    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                    for part in (payload[i:i + size] for i in range(0, len(payload), size)))
    return head + body + b"0\r\n\r\n"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"

STREAMS = {
    "openai": sse({"choices": [{"delta": {"role": "assistant"}}]}, {"choices": [{"delta": {"content": "Hel"}}]},
                  {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]}) + b"data: [DONE]\n\n",
    "responses": sse({"type": "response.created"}, {"type": "response.output_text.delta", "delta": "Hel"},
                     {"type": "response.output_text.delta", "delta": "lo"},
                     {"type": "response.output_text.done", "text": "Hello"}, event_names=True),
    "anthropic": sse({"type": "message_start"}, {"type": "content_block_delta", "delta": {"text": "Hel"}},
                     {"type": "content_block_delta", "delta": {"text": "lo"}}, {"type": "message_stop"},
                     event_names=True),
    "gemini": (b'data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}]}\r\n\r\n'
               b'data: {"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},'
               b'"finishReason":"STOP","index":0}]}\r\n\r\n'),
    "ollama": (b'{"model":"llama3.2","message":{"role":"assistant","content":"Hel"},"done":false}\n'
               b'{"model":"llama3.2","message":{"role":"assistant","content":"lo"},"done":false}\n'
               b'{"model":"llama3.2","message":{"role":"assistant","content":""},"done":true}\n'),
}
EVENTS = {"openai": 4, "responses": 4, "anthropic": 4, "gemini": 2, "ollama": 3}


def test_every_wire_has_a_sample_stream():
    assert set(STREAMS) == set(WIRES)


@pytest.mark.parametrize("fmt", sorted(WIRES))
def test_a_stream_reads_back_as_its_text_and_counts_its_events(fmt):
    wire = WIRES[fmt]
    assert wire.stream_text(STREAMS[fmt]) == "Hello"
    assert wire.count_events(STREAMS[fmt]) == EVENTS[fmt]


@pytest.mark.parametrize("fmt", sorted(WIRES))
def test_check_accepts_the_workload_text_and_refuses_another(fmt, monkeypatch):
    monkeypatch.setitem(WORKLOADS, "sse", Workload("stream bench", "Hello", 3, stream=True))
    answer, why = check(chunked(HEAD, STREAMS[fmt]), "sse", fmt)
    assert why == "" and answer.events == EVENTS[fmt]
    monkeypatch.setitem(WORKLOADS, "sse", Workload("stream bench", "Help", 3, stream=True))
    answer, why = check(chunked(HEAD, STREAMS[fmt]), "sse", fmt)
    assert answer is None and "characters" in why


def test_check_names_a_404_and_other_statuses():
    assert check(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", "json", "openai") == (None, "404")
    answer, why = check(b"HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n", "json", "openai")
    assert answer is None and "500" in why


def test_requests_go_where_each_sdk_sends_them():
    gemini = request_for("sse", "gemini", 1234)
    assert gemini.startswith(b"POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1\r\n")
    assert request_for("json", "gemini", 1234).startswith(b"POST /v1beta/models/gemini-2.5-flash:generateContent ")
    body = json.loads(request_for("json", "ollama", 1234).split(b"\r\n\r\n", 1)[1])
    assert body["stream"] is False  # streaming is the ollama default: the JSON request turns it off
    assert b'"stream":true' in request_for("sse", "openai", 1234)


def test_peer_rules_carry_each_workload(tmp_path):
    fixtures = json.loads(Path(peers.PEERS["aimock"].rules(str(tmp_path))).read_text())["fixtures"]
    paced = next(f for f in fixtures if f["match"]["userMessage"] == WORKLOADS["paced"].marker)
    assert (paced["chunkSize"], paced["latency"], paced["response"]["content"]) == (10, 50, WORKLOADS["paced"].text)
    rules = json.loads(Path(peers.PEERS["llm-mock-api"].rules(str(tmp_path))).read_text())["rules"]
    json_rule = next(r for r in rules if r["when"] == WORKLOADS["json"].marker)
    assert json_rule["reply"] == WORKLOADS["json"].text
    accuracy = next(r for r in rules if r["when"] == WORKLOADS["accuracy"].marker)
    assert accuracy["replies"] == [{"reply": WORKLOADS["accuracy"].text, "chunkSize": 10, "latency": 10}]
    assert fixtures and len(fixtures) == len(rules) == len(WORKLOADS)


def test_aimock_without_node_is_skipped_with_a_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_MOCK_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    assert peers.PEERS["aimock"].install() == "skipped: Node.js (node and npm) is not installed"
    assert not list(tmp_path.iterdir())  # nothing was written


def test_the_cache_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("LLM_MOCK_BENCH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert peers.cache_dir() == str(tmp_path / "llm-mock-bench")
    assert peers.PEERS["aimock"].home == str(tmp_path / "llm-mock-bench" / f"aimock-{peers.AIMOCK_VERSION}")
