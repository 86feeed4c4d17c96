"""Requests captured from Claude Code and Codex CLI (tests/fixtures/captures): each is accepted as sent,
matches the rules written for it, and its streamed answer parses with the SDKs' stream helpers."""
from __future__ import annotations

import inspect
import json

import pytest

from llm_mock import MatchObject, ReplyObject, ToolCall
from support.clients import anthropic_client, openai_client
from support.files import CAPTURES
from support.raw_http import connect
from support.sse import parse_sse

NAMES = ("claude-code-first-request", "claude-code-tool-result-request", "codex-first-request",
         "codex-tool-result-request")


def load(name: str) -> dict:
    return json.loads((CAPTURES / f"{name}.json").read_text(encoding="utf-8"))


def send(server, capture: dict) -> tuple:
    """Send a capture as the client did (path with query, headers minus redacted credentials);
    returns (status, content-type, body text)."""
    headers = {k: v for k, v in capture["headers"].items() if v != "<redacted>"}
    conn = connect(server)
    try:
        conn.request(capture["method"], capture["path"], json.dumps(capture["body"]), headers)
        response = conn.getresponse()
        return response.status, response.getheader("content-type"), response.read().decode("utf-8")
    finally:
        conn.close()


def events(text: str) -> list:
    """(event name or None, parsed data) for each event."""
    return [(event.event, event.json) for event in parse_sse(text)]


def streamed_text(capture: dict, text: str) -> str:
    parsed = events(text)
    if capture["path"].startswith("/v1/messages"):
        return "".join(d["delta"].get("text", "") for _, d in parsed if d["type"] == "content_block_delta")
    return "".join(d["delta"] for _, d in parsed if d["type"] == "response.output_text.delta")


def answered_by(server, name: str, register) -> str:
    """The text a capture gets when `register(server)` added the only rule and misses fall back."""
    server.reset()
    server.fallback("fallback")
    register(server)
    capture = load(name)
    status, content_type, text = send(server, capture)
    assert status == 200 and content_type.startswith("text/event-stream"), text
    return streamed_text(capture, text)


@pytest.mark.parametrize("name", NAMES)
def test_each_capture_is_accepted_and_recorded(server, name):
    capture = load(name)
    status, _, text = send(server, capture)
    assert status == 200, text
    entry = server.history.last()
    assert (entry.status, entry.path, entry.request.stream) == (200, capture["path"], True)
    assert entry.request.format == ("anthropic" if name.startswith("claude") else "responses")


def test_claude_code_first_request_normalised(server):
    send(server, load("claude-code-first-request"))
    request = server.history.last().request
    assert request.path == "/v1/messages?beta=true" and request.model == "claude-opus-5-5"
    assert request.last_message == "<text 423 chars>\ntrig-cc-hello: please answer"  # not the trailing system turn
    assert request.system_message == "<text 74 chars>\n<text 62 chars>\n<text 424 chars>"
    assert [m.role for m in request.messages] == ["system", "user", "system"]
    assert request.tool_names == ("Agent", "Bash", "Edit", "ListAgents", "Read", "ReportFindings", "ScheduleWakeup",
                                  "Skill", "ToolSearch", "Workflow", "DeferredToolPlaceholder", "Write")
    assert request.server_tool_types == () and request.max_tokens == 128000
    assert request.headers["anthropic-beta"].startswith("claude-code-20250219,")
    assert request.retry_count == 0 and "x-api-key" not in request.headers


def test_claude_code_first_request_matches_its_rules(server):
    name = "claude-code-first-request"
    assert answered_by(server, name, lambda s: s.when("trig-cc-hello").reply("cc hello")) == "cc hello"
    assert answered_by(server, name, lambda s: s.when_tool("Bash").reply("has bash")) == "has bash"
    assert answered_by(server, name, lambda s: s.when(MatchObject(system="<text 62 chars>", format="anthropic"))
                       .reply("system blocks")) == "system blocks"
    assert answered_by(server, name, lambda s: s.when({"model": "opus", "toolName": "Write"}).reply("w")) == "w"
    assert answered_by(server, name, lambda s: s.when("Run the greeting").reply("x")) == "fallback"
    assert answered_by(server, name, lambda s: s.when_server_tool("web_search").reply("x")) == "fallback"


def test_claude_code_tool_result_request(server):
    name = "claude-code-tool-result-request"
    send(server, load(name))
    request = server.history.last().request
    assert request.last_message == "<text 423 chars>\nRun the greeting command."  # the tool result is a tool turn
    assert request.last_tool_call_id == "toolu_e6b9ecbbbb50_0"
    assert [(m.role, m.content) for m in request.messages if m.role == "tool"] == [("tool", "hi")]
    assert "Bash" in request.tool_names  # the tool list abbreviated to bare names
    assert answered_by(server, name, lambda s: s.when_tool_result("toolu_e6b9ecbbbb50_0").reply("ran")) == "ran"
    assert answered_by(server, name, lambda s: s.when_tool("Bash").reply("bash")) == "bash"
    assert answered_by(server, name, lambda s: s.when("greeting command").reply("greet")) == "greet"
    assert answered_by(server, name, lambda s: s.when_tool_result("toolu_other").reply("x")) == "fallback"


def test_codex_first_request(server):
    name = "codex-first-request"
    send(server, load(name))
    request = server.history.last().request
    assert request.last_message == "trig-cx-hello: please answer"
    assert request.system_message == "<text 425 chars>"  # the first developer message
    assert [m.role for m in request.messages] == ["system", "system", "user", "user"]
    assert {"exec_command", "write_stdin", "update_goal", "close_agent", "spawn_agent"} <= set(request.tool_names)
    assert "multi_agent_v1" not in request.tool_names  # a namespace offers its inner tools
    assert request.server_tool_types == ("web_search",)
    assert answered_by(server, name, lambda s: s.when("trig-cx-hello").reply("cx hello")) == "cx hello"
    assert answered_by(server, name, lambda s: s.when_tool("exec_command").reply("exec")) == "exec"
    assert answered_by(server, name, lambda s: s.when_tool("spawn_agent").reply("namespaced")) == "namespaced"
    assert answered_by(server, name, lambda s: s.when_server_tool("web_search").reply("search")) == "search"
    assert answered_by(server, name, lambda s: s.when(MatchObject(system="<text 425", format="responses"))
                       .reply("developer")) == "developer"
    assert answered_by(server, name, lambda s: s.when_tool("web_search").reply("x")) == "fallback"


def test_codex_tool_result_request(server):
    name = "codex-tool-result-request"
    send(server, load(name))
    request = server.history.last().request
    assert request.last_message == "trig-cx-roundtrip-exec: run the greeting command"
    assert request.last_tool_call_id == "call_ff8a5528a7ae_0"
    assert request.messages[-1].role == "tool" and request.messages[-1].content == "<text 105 chars>"
    assert answered_by(server, name, lambda s: s.when_tool_result("call_ff8a5528a7ae_0").reply("done")) == "done"
    assert answered_by(server, name, lambda s: s.when(MatchObject(tool_call_id="call_ff8a5528a7ae_0",
                                                                  message="roundtrip-exec")).reply("both")) == "both"
    assert answered_by(server, name, lambda s: s.when_tool("exec_command").reply("exec")) == "exec"


# -- the streamed answers, as the clients read them ---------------------------------------------------


def test_claude_code_stream_event_grammar(server):
    server.when("trig-cc-hello").reply(ReplyObject(text="Hello from the mock.", reasoning="thinking it over"),
                                       chunk_size=6)
    status, _, text = send(server, load("claude-code-first-request"))
    assert status == 200
    names = [name for name, _ in events(text)]
    assert all(name == data["type"] for name, data in events(text))
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    blocks = [data["content_block"]["type"] for name, data in events(text) if name == "content_block_start"]
    assert blocks == ["thinking", "text"]
    assert streamed_text(load("claude-code-first-request"), text) == "Hello from the mock."
    start = events(text)[0][1]["message"]
    assert start["model"] == "claude-opus-5-5" and start["content"] == []


def split_params(method, body: dict) -> tuple:
    """(keyword arguments `method` takes, everything else for `extra_body`), without `stream`."""
    accepted = inspect.signature(method).parameters
    known = {k: v for k, v in body.items() if k in accepted and k != "stream"}
    extra = {k: v for k, v in body.items() if k not in accepted and k != "stream"}
    return known, extra


def test_claude_code_request_through_the_anthropic_stream_helper(server):
    capture = load("claude-code-first-request")
    server.when("trig-cc-hello").reply(ReplyObject(text="cc answer", tools=[ToolCall("Bash", {"command": "echo hi"})]))
    client = anthropic_client(server)
    known, extra = split_params(client.messages.stream, capture["body"])
    headers = {k: v for k, v in capture["headers"].items() if k in ("anthropic-beta", "user-agent")}
    with client.messages.stream(**known, extra_body=extra, extra_query={"beta": "true"},
                                extra_headers=headers) as stream:
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[0].text == "cc answer"
    assert (message.content[1].name, message.content[1].input) == ("Bash", {"command": "echo hi"})
    assert message.stop_reason == "tool_use"
    assert server.history.last().path == "/v1/messages?beta=true"
    assert server.history.last().request.raw["context_management"] == capture["body"]["context_management"]


def test_claude_code_tool_result_through_create_stream(server):
    capture = load("claude-code-tool-result-request")
    server.when_tool_result("toolu_e6b9ecbbbb50_0").reply("The command printed hi.")
    client = anthropic_client(server)
    known, extra = split_params(client.messages.create, capture["body"])
    events_seen = list(client.messages.create(**known, extra_body=extra, stream=True))
    assert events_seen[0].type == "message_start" and events_seen[-1].type == "message_stop"
    text = "".join(e.delta.text for e in events_seen if e.type == "content_block_delta")
    assert text == "The command printed hi."


def test_codex_request_through_the_responses_stream_helper(server):
    capture = load("codex-first-request")
    server.when_tool("exec_command").reply(ReplyObject(reasoning="run it", tools=[
        ToolCall("exec_command", {"cmd": "echo hi"}, id="call_cx_1")]))
    client = openai_client(server)
    known, extra = split_params(client.responses.stream, capture["body"])
    with client.responses.stream(**known, extra_body=extra) as stream:
        kinds = [event.type for event in stream]
        response = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [item.type for item in response.output] == ["reasoning", "function_call"]
    assert response.output[0].encrypted_content  # asked for with include: reasoning.encrypted_content
    call = response.output[1]
    assert (call.name, call.call_id, json.loads(call.arguments)) == ("exec_command", "call_cx_1", {"cmd": "echo hi"})
    assert response.tools and response.tools[-1].type == "web_search"


def test_codex_tool_result_stream_sequence_numbers(server):
    capture = load("codex-tool-result-request")
    server.when_tool_result("call_ff8a5528a7ae_0").reply("It printed hi.", chunk_size=4)
    status, _, text = send(server, capture)
    parsed = events(text)
    assert status == 200
    assert [data["sequence_number"] for _, data in parsed] == list(range(len(parsed)))
    assert all(name == data["type"] for name, data in parsed)
    assert parsed[-1][1]["response"]["status"] == "completed"
    assert streamed_text(capture, text) == "It printed hi."
    client = openai_client(server)
    known, extra = split_params(client.responses.stream, capture["body"])
    extra["tools"] = known.pop("tools")  # abbreviated to bare names in the capture: the helper can't convert them
    with client.responses.stream(**known, extra_body=extra) as stream:
        assert stream.get_final_response().output_text == "It printed hi."
