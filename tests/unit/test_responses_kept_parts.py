"""What the Responses stream keeps across streams: the delta events' heads and the response object's
template. The same bytes whether kept or made afresh (for every request shape), each event exactly
the compact JSON of its members, streams longer than the kept heads, several threads at once."""
from __future__ import annotations

import json
import threading
import time

import pytest

from llm_mock import ReplyObject, ToolCall
from llm_mock.formats import openai_responses as responses
from llm_mock.formats.base import Call
from llm_mock.replies import build_completion, normalise_reply

ADAPTER = responses.Responses()
TEXT = 'Hé said "naïve" — 東京 🌸 isn\'t a \\path\\ or </script>\n\ttab: \x01' * 3
DELTAS = ("response.output_text.delta", "response.reasoning_summary_text.delta",
          "response.function_call_arguments.delta", "response.custom_tool_call_input.delta")


@pytest.fixture
def fresh(monkeypatch):
    """Empty kept heads, a fixed clock and fixed ids: two renderings can be compared."""
    monkeypatch.setattr(responses, "_HEADS", {})
    monkeypatch.setattr(responses, "_TEMPLATES", {})
    monkeypatch.setattr(time, "time", lambda: 1_760_000_000.0)
    monkeypatch.setattr(responses, "hex_id", lambda prefix, length=48: prefix + "0" * length)
    monkeypatch.setattr(responses, "random_id", lambda prefix, length=24: prefix + "0" * length)


TOOLS = [{"type": "function", "name": "get_weather"}, {"type": "custom", "name": "run_code"}]


def render(reply: ReplyObject, size: int, **body) -> list:
    call = Call("POST", "/v1/responses", target="/v1/responses")
    request = ADAPTER.parse({"model": "gpt-4.1", "input": "hi", "stream": True, "tools": TOOLS, **body}, call)
    return ADAPTER.render_events(request, build_completion(request, normalise_reply(reply), size)).frames


REPLIES = [ReplyObject(text=TEXT), ReplyObject(text=TEXT, reasoning=TEXT),  # the text at output_index 1
           ReplyObject(tools=[ToolCall("get_weather", {"city": "Zürich", "q": 'say "hi"'}),
                              ToolCall("run_code", 'print("hi")\n')])]


def test_kept_and_fresh_parts_make_the_same_bytes(fresh, monkeypatch):
    """Each stream rendered with nothing kept, then all of them again one after the other, each
    finding what the others kept (the same text at another position, in another chunk size …)."""
    cases = [(reply, size) for reply in REPLIES for size in (0, 1, 3, 10, 1000)]
    cold = []
    for reply, size in cases:
        monkeypatch.setattr(responses, "_HEADS", {})
        cold.append([(f.data, f.chars) for f in render(reply, size)])
    assert responses._HEADS
    for _ in range(2):
        assert [[(f.data, f.chars) for f in render(reply, size)] for reply, size in cases] == cold


SHAPES = [{}, {"model": "gpt-4o"}, {"tools": []}, {"tools": TOOLS[:1]}, {"temperature": 1}, {"temperature": 1.0},
          {"temperature": True}, {"temperature": None}, {"top_p": -0.0}, {"metadata": {"k": "v"}},
          {"metadata": {"k": "w"}}, {"instructions": "Be brief."}, {"reasoning": {"effort": "low"}},
          {"text": {"verbosity": "low"}}, {"max_output_tokens": 5}, {"background": False},
          {"store": False}, {"user": "ü"}, {"input": "another input, the same object"}]


def test_response_templates_kept_per_request_shape(fresh, monkeypatch):
    cold = []
    for body in SHAPES:
        monkeypatch.setattr(responses, "_TEMPLATES", {})
        cold.append([f.data for f in render(ReplyObject(text="ok"), 0, **body)])
    temperatures = [cold[4][0], cold[5][0], cold[6][0], cold[7][0]]  # 1, 1.0, True, None: equal keys in Python
    assert len(set(temperatures)) == 4 and b'"temperature":1,' in temperatures[0]  # 1, 1.0, true, null
    for _ in range(2):
        assert [[f.data for f in render(ReplyObject(text="ok"), 0, **body)] for body in SHAPES] == cold
    assert len(responses._TEMPLATES) == len(SHAPES) - 1  # one per model and echoed members: input is not one
    monkeypatch.setattr(responses, "TEMPLATES_KEPT", 3)
    monkeypatch.setattr(responses, "_TEMPLATES", {})
    for body in SHAPES:
        render(ReplyObject(text="ok"), 0, **body)
        assert len(responses._TEMPLATES) <= 3


@pytest.mark.parametrize("reply", REPLIES)
def test_each_delta_is_the_compact_json_of_its_members(fresh, reply):
    for _ in range(2):  # made, then kept
        frames = render(reply, 4)
        seen = 0
        for number, frame in enumerate(frames):
            head, _, data = frame.data.decode().partition("\ndata: ")
            event = json.loads(data)
            assert event["sequence_number"] == number and head == f"event: {event['type']}"
            assert frame.data == f"{head}\ndata: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}" \
                                 f"\n\n".encode()
            if event["type"] in DELTAS:
                seen += 1
                assert list(event)[:4] == ["type", "sequence_number", "item_id", "output_index"]
                assert event["item_id"] and frame.chars == len(event["delta"]) <= 4
        assert seen > 3


def test_a_stream_longer_than_the_kept_heads(fresh, monkeypatch):
    monkeypatch.setattr(responses, "HEADS_KEPT", 20)
    for _ in range(2):
        frames = render(ReplyObject(text="abcdefghij" * 10), 1)
        numbers = [json.loads(f.data.partition(b"data: ")[2])["sequence_number"] for f in frames]
        assert numbers == list(range(len(frames))) and len(frames) > 100
        assert len(responses._HEADS["response.output_text.delta"]) <= 20


def test_threads_rendering_at_once_each_get_their_own_stream(fresh):
    texts = [f"text {n} " + "é\"\n" * (7 * n) for n in range(6)]
    failures: list = []

    def work(seed: int) -> None:
        for i in range(40):
            text, size = texts[(seed + i) % len(texts)], 1 + (seed + i) % 4
            events = [json.loads(f.data.partition(b"data: ")[2]) for f in render(ReplyObject(text=text), size)]
            got = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
            if got != text or [e["sequence_number"] for e in events] != list(range(len(events))):
                failures.append((seed, i))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
