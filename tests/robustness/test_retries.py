"""SDK retries (`x-stainless-retry-count` > 0): a retry of an answered request gets the same answer and
consumes nothing; a retry of a failed attempt (HTTP error, dropped connection) is a fresh attempt."""
from __future__ import annotations

import openai
import pytest

from llm_mock import ErrorReply, Fault
from support.clients import anthropic_client, openai_client
from support.raw_http import raw_post

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "step"}]}


def send(server, retry_count=None, body: dict = BODY) -> tuple:
    """(status, assistant text or error message) of a raw Chat Completions POST with a retry header."""
    headers = {} if retry_count is None else {"x-stainless-retry-count": str(retry_count)}
    reply = raw_post(server, "/v1/chat/completions", body, headers)
    if reply.status != 200:
        return reply.status, reply.json["error"]["message"]
    return 200, reply.json["choices"][0]["message"]["content"]


def texts(server, *retry_counts) -> list:
    return [send(server, count)[1] for count in retry_counts]


def retry_counts(server) -> list:
    return [entry.headers.get("x-stainless-retry-count") for entry in server.history]


# -- replay of answered requests ---------------------------------------------------------------------


def test_a_retry_replays_the_step_its_first_attempt_got(server):
    server.when("step").reply_sequence(["one", "two"])
    assert texts(server, 0, 1, 0, 1, 2) == ["one", "one", "two", "two", "two"]


def test_a_retry_replays_even_when_the_first_attempt_used_the_rule_up(server):
    server.when("step").reply_sequence(["one", "two"]).times(2)
    server.fallback("fallback")
    assert texts(server, 0, 1, 0, 1, 2, 0) == ["one", "one", "two", "two", "two", "fallback"]
    server.when("once").reply("only once").times(1)
    once = {**BODY, "messages": [{"role": "user", "content": "once"}]}
    assert [send(server, count, once)[1] for count in (0, 1, 3, 0)] == \
        ["only once", "only once", "only once", "fallback"]


def test_retries_consume_no_times(server):
    server.when("step").reply("counted").times(2)
    assert texts(server, 0, 1, 2, 3) == ["counted"] * 4
    assert server.rules[0].remaining == 1
    other = {**BODY, "messages": [{"role": "user", "content": "another step"}]}
    assert send(server, 0, other)[1] == "counted"
    assert server.rule_count == 0


def test_a_retry_of_a_different_body_is_not_a_replay(server):
    server.when("step").reply_sequence(["one", "two", "three"])
    assert send(server, 0)[1] == "one"
    other = {**BODY, "model": "gpt-4o-mini"}
    assert send(server, 0, other)[1] == "two"
    assert send(server, 1)[1] == "one"  # each body replays its own answer
    assert send(server, 1, other)[1] == "two"


def test_a_non_numeric_retry_header_counts_as_a_first_attempt(server):
    server.when("step").reply_sequence(["one", "two", "three", "four", "five"])
    assert texts(server, 0, "abc", "", "1.5", "-2") == ["one", "two", "three", "four", "five"]
    assert server.history.count() == 5 and {entry.status for entry in server.history} == {200}


def test_a_callable_reply_is_not_called_again_on_a_retry(server):
    calls = []

    def answer(request):
        calls.append(request.retry_count)
        return f"call {len(calls)}"

    server.when("step").reply(answer)
    assert texts(server, 0, 1, 2, 0) == ["call 1", "call 1", "call 1", "call 2"]
    assert calls == [0, 0]


def test_history_marks_a_replay_with_its_rule(server):
    server.when("step").reply("x").times(1)
    texts(server, 0, 1)
    assert [entry.rule for entry in server.history] == ['"step"', '"step"']
    assert retry_counts(server) == ["0", "1"]


# -- failed attempts are retried afresh ------------------------------------------------------------


def test_a_retry_after_an_error_reply_is_a_fresh_attempt(server):
    server.when("step").reply_sequence(["one", "two"])
    server.next_error(500, "boom")
    assert send(server, 0) == (500, "boom")
    assert texts(server, 1, 2, 0) == ["one", "one", "two"]


def test_a_retry_after_an_error_does_not_replay_an_older_answer_to_the_same_body(server):
    server.when("step").reply_sequence(["one", "two", "three"])
    assert send(server, 0)[1] == "one"
    server.next_error(503)
    assert send(server, 0)[0] == 503
    assert texts(server, 1, 2) == ["two", "two"]


def test_openai_sdk_retry_after_next_error_gets_the_normal_reply(server):
    server.when("step").reply("normal")
    server.next_error(500, "transient", retry_after=0.001)
    completion = openai_client(server, max_retries=1).chat.completions.create(**BODY)
    assert completion.choices[0].message.content == "normal"
    assert [entry.status for entry in server.history] == [500, 200]
    assert retry_counts(server) == ["0", "1"]


def test_anthropic_sdk_retries_overloaded_errors_without_skipping_a_step(server):
    server.when("step").reply_sequence(["one", "two"])
    server.when("step").reply(ErrorReply(529, "Overloaded", type="overloaded_error", retry_after=0.001)) \
        .times(2).first()
    client = anthropic_client(server, max_retries=2)
    ask = dict(model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "step"}])
    assert client.messages.create(**ask).content[0].text == "one"
    assert client.messages.create(**ask).content[0].text == "two"
    assert [entry.status for entry in server.history] == [529, 529, 200, 200]
    assert retry_counts(server) == ["0", "1", "2", "0"]


def test_errors_outlasting_the_retries_raise_then_the_rules_resume(server):
    server.when("step").reply("finally")
    server.when("step").reply(ErrorReply(429, "busy", retry_after=0.001)).times(3).first()
    client = openai_client(server, max_retries=2)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**BODY)
    assert retry_counts(server) == ["0", "1", "2"]
    assert client.chat.completions.create(**BODY).choices[0].message.content == "finally"


@pytest.mark.parametrize("kind", ["disconnect", "reset"])
def test_a_retry_after_a_dropped_connection_is_a_fresh_attempt(server, kind):
    server.when("step").reply_sequence(["one", "two"])
    server.when("step").reply(Fault(kind)).times(1).first()
    client = openai_client(server, max_retries=1)
    assert client.chat.completions.create(**BODY).choices[0].message.content == "one"
    assert client.chat.completions.create(**BODY).choices[0].message.content == "two"
    assert [entry.outcome for entry in server.history] == [f"fault {kind}", "ok", "ok"]
    assert retry_counts(server) == ["0", "1", "0"]


def test_a_retry_after_a_stalled_response_is_a_fresh_attempt(server):
    server.when("step").reply("recovered")
    server.when("step").reply(Fault("stall", stall_ms=5000)).times(1).first()
    client = anthropic_client(server, max_retries=1, timeout=1.0)
    message = client.messages.create(model="claude-sonnet-4-6", max_tokens=50,
                                     messages=[{"role": "user", "content": "step"}])
    assert message.content[0].text == "recovered"
    assert retry_counts(server) == ["0", "1"]
