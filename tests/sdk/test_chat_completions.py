"""Chat Completions on the wire (protocol-notes §2): JSON bodies, raw chunk streams, the SDK's
stream helper, chunking, pacing and the async client, each for every reply shape."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from support.clients import async_openai_client
from support.raw_http import raw_post
from support.scenarios import (
    SCENARIO_NAMES,
    UNICODE_TEXT,
    Expected,
    add_scenario,
    assert_chunked,
    assert_id,
    chat_tools,
    expected,
)

MODEL = "gpt-4o-mini"
PATH = "/v1/chat/completions"


def ask(name: str) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"scenario {name}"}], "tools": chat_tools()}


def check_usage(usage: dict, exp) -> None:
    assert usage["prompt_tokens"] > 0
    assert (usage["completion_tokens"] > 0) == bool(exp.text or exp.tools or exp.reasoning)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    details = usage["completion_tokens_details"]
    assert set(details) == {"reasoning_tokens", "audio_tokens", "accepted_prediction_tokens",
                            "rejected_prediction_tokens"}
    assert (details["reasoning_tokens"] > 0) == bool(exp.reasoning)


def check_chunks(chunks: list, exp, n: int = 1, include_usage: bool = False) -> list:
    """Assert the §2 ordering rules on raw chunk dicts; returns each choice's content pieces."""
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert_id(chunks[0]["id"], "chatcmpl")
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert len({c["system_fingerprint"] for c in chunks}) == 1
    if include_usage:
        *chunks, last = chunks
        assert last["choices"] == [] and isinstance(last["usage"], dict)
        assert all("usage" in c and c["usage"] is None for c in chunks)
    else:
        assert all("usage" not in c for c in chunks)
    assert all(len(c["choices"]) == 1 for c in chunks)
    order = [c["choices"][0]["index"] for c in chunks]
    assert sorted(set(order), key=order.index) == list(range(n))  # choice k first appears after choice k-1
    contents = []
    for k in range(n):
        choices = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == k]
        deltas = [choice["delta"] for choice in choices]
        assert all(choice["logprobs"] is None for choice in choices)
        assert deltas[0]["role"] == "assistant" and "refusal" in deltas[0] and deltas[0]["refusal"] is None
        assert all("role" not in d for d in deltas[1:])
        assert [c["finish_reason"] for c in choices] == [None] * (len(choices) - 1) + [exp.finish]
        assert deltas[-1] == {}
        pieces = [d["content"] for d in deltas[1:-1] if "content" in d]
        assert deltas[0]["content"] == ("" if exp.text is not None else None)
        assert "".join(pieces) == (exp.text or "") and all(pieces)
        assert [(name, args) for name, args, _ in tool_calls_of(deltas)] == list(exp.tools)
        contents.append(pieces)
    return contents


def tool_calls_of(deltas: list) -> list:
    """(name, args, id) per call, asserting id/type/name come only in a call's first fragment and
    each call's fragments end before the next call starts."""
    calls = []
    for fragment in (f for d in deltas for f in d.get("tool_calls", [])):
        assert isinstance(fragment["index"], int) and isinstance(fragment["function"], dict)
        if "id" in fragment:
            assert fragment["index"] == len(calls) and fragment["type"] == "function"
            assert fragment["function"]["arguments"] == ""
            assert_id(fragment["id"], "call")
            calls.append([fragment["function"]["name"], "", fragment["id"]])
        else:
            assert fragment["index"] == len(calls) - 1
            assert set(fragment) == {"index", "function"} and set(fragment["function"]) == {"arguments"}
            calls[-1][1] += fragment["function"]["arguments"]
    assert len({call_id for _, _, call_id in calls}) == len(calls)
    return [(name, json.loads(arguments), call_id) for name, arguments, call_id in calls]


# -- non-streaming --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_json_body(server, oai, name):
    add_scenario(server, name)
    exp = expected(name)
    raw = oai.chat.completions.with_raw_response.create(**ask(name))
    completion, body = raw.parse(), raw.http_response.json()
    assert raw.http_response.headers["content-type"].startswith("application/json")
    assert_id(completion.id, "chatcmpl")
    assert body["object"] == "chat.completion" and body["model"] == MODEL
    assert abs(body["created"] - time.time()) < 60
    assert body["service_tier"] == "default" and body["system_fingerprint"].startswith("fp_")
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["logprobs"] is None and choice["finish_reason"] == exp.finish
    message = choice["message"]
    assert message["role"] == "assistant" and message["refusal"] is None and message["annotations"] == []
    assert message["content"] == exp.text
    assert ("tool_calls" in message) == bool(exp.tools)
    calls = completion.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == list(exp.tools)
    for call in calls:
        assert_id(call.id, "call")
        assert call.type == "function"
    check_usage(body["usage"], exp)


def test_n_choices_json(server, oai):
    add_scenario(server, "plain")
    completion = oai.chat.completions.create(**ask("plain"), n=2)
    assert [c.index for c in completion.choices] == [0, 1]
    assert all(c.message.content == expected("plain").text for c in completion.choices)


# -- raw streams ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_raw_stream_bytes(server, name):
    add_scenario(server, name)
    raw = raw_post(server, PATH, {**ask(name), "stream": True})
    assert raw.status == 200
    assert raw.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert raw.headers["cache-control"] == "no-cache"
    assert raw.headers["transfer-encoding"] == "chunked" and "content-length" not in raw.headers
    assert raw.body.endswith(b"data: [DONE]\n\n") and raw.body.count(b"[DONE]") == 1
    assert b"event:" not in raw.body and b"\nevent" not in raw.body
    events = raw.events
    assert all(e.event is None for e in events)
    check_chunks([e.json for e in events[:-1]], expected(name))


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_sdk_stream_and_usage_match_json(server, oai, name):
    add_scenario(server, name)
    exp = expected(name)
    whole = oai.chat.completions.create(**ask(name))
    chunks = list(oai.chat.completions.create(**ask(name), stream=True, stream_options={"include_usage": True}))
    check_chunks([c.to_dict() for c in chunks], exp, include_usage=True)
    assert chunks[-1].usage == whole.usage
    check_usage(chunks[-1].usage.to_dict(), exp)
    assert [c.choices[0].finish_reason for c in chunks[:-1]][-1] == whole.choices[0].finish_reason


def test_include_usage_false_sends_no_usage(server):
    add_scenario(server, "plain")
    raw = raw_post(server, PATH, {**ask("plain"), "stream": True, "stream_options": {"include_usage": False}})
    check_chunks([e.json for e in raw.events[:-1]], expected("plain"))


def test_n_choices_stream_interleave(server, oai):
    add_scenario(server, "one_tool")
    exp = expected("one_tool")
    raw = raw_post(server, PATH, {**ask("one_tool"), "n": 2, "stream": True})
    chunks = [e.json for e in raw.events[:-1]]
    check_chunks(chunks, exp, n=2)
    finals = [c["choices"][0]["index"] for c in chunks if c["choices"][0]["finish_reason"]]
    assert finals == [0, 1]
    with oai.chat.completions.stream(**ask("one_tool"), n=2) as stream:
        final = stream.get_final_completion()
    assert [c.index for c in final.choices] == [0, 1]
    for choice in final.choices:
        assert choice.message.content == exp.text and choice.finish_reason == "tool_calls"
        assert [(t.function.name, json.loads(t.function.arguments)) for t in choice.message.tool_calls] \
            == list(exp.tools)


# -- the stream helper ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_stream_helper_final_completion(server, oai, name):
    add_scenario(server, name)
    exp = expected(name)
    whole = oai.chat.completions.create(**ask(name))
    with oai.chat.completions.stream(**ask(name), stream_options={"include_usage": True}) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    (choice,) = final.choices
    assert choice.message.content == exp.text and choice.message.role == "assistant"
    assert choice.finish_reason == exp.finish
    assert [(t.function.name, json.loads(t.function.arguments)) for t in choice.message.tool_calls or []] \
        == list(exp.tools)
    assert final.usage == whole.usage
    deltas = [e.delta for e in events if e.type == "content.delta"]
    assert "".join(deltas) == (exp.text or "")
    assert [e.content for e in events if e.type == "content.done"] == ([exp.text] if exp.text else [])
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.name, json.loads(e.arguments)) for e in done] == list(exp.tools)
    assert [e.index for e in done] == list(range(len(exp.tools)))


# -- chunking and pacing --------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_chunk_size_never_splits_a_character(server, size):
    server.when("unicode").reply(UNICODE_TEXT, chunk_size=size)
    raw = raw_post(server, PATH, {"model": MODEL, "messages": [{"role": "user", "content": "unicode"}],
                                  "stream": True})
    (pieces,) = check_chunks([e.json for e in raw.events[:-1]], Expected(UNICODE_TEXT, None, ()))
    assert_chunked(pieces, UNICODE_TEXT, size)


def test_latency_paces_events(server, oai):
    server.when("paced").reply("abcdefghijklmn", chunk_size=2, latency=30)  # 9 chunks + [DONE] = 10 frames
    started = time.monotonic()
    arrivals = [time.monotonic() for _ in oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "paced"}], stream=True)]
    wall = time.monotonic() - started
    assert len(arrivals) == 9
    assert 0.26 <= wall < 0.7, wall
    assert arrivals[0] - started < wall / 2  # the first chunk is flushed at once, not held back
    assert arrivals[-1] - arrivals[0] >= 8 * 0.03 * 0.9


# -- the async client ------------------------------------------------------------------------------
def test_async_client_json_and_stream(server):
    add_scenario(server, "one_tool")
    exp = expected("one_tool")

    async def run():
        async with async_openai_client(server) as client:
            whole = await client.chat.completions.create(**ask("one_tool"))
            chunks = [c async for c in await client.chat.completions.create(
                **ask("one_tool"), stream=True, stream_options={"include_usage": True})]
            async with client.chat.completions.stream(**ask("one_tool")) as stream:
                final = await stream.get_final_completion()
            return whole, chunks, final

    whole, chunks, final = asyncio.run(run())
    assert whole.choices[0].message.content == exp.text
    check_chunks([c.to_dict() for c in chunks], exp, include_usage=True)
    assert chunks[-1].usage == whole.usage
    assert final.choices[0].message.content == exp.text
    assert [t.function.name for t in final.choices[0].message.tool_calls] == ["get_weather"]

