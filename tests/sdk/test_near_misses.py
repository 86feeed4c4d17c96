"""Near misses and strict mode through the official SDKs: what a test's own failure message says."""
from __future__ import annotations

import io
import json
import re
import time
import urllib.request

import anthropic
import openai
import pytest

from llm_mock import MockServer


def oai(server, **kw):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", _strict_response_validation=True,
                         **{"max_retries": 0, **kw})


def claude(server, **kw):
    return anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", _strict_response_validation=True,
                               **{"max_retries": 0, **kw})


def ask(client, text, model="gpt-4o", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


def journal(server):
    with urllib.request.urlopen(server.url + "/__llm_mock/history") as response:
        return json.loads(response.read())


def three_mistakes(server):
    server.when(re.compile(r"^weather in (\w+)")).reply("Sunny")
    server.when({"model": "gpt-4-turbo", "message": "hello"}).reply("Hi")
    server.when_tool("search").reply({"tools": [{"name": "search", "args": {"q": "x"}}]})


# -- near misses with the fallback ----------------------------------------------------------------
def test_the_fallback_records_near_misses_in_the_history_entry():
    with MockServer() as server:
        three_mistakes(server)
        reply = ask(oai(server), "What's the weather in Paris?")
        assert reply.choices[0].message.content == "llm_mock: no rule matched this request."
        entry = server.history.last()
        assert entry.rule is None and len(entry.near_misses) == 3
        assert str(entry.near_misses[0]) == ('rule 0 /^weather in (\\w+)/ (0 of 1 conditions held): message: '
                                             'expected /^weather in (\\w+)/ — got "What\'s the weather in Paris?"')


def test_a_matched_request_has_no_near_misses():
    with MockServer() as server:
        server.when("hi").reply("hello")
        ask(oai(server), "hi")
        assert server.history.last().near_misses is None


def test_the_admin_journal_carries_the_near_misses_condition_by_condition():
    with MockServer() as server:
        three_mistakes(server)
        ask(oai(server), "hello there")
        ask(oai(server), "find something", tools=[{"type": "function", "function": {"name": "get_weather"}}])
        wrong_model, no_tool = journal(server)
        assert wrong_model["matched"] is False and wrong_model["status"] == 200
        closest = wrong_model["near_misses"][0]
        assert (closest["rule"], closest["held"], closest["total"]) == ("{model=gpt-4-turbo, message=hello}", 1, 2)
        assert [(c["name"], c["held"], c["expected"], c["got"]) for c in closest["conditions"]] == [
            ("model", False, '"gpt-4-turbo"', "gpt-4o"), ("message", True, '"hello"', "hello there")]
        texts = [c["text"] for miss in no_tool["near_misses"] for c in miss["conditions"] if not c["held"]]
        assert 'tool_name: "search" not among offered tools [get_weather]' in texts


def test_the_info_line_names_the_closest_rule_and_debug_lists_each():
    with MockServer(log_level="debug") as server:
        server.log.stream = out = io.StringIO()
        three_mistakes(server)
        ask(oai(server), "What's the weather in Paris?")
        deadline = time.monotonic() + 5
        while out.getvalue().count("near miss: ") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # the access log is written after the answer went out
        lines = out.getvalue().splitlines()
        [info] = [line for line in lines if "INFO" in line and "/v1/chat/completions" in line]
        assert "-> fallback 200" in info and "closest: rule 0 /^weather in (\\w+)/" in info
        assert len([line for line in lines if "near miss: " in line]) == 3


# -- strict mode ----------------------------------------------------------------------------------
def test_strict_openai_raises_not_found_with_the_near_misses_and_does_not_retry():
    with MockServer(strict=True) as server:
        three_mistakes(server)
        with pytest.raises(openai.NotFoundError) as caught:
            ask(oai(server, max_retries=3), "What's the weather in Paris?")
        message = caught.value.body["message"]
        assert message.startswith('llm_mock: no rule matched POST /v1/chat/completions (model "gpt-4o", '
                                  'last message "What\'s the weather in Paris?"). Closest rules: (1) rule 0')
        assert "message: expected /^weather in (\\w+)/ — got \"What's the weather in Paris?\"" in message
        assert "llm_mock: no rule matched" in str(caught.value)
        assert caught.value.body["code"] == "no_rule_matched"
        assert server.history.count() == 1  # not retried
        entry = server.history.last()
        assert (entry.status, entry.outcome, entry.rule) == (404, "unmatched", None)
        assert len(entry.near_misses) == 3


def test_strict_streaming_fails_before_the_stream():
    with MockServer(strict=True) as server:
        server.when({"model": "gpt-4-turbo"}).reply("x")
        with pytest.raises(openai.NotFoundError, match='model: expected "gpt-4-turbo" — got "gpt-4o"'):
            ask(oai(server), "hi", stream=True)


def test_strict_responses_api():
    with MockServer(strict=True) as server, pytest.raises(openai.NotFoundError, match="There are no rules"):
        oai(server).responses.create(model="gpt-4o", input="hi")


def test_strict_anthropic_raises_not_found_error():
    with MockServer(strict=True) as server:
        three_mistakes(server)
        with pytest.raises(anthropic.NotFoundError) as caught:
            claude(server, max_retries=3).messages.create(
                model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "find it"}],
                tools=[{"name": "get_weather", "input_schema": {"type": "object"}}])
        error = caught.value.body["error"]
        assert error["type"] == "not_found_error"
        assert error["message"].startswith("llm_mock: no rule matched POST /v1/messages")
        assert 'tool_name: "search" not among offered tools [get_weather]' in error["message"]
        assert "llm_mock: no rule matched" in str(caught.value)
        assert server.history.count() == 1


def test_strict_per_request_header_and_its_opt_out():
    with MockServer() as server:
        server.fallback("lenient")
        with pytest.raises(openai.NotFoundError, match="llm_mock: no rule matched"):
            ask(oai(server, default_headers={"x-llm-mock-strict": "1"}), "x")
        assert ask(oai(server), "x").choices[0].message.content == "lenient"
    with MockServer(strict=True) as server:
        server.fallback("lenient")
        reply = ask(oai(server, default_headers={"x-llm-mock-strict": "0"}), "x")
        assert reply.choices[0].message.content == "lenient"


def test_strict_mode_never_calls_the_fallback_and_matched_requests_are_untouched():
    calls = []
    with MockServer(strict=True) as server:
        server.fallback(lambda request: calls.append(request) or "fb")
        server.when("hi").reply("hello")
        assert ask(oai(server), "hi").choices[0].message.content == "hello"
        with pytest.raises(openai.NotFoundError):
            ask(oai(server), "other")
        assert calls == []


def test_strict_with_used_up_rule():
    with MockServer(strict=True) as server:
        server.when("once").reply("only once").times(1)
        client = oai(server)
        assert ask(client, "once").choices[0].message.content == "only once"
        with pytest.raises(openai.NotFoundError, match=re.escape("times: used up (1 of 1)")):
            ask(client, "once")
