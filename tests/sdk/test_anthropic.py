"""Anthropic Messages on the wire (protocol-notes §4): JSON bodies, the event grammar of §4 on raw
bytes and through the SDK, the stream helper, chunking, pacing, the async client, auth and routing."""
from __future__ import annotations

import asyncio
import json
import time

import anthropic
import pytest

from support.clients import async_anthropic_client
from support.raw_http import raw_post
from support.scenarios import (
    SCENARIO_NAMES,
    UNICODE_TEXT,
    add_scenario,
    anthropic_tools,
    assert_chunked,
    assert_id,
    expected,
)

MODEL = "claude-sonnet-4-6"
PATH = "/v1/messages"
STOP = {"stop": "end_turn", "tool_calls": "tool_use"}
USAGE_KEYS = {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation",
              "output_tokens", "service_tier"}


def ask(name: str) -> dict:
    return {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": f"scenario {name}"}],
            "tools": anthropic_tools()}


def expected_blocks(exp) -> list:
    blocks = [("thinking", exp.reasoning)] if exp.reasoning else []
    blocks += [("text", exp.text)] if exp.text is not None else []
    return blocks + [("tool_use", name, args) for name, args in exp.tools]


def summarize(content: list) -> list:
    """Content blocks as comparable tuples, asserting each block's fixed shape on the way."""
    summary = []
    for block in content:
        if block["type"] == "thinking":
            assert block["signature"]
            summary.append(("thinking", block["thinking"]))
        elif block["type"] == "text":
            assert set(block) <= {"type", "text", "citations"}
            summary.append(("text", block["text"]))
        else:
            assert block["type"] == "tool_use"
            assert_id(block["id"], "toolu_01")
            summary.append(("tool_use", block["name"], block["input"]))
    return summary


def check_usage(usage: dict, exp) -> None:
    assert set(usage) >= USAGE_KEYS and usage["service_tier"] == "standard"
    assert usage["input_tokens"] > 0
    assert (usage["output_tokens"] > 0) == bool(exp.text or exp.tools or exp.reasoning)
    assert usage["cache_creation"] == {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}


def check_events(events: list, exp, pings: list = ()) -> dict:
    """Assert the §4 grammar on event dicts (`pings`: where pings sit among the events between
    start and delta; the SDK drops them); returns the message the events add up to."""
    start, *body, delta, stop = events
    assert (start["type"], delta["type"], stop) == ("message_start", "message_delta", {"type": "message_stop"})
    message = start["message"]
    assert_id(message["id"], "msg_01")
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", MODEL)
    assert message["content"] == [] and message["stop_reason"] is None and message["stop_sequence"] is None
    assert message["usage"]["input_tokens"] > 0
    assert [i for i, e in enumerate(body) if e["type"] == "ping"] == list(pings)
    body = [e for e in body if e["type"] != "ping"]
    blocks = []
    while body:
        end = next(i for i, e in enumerate(body) if e["type"] == "content_block_stop")
        begin, *deltas, done = body[:end + 1]
        body = body[end + 1:]
        assert begin["type"] == "content_block_start" and begin["index"] == done["index"] == len(blocks)
        assert all(d["type"] == "content_block_delta" and d["index"] == len(blocks) for d in deltas)
        blocks.append(BLOCK[begin["content_block"]["type"]](begin["content_block"], [d["delta"] for d in deltas]))
    assert delta["delta"] == {"stop_reason": STOP[exp.finish], "stop_sequence": None, "stop_details": None}
    assert summarize(blocks) == expected_blocks(exp)
    usage = {**message["usage"], **delta["usage"]}
    return {**message, "content": blocks, "stop_reason": delta["delta"]["stop_reason"], "usage": usage}


def _thinking(start: dict, deltas: list) -> dict:
    assert start == {"type": "thinking", "thinking": "", "signature": ""}
    *thoughts, signature = deltas
    assert all(d["type"] == "thinking_delta" and d["thinking"] for d in thoughts) and thoughts
    assert signature["type"] == "signature_delta" and signature["signature"]
    return {"type": "thinking", "thinking": "".join(d["thinking"] for d in thoughts),
            "signature": signature["signature"]}


def _text(start: dict, deltas: list) -> dict:
    assert start == {"type": "text", "text": ""}
    assert all(d["type"] == "text_delta" and d["text"] for d in deltas)
    return {"type": "text", "text": "".join(d["text"] for d in deltas)}


def _tool_use(start: dict, deltas: list) -> dict:
    assert start["input"] == {} and set(start) == {"type", "id", "name", "input"}
    assert all(d["type"] == "input_json_delta" for d in deltas) and deltas[0]["partial_json"] == ""
    return {**start, "input": json.loads("".join(d["partial_json"] for d in deltas))}


BLOCK = {"thinking": _thinking, "text": _text, "tool_use": _tool_use}


# -- non-streaming --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_json_body(server, claude, name):
    add_scenario(server, name)
    exp = expected(name)
    raw = claude.messages.with_raw_response.create(**ask(name))
    message, body = raw.parse(), raw.http_response.json()
    assert raw.http_response.headers["content-type"].startswith("application/json")
    assert_id(message.id, "msg_01")
    assert (body["type"], body["role"], body["model"]) == ("message", "assistant", MODEL)
    assert body["stop_reason"] == STOP[exp.finish] and body["stop_sequence"] is None and body["stop_details"] is None
    assert summarize(body["content"]) == expected_blocks(exp)
    check_usage(body["usage"], exp)


# -- raw streams ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_raw_stream_bytes(server, name):
    add_scenario(server, name)
    raw = raw_post(server, PATH, {**ask(name), "stream": True})
    assert raw.status == 200 and raw.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert b"[DONE]" not in raw.body
    events = raw.events
    assert all(e.event == e.json["type"] for e in events)  # the `event:` line is mandatory
    message = check_events([e.json for e in events], expected(name), pings=[1])  # right after the first start
    check_usage(message["usage"], expected(name))


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_sdk_stream_matches_json(server, claude, name):
    add_scenario(server, name)
    exp = expected(name)
    whole = claude.messages.create(**ask(name))
    events = list(claude.messages.create(**ask(name), stream=True))
    streamed = check_events([e.to_dict() for e in events], exp)
    assert {k: streamed["usage"][k] for k in ("input_tokens", "output_tokens")} == \
        {"input_tokens": whole.usage.input_tokens, "output_tokens": whole.usage.output_tokens}
    thinking = [b for b in whole.to_dict()["content"] if b["type"] == "thinking"]
    assert [b for b in streamed["content"] if b["type"] == "thinking"] == thinking  # same signature too


# -- the stream helper ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_stream_helper_final_message(server, claude, name):
    add_scenario(server, name)
    exp = expected(name)
    whole = claude.messages.create(**ask(name))
    with claude.messages.stream(**ask(name)) as stream:
        events = list(stream)
        final = stream.get_final_message()
        if exp.text is not None:
            assert stream.get_final_text() == exp.text
        else:
            with pytest.raises(RuntimeError):
                stream.get_final_text()
    assert summarize(final.to_dict()["content"]) == expected_blocks(exp)
    assert final.stop_reason == whole.stop_reason and final.usage == whole.usage
    assert "".join(e.text for e in events if e.type == "text") == (exp.text or "")
    assert "".join(e.thinking for e in events if e.type == "thinking") == (exp.reasoning or "")
    assert len([e for e in events if e.type == "signature"]) == (1 if exp.reasoning else 0)


# -- chunking and pacing --------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 3, 4])
def test_chunk_size_never_splits_a_character(server, size):
    server.when("unicode").reply({"text": UNICODE_TEXT, "reasoning": UNICODE_TEXT}, chunk_size=size)
    events = [e.json for e in raw_post(server, PATH, {"model": MODEL, "max_tokens": 1024, "stream": True,
                                                      "messages": [{"role": "user", "content": "unicode"}]}).events]
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert_chunked([d["text"] for d in deltas if d["type"] == "text_delta"], UNICODE_TEXT, size)
    assert_chunked([d["thinking"] for d in deltas if d["type"] == "thinking_delta"], UNICODE_TEXT, size)


def test_latency_paces_events(server, claude):
    server.when("paced").reply("abcdefgh", chunk_size=2, latency=30)  # 4 deltas in 10 events, ping included
    started = time.monotonic()
    arrivals = [time.monotonic() for _ in claude.messages.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "paced"}], stream=True)]
    wall = time.monotonic() - started
    assert len(arrivals) == 9  # the SDK swallows the ping
    assert 0.26 <= wall < 0.7, wall
    assert arrivals[0] - started < wall / 2
    assert arrivals[-1] - arrivals[0] >= 8 * 0.03 * 0.9


# -- the async client ------------------------------------------------------------------------------
def test_async_client_json_and_stream(server):
    add_scenario(server, "parallel_tools")
    exp = expected("parallel_tools")

    async def run():
        async with async_anthropic_client(server) as client:
            whole = await client.messages.create(**ask("parallel_tools"))
            events = [e async for e in await client.messages.create(**ask("parallel_tools"), stream=True)]
            async with client.messages.stream(**ask("parallel_tools")) as stream:
                final = await stream.get_final_message()
            return whole, events, final

    whole, events, final = asyncio.run(run())
    assert summarize(whole.to_dict()["content"]) == expected_blocks(exp)
    check_events([e.to_dict() for e in events], exp)
    assert summarize(final.to_dict()["content"]) == expected_blocks(exp)


# -- auth, versions and routing --------------------------------------------------------------------
@pytest.mark.parametrize("headers", [
    {"x-api-key": "sk-ant-key", "anthropic-version": "2023-06-01"},
    {"authorization": "Bearer sk-ant-key", "anthropic-version": "2026-10-21"},
    {"x-api-key": "sk-ant-key", "anthropic-version": "not-a-date", "anthropic-beta": "a,b"},
])
def test_any_auth_header_and_version_accepted(server, headers):
    add_scenario(server, "plain")
    raw = raw_post(server, PATH, ask("plain"), headers)
    assert raw.status == 200 and raw.json["content"] == [{"type": "text", "text": expected("plain").text}]
    assert server.history.last().headers["anthropic-version"] == headers["anthropic-version"]


def test_auth_token_client(server):
    add_scenario(server, "plain")
    client = anthropic.Anthropic(base_url=server.url, auth_token="oauth-token", max_retries=0,
                                 _strict_response_validation=True)
    assert client.messages.create(**ask("plain")).content[0].text == expected("plain").text
    assert server.history.last().headers["authorization"] == "Bearer oauth-token"


def test_query_string_is_ignored_for_routing(server, claude):
    add_scenario(server, "one_tool")
    beta = {"extra_query": {"beta": "true"}}  # what Claude Code sends
    message = claude.beta.messages.create(**ask("one_tool"), **beta)
    assert [b.type for b in message.content] == ["text", "tool_use"]
    with claude.beta.messages.stream(**ask("one_tool"), **beta) as stream:
        assert stream.get_final_text() == expected("one_tool").text
    entry = server.history.last()
    assert entry.path == "/v1/messages?beta=true" and entry.format == "anthropic" and entry.status == 200
