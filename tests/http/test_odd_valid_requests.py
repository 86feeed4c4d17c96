"""Odd but valid requests pass: the mock is never stricter than the real API. Escaped surrogate
pairs, bidirectional marks and NULs in strings, and every optional field the SDKs can send. (Invalid
input: tests/robustness/test_hostile.py; requests captured from real clients: test_captures.py.)"""
from __future__ import annotations

import json

import pytest

from support.raw_http import BODIES, connect, post


@pytest.mark.parametrize("path", list(BODIES))
def test_escaped_surrogate_pairs_and_odd_unicode_are_fine(server, path):
    server.when("hi").reply("hello")
    body = json.dumps({**BODIES[path], "model": "m\U0001F600\u202e\u0000x"}).encode()
    assert b"\\ud83d\\ude00" in body  # an emoji escaped as a surrogate pair, beside an RTL mark and a NUL
    status, _, reply = post(connect(server), path, body)
    assert status == 200 and json.loads(reply)["model"] == "m\U0001F600\u202e\u0000x"


def test_unknown_fields_and_rich_sdk_requests_pass(server, oai, claude):
    """Every optional field the SDKs can send is accepted: the mock is never stricter than the API."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    chat = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "developer", "content": "be brief"},
                                       {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        temperature=0.2, top_p=0.9, stop=["\n\n"], seed=1, max_completion_tokens=100, logprobs=False,
        frequency_penalty=0.1, presence_penalty=0.1, logit_bias={"50256": -100}, user="u1", store=False,
        metadata={"k": "v"}, parallel_tool_calls=True, reasoning_effort="low", service_tier="auto",
        tools=[{"type": "function", "function": {"name": "weather", "parameters": schema, "strict": True}}],
        tool_choice="auto", response_format={"type": "json_schema",
                                             "json_schema": {"name": "w", "schema": schema, "strict": True}},
        extra_body={"a_field_from_the_future": {"nested": [1, 2]}})
    assert chat.choices[0].finish_reason == "stop"
    response = oai.responses.create(
        model="gpt-4.1-mini", instructions="be brief", input=[
            {"role": "developer", "content": "rules"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
        tools=[{"type": "function", "name": "weather", "parameters": schema, "strict": True},
               {"type": "web_search"}], tool_choice="auto", reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"], store=False, truncation="auto", max_output_tokens=500,
        text={"format": {"type": "json_schema", "name": "w", "schema": schema, "strict": True}},
        metadata={"k": "v"}, prompt_cache_key="key", safety_identifier="s", parallel_tool_calls=False)
    assert response.status == "completed"
    message = claude.messages.create(
        model="claude-mock", max_tokens=2048, system=[{"type": "text", "text": "be brief",
                                                        "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"},
                                               {"type": "image", "source": {"type": "base64", "media_type":
                                                                            "image/png", "data": "iVBORw0KGgo="}}]},
                  {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather",
                                                     "input": {"city": "Paris"}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                "content": [{"type": "text", "text": "sunny"}]}]}],
        tools=[{"name": "weather", "description": "d", "input_schema": schema},
               {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
        tool_choice={"type": "auto"}, thinking={"type": "enabled", "budget_tokens": 1024},
        stop_sequences=["END"], metadata={"user_id": "u"}, service_tier="auto", output_config={"effort": "low"},
        extra_body={"temperature": 1, "top_k": 5}, extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"})
    assert message.stop_reason == "end_turn"
    assert [entry.status for entry in server.history] == [200, 200, 200]
