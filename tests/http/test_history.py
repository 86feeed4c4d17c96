"""The request history: every request recorded with its normalised request, rule, status and outcome,
visible as soon as the client has its answer, and bounded."""
from __future__ import annotations

import time

import anthropic
import openai
import pytest

from llm_mock import ErrorReply, MockServer
from support.raw_http import raw_post

CHAT = "/v1/chat/completions"


def post(server, path: str, body, headers: dict | None = None) -> int:
    """The status of a raw POST on a fresh connection."""
    return raw_post(server, path, body, headers).status


def chat(text: str, **extra) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}


def test_every_request_is_recorded_with_rule_status_and_outcome(server):
    server.when("hello").reply("hi")
    server.when("fail").reply(ErrorReply(503, "down"))
    before = time.time()
    statuses = [
        post(server, CHAT, chat("hello there")),
        post(server, CHAT, chat("nothing matches")),
        post(server, CHAT, chat("fail now")),
        post(server, CHAT, {"model": "gpt-4o"}),  # no messages
        post(server, CHAT, b"{not json"),
        post(server, "/v1/nowhere?x=1", chat("lost")),
        post(server, "/v1/messages?beta=true",
             {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hello"}]},
             {"anthropic-version": "2023-06-01"}),
    ]
    after = time.time()
    assert statuses == [200, 200, 503, 400, 400, 404, 200]
    entries = server.history.all()
    assert [e.status for e in entries] == statuses
    assert [e.rule for e in entries] == ['"hello"', None, '"fail"', None, None, None, '"hello"']
    assert [e.outcome for e in entries] == ["ok", "ok", "error reply", "rejected", "rejected", "rejected", "ok"]
    assert [e.format for e in entries] == ["openai"] * 5 + [None, "anthropic"]
    assert [e.path for e in entries][-2:] == ["/v1/nowhere?x=1", "/v1/messages?beta=true"]
    assert all(e.method == "POST" for e in entries)
    assert all(before <= e.timestamp <= after for e in entries)
    assert [e.timestamp for e in entries] == sorted(e.timestamp for e in entries)
    # The normalised request, for the requests that had a valid body.
    assert [e.request.last_message if e.request else None for e in entries] == \
        ["hello there", "nothing matches", "fail now", None, None, None, "hello"]
    assert entries[-1].request.format == "anthropic" and entries[-1].request.path == "/v1/messages?beta=true"
    assert entries[0].last_message == "hello there" and entries[0].model == "gpt-4o"  # shortcuts
    assert entries[4].body == b"{not json"
    assert entries[-1].headers["anthropic-version"] == "2023-06-01"


def test_entries_carry_the_request_the_rules_saw(server, claude):
    server.when("weather").reply("sunny")
    claude.messages.create(model="claude-sonnet-4-6", max_tokens=64, system="Be brief.",
                           tools=[{"name": "lookup", "input_schema": {"type": "object"}}],
                           messages=[{"role": "user", "content": "weather in Paris?"}],
                           extra_headers={"x-trace": "t-1"})
    request = server.history.last().request
    assert (request.format, request.model, request.stream) == ("anthropic", "claude-sonnet-4-6", False)
    assert (request.last_message, request.system_message, request.tool_names) == \
        ("weather in Paris?", "Be brief.", ("lookup",))
    assert request.max_tokens == 64
    assert request.headers["x-trace"] == "t-1" and request.headers["x-stainless-retry-count"] == "0"
    assert request.raw["messages"][0]["content"] == "weather in Paris?"


def test_an_entry_is_there_as_soon_as_the_client_has_its_answer(server, oai):
    server.when("").reply("x")
    for i in range(30):
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"n{i}"}])
        assert server.history.count() == i + 1
        assert server.history.last().last_message == f"n{i}"


def test_a_stream_is_recorded_before_it_is_read(server, oai):
    server.when("slow").reply("a b c d e f", latency=40, chunk_size=2)
    with oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "slow"}],
                                     stream=True) as stream:
        entry = server.history.last()  # headers are in, the body is still being paced out
        assert (entry.status, entry.rule, entry.outcome, entry.request.stream) == (200, '"slow"', "ok", True)
        assert "".join(c.choices[0].delta.content or "" for c in stream) == "a b c d e f"
    assert server.history.count() == 1


def test_errors_seen_by_the_sdk_are_already_recorded(server, oai):
    server.next_error(429, "slow down")
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert (server.history.last().status, server.history.last().outcome) == (429, "error reply")


def test_a_raising_rule_is_recorded_under_its_description(server, claude):
    server.when("boom").reply(lambda request: 1 / 0)
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=10,
                               messages=[{"role": "user", "content": "boom"}])
    entry = server.history.last()
    assert (entry.status, entry.rule, entry.outcome) == (500, '"boom"', "rule error")


def test_count_first_last_at_where_iteration(server):
    assert (server.history.count(), server.history.first(), server.history.last()) == (0, None, None)
    assert server.history.at(0) is None and server.history.at(-1) is None
    for text in ("a", "b", "c", "d"):
        post(server, CHAT, chat(text))
    history = server.history
    assert history.count() == len(history) == 4
    assert history.first().last_message == "a" and history.last().last_message == "d"
    assert [history.at(i).last_message for i in (0, 1, -1, -4)] == ["a", "b", "d", "a"]
    assert history.at(4) is None and history.at(-5) is None
    assert [e.last_message for e in history.where(lambda e: e.last_message in "bd")] == ["b", "d"]
    assert history.where(lambda e: False) == []
    assert [e.last_message for e in history] == ["a", "b", "c", "d"]
    first, *rest = history
    assert first is history.first() and len(rest) == 3


def test_all_is_a_snapshot(server):
    post(server, CHAT, chat("one"))
    snapshot = server.history.all
    called = server.history.all()
    post(server, CHAT, chat("two"))
    assert [e.last_message for e in snapshot] == ["one"]
    assert [e.last_message for e in called] == ["one"]
    assert [e.last_message for e in server.history.all()] == ["one", "two"]


def test_clear_empties_it_and_recording_resumes(server):
    post(server, CHAT, chat("one"))
    server.history.clear()
    server.history.clear()
    assert server.history.count() == 0 and server.history.last() is None
    post(server, CHAT, chat("two"))
    assert [e.last_message for e in server.history] == ["two"]


def test_history_limit_keeps_the_most_recent():
    with MockServer(history_limit=5) as server:
        for i in range(8):
            post(server, CHAT, chat(f"m{i}"))
        assert server.history.count() == 5
        assert [e.last_message for e in server.history] == [f"m{i}" for i in range(3, 8)]
        assert server.history.first().last_message == "m3"


def test_reset_clears_the_history(server):
    post(server, CHAT, chat("x"))
    server.reset()
    assert server.history.count() == 0
