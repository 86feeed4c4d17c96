"""The rule engine over real HTTP: what matches, what is answered, in what order, how often."""
from __future__ import annotations

import json
import re

import pytest

from llm_mock import ErrorReply, MatchObject, ReplyObject, ToolCall
from support.clients import say
from support.raw_http import raw_post

CLAUDE = "claude-sonnet-4-6"


def post(server, path: str, body: dict, headers: dict | None = None) -> tuple:
    """(status, parsed JSON) of a raw POST, for checks the SDKs would hide or retry."""
    reply = raw_post(server, path, body, headers)
    return reply.status, reply.json


def chat_body(*messages, model: str = "gpt-4o", **extra) -> dict:
    return {"model": model, "messages": list(messages), **extra}


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def said(status_body: tuple) -> str:
    status, body = status_body
    assert status == 200, body
    return body["choices"][0]["message"]["content"]


# -- matching ------------------------------------------------------------------------------------


def test_string_is_a_case_insensitive_substring_of_the_last_user_message(server, oai):
    server.when("Hello World").reply("matched")
    server.fallback("fallback")
    assert say(oai, "well, HELLO world!") == "matched"
    assert say(oai, "hello there world") == "fallback"
    # Only the last *user* message counts: not earlier user turns, not the assistant's reply.
    earlier = chat_body(user("hello world"), {"role": "assistant", "content": "hello world"}, user("bye"))
    assert said(post(server, "/v1/chat/completions", earlier)) == "fallback"
    later = chat_body(user("bye"), {"role": "assistant", "content": "ok"}, user("Hello World"),
                      {"role": "assistant", "content": "trailing assistant turn"})
    assert said(post(server, "/v1/chat/completions", later)) == "matched"


def test_empty_string_matches_everything(server, oai):
    server.when("").reply("any")
    assert say(oai, "whatever") == "any"
    assert said(post(server, "/v1/chat/completions", chat_body({"role": "system", "content": "s"}))) == "any"


def test_regex_uses_search_semantics_and_its_flags(server, oai):
    server.when(re.compile(r"bye\b")).reply("case-sensitive")
    server.when(re.compile(r"^ECHO (\w+)$", re.IGNORECASE | re.MULTILINE)).reply("echo")
    server.fallback("none")
    assert say(oai, "ok then, bye") == "case-sensitive"  # not anchored: search, not match
    assert say(oai, "BYE") == "none"  # no IGNORECASE on the first rule
    assert say(oai, "first line\necho this") == "echo"  # MULTILINE ^ and IGNORECASE
    assert say(oai, "echo two words") == "none"


def test_match_object_fields_are_anded(server, oai, claude):
    server.when(MatchObject(message="check", model="gpt-4")).reply("gpt-4 check")  # a substring of the model
    server.when(MatchObject(message="check", model=re.compile(r"^claude-"), format="anthropic")) \
        .reply("anthropic check")
    server.when(MatchObject(system="pirate")).reply("arr")
    server.fallback("none")
    assert say(oai, "model check", model="gpt-4o-mini") == "gpt-4 check"
    assert say(oai, "model check", model="o3") == "none"
    assert say(oai, "something else", model="gpt-4o") == "none"
    reply = claude.messages.create(model=CLAUDE, max_tokens=50, messages=[user("model check")])
    assert reply.content[0].text == "anthropic check"
    reply = claude.messages.create(model=CLAUDE, max_tokens=50, system="You are a PIRATE.", messages=[user("hi")])
    assert reply.content[0].text == "arr"


def test_match_object_tool_fields(server, oai):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    server.when(MatchObject(tool_name="get_weather", message="rain")).reply("tool + message")
    server.when(MatchObject(tool_call_id="call_7")).reply("after the tool")
    server.fallback("none")
    assert say(oai, "rain?", tools=tools) == "tool + message"
    assert say(oai, "rain?") == "none"  # the tool is not offered
    follow_up = chat_body(user("rain?"), {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_7", "content": "sunny"})
    assert said(post(server, "/v1/chat/completions", follow_up)) == "after the tool"


def test_match_object_server_tool(server, oai):
    server.when(MatchObject(server_tool="web_search", message="news")).reply("searching")
    server.fallback("none")
    response = oai.responses.create(model="gpt-5", input="news today", tools=[{"type": "web_search"}])
    assert response.output_text == "searching"
    assert oai.responses.create(model="gpt-5", input="news today").output_text == "none"


def test_predicate_runs_last_and_only_when_the_other_fields_pass(server, oai):
    seen = []

    def predicate(request):
        seen.append(request.last_message)
        return request.raw.get("temperature") == 0

    server.when(MatchObject(message="deterministic", predicate=predicate)).reply("cold")
    server.fallback("none")
    assert say(oai, "unrelated") == "none"
    assert seen == []  # `message` failed first: the predicate was not called
    assert say(oai, "deterministic please", temperature=0) == "cold"
    assert say(oai, "deterministic please", temperature=1) == "none"
    assert seen == ["deterministic please", "deterministic please"]


def test_plain_dict_matcher_with_snake_and_camel_case_keys(server, oai, claude):
    server.when({"message": "weather", "toolName": "lookup"}).reply("camel tool")
    server.when({"toolCallId": "toolu_1"}).reply("camel result")
    server.when({"serverTool": "web_search_20250305"}).reply("camel server tool")
    server.when({"tool_name": "snake", "format": "openai"}).reply("snake tool")
    server.fallback("none")
    lookup = [{"name": "lookup", "input_schema": {"type": "object"}}]
    reply = claude.messages.create(model=CLAUDE, max_tokens=50, tools=lookup, messages=[user("weather?")])
    assert reply.content[0].text == "camel tool"
    result = [user("weather?"),
              {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"}]}]
    assert claude.messages.create(model=CLAUDE, max_tokens=50, messages=result).content[0].text == "camel result"
    web = [{"type": "web_search_20250305", "name": "web_search"}]
    reply = claude.messages.create(model=CLAUDE, max_tokens=50, tools=web, messages=[user("x")])
    assert reply.content[0].text == "camel server tool"
    snake = [{"type": "function", "function": {"name": "snake"}}]
    assert say(oai, "x", tools=snake) == "snake tool"


def test_unknown_dict_keys_are_rejected_at_registration(server):
    with pytest.raises(ValueError, match="tool"):
        server.when({"message": "hi", "tool": "x"})
    with pytest.raises(ValueError):
        server.when({"format": "mistral"})
    with pytest.raises(ValueError):
        server.when(42)
    assert server.rule_count == 0


def test_callable_matcher_sees_the_normalised_request(server, oai):
    server.when(lambda request: request.format == "openai" and request.raw.get("tool_choice") == "required") \
        .reply("required")
    server.fallback("none")
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert say(oai, "x", tools=tools, tool_choice="required") == "required"
    assert say(oai, "x", tools=tools) == "none"


def test_when_tool_when_tool_result_when_server_tool(server, oai):
    server.when_tool("exec").reply(ReplyObject(tools=[ToolCall("exec", {"cmd": "ls"}, id="call_exec_1")]))
    server.when_tool_result("call_exec_1").reply("listed")
    server.when_server_tool("web_search").reply("web")
    server.fallback("none")
    tools = [{"type": "function", "name": "exec", "parameters": {"type": "object"}}]
    first = oai.responses.create(model="gpt-5", input="list files", tools=tools)
    call = first.output[0]
    assert (call.type, call.name, call.call_id, json.loads(call.arguments)) == \
        ("function_call", "exec", "call_exec_1", {"cmd": "ls"})
    second = oai.responses.create(model="gpt-5", input=[
        {"role": "user", "content": "list files"},
        {"type": "function_call", "call_id": "call_exec_1", "name": "exec", "arguments": call.arguments},
        {"type": "function_call_output", "call_id": "call_exec_1", "output": "a.txt"}])
    assert second.output_text == "listed"
    assert oai.responses.create(model="gpt-5", input="q", tools=[{"type": "web_search"}]).output_text == "web"


def test_first_match_wins_and_first_reorders(server, oai):
    server.when("hello").reply("general")
    server.when("hello there").reply("specific")
    assert say(oai, "hello there") == "general"
    server.when("hello there").reply("promoted").first()
    assert say(oai, "hello there") == "promoted"
    assert say(oai, "hello") == "general"
    assert [r.description for r in server.rules] == ['"hello there"', '"hello"', '"hello there"']


def test_a_raising_matcher_is_a_500_naming_the_rule(server):
    server.when(lambda request: 1 / 0).reply("never")
    status, body = post(server, "/v1/chat/completions", chat_body(user("x")))
    assert status == 500
    assert "(predicate)" in body["error"]["message"] and "ZeroDivisionError" in body["error"]["message"]
    assert server.history.last().rule == "(predicate)"


# -- replies -------------------------------------------------------------------------------------


def test_reply_object_text_reasoning_and_tools(server, claude):
    server.when("joke").reply(ReplyObject(text="ha", reasoning="pick one",
                                          tools=[ToolCall("laugh", {"volume": 3}, id="toolu_x")]))
    message = claude.messages.create(model=CLAUDE, max_tokens=500, messages=[user("a joke")])
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking == "pick one"
    assert message.content[1].text == "ha"
    assert (message.content[2].id, message.content[2].name, message.content[2].input) == \
        ("toolu_x", "laugh", {"volume": 3})
    assert message.stop_reason == "tool_use"


def test_plain_dict_reply(server, oai):
    server.when("weather").reply({"text": "Checking.", "tools": [{"name": "get_weather", "args": {"city": "Zürich"}}]})
    completion = oai.chat.completions.create(model="gpt-4o", messages=[user("weather?")])
    message = completion.choices[0].message
    assert message.content == "Checking."
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Zürich"}


def test_unknown_reply_keys_are_rejected_at_registration(server):
    with pytest.raises(ValueError, match="txt"):
        server.when("x").reply({"txt": "typo"})
    with pytest.raises(ValueError, match="argz"):
        server.when("x").reply({"tools": [{"name": "t", "argz": {}}]})
    with pytest.raises(ValueError):
        server.when("x").reply(3.5)
    with pytest.raises(ValueError):
        server.when("x").reply_sequence(["ok", {"text": "fine", "colour": "red"}])
    assert server.rule_count == 0


def test_callable_reply_receives_the_request(server, oai):
    server.when("echo").reply(lambda request: f"{request.model}: {request.last_message.upper()}")
    assert say(oai, "echo me", model="gpt-4o-mini") == "gpt-4o-mini: ECHO ME"


def test_async_callable_reply(server, claude):
    async def answer(request):
        return {"text": f"async {request.format}", "usage": {"input": 1, "output": 2}}

    server.when("async").reply(answer)
    message = claude.messages.create(model=CLAUDE, max_tokens=50, messages=[user("async please")])
    assert message.content[0].text == "async anthropic"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (1, 2)


def test_a_raising_reply_callable_is_a_500_naming_the_rule(server):
    server.when("boom").reply(lambda request: {}["missing"])
    status, body = post(server, "/v1/chat/completions", chat_body(user("boom")))
    assert status == 500 and '"boom"' in body["error"]["message"] and "KeyError" in body["error"]["message"]


def test_usage_override_on_all_three_formats(server, oai, claude):
    server.when("count").reply(ReplyObject(text="estimated otherwise", usage={"input": 7, "output": 3}))
    completion = oai.chat.completions.create(model="gpt-4o", messages=[user("count")])
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == \
        (7, 3, 10)
    response = oai.responses.create(model="gpt-5", input="count")
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (7, 3, 10)
    message = claude.messages.create(model=CLAUDE, max_tokens=50, messages=[user("count")])
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 3)
    with claude.messages.stream(model=CLAUDE, max_tokens=50, messages=[user("count")]) as stream:
        final = stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.output_tokens) == (7, 3)


# -- sequences -----------------------------------------------------------------------------------


def test_sequence_advances_per_matching_request_and_repeats_the_last(server, oai):
    server.when("step").reply_sequence(["one", "two", "three"])
    server.fallback("none")
    assert say(oai, "unrelated") == "none"  # a non-matching request does not advance it
    assert [say(oai, "step") for _ in range(5)] == ["one", "two", "three", "three", "three"]


def test_sequence_times_limits_it(server, oai):
    server.when("step").reply_sequence(["a", "b"]).times(4)
    server.fallback("none")
    assert [say(oai, "step") for _ in range(5)] == ["a", "b", "b", "b", "none"]


def test_sequence_times_shorter_than_the_entries(server, oai):
    server.when("step").reply_sequence(["a", "b", "c"]).times(1)
    server.fallback("none")
    assert [say(oai, "step") for _ in range(2)] == ["a", "none"]


def test_sequence_steps_carry_their_own_options(server):
    server.when("step").reply_sequence([
        {"reply": "abcdef", "chunk_size": 2},
        {"reply": ReplyObject(text="ghijkl"), "chunkSize": 3, "latency": 1},
        "mnopqr",
    ], chunk_size=6)
    pieces = []
    for _ in range(3):
        events = raw_post(server, "/v1/chat/completions", chat_body(user("step"), stream=True)).events
        chunks = [event.json for event in events if event.data != "[DONE]"]
        pieces.append([c["choices"][0]["delta"]["content"] for c in chunks
                       if c["choices"][0]["delta"].get("content")])
    assert pieces == [["ab", "cd", "ef"], ["ghi", "jkl"], ["mnopqr"]]


def test_empty_sequence_raises(server):
    with pytest.raises(ValueError, match="at least one"):
        server.when("x").reply_sequence([])
    assert server.rule_count == 0


# -- times, next_error, fallback, is_done, rules, reset ------------------------------------------


def test_times_limits_and_rules_count_independently(server, oai):
    server.when("ping").reply("pong").times(2)
    server.when("tick").reply("tock").times(1)
    server.fallback("none")
    assert [say(oai, "ping"), say(oai, "tick"), say(oai, "ping"), say(oai, "ping"), say(oai, "tick")] == \
        ["pong", "tock", "pong", "none", "none"]
    assert server.rule_count == 0


def test_times_zero_never_matches_but_stays(server, oai):
    handle = server.when("never").reply("x").times(0)
    server.fallback("none")
    assert say(oai, "never") == "none"
    assert server.rule_count == 1
    assert server.rules[0].remaining == 0
    assert server.is_done()
    handle.times(1)  # re-arm
    assert say(oai, "never") == "x"


def test_times_rejects_non_integers(server):
    handle = server.when("x").reply("y")
    for bad in (1.5, "2", True):
        with pytest.raises(ValueError):
            handle.times(bad)


def test_next_error_fires_last_in_first_out_then_normal_replies(server):
    server.when("hi").reply("hello")
    server.next_error(429, "rate limited")
    server.next_error(500, "boom")
    assert [r.description for r in server.rules] == ["(predicate)", "(predicate)", '"hi"']
    first, second, third = (post(server, "/v1/chat/completions", chat_body(user("hi"))) for _ in range(3))
    assert (first[0], first[1]["error"]["message"]) == (500, "boom")
    assert (second[0], second[1]["error"]["message"]) == (429, "rate limited")
    assert said(third) == "hello"


def test_next_error_hits_any_route_in_its_format(server, claude):
    server.next_error(529)
    import anthropic

    with pytest.raises(anthropic.InternalServerError) as caught:
        claude.messages.create(model=CLAUDE, max_tokens=50, messages=[user("hi")])
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert claude.messages.create(model=CLAUDE, max_tokens=50, messages=[user("hi")]).content[0].text


def test_a_rejected_request_does_not_use_up_next_error(server):
    server.next_error(503)
    status, _ = post(server, "/v1/chat/completions", {"model": "gpt-4o"})  # no messages: a 400
    assert status == 400
    assert post(server, "/v1/chat/completions", chat_body(user("x")))[0] == 503


def test_fallback_default_custom_and_error(server, oai):
    default = say(oai, "nothing matches")
    assert "no rule matched" in default
    server.fallback({"text": "custom fallback"})
    assert say(oai, "nothing") == "custom fallback"
    server.fallback(ErrorReply(404, "No matching rule"))
    status, body = post(server, "/v1/chat/completions", chat_body(user("x")))
    assert (status, body["error"]["message"]) == (404, "No matching rule")
    assert server.history.last().rule is None
    with pytest.raises(ValueError):
        server.fallback({"bogus": 1})


def test_callable_fallback(server, oai):
    server.fallback(lambda request: f"no rule for {request.last_message!r}")
    assert say(oai, "odd question") == "no rule for 'odd question'"


def test_when_tool_covers_custom_tools(server, oai):
    server.when_tool("apply_patch").reply("patching")
    custom = [{"type": "custom", "custom": {"name": "apply_patch"}}]
    assert say(oai, "fix it", tools=custom) == "patching"
    response = oai.responses.create(model="gpt-5", input="fix it", tools=[{"type": "custom", "name": "apply_patch"}])
    assert response.output_text == "patching"


def test_is_done_tracks_times_limits_and_sequences(server, oai):
    assert server.is_done()  # no rules
    server.when("free").reply("unlimited")
    assert server.is_done()  # an unlimited plain rule never holds it back
    server.when("once").reply("x").times(1)
    server.when("seq").reply_sequence(["1", "2"])
    assert not server.is_done()
    say(oai, "once")
    assert not server.is_done()  # the sequence has served nothing yet
    say(oai, "seq")
    assert not server.is_done()  # one of two steps
    say(oai, "seq")
    assert server.is_done()
    say(oai, "seq")  # repeating the last step keeps it done
    assert server.is_done()


def test_rules_describe_each_matcher_with_remaining(server):
    server.when("hello").reply("x")
    server.when(re.compile("bye", re.IGNORECASE)).reply("x").times(3)
    server.when({"model": "gpt-4", "message": "hi"}).reply("x")
    server.when(MatchObject(message=re.compile("gpt", re.I), tool_name="t")).reply("x")
    server.when(lambda request: True).reply("x")
    server.when_tool("Bash").reply("x")
    server.when("seq").reply_sequence(["a", "b"]).times(2)
    summaries = server.rules
    assert [s.description for s in summaries] == [
        '"hello"', "/bye/i", "{model=gpt-4, message=hi}", "{message=/gpt/i, tool_name=t}", "(predicate)",
        "{tool_name=Bash}", '"seq"']
    assert [s.remaining for s in summaries] == [float("inf"), 3, float("inf"), float("inf"), float("inf"),
                                                float("inf"), 2]
    assert server.rule_count == 7


def test_reset_clears_rules_history_and_fallback(server, oai):
    server.when("hi").reply("x")
    server.fallback("custom")
    say(oai, "hi")
    server.reset()
    assert server.rule_count == 0 and server.history.count() == 0
    assert "no rule matched" in say(oai, "hi")
