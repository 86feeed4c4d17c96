"""What the bench asks and what the server answers: one rule per workload, matched by a marker
word in the user message, and the request body of each wire format."""
from __future__ import annotations

from dataclasses import dataclass

from loadgen import build_request

PATHS = {"openai": "/v1/chat/completions", "responses": "/v1/responses", "anthropic": "/v1/messages"}
FORMATS = tuple(PATHS)
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


def request_for(workload: str, fmt: str, port: int) -> bytes:
    """The raw HTTP request of `workload` in wire format `fmt`, as the official SDKs shape it."""
    spec = WORKLOADS[workload]
    if fmt == "openai":
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": spec.marker}]}
        headers = {**SDK_HEADERS, "authorization": "Bearer sk-bench"}
    elif fmt == "responses":
        body = {"model": "gpt-4o-mini", "input": spec.marker}
        headers = {**SDK_HEADERS, "authorization": "Bearer sk-bench"}
    else:
        body = {"model": "claude-sonnet-4-5", "max_tokens": 1024,
                "messages": [{"role": "user", "content": spec.marker}]}
        headers = {**SDK_HEADERS, "x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01"}
    if spec.stream:
        body["stream"] = True
    return build_request(PATHS[fmt], body, port, headers)


def rules_document() -> dict:
    """The workloads as a rules file for the CLI (`--rules`)."""
    return {"rules": [{"when": spec.marker, "reply": spec.text} for spec in WORKLOADS.values()]}
