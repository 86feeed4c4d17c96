"""What the bench asks and what the server answers: one rule per workload, matched by a marker
word in the user message, and the request of each wire format as its official SDK shapes it.

A wire format is one `Wire` entry in `WIRES`: the SSE rows, the capture, the ceiling's replay and
the peers' comparison all iterate over that table, and a server that does not serve a wire (it
answers 404) simply gets no figure in that wire's rows.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from loadgen import build_request

_PROSE = "The quick brown fox jumps over the lazy dog while the mock server keeps perfect time. "


def prose(length: int) -> str:
    return (_PROSE * (length // len(_PROSE) + 1))[:length]


@dataclass(frozen=True)
class Workload:
    marker: str  # the user message; the rule matches it as a substring
    text: str  # the reply
    chunk_size: int = 0
    latency: float = 0  # ms between SSE events
    stream: bool = False


WORKLOADS = {
    "json": Workload("hello bench", "Hi there! This is a short reply from the bench."),
    "sse": Workload("stream bench", prose(2000), chunk_size=10, stream=True),
    "paced": Workload("paced bench", prose(200), chunk_size=10, latency=50, stream=True),
    "accuracy": Workload("accuracy bench", prose(1000), chunk_size=10, latency=10, stream=True),
}


# The headers the official Python SDKs send with every request (header parsing is per-request cost).
SDK_HEADERS = {"accept-encoding": "gzip, deflate", "connection": "keep-alive", "x-stainless-lang": "python",
               "x-stainless-package-version": "2.14.0", "x-stainless-os": "Linux", "x-stainless-arch": "x64",
               "x-stainless-runtime": "CPython", "x-stainless-runtime-version": "3.11.7",
               "x-stainless-async": "false", "x-stainless-retry-count": "0", "x-stainless-read-timeout": "600"}


def _chat_body(marker: str, stream: bool) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": marker}], **_streamed(stream)}


def _streamed(stream: bool) -> dict:
    return {"stream": True} if stream else {}


def _dig(event: dict, *keys):
    """event[k1][k2]...; None where the path does not exist (a list index is an int key)."""
    for key in keys:
        try:
            event = event[key]
        except (KeyError, IndexError, TypeError):
            return None
    return event


def _text_delta(event: dict, *keys) -> str:
    value = _dig(event, *keys)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Wire:
    """One wire format as a client speaks it, and where the reply's text is in what comes back."""

    name: str  # llm_mock's format name (rules match on it with `format=`); the rows' label
    path: str
    body: Callable[[str, bool], dict]  # (user message, stream) -> request body
    headers: dict
    delta: Callable[[dict], str]  # the text one stream event (parsed JSON) adds
    stream_path: str = ""  # when streaming is another route (Gemini)
    ndjson: bool = False  # events are lines, not SSE blocks

    def route(self, stream: bool) -> str:
        return self.stream_path if stream and self.stream_path else self.path

    def count_events(self, payload: bytes) -> int:
        """Events in a stream's de-chunked body."""
        if self.ndjson:
            return sum(1 for line in payload.split(b"\n") if line.strip())
        return sum(1 for block in re.split(rb"\r?\n\r?\n", payload) if block.strip())

    def stream_text(self, payload: bytes) -> str:
        """The reply's text, put together from the deltas of a stream's de-chunked body."""
        parts = []
        for block in re.split(rb"\r?\n\r?\n" if not self.ndjson else rb"\n", payload):
            for line in block.splitlines():
                data = line[5:].strip() if line.startswith(b"data:") else line.strip() if self.ndjson else b""
                if data.startswith(b"{"):
                    try:
                        parts.append(self.delta(json.loads(data)))
                    except ValueError:
                        pass
        return "".join(parts)


_OPENAI_AUTH = {**SDK_HEADERS, "authorization": "Bearer sk-bench"}

WIRES = {wire.name: wire for wire in (
    Wire("openai", "/v1/chat/completions", _chat_body, _OPENAI_AUTH,
         lambda event: _text_delta(event, "choices", 0, "delta", "content")),
    Wire("responses", "/v1/responses", lambda marker, stream: {"model": "gpt-4o-mini", "input": marker,
                                                               **_streamed(stream)}, _OPENAI_AUTH,
         lambda event: _text_delta(event, "delta") if event.get("type") == "response.output_text.delta" else ""),
    Wire("anthropic", "/v1/messages",
         lambda marker, stream: {"model": "claude-sonnet-4-5", "max_tokens": 1024,
                                 "messages": [{"role": "user", "content": marker}], **_streamed(stream)},
         {**SDK_HEADERS, "x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01"},
         lambda event: _text_delta(event, "delta", "text") if event.get("type") == "content_block_delta" else ""),
    # google-genai: the key in a header, streaming as SSE with ?alt=sse
    Wire("gemini", "/v1beta/models/gemini-2.5-flash:generateContent",
         lambda marker, stream: {"contents": [{"role": "user", "parts": [{"text": marker}]}]},
         {"x-goog-api-key": "bench-key", "x-goog-api-client": "google-genai-sdk/1.0.0 gl-python/3.11.7"},
         lambda event: "".join(_text_delta(part, "text") for part in
                               _dig(event, "candidates", 0, "content", "parts") or ()),
         stream_path="/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
    # the ollama package: streaming is its default, so the JSON request says stream: false
    Wire("ollama", "/api/chat",
         lambda marker, stream: {"model": "llama3.2", "messages": [{"role": "user", "content": marker}],
                                 "stream": stream},
         {}, lambda event: _text_delta(event, "message", "content"), ndjson=True),
)}
FORMATS = tuple(WIRES)
PATHS = {name: wire.path for name, wire in WIRES.items()}


def request_for(workload: str, fmt: str, port: int) -> bytes:
    """The raw HTTP request of `workload` in wire format `fmt`, as the official SDKs shape it."""
    spec, wire = WORKLOADS[workload], WIRES[fmt]
    return build_request(wire.route(spec.stream), wire.body(spec.marker, spec.stream), port, wire.headers)


def rules_document() -> dict:
    """The workloads as a rules file for the CLI (`--rules`)."""
    return {"rules": [{"when": spec.marker, "reply": spec.text} for spec in WORKLOADS.values()]}
