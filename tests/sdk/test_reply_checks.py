"""A reply is checked like any other input: a callable that returns None (a forgotten `return`) or a
usage override of the wrong type is a 500 naming the rule, never a 200 with empty text."""
from __future__ import annotations

import anthropic
import openai
import pytest

from llm_mock import MockServer, ReplyObject


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def oai(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0,
                         _strict_response_validation=True)


@pytest.fixture
def claude(server):
    return anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0,
                               _strict_response_validation=True)


def chat(client, text: str):
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])


def test_a_callable_returning_none_is_a_500_naming_the_rule(server, oai, claude):
    def forgot_return(request):
        text = f"Hello {request.last_message}"  # the bug: no `return text`
        assert text

    server.when("greet").reply(forgot_return)
    with pytest.raises(openai.InternalServerError) as raised:
        chat(oai, "greet me")
    message = raised.value.body["message"]
    assert '"greet"' in message and "returned None" in message
    with pytest.raises(anthropic.InternalServerError) as raised_too:
        claude.messages.create(model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "greet"}])
    assert "returned None" in str(raised_too.value)
    assert [(entry.status, entry.rule, entry.outcome) for entry in server.history] == \
        [(500, '"greet"', "rule error")] * 2


def test_an_async_callable_returning_none_is_a_500_too(server, oai):
    async def forgot_return(request):
        pass

    server.when("greet").reply(forgot_return)
    with pytest.raises(openai.InternalServerError, match="returned None"):
        chat(oai, "greet")


def test_an_explicit_empty_string_is_still_a_valid_reply(server, oai):
    server.when("quiet").reply(lambda request: "")
    assert chat(oai, "quiet").choices[0].message.content == ""


@pytest.mark.parametrize("usage, word", [
    ({"output": "5"}, "'output'"), ({"input": -1}, "'input'"), ({"output": 2.5}, "'output'"),
    ({"output": True}, "'output'"), ({"outptu": 3}, "unknown usage field 'outptu'"), ("many", "dict"),
    ({"output": 1, "output_tokens": 2}, "twice"),
])
def test_usage_values_are_type_checked_when_the_rule_is_added(server, usage, word):
    with pytest.raises(ValueError, match=word):
        server.when("x").reply(ReplyObject(text="t", usage=usage))
    with pytest.raises(ValueError, match=word):
        server.when("x").reply({"text": "t", "usage": usage})
    assert server.rule_count == 0


def test_usage_from_a_callable_is_checked_at_request_time(server, oai):
    server.when("count").reply(lambda request: ReplyObject(text="t", usage={"output": "many"}))
    with pytest.raises(openai.InternalServerError) as raised:
        chat(oai, "count")
    assert '"count"' in raised.value.body["message"] and "'output'" in raised.value.body["message"]


def test_usage_keys_long_or_short(server, oai):
    server.when("long").reply(ReplyObject(text="t", usage={"input_tokens": 11, "output_tokens": 7}))
    server.when("short").reply(ReplyObject(text="t", usage={"input": 11, "output": 7, "cached": 2}))
    for text in ("long", "short"):
        usage = chat(oai, text).usage
        assert (usage.prompt_tokens, usage.completion_tokens) == (11, 7)
