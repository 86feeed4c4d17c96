"""Request normalisation: what rules see of each wire format (checked on `history.last().request`).

One conversation reads the same whichever format carries it: tool results are `tool` turns, so
`last_message` stays the last real user text."""
from __future__ import annotations

import json

import pytest

from support.raw_http import connect

CHAT, RESPONSES, MESSAGES = "/v1/chat/completions", "/v1/responses", "/v1/messages"


def seen(server, path: str, body: dict, headers: list | None = None):
    """POST `body` and return the normalised request the rules saw (`headers` as (name, value) pairs,
    so that a header can repeat)."""
    conn = connect(server)
    try:
        conn.putrequest("POST", path)
        data = json.dumps(body).encode()
        for name, value in [("Content-Type", "application/json"), ("Content-Length", str(len(data)))] + \
                (headers or []):
            conn.putheader(name, value)
        conn.endheaders(data)
        response = conn.getresponse()
        answer = response.read()
        assert response.status == 200, answer
    finally:
        conn.close()
    return server.history.last().request


def turns(request) -> list:
    return [(m.role, m.content, m.tool_call_id) for m in request.messages]


# -- one conversation, three formats ---------------------------------------------------------------

CONVERSATION = {
    CHAT: {"model": "m", "tools": [{"type": "function", "function": {"name": "weather", "parameters": {}}}],
           "messages": [
               {"role": "system", "content": "Be brief."},
               {"role": "user", "content": "Weather in Paris?"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
               {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]},
    RESPONSES: {"model": "m", "instructions": "Be brief.", "tools": [{"type": "function", "name": "weather"}],
                "input": [
                    {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
                    {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]},
    MESSAGES: {"model": "m", "max_tokens": 100, "system": "Be brief.",
               "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
               "messages": [
                   {"role": "user", "content": "Weather in Paris?"},
                   {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "weather",
                                                      "input": {}}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                                                 "content": "sunny"}]}]},
}


@pytest.mark.parametrize("path", CONVERSATION)
def test_a_tool_round_trip_reads_the_same_in_every_format(server, path):
    request = seen(server, path, CONVERSATION[path])
    assert turns(request) == [("system", "Be brief.", None), ("user", "Weather in Paris?", None),
                              ("assistant", "", None), ("tool", "sunny", "call_1")]
    assert request.last_message == "Weather in Paris?"  # the tool result is not a user message
    assert (request.system_message, request.last_tool_call_id, request.tool_names) == \
        ("Be brief.", "call_1", ("weather",))
    assert request.format == {CHAT: "openai", RESPONSES: "responses", MESSAGES: "anthropic"}[path]


def test_the_tool_call_id_outlives_later_turns(server):
    body = json.loads(json.dumps(CONVERSATION[MESSAGES]))
    body["messages"] += [{"role": "assistant", "content": "It is sunny."}, {"role": "user", "content": "Thanks!"}]
    request = seen(server, MESSAGES, body)
    assert (request.last_message, request.last_tool_call_id) == ("Thanks!", "call_1")


# -- content shapes --------------------------------------------------------------------------------


def test_chat_content_as_string_or_parts(server):
    request = seen(server, CHAT, {"model": "m", "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "dev 1"}, {"type": "text", "text": "dev 2"}]},
        {"role": "system", "content": "second system"},
        {"role": "user", "content": "plain"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}, {"type": "text", "text": "ok"}]},
        {"content": [{"type": "text", "text": "p1"}, {"type": "image_url", "image_url": {"url": "data:,"}},
                     {"type": "text", "text": "p2"}]}]})
    assert turns(request) == [("system", "dev 1\ndev 2", None), ("system", "second system", None),
                              ("user", "plain", None), ("assistant", "ok", None), ("user", "p1\np2", None)]
    assert request.last_message == "p1\np2" and request.system_message == "dev 1\ndev 2"


def test_anthropic_system_as_string_or_blocks_and_system_turns(server):
    system = [{"type": "text", "text": "S1"}, {"type": "text", "text": "S2", "cache_control": {"type": "ephemeral"}}]
    parts = [{"type": "text", "text": "a"}, {"type": "image", "source": {}}, {"type": "text", "text": "b"}]
    request = seen(server, MESSAGES, {"model": "m", "max_tokens": 5, "system": system, "messages": [
        {"role": "user", "content": parts}, {"role": "system", "content": "mid-conversation"}]})
    assert turns(request) == [("system", "S1\nS2", None), ("user", "a\nb", None), ("system", "mid-conversation", None)]
    assert (request.system_message, request.last_message) == ("S1\nS2", "a\nb")
    plain = seen(server, MESSAGES, {"model": "m", "max_tokens": 5, "system": "S",
                                    "messages": [{"role": "user", "content": "hi"}]})
    assert turns(plain) == [("system", "S", None), ("user", "hi", None)]
    empty = seen(server, MESSAGES, {"model": "m", "max_tokens": 5, "system": "",
                                    "messages": [{"role": "user", "content": "hi"}]})
    assert (turns(empty), empty.system_message) == ([("user", "hi", None)], "")


def test_anthropic_tool_results_are_tool_turns_beside_the_users_text(server):
    request = seen(server, MESSAGES, {"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "run both"},
        {"role": "assistant", "content": [{"type": "text", "text": "Running."},
                                          {"type": "tool_use", "id": "t1", "name": "a", "input": {}},
                                          {"type": "tool_use", "id": "t2", "name": "b", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "out 1"}]},
            {"type": "tool_result", "tool_use_id": "t2", "content": "out 2", "is_error": True},
            {"type": "text", "text": "and now?"}]}]})
    assert turns(request) == [("user", "run both", None), ("assistant", "Running.", None),
                              ("tool", "out 1", "t1"), ("tool", "out 2", "t2"), ("user", "and now?", None)]
    assert (request.last_message, request.last_tool_call_id) == ("and now?", "t2")


def test_responses_input_string_instructions_and_developer_messages(server):
    request = seen(server, RESPONSES, {"model": "m", "input": "just a string"})
    assert turns(request) == [("user", "just a string", None)] and request.system_message == ""
    request = seen(server, RESPONSES, {"model": "m", "instructions": "INS", "input": [
        {"role": "developer", "content": "DEV"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "u1"},
                                                          {"type": "input_image", "image_url": "data:,"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "prev"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "c9", "name": "f", "arguments": "{\"a\":1}"}]})
    assert turns(request) == [("system", "INS", None), ("system", "DEV", None), ("user", "u1", None),
                              ("assistant", "prev", None), ("assistant", "", None)]
    assert (request.last_message, request.system_message) == ("u1", "INS")  # reasoning adds no empty user turn


def test_responses_function_call_output_sets_the_tool_call_id(server):
    request = seen(server, RESPONSES, {"model": "m", "input": [
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "result one"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "patch", "input": "diff"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "applied"}]})
    assert turns(request)[-2:] == [("assistant", "", None), ("tool", "applied", "c2")]
    assert (request.last_message, request.last_tool_call_id) == ("go", "c2")


# -- tools -----------------------------------------------------------------------------------------


def test_chat_function_and_custom_tools(server):
    request = seen(server, CHAT, {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [
        {"type": "function", "function": {"name": "f", "description": "F", "parameters": {"type": "object"}}},
        {"type": "custom", "custom": {"name": "patch", "description": "apply a patch"}}]})
    assert request.tool_names == ("f", "patch") and request.server_tool_types == ()
    assert [(t.name, t.description, t.type) for t in request.tools] == [("f", "F", "function"),
                                                                        ("patch", "apply a patch", "custom")]
    assert request.tools[0].parameters == {"type": "object"}


def test_anthropic_user_tools_versus_server_tools(server):
    request = seen(server, MESSAGES, {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                                      "tools": [
                                          {"type": "custom", "name": "c", "input_schema": {}},
                                          {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
                                          {"name": "plain", "input_schema": {"type": "object"}},
                                          {"type": "bash_20250124", "name": "bash"}]})
    assert request.tool_names == ("c", "plain")
    assert request.server_tool_types == ("web_search_20250305", "bash_20250124")


def test_responses_user_tools_server_tools_and_namespaces(server):
    request = seen(server, RESPONSES, {"model": "m", "input": "x", "tools": [
        {"type": "function", "name": "f", "parameters": {}},
        {"type": "custom", "name": "apply_patch", "format": {"type": "text"}},
        {"type": "web_search"},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "spawn"},
                                                          {"type": "function", "name": "wait"}]}]})
    assert request.tool_names == ("f", "apply_patch", "spawn", "wait")
    assert request.server_tool_types == ("web_search", "file_search")
    assert [t.type for t in request.tools] == ["function", "custom", "function", "function"]


def test_no_tools(server):
    request = seen(server, CHAT, {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert (request.tool_names, request.server_tool_types, request.last_tool_call_id) == ((), (), None)


# -- other fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path, body, expected", [
    (CHAT, {"max_tokens": 11}, 11),
    (CHAT, {"max_completion_tokens": 12}, 12),
    (CHAT, {"max_tokens": 11, "max_completion_tokens": 12}, 12),
    (CHAT, {}, None),
    (RESPONSES, {"max_output_tokens": 13}, 13),
    (RESPONSES, {}, None),
    (MESSAGES, {"max_tokens": 14}, 14),
])
def test_output_limits(server, path, body, expected):
    base = {CHAT: {"model": "m", "messages": [{"role": "user", "content": "x"}]},
            RESPONSES: {"model": "m", "input": "x"},
            MESSAGES: {"model": "m", "messages": [{"role": "user", "content": "x"}]}}[path]
    assert seen(server, path, {**base, **body}).max_tokens == expected


def test_n_stream_and_include_usage(server, oai):
    server.when("").reply("same")
    completion = oai.chat.completions.create(model="m", n=3, messages=[{"role": "user", "content": "x"}])
    assert [c.message.content for c in completion.choices] == ["same"] * 3
    request = server.history.last().request
    assert (request.n, request.stream, request.include_usage) == (3, False, False)
    request = seen(server, CHAT, {"model": "m", "stream": True, "stream_options": {"include_usage": True},
                                  "messages": [{"role": "user", "content": "x"}]})
    assert (request.n, request.stream, request.streaming, request.include_usage) == (1, True, True, True)
    assert seen(server, RESPONSES, {"model": "m", "input": "x"}).stream is False  # absent means JSON


def test_headers_path_raw_and_retry_count(server):
    body = {"model": "gpt-x", "messages": [{"role": "user", "content": "x"}], "temperature": 0.2}
    request = seen(server, CHAT + "?api-version=1", body,
                   [("X-Custom", "a"), ("X-Custom", "b"), ("X-Stainless-Retry-Count", "2")])
    assert request.path == CHAT + "?api-version=1"
    assert request.headers["x-custom"] == "a, b" and "X-Custom" not in request.headers
    assert request.retry_count == 2
    assert request.raw == body and json.loads(request.body) == body
    assert request.model == "gpt-x"
