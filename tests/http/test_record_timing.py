"""The pace of a recorded stream: relayed as it arrives while recording, reproduced on replay.

The upstream (a second llm_mock) paces its stream with `latency=`. While recording, the client must
see each frame when the upstream sends it, not the whole stream at the end; replayed with
`replay_timing="recorded"` (or a speed factor) the frames must keep the recorded gaps within a few
milliseconds, measured at the client over raw HTTP.
"""
from __future__ import annotations

import http.client
import json
import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from llm_mock import MockServer

LATENCY_MS = 40
BODY = json.dumps({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "count slowly"}]})


def frames_at(port: int, body: str = BODY) -> list:
    """(seconds after the response head, frame) for every SSE frame, as the client receives them."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    head, buffer, found = time.monotonic(), b"", []
    while True:
        data = response.read1(65536)
        if not data:
            break
        buffer += data
        now = time.monotonic() - head
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            found.append((now, frame + b"\n\n"))
    connection.close()
    return found


def gaps(times: list) -> list:
    return [(b - a) * 1000 for a, b in zip(times, times[1:], strict=False)]


def offset_errors(replayed: list, recorded: list, factor: float = 1) -> list:
    """How far (ms) each frame came from its recorded time (scaled by `factor`), the two timelines
    laid over each other at their median offset: one late frame is one error, not a shift of all."""
    shifts = [at * 1000 - ms / factor for at, ms in zip(replayed, recorded, strict=True)]
    middle = statistics.median(shifts)
    return [abs(shift - middle) for shift in shifts]


def replay_errors(directory: str, recorded: list, factor: float) -> list:
    """The frame errors of the better of two replays: on a busy machine the client's own thread is
    sometimes late to read one frame, and that is not the replay's doing."""
    runs = []
    for _ in range(2):
        with MockServer(replay_timing="recorded" if factor == 1 else factor) as replay:
            replay.load(directory)
            runs.append(offset_errors([at for at, _ in frames_at(replay.port)], recorded, factor))
    return min(runs, key=max)


def assert_close(errors: list) -> None:
    """Frame errors (ms): typically well under a millisecond; a few milliseconds at most, bar a
    frame or two a loaded machine delays, never by a gap's worth."""
    assert statistics.median(errors) < 2, errors
    assert sum(error >= 5 for error in errors) <= 2, errors
    assert max(errors) < LATENCY_MS / 2, errors


def record(tmp_path) -> tuple:
    directory = str(tmp_path / "rec")
    with MockServer() as up, MockServer(record=directory, upstream=up.url) as recorder:
        up.when("count").reply("one two three four five six seven eight nine ten", latency=LATENCY_MS, chunk_size=4)
        live = frames_at(recorder.port)
    sidecar = next(name for name in os.listdir(directory) if name.endswith(".exchanges.jsonl"))
    with open(os.path.join(directory, sidecar), encoding="utf-8") as handle:
        exchange = json.loads(handle.readline())
    return directory, live, exchange


def test_a_stream_is_relayed_as_it_arrives(tmp_path):
    _, live, exchange = record(tmp_path)
    frames = exchange["response"]["frames"]
    assert len(live) == len(frames) >= 10
    assert [frame for _, frame in live] == [frame["data"].encode() for frame in frames]
    live_gaps = gaps([at for at, _ in live])
    assert statistics.median(live_gaps) > LATENCY_MS * 0.8  # each frame passed on when it came, not at the end
    assert live[-1][0] - live[0][0] > (len(live) - 2) * LATENCY_MS / 1000 * 0.8


def test_a_replay_keeps_the_recorded_gaps(tmp_path):
    directory, _, exchange = record(tmp_path)
    recorded = [frame["at"] for frame in exchange["response"]["frames"]]
    with MockServer(replay_timing="recorded") as replay:
        replay.load(directory)
        replayed = frames_at(replay.port)
    assert [frame for _, frame in replayed] == [frame["data"].encode() for frame in exchange["response"]["frames"]]
    assert_close(replay_errors(directory, recorded, 1))


def test_a_speed_factor_scales_the_gaps(tmp_path):
    directory, _, exchange = record(tmp_path)
    recorded = [frame["at"] for frame in exchange["response"]["frames"]]
    assert_close(replay_errors(directory, recorded, 2))


def test_without_replay_timing_the_rule_answers_at_once(tmp_path):
    directory, _, exchange = record(tmp_path)
    with MockServer() as replay:
        replay.load(directory)
        replayed = frames_at(replay.port)
    assert replayed[-1][0] < 0.05
    text = "".join(json.loads(frame[6:])["choices"][0]["delta"].get("content") or ""
                   for _, frame in replayed if frame.startswith(b"data: {") and b'"choices":[{' in frame)
    assert text == "one two three four five six seven eight nine ten"


class _ChunkedJSON(BaseHTTPRequestHandler):
    """A vendor that sends a JSON (not streamed) answer in chunks, as some CDNs do."""

    protocol_version = "HTTP/1.1"
    answer = json.dumps({"id": "chatcmpl-chunked", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                         "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                      "message": {"role": "assistant", "content": "Sent in two pieces.",
                                                  "refusal": None}}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}).encode()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        half = len(self.answer) // 2
        for piece in (self.answer[:half], self.answer[half:]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            time.sleep(0.03)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args) -> None:
        pass


def test_a_json_answer_sent_in_chunks_is_recorded_as_json_and_replayed_exactly(tmp_path):
    vendor = ThreadingHTTPServer(("127.0.0.1", 0), _ChunkedJSON)
    threading.Thread(target=vendor.serve_forever, daemon=True).start()
    directory = str(tmp_path / "rec")
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    try:
        with MockServer(record=directory, upstream=f"http://127.0.0.1:{vendor.server_port}") as recorder:
            live = whole(recorder.port, body)
    finally:
        vendor.shutdown()
        vendor.server_close()
    assert live == _ChunkedJSON.answer
    sidecar = next(name for name in os.listdir(directory) if name.endswith(".exchanges.jsonl"))
    with open(os.path.join(directory, sidecar), encoding="utf-8") as handle:
        response = json.loads(handle.readline())["response"]
    assert response["stream"] is False and len(response["frames"]) == 2
    assert response["frames"][1]["at"] - response["frames"][0]["at"] > 20
    with MockServer(replay_timing="recorded") as replay:
        replay.load(directory)
        assert whole(replay.port, body) == _ChunkedJSON.answer
        assert replay.history.last().outcome.startswith("replayed ")
    with MockServer() as replay:
        replay.load(directory)
        answer = json.loads(whole(replay.port, body))
        assert answer["choices"][0]["message"]["content"] == "Sent in two pieces."
        assert answer["usage"]["total_tokens"] == 9


def whole(port: int, body: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    data = response.read()
    connection.close()
    return data
