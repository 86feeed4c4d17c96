"""Near misses as pure functions: each condition explained, rules ranked, the strict message."""
from __future__ import annotations

import re

from llm_mock import MatchObject, Message, MockRequest, ToolDef
from llm_mock.builder import RuleBuilder
from llm_mock.near_miss import Candidate, near_misses, strict_message
from llm_mock.request import finish
from llm_mock.resolving import candidates


def request(text="What's the weather in Paris?", model="gpt-4o", tools=(), system=None, tool_result=None,
            fmt="openai"):
    messages = [Message("system", system)] if system else []
    messages.append(Message("user", text))
    if tool_result:
        messages.append(Message("tool", "42", tool_call_id=tool_result))
    req = MockRequest(format=fmt, model=model, stream=False, tools=[ToolDef(t) for t in tools],
                      tool_names=tuple(tools))
    return finish(req, messages)


def misses(build, req, **kw):
    builder = RuleBuilder()
    build(builder)
    return near_misses(req, candidates(builder.engine), **kw)


def test_a_regex_that_does_not_match_says_what_it_expected_and_what_came():
    [miss] = misses(lambda b: b.when(re.compile(r"^weather in (\w+)")).reply("x"), request())
    assert str(miss) == ('rule 0 /^weather in (\\w+)/ (0 of 1 conditions held): message: expected '
                         '/^weather in (\\w+)/ — got "What\'s the weather in Paris?"')
    check = miss.checks[0]
    assert (check.name, check.held, check.expected, check.got) == (
        "message", False, "/^weather in (\\w+)/", "What's the weather in Paris?")


def test_the_wrong_model_and_the_conditions_that_held():
    [miss] = misses(lambda b: b.when({"model": "gpt-4-turbo", "message": "weather"}).reply("x"), request())
    assert miss.held == 1 and [c.held for c in miss.checks] == [False, True]
    assert [c.text for c in miss.failed] == ['model: expected "gpt-4-turbo" — got "gpt-4o"']


def test_a_tool_that_was_not_offered():
    [miss] = misses(lambda b: b.when_tool("search").reply("x"), request(tools=("get_weather",)))
    assert miss.failed[0].text == 'tool_name: "search" not among offered tools [get_weather]'
    [miss] = misses(lambda b: b.when(MatchObject(server_tool="web_search")).reply("x"), request())
    assert miss.failed[0].text == 'server_tool: "web_search" not among offered server tools []'


def test_a_used_up_rule_says_so():
    def build(b):
        b.when("weather").reply("x").times(3)
        for _ in range(3):
            b.engine.resolve(request())
    [miss] = misses(build, request())
    assert miss.index is None and miss.held == 1
    assert [c.text for c in miss.failed] == ["times: used up (3 of 3)"]
    assert str(miss).startswith('used-up rule "weather" (1 of 2 conditions held)')


def test_times_zero_is_used_up_in_place():
    [miss] = misses(lambda b: b.when("weather").reply("x").times(0), request())
    assert miss.index == 0 and miss.failed[0].text == "times: used up (0 of 0)"


def test_format_system_and_tool_result():
    got = misses(lambda b: b.when({"format": "anthropic", "system": "pirate", "toolCallId": "call_1"}).reply("x"),
                 request(system="You are terse.", tool_result="call_2"))
    assert [c.text for c in got[0].failed] == [
        'format: expected "anthropic" — got "openai"', 'system: expected "pirate" — got "You are terse."',
        'tool_call_id: expected "call_1" — got "call_2"']


def test_predicates_are_explained_without_running_them_again():
    calls = []

    def wanted(req):
        calls.append(req)
        return False

    def build(b):
        b.when(lambda req: False).reply("y")
        b.when(MatchObject(model="gpt-4o", predicate=wanted)).reply("z")
        b.when(MatchObject(model="claude", predicate=wanted)).reply("z")
    got = misses(build, request(), limit=5)
    texts = {miss.rule: [c.text for c in miss.checks] for miss in got}
    assert texts["(predicate)"] == ["predicate: returned False"]
    assert texts["{model=gpt-4o, predicate}"] == ['model: expected "gpt-4o" — got "gpt-4o"',
                                                  "predicate wanted: returned False"]
    assert texts["{model=claude, predicate}"][1] == "predicate wanted: not run (an earlier condition failed)"
    assert calls == []


def test_rules_rank_by_conditions_held_then_fewest_failed_and_three_at_most():
    def build(b):
        b.when("unrelated").reply("0")
        b.when({"model": "gpt-4o", "message": "weather", "system": "x"}).reply("1")
        b.when({"model": "gpt-4o", "message": "snow"}).reply("2")
        b.when("wether").reply("3")
        b.when("zzz").reply("4")
    got = misses(build, request())
    assert [m.rule for m in got] == ["{model=gpt-4o, message=weather, system=x}", "{model=gpt-4o, message=snow}",
                                     '"wether"']  # the typo is closer to what was sent than "unrelated"
    assert len(misses(build, request(), limit=5)) == 5


def test_next_error_rules_are_left_out():
    def build(b):
        b.next_error(500)
        b.engine.resolve(request())
        b.next_error(429)
    assert misses(build, request()) == []


def test_another_sessions_rule_counts_only_when_everything_else_held():
    other = RuleBuilder()
    other.when("weather").reply("x")
    other.when("snow").reply("y")
    found = near_misses(request(), [Candidate(rule, i, "w2", foreign=True)
                                    for i, rule in enumerate(other.engine.snapshot())])
    assert [str(m) for m in found] == [
        'rule 0 of session w2 "weather" (1 of 2 conditions held): session: belongs to session w2']


def test_the_json_form_has_every_condition():
    [miss] = misses(lambda b: b.when({"model": "gpt-4o", "message": "snow"}).reply("x"), request())
    data = miss.to_json()
    assert (data["held"], data["total"], data["index"], data["source"]) == (1, 2, 0, "api")
    assert [(c["name"], c["held"]) for c in data["conditions"]] == [("model", True), ("message", False)]
    assert data["text"] == str(miss)


def test_the_strict_message_is_one_paragraph():
    req = request()
    assert strict_message(req, "POST", "/v1/chat/completions", [], 0) == (
        'llm_mock: no rule matched POST /v1/chat/completions (model "gpt-4o", last message '
        '"What\'s the weather in Paris?"). There are no rules: add one with when(...).reply(...) or '
        "POST /__llm_mock/rules.")
    found = misses(lambda b: (b.when("snow").reply("x"), b.when({"model": "gpt-4"}).reply("y")), req)
    text = strict_message(req, "POST", "/v1/chat/completions", found, 2)
    assert "\n" not in text and text.startswith("llm_mock: no rule matched")
    assert "Closest rules: (1) rule 1 {model=gpt-4}" in text and '(2) rule 0 "snow"' in text


def test_long_messages_are_shortened_in_text_and_cut_in_got():
    long = "word " * 100
    [miss] = misses(lambda b: b.when("snow").reply("x"), request(long))
    assert len(miss.failed[0].text) < 130
    assert miss.failed[0].got == long[:299] + "…"


def test_the_remote_form_reads_the_same():
    from llm_mock.remote import _near_miss

    found = misses(lambda b: (b.when({"model": "gpt-4-turbo", "message": "weather"}).reply("x"),
                              b.when_tool("search").reply("y"), b.when({"toolCallId": "c1"}).reply("z")),
                   request(tools=("get_weather",)))
    assert [str(_near_miss(miss.to_json())) for miss in found] == [str(miss) for miss in found]
