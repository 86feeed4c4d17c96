"""Transport faults through the official SDKs: a closed connection, a clean but early end, a stall, a
malformed line, a TCP reset, an empty body, and no response at all."""
from __future__ import annotations

import json
import time

import anthropic
import openai
import pytest

from llm_mock import Fault
from support.clients import anthropic_client, openai_client
from support.faults import (
    READ_ERRORS,
    STREAMS,
    TEXT,
    TEXT_OF_5,
    TIMEOUTS,
    USER,
    YIELDED_OF_5,
    chat_stream,
    chat_text,
    claude_stream,
    read_until_failure,
    reply_with,
    responses_text,
)
from support.raw_http import BODIES, connect, exchange, post, request_bytes, wait_for
from support.sse import parse_sse


def test_raw_disconnect_leaves_the_chunked_body_unfinished(server):
    reply_with(server, Fault("disconnect", after_events=3))
    data = json.dumps({**BODIES["/v1/chat/completions"], "messages": USER, "stream": True}).encode()
    out, _ = exchange(server, request_bytes("/v1/chat/completions", data))
    head, _, body = out.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0] and b"transfer-encoding: chunked" in head
    assert body.count(b"data: ") == 3 and b"[DONE]" not in body and not body.endswith(b"0\r\n\r\n")


@pytest.mark.parametrize("sdk", list(STREAMS))
def test_disconnect_after_n_events_fails_mid_iteration(server, sdk):
    reply_with(server, Fault("disconnect", after_events=5))
    events, error = read_until_failure(server, sdk, READ_ERRORS)
    assert len(events) == YIELDED_OF_5[sdk] and STREAMS[sdk][1](events) == TEXT_OF_5[sdk]
    assert "peer closed connection" in str(error.__cause__ or error)
    assert [e.outcome for e in server.history] == ["fault disconnect"]


@pytest.mark.parametrize("sdk", list(STREAMS))
def test_reset_fails_with_a_connection_reset(server, sdk):
    reply_with(server, Fault("reset", after_events=5))
    events, error = read_until_failure(server, sdk, READ_ERRORS)
    assert TEXT_OF_5[sdk].startswith(STREAMS[sdk][1](events))  # the reset may discard data still in flight
    assert "reset" in str(error.__cause__ or error).lower() or isinstance(error.__cause__, ConnectionResetError)


def test_raw_reset_is_a_tcp_reset(server):
    reply_with(server, Fault("reset", after_events=2))
    data = json.dumps({**BODIES["/v1/messages"], "messages": USER, "stream": True}).encode()
    out, _ = exchange(server, request_bytes("/v1/messages", data))
    assert out.endswith(b"<<reset>>")


def test_no_response_at_all_is_retried_as_a_connection_error(server):
    reply_with(server, Fault("disconnect", after_events=0))
    with pytest.raises(openai.APIConnectionError):
        chat_stream(openai_client(server, max_retries=2))
    assert server.history.count() == 3
    with pytest.raises(anthropic.APIConnectionError):
        anthropic_client(server, max_retries=1).messages.create(model="m", max_tokens=10, messages=USER)
    assert server.history.count() == 5
    assert {e.outcome for e in server.history} == {"fault disconnect"}


def test_truncated_chat_stream_has_no_finish_reason_but_done(server, oai):
    reply_with(server, Fault("truncate", after_events=5))
    chunks = list(chat_stream(oai))
    assert len(chunks) == 5 and chat_text(chunks) == TEXT[:20]
    assert all(c.choices[0].finish_reason is None for c in chunks)
    status, _, body = post(connect(server), "/v1/chat/completions",
                           {**BODIES["/v1/chat/completions"], "messages": USER, "stream": True})
    events = parse_sse(body)
    assert status == 200 and events[-1] == (None, "[DONE]") and len(events) == 6
    assert '"finish_reason":"' not in body.decode()


def test_truncated_anthropic_stream_stops_without_message_delta(server, claude):
    reply_with(server, Fault("truncate", after_events=5))
    events = list(claude_stream(claude))
    assert [e.type for e in events] == ["message_start", "content_block_start", "content_block_delta",
                                        "content_block_delta", "message_stop"]
    with claude.messages.stream(model="m", max_tokens=100, messages=USER) as stream:
        message = stream.get_final_message()
    assert message.stop_reason is None and message.content[0].text == TEXT[:10]


def test_truncated_responses_stream_has_no_terminal_event(server, oai):
    reply_with(server, Fault("truncate", after_events=6))
    events = list(oai.responses.create(model="gpt-4.1-mini", input="go", stream=True))
    assert len(events) == 6 and events[-1].type == "response.output_text.delta"
    assert responses_text(events) == TEXT[:10]
    with oai.responses.stream(model="gpt-4.1-mini", input="go") as stream:
        assert len(list(stream)) == 6
        with pytest.raises(RuntimeError, match="response.completed"):
            stream.get_final_response()


@pytest.mark.parametrize("sdk", list(STREAMS))
def test_stall_holds_until_the_client_times_out(server, sdk):
    reply_with(server, Fault("stall", after_events=5))  # the default stall is 30 s
    started = time.monotonic()
    events, _ = read_until_failure(server, sdk, TIMEOUTS, timeout=0.5)
    assert 0.45 < time.monotonic() - started < 3
    assert STREAMS[sdk][1](events) == TEXT_OF_5[sdk]
    wait_for(lambda: server.history.count() == 1 and server.history.last().duration_ms > 0)
    assert server.history.last().duration_ms < 3000  # the server noticed the client leave


def test_stall_ends_after_stall_ms(server):
    reply_with(server, Fault("stall", after_events=5, stall_ms=300))
    started = time.monotonic()
    events, _ = read_until_failure(server, "chat", openai.APIConnectionError)
    assert 0.28 < time.monotonic() - started < 2.5
    assert chat_text(events) == TEXT[:20]


@pytest.mark.parametrize("sdk", list(STREAMS))
def test_malformed_line_fails_json_decoding(server, sdk):
    reply_with(server, Fault("malformed", after_events=5))
    events, _ = read_until_failure(server, sdk, json.JSONDecodeError)
    assert len(events) == YIELDED_OF_5[sdk] and STREAMS[sdk][1](events) == TEXT_OF_5[sdk]


@pytest.mark.parametrize("path", list(BODIES))
def test_empty_stream_is_a_200_with_no_events(server, path):
    reply_with(server, Fault("empty"))
    status, headers, body = post(connect(server), path, {**BODIES[path], "messages": USER, "input": "go",
                                                         "stream": True})
    assert status == 200 and headers["content-type"].startswith("text/event-stream") and body == b""


def test_empty_stream_through_the_sdks(server, oai, claude):
    reply_with(server, Fault("empty"))
    assert list(chat_stream(oai)) == []
    with oai.responses.stream(model="gpt-4.1-mini", input="go") as stream:
        assert list(stream) == []
        with pytest.raises(RuntimeError):
            stream.get_final_response()
    with claude.messages.stream(model="m", max_tokens=100, messages=USER) as stream:
        assert list(stream) == []
        with pytest.raises(AssertionError):
            stream.get_final_message()
