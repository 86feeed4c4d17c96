"""Responses on the wire (protocol-notes §3): JSON bodies, the event grammar of §3 on raw bytes and
through the SDK, the stream helper, chunking, pacing and the async client, for every reply shape."""
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
    add_scenario,
    assert_chunked,
    assert_id,
    expected,
    responses_tools,
)

MODEL = "gpt-4.1-mini"
PATH = "/v1/responses"
RESPONSE_KEYS = {"id", "object", "created_at", "status", "background", "completed_at", "error", "incomplete_details",
                 "instructions", "max_output_tokens", "max_tool_calls", "model", "output", "parallel_tool_calls",
                 "previous_response_id", "prompt_cache_key", "reasoning", "safety_identifier", "service_tier",
                 "store", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation",
                 "usage", "user", "metadata"}
TEXT_PART = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}


def ask(name: str) -> dict:
    return {"model": MODEL, "input": f"scenario {name}", "tools": responses_tools()}


def expected_items(exp) -> list:
    items = [("reasoning", exp.reasoning)] if exp.reasoning else []
    items += [("message", exp.text)] if exp.text is not None else []
    return items + [("function_call", name, args) for name, args in exp.tools]


def summarize(output: list) -> list:
    """Output items as comparable tuples, asserting each item's fixed shape on the way."""
    summary = []
    for item in output:
        if item["type"] == "reasoning":
            assert_id(item["id"], "rs")
            (part,) = item["summary"]
            assert part["type"] == "summary_text"
            summary.append(("reasoning", part["text"]))
        elif item["type"] == "message":
            assert_id(item["id"], "msg")
            assert item["role"] == "assistant" and item["status"] == "completed"
            (part,) = item["content"]
            assert {**part, "text": ""} == TEXT_PART
            summary.append(("message", part["text"]))
        else:
            assert item["type"] == "function_call" and item["status"] == "completed"
            assert_id(item["id"], "fc")
            assert_id(item["call_id"], "call")
            summary.append(("function_call", item["name"], json.loads(item["arguments"])))
    return summary


def check_usage(usage: dict, exp) -> None:
    assert usage["input_tokens"] > 0
    assert (usage["output_tokens"] > 0) == bool(exp.text or exp.tools or exp.reasoning)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert (usage["output_tokens_details"]["reasoning_tokens"] > 0) == bool(exp.reasoning)


def check_events(events: list, exp) -> dict:
    """Assert the §3 grammar on raw event dicts; returns the completed response."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    created, in_progress, *body, completed = events
    assert (created["type"], in_progress["type"], completed["type"]) == \
        ("response.created", "response.in_progress", "response.completed")
    assert_id(created["response"]["id"], "resp")
    assert created["response"]["id"] == in_progress["response"]["id"] == completed["response"]["id"]
    for start in (created, in_progress):
        assert start["response"]["status"] == "in_progress" and start["response"]["output"] == []
        assert start["response"]["usage"] is None and start["response"]["completed_at"] is None
    response = completed["response"]
    assert response["status"] == "completed" and response["completed_at"] >= response["created_at"]
    items = []
    while body:
        end = next(i for i, e in enumerate(body) if e["type"] == "response.output_item.done")
        added, *inner, done = body[:end + 1]
        body = body[end + 1:]
        assert added["type"] == "response.output_item.added" and added["output_index"] == len(items)
        assert done["output_index"] == len(items)
        item = done["item"]
        assert (added["item"]["id"], added["item"]["type"]) == (item["id"], item["type"])
        assert all(e["item_id"] == item["id"] and e["output_index"] == len(items) for e in inner)
        CHECK_ITEM[item["type"]](added["item"], [e["type"].split(".", 1)[1] for e in inner], inner, item)
        items.append(item)
    assert response["output"] == items
    assert summarize(items) == expected_items(exp)
    return response


def _reasoning(added: dict, kinds: list, inner: list, item: dict) -> None:
    assert added["summary"] == []
    assert kinds == ["reasoning_summary_part.added", *["reasoning_summary_text.delta"] * (len(kinds) - 3),
                     "reasoning_summary_text.done", "reasoning_summary_part.done"]
    assert all(e["summary_index"] == 0 for e in inner)
    assert inner[0]["part"] == {"type": "summary_text", "text": ""}
    text = "".join(e["delta"] for e in inner[1:-2])
    assert text == inner[-2]["text"] == inner[-1]["part"]["text"] == item["summary"][0]["text"]


def _message(added: dict, kinds: list, inner: list, item: dict) -> None:
    assert added["status"] == "in_progress" and added["content"] == [] and added["role"] == "assistant"
    assert kinds == ["content_part.added", *["output_text.delta"] * (len(kinds) - 3),
                     "output_text.done", "content_part.done"]
    assert all(e["content_index"] == 0 for e in inner)
    assert inner[0]["part"] == TEXT_PART
    assert all(e["logprobs"] == [] and e["delta"] for e in inner[1:-2])
    text = "".join(e["delta"] for e in inner[1:-2])
    assert inner[-2]["logprobs"] == [] and inner[-1]["part"] == {**TEXT_PART, "text": text}
    assert text == inner[-2]["text"] == item["content"][0]["text"]


def _function_call(added: dict, kinds: list, inner: list, item: dict) -> None:
    assert added["status"] == "in_progress" and added["arguments"] == ""
    assert (added["call_id"], added["name"]) == (item["call_id"], item["name"])
    assert kinds == [*["function_call_arguments.delta"] * (len(kinds) - 1), "function_call_arguments.done"]
    arguments = "".join(e["delta"] for e in inner[:-1])
    assert arguments == inner[-1]["arguments"] == item["arguments"] and inner[-1]["name"] == item["name"]


CHECK_ITEM = {"reasoning": _reasoning, "message": _message, "function_call": _function_call}


def helper_output(response) -> list:
    """The stream helper's final output as wire dicts, without the `parsed` it adds to text parts."""
    output = [item.to_dict() for item in response.output]
    for item in output:
        for part in item.get("content", []):
            part.pop("parsed", None)
    return output


# -- non-streaming --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_json_body(server, oai, name):
    add_scenario(server, name)
    exp = expected(name)
    raw = oai.responses.with_raw_response.create(**ask(name))
    response, body = raw.parse(), raw.http_response.json()
    assert set(body) == RESPONSE_KEYS
    assert_id(body["id"], "resp")
    assert (body["object"], body["status"], body["model"]) == ("response", "completed", MODEL)
    assert body["error"] is None and body["incomplete_details"] is None
    assert isinstance(body["completed_at"], int) and abs(body["created_at"] - time.time()) < 60
    assert [t["name"] for t in body["tools"]] == [t["name"] for t in responses_tools()]
    assert summarize(body["output"]) == expected_items(exp)
    assert response.output_text == (exp.text or "")
    check_usage(body["usage"], exp)


# -- raw streams ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_raw_stream_bytes(server, name):
    add_scenario(server, name)
    raw = raw_post(server, PATH, {**ask(name), "stream": True})
    assert raw.status == 200 and raw.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert b"[DONE]" not in raw.body
    events = raw.events
    assert all(e.event == e.json["type"] for e in events)
    response = check_events([e.json for e in events], expected(name))
    check_usage(response["usage"], expected(name))


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_sdk_stream_and_usage_match_json(server, oai, name):
    add_scenario(server, name)
    exp = expected(name)
    whole = oai.responses.create(**ask(name))
    events = list(oai.responses.create(**ask(name), stream=True))
    response = check_events([e.to_dict() for e in events], exp)
    assert response["usage"] == whole.usage.to_dict()
    assert events[-1].response.output_text == whole.output_text


# -- the stream helper ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_stream_helper_final_response(server, oai, name):
    add_scenario(server, name)
    exp = expected(name)
    with oai.responses.stream(**ask(name)) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert final.status == "completed"
    assert summarize(helper_output(final)) == expected_items(exp)
    assert final.output_text == (exp.text or "")
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == (exp.text or "")
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [json.loads(e.arguments) for e in done] == [args for _, args in exp.tools]
    check_usage(final.usage.to_dict(), exp)


# -- chunking and pacing --------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 3, 4])
def test_chunk_size_never_splits_a_character(server, size):
    server.when("unicode").reply({"text": UNICODE_TEXT, "reasoning": UNICODE_TEXT}, chunk_size=size)
    events = [e.json for e in raw_post(server, PATH, {"model": MODEL, "input": "unicode", "stream": True}).events]
    for kind in ("response.output_text.delta", "response.reasoning_summary_text.delta"):
        assert_chunked([e["delta"] for e in events if e["type"] == kind], UNICODE_TEXT, size)


def test_latency_paces_events(server, oai):
    server.when("paced").reply("abcd", chunk_size=2, latency=30)  # 2 deltas in 10 events
    started = time.monotonic()
    arrivals = [time.monotonic() for _ in oai.responses.create(model=MODEL, input="paced", stream=True)]
    wall = time.monotonic() - started
    assert len(arrivals) == 10
    assert 0.26 <= wall < 0.7, wall
    assert arrivals[0] - started < wall / 2
    assert arrivals[-1] - arrivals[0] >= 9 * 0.03 * 0.9


# -- the async client ------------------------------------------------------------------------------
def test_async_client_json_and_stream(server):
    add_scenario(server, "parallel_tools")
    exp = expected("parallel_tools")

    async def run():
        async with async_openai_client(server) as client:
            whole = await client.responses.create(**ask("parallel_tools"))
            events = [e async for e in await client.responses.create(**ask("parallel_tools"), stream=True)]
            async with client.responses.stream(**ask("parallel_tools")) as stream:
                final = await stream.get_final_response()
            return whole, events, final

    whole, events, final = asyncio.run(run())
    assert summarize(whole.to_dict()["output"]) == expected_items(exp)
    check_events([e.to_dict() for e in events], exp)
    assert summarize(helper_output(final)) == expected_items(exp)


def test_function_tools_echoed_with_defaults(server, oai):
    server.when("hi").reply("hello")
    bare = {"type": "function", "name": "ping", "parameters": {"type": "object", "properties": {}}}
    body = oai.responses.with_raw_response.create(model=MODEL, input="hi", tools=[bare]).http_response.json()
    assert body["tools"] == [{**bare, "description": None, "strict": True}]
