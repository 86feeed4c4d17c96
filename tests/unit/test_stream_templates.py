"""Stream events written from string templates (for speed) are the JSON the adapters' dicts give.

The JSON answer is built from dicts (`Messages._message` and the like); the Anthropic stream writes
the same objects from templates. Here each templated event is compared, byte for byte, with `dumps` of
the dict the adapter builds for it, so a field added to one and not the other fails. Ollama's
timestamps are formatted without `strftime`, and read the same.
"""
from __future__ import annotations

import json

import pytest

from llm_mock import ReplyObject, ToolCall
from llm_mock.formats import anthropic
from llm_mock.formats.anthropic import STOP_REASONS, Messages
from llm_mock.formats.base import Call, Route, dumps
from llm_mock.replies import build_completion, normalise_reply

REPLIES = [
    ReplyObject(text="Hello there"),
    ReplyObject(text="é \"quoted\"", reasoning="thinking it over", usage={"input": 7, "cached": 3, "output": 11}),
    ReplyObject(tools=[ToolCall("get_weather", {"city": "Zürich"}, id="toolu_given")]),
    ReplyObject(text=""),
]


def _events(reply: ReplyObject, model: str = "claude-sonnet-4-5", max_tokens: int = 4096):
    adapter = Messages()
    body = {"model": model, "max_tokens": max_tokens, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    route = Route("POST", "/v1/messages")
    request = adapter.parse(body, Call("POST", "/v1/messages", {}, {}, {}, b"", None, route, "/v1/messages"))
    c = build_completion(request, normalise_reply(reply), 4)
    return adapter, request, c, [_split(f.data) for f in adapter.render_events(request, c).frames]


def _split(data: bytes) -> tuple:
    event, payload = data.decode().split("\n", 1)
    assert event.startswith("event: ") and payload.startswith("data: ") and payload.endswith("\n\n")
    return event[7:], payload[6:-2]


@pytest.mark.parametrize("reply", REPLIES)
@pytest.mark.parametrize("model", ["claude-sonnet-4-5", 'odd "model" ü'])
def test_anthropic_message_start_and_delta_are_the_dicts(monkeypatch, reply, model):
    monkeypatch.setattr(anthropic, "base58_id", lambda prefix, length=22: prefix + "FIXED")
    adapter, request, c, events = _events(reply, model, max_tokens=3)
    kind, payload = events[0]
    assert kind == "message_start"
    assert payload == dumps({"type": "message_start", "message": adapter._message(request, c, [], False)})
    kind, payload = events[-2]
    final = adapter._message(request, c, [], True)
    usage = {key: final["usage"][key] for key in ("input_tokens", "cache_creation_input_tokens",
                                                  "cache_read_input_tokens", "output_tokens")}
    assert kind == "message_delta"
    assert payload == dumps({"type": "message_delta", "delta": {"stop_reason": STOP_REASONS[c.finish],
                                                                "stop_sequence": None, "stop_details": None},
                             "usage": usage})


@pytest.mark.parametrize("reply", REPLIES)
def test_anthropic_blocks_open_empty(reply):
    adapter, _, c, events = _events(reply)
    starts = [json.loads(payload) for kind, payload in events if kind == "content_block_start"]
    blocks = adapter._blocks(c)
    assert len(starts) == len(blocks)
    for index, (start, block) in enumerate(zip(starts, blocks, strict=True)):
        empty = {"thinking": {"type": "thinking", "thinking": "", "signature": ""},
                 "text": {"type": "text", "text": ""}}.get(block["type"], {**block, "input": {}})
        if block["type"] == "tool_use":
            empty["id"] = start["content_block"]["id"]  # a fresh id when the reply gives none
        assert dumps(start) == dumps({"type": "content_block_start", "index": index, "content_block": empty})


@pytest.mark.parametrize("micro", [0, 7, 999999])
def test_ollama_created_at_is_strftimes_text(monkeypatch, micro):
    from datetime import datetime, timezone

    from llm_mock.formats import ollama

    moment = datetime(2025, 9, 1, 10, 2, 3, micro, timezone.utc)

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return moment

    monkeypatch.setattr(ollama, "datetime", Clock)
    assert ollama._now() == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
