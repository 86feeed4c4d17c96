"""Failures on demand, as the official SDKs (strict validation) experience them.

Vendor rate-limit headers and plain-JSON errors before a stream starts; in-band failures after a 200
stream started, in each format's own shape; and the truncation the real APIs do. Status mapping and
retries: test_error_replies.py; transport faults: test_transport_faults.py.
"""
from __future__ import annotations

import json

import anthropic
import openai
import pytest

from llm_mock import ErrorReply, Fault, ReplyObject, ToolCall
from support.clients import anthropic_client, openai_client
from support.faults import (
    TEXT,
    USER,
    anthropic_text,
    chat_stream,
    chat_text,
    claude_stream,
    drain,
    reply_with,
    responses_text,
)
from support.raw_http import BODIES, connect, post
from support.sse import parse_sse

# -- HTTP errors before a stream -------------------------------------------------------------

def test_vendor_rate_limit_headers_reach_the_client(server):
    openai_headers = {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
                      "x-ratelimit-reset-requests": "1s", "x-ratelimit-limit-tokens": "150000",
                      "x-ratelimit-remaining-tokens": "149000", "x-ratelimit-reset-tokens": "6ms"}
    anthropic_headers = {"anthropic-ratelimit-requests-limit": "50",
                         "anthropic-ratelimit-requests-remaining": "0",
                         "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:01Z",
                         "anthropic-ratelimit-tokens-remaining": "0"}
    server.when(lambda r: r.format == "openai").reply(ErrorReply(429, headers=openai_headers))
    server.when(lambda r: r.format == "anthropic").reply(ErrorReply(429, headers=anthropic_headers))
    with pytest.raises(openai.RateLimitError) as oai_error:
        openai_client(server).chat.completions.create(model="gpt-4o-mini", messages=USER)
    with pytest.raises(anthropic.RateLimitError) as claude_error:
        anthropic_client(server).messages.create(model="m", max_tokens=10, messages=USER)
    for caught, sent in ((oai_error, openai_headers), (claude_error, anthropic_headers)):
        received = caught.value.response.headers
        assert {name: received[name] for name in sent} == sent


@pytest.mark.parametrize("path", list(BODIES))
def test_an_error_on_a_stream_request_is_plain_json(server, path):
    server.when(lambda r: True).reply(ErrorReply.rate_limited(retry_after=2))
    status, headers, body = post(connect(server), path, {**BODIES[path], "stream": True})
    assert status == 429
    assert headers["content-type"] == "application/json"
    assert "transfer-encoding" not in headers and int(headers["content-length"]) == len(body)
    assert headers["retry-after"] == "2" and headers["retry-after-ms"] == "2000"
    parsed = json.loads(body)
    assert parsed["error"]["type"] == ("rate_limit_error" if path == "/v1/messages" else "requests")


# -- in-band failures after a 200 stream started --------------------------------------------

def test_anthropic_inband_error_after_n_events(server, claude):
    reply_with(server, Fault("error", after_events=5))  # message_start, block start, ping, 2 deltas
    events = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        drain(claude_stream(claude), events)
    assert type(caught.value) is anthropic.APIStatusError and caught.value.status_code == 200
    assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                                 "request_id": caught.value.body["request_id"]}
    assert [e.type for e in events] == ["message_start", "content_block_start", "content_block_delta",
                                        "content_block_delta"]
    assert anthropic_text(events) == TEXT[:10]


def test_anthropic_inband_error_ends_the_stream_without_message_stop(server):
    reply_with(server, Fault("error", after_chars=12, error=ErrorReply(500, "boom")))
    status, headers, body = post(connect(server), "/v1/messages", {**BODIES["/v1/messages"], "stream": True,
                                                                   "messages": USER})
    events = parse_sse(body)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in events]
    assert names[-1] == "error" and "message_stop" not in names and "message_delta" not in names
    assert json.loads(events[-1][1])["error"] == {"type": "api_error", "message": "boom"}
    text = "".join(json.loads(d)["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == TEXT[:15]  # the error follows the event that took the text past 12 characters


def test_anthropic_stream_helper_raises_the_inband_error(server, claude):
    reply_with(server, Fault("error", after_chars=10, error=ErrorReply.rate_limited()))
    pieces = []
    with pytest.raises(anthropic.APIStatusError) as caught, \
            claude.messages.stream(model="m", max_tokens=100, messages=USER) as stream:
        pieces.extend(stream.text_stream)
    assert "".join(pieces) == TEXT[:10]
    assert caught.value.status_code == 200 and caught.value.body["error"]["type"] == "rate_limit_error"


def test_responses_failed_is_yielded_and_fails_the_stream_helper(server, oai):
    reply_with(server, Fault("failed", after_events=6))  # created, in_progress, item, part, 2 deltas
    events = list(oai.responses.create(model="gpt-4.1-mini", input="go", stream=True))
    assert [e.type for e in events][:4] == ["response.created", "response.in_progress",
                                            "response.output_item.added", "response.content_part.added"]
    assert responses_text(events) == TEXT[:10]
    last = events[-1]
    assert last.type == "response.failed" and last.sequence_number == 6
    assert last.response.status == "failed" and last.response.error.code == "server_error"
    assert last.response.id == events[0].response.id
    with oai.responses.stream(model="gpt-4.1-mini", input="go") as stream:
        assert [e.type for e in stream][-1] == "response.failed"
        with pytest.raises(RuntimeError, match="response.completed"):
            stream.get_final_response()


def test_responses_failed_carries_the_given_error(server, oai):
    reply_with(server, Fault("failed", after_chars=10, error=ErrorReply(429, "quota")))
    last = list(oai.responses.create(model="gpt-4.1-mini", input="go", stream=True))[-1]
    assert last.response.error.code == "rate_limit_exceeded" and last.response.error.message == "quota"


def test_responses_nested_error_event_raises_api_error(server, oai):
    reply_with(server, Fault("error", after_chars=20))
    events = []
    with pytest.raises(openai.APIError) as caught:
        drain(oai.responses.create(model="gpt-4.1-mini", input="go", stream=True), events)
    assert not isinstance(caught.value, openai.APIStatusError)
    assert caught.value.message == "The server had an error while processing your request. Sorry about that!"
    assert caught.value.type == "server_error"
    assert responses_text(events) == TEXT[:20]
    assert events[-1].type == "response.output_text.delta"


@pytest.mark.parametrize("reason", ["max_output_tokens", "content_filter"])
def test_responses_incomplete_fault_ends_with_its_reason(server, oai, reason):
    reply_with(server, Fault("incomplete", after_chars=20, reason=reason))
    events = list(oai.responses.create(model="gpt-4.1-mini", input="go", stream=True))
    assert responses_text(events) == TEXT[:20]
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.status == "incomplete" and last.response.incomplete_details.reason == reason
    assert last.response.output[0].status == "incomplete"
    whole = oai.responses.create(model="gpt-4.1-mini", input="go")
    assert whole.status == "incomplete" and whole.incomplete_details.reason == reason
    assert whole.output_text == TEXT[:20]


def test_chat_inband_error_raises_api_error(server, oai):
    reply_with(server, Fault("error", after_events=3))  # the role chunk and two text chunks
    chunks = []
    with pytest.raises(openai.APIError) as caught:
        drain(chat_stream(oai), chunks)
    assert not isinstance(caught.value, openai.APIStatusError)
    assert caught.value.type == "server_error"
    assert len(chunks) == 3 and chat_text(chunks) == TEXT[:10]


def test_chat_inband_error_is_a_bare_error_object_without_done(server):
    reply_with(server, Fault("error", after_chars=30, error=ErrorReply(503, "overloaded")))
    status, _, body = post(connect(server), "/v1/chat/completions",
                           {**BODIES["/v1/chat/completions"], "messages": USER, "stream": True})
    events = parse_sse(body)
    assert status == 200 and all(name is None for name, _ in events)
    assert json.loads(events[-1][1]) == {"error": {"message": "overloaded", "type": "server_error",
                                                   "param": None, "code": None}}
    assert "[DONE]" not in body.decode()
    assert "".join(json.loads(d)["choices"][0]["delta"].get("content") or "" for _, d in events[:-1]) == TEXT[:30]


def test_an_inband_fault_on_a_json_request_is_its_http_error(server, oai, claude):
    reply_with(server, Fault("error", error=ErrorReply(500, "late")))
    with pytest.raises(openai.InternalServerError, match="late"):
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    with pytest.raises(anthropic.InternalServerError, match="late"):
        claude.messages.create(model="m", max_tokens=10, messages=USER)


# -- truncation: max_tokens and the incomplete fault -----------------------------------------

@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
def test_chat_limit_cuts_the_reply_with_length(server, oai, limit_field):
    server.when("go").reply(TEXT, chunk_size=5)
    whole = oai.chat.completions.create(model="gpt-4o-mini", messages=USER, **{limit_field: 3})
    assert whole.choices[0].finish_reason == "length"
    assert whole.choices[0].message.content == TEXT[:12] and whole.usage.completion_tokens == 3
    chunks = list(chat_stream(oai, **{limit_field: 3}))
    assert chat_text(chunks) == TEXT[:12] and chunks[-1].choices[0].finish_reason == "length"
    with oai.chat.completions.stream(model="gpt-4o-mini", messages=USER, **{limit_field: 3}) as stream, \
            pytest.raises(openai.LengthFinishReasonError):
        stream.get_final_completion()


def test_chat_limit_drops_tool_calls_that_do_not_fit(server, oai):
    server.when("go").reply(ReplyObject(text="ok", tools=[ToolCall("lookup", {"query": "x" * 40})]))
    whole = oai.chat.completions.create(model="gpt-4o-mini", messages=USER, max_tokens=2)
    assert whole.choices[0].finish_reason == "length" and whole.choices[0].message.tool_calls is None


def test_anthropic_limit_stops_with_max_tokens(server, claude):
    server.when("go").reply(TEXT, chunk_size=5)
    message = claude.messages.create(model="claude-mock", max_tokens=3, messages=USER)
    assert message.stop_reason == "max_tokens" and message.content[0].text == TEXT[:12]
    assert message.usage.output_tokens == 3
    with claude.messages.stream(model="claude-mock", max_tokens=3, messages=USER) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens" and final.content[0].text == TEXT[:12]


def test_responses_limit_is_incomplete_with_max_output_tokens(server, oai):
    server.when("go").reply(TEXT, chunk_size=5)
    whole = oai.responses.create(model="gpt-4.1-mini", input="go", max_output_tokens=3)
    assert whole.status == "incomplete" and whole.incomplete_details.reason == "max_output_tokens"
    assert whole.output_text == TEXT[:12] and whole.usage.output_tokens == 3
    events = list(oai.responses.create(model="gpt-4.1-mini", input="go", max_output_tokens=3, stream=True))
    assert responses_text(events) == TEXT[:12]
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    with oai.responses.stream(model="gpt-4.1-mini", input="go", max_output_tokens=3) as stream, \
            pytest.raises(RuntimeError, match="response.completed"):
        stream.get_final_response()


@pytest.mark.parametrize("reason, chat_error, stop_reason", [
    ("max_output_tokens", openai.LengthFinishReasonError, "max_tokens"),
    ("content_filter", openai.ContentFilterFinishReasonError, "refusal"),
])
def test_incomplete_fault_in_chat_and_anthropic(server, oai, claude, reason, chat_error, stop_reason):
    reply_with(server, Fault("incomplete", after_chars=15, reason=reason))
    chunks = list(chat_stream(oai))
    finish = "length" if reason == "max_output_tokens" else "content_filter"
    assert chat_text(chunks) == TEXT[:15] and chunks[-1].choices[0].finish_reason == finish
    with oai.chat.completions.stream(model="gpt-4o-mini", messages=USER) as stream, pytest.raises(chat_error):
        stream.get_final_completion()
    message = claude.messages.create(model="claude-mock", max_tokens=1024, messages=USER)
    assert message.stop_reason == stop_reason and message.content[0].text == TEXT[:15]
    streamed = list(claude_stream(claude))
    assert anthropic_text(streamed) == TEXT[:15] and streamed[-1].type == "message_stop"
    assert streamed[-2].delta.stop_reason == stop_reason
