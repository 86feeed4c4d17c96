"""The recorded pace of the streams beyond SSE: Bedrock's binary event stream (frames cut at each
message's prelude length) and Ollama's NDJSON, replayed with `replay_timing="recorded"`, measured at
the client over raw HTTP: the same bytes, each frame within a few milliseconds of its recorded time."""
from __future__ import annotations

import http.client
import json
import os
import statistics
import time

import pytest

from llm_mock import MockServer

LATENCY_MS = 30
BEDROCK = ("/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream",
           {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": "count slowly"}]})
OLLAMA = ("/api/chat", {"model": "qwen3:8b", "messages": [{"role": "user", "content": "count slowly"}]})


def _event_stream(buffer: bytes) -> tuple:
    size = int.from_bytes(buffer[:4], "big") if len(buffer) >= 4 else 0
    return (buffer[:size], buffer[size:]) if size and len(buffer) >= size else (None, buffer)


def _lines(buffer: bytes) -> tuple:
    return tuple(buffer.split(b"\n", 1)) if b"\n" in buffer else (None, buffer)  # type: ignore[return-value]


def frames_at(port: int, path: str, body: dict) -> list:
    """(seconds after the head, frame) as the client receives them."""
    cut = _event_stream if path.startswith("/model/") else _lines
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", path, json.dumps(body), {"content-type": "application/json",
                                                        "authorization": "Bearer test"})
    response = connection.getresponse()
    assert response.status == 200
    head, buffer, found = time.monotonic(), b"", []
    while True:
        data = response.read1(65536)
        if not data:
            break
        buffer += data
        while True:
            frame, buffer = cut(buffer)
            if frame is None:
                break
            found.append((time.monotonic() - head, frame))
    connection.close()
    return found


@pytest.mark.parametrize("path, body", [BEDROCK, OLLAMA], ids=["bedrock", "ollama"])
def test_a_replay_keeps_the_recorded_gaps(tmp_path, path, body):
    directory = str(tmp_path / "rec")
    with MockServer() as up, MockServer(record=directory, upstream=up.url) as recorder:
        up.when("count").reply("one two three four five six seven eight", latency=LATENCY_MS, chunk_size=4)
        live = frames_at(recorder.port, path, body)
    sidecar = next(name for name in os.listdir(directory) if name.endswith(".exchanges.jsonl"))
    with open(os.path.join(directory, sidecar), encoding="utf-8") as handle:
        recorded = json.loads(handle.readline())["response"]["frames"]
    assert len(recorded) == len(live) >= 8  # one recorded frame per message or line, not per read
    runs = []
    for _ in range(2):  # the better of two: a busy machine may delay the client's own reading once
        with MockServer(replay_timing="recorded") as replay:
            replay.load(directory)
            replayed = frames_at(replay.port, path, body)
        assert [frame for _, frame in replayed] == [frame for _, frame in live]
        shifts = [at * 1000 - frame["at"] for (at, _), frame in zip(replayed, recorded, strict=True)]
        middle = statistics.median(shifts)
        runs.append([abs(shift - middle) for shift in shifts])
    errors = min(runs, key=max)
    assert statistics.median(errors) < 2, errors
    assert max(errors) < LATENCY_MS / 2, errors
