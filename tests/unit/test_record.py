"""Record and replay without a socket: scrubbing, reading answers, writing and loading recordings."""
from __future__ import annotations

import json
import os
import re

import pytest

from llm_mock.framing import EventStream
from llm_mock.loader import RuleFileError, load_path
from llm_mock.matching import MatchObject, compile_match
from llm_mock.record.extract import error_of, reply_of
from llm_mock.record.proxy import Exchange, Upstream, frames
from llm_mock.record.recorded import RecordedRule, system_hash, tools_hash
from llm_mock.record.recording import Recorder, exact, literal
from llm_mock.record.replay import as_recorded, parse_timing
from llm_mock.record.scrub import MARKER, Scrubber
from llm_mock.replies import normalise_reply
from llm_mock.request import Message, MockRequest, ToolDef, finish
from llm_mock.schema import when


# -- scrubbing -----------------------------------------------------------------------------------
@pytest.mark.parametrize("secret", [
    "sk-proj-abcdefghijklmnopqrstuvwx0123456789", "sk-ant-api03-abcdefghijklmnop_QRST-uvwx",
    "AIzaSyA-1234567890abcdefghijklmnopqrstu", "AKIAIOSFODNN7EXAMPLE", "ASIAZZZZZZZZZZZZZZZZ",
])
def test_key_shapes_are_scrubbed_wherever_they_are(secret):
    scrub = Scrubber()
    assert scrub.text(f"key={secret}, again: {secret}") == f"key={MARKER}, again: {MARKER}"
    assert scrub.value({"a": [f"x {secret} y"], secret: 1}) == {"a": [f"x {MARKER} y"], MARKER: 1}
    assert secret.encode() not in scrub.data(f'data: {{"text":"{secret}"}}\n\n'.encode())


def test_words_that_merely_contain_a_key_prefix_are_kept():
    text = "task-management-system-1234 and risk-assessment-framework-v2 and ASKIAIOSFODNN7EXAMPLEX"
    assert Scrubber().text(text) == text


def test_bearer_tokens_and_user_patterns():
    scrub = Scrubber([r"user-\d{6}", r"\b[\w.]+@example\.com\b"])
    assert scrub.text("Authorization: Bearer abc.DEF-123_xyz==") == f"Authorization: Bearer {MARKER}"
    assert scrub.text("ask user-123456 (bob@example.com)") == f"ask {MARKER} ({MARKER})"


def test_credential_headers_are_dropped_and_secret_query_values_replaced():
    scrub = Scrubber()
    headers = [("Authorization", "Bearer sk-x"), ("x-api-key", "k"), ("api-key", "k"), ("x-goog-api-key", "k"),
               ("cookie", "a=b"), ("set-cookie", "a=b"), ("x-amz-security-token", "t"),
               ("user-agent", "OpenAI/Python"), ("x-note", "sk-proj-abcdefghijklmnopqrstuvwx")]
    assert scrub.headers(headers) == [("user-agent", "OpenAI/Python"), ("x-note", MARKER)]
    assert scrub.target("/v1beta/models/g:streamGenerateContent?alt=sse&key=AIzaSecret") == \
        f"/v1beta/models/g:streamGenerateContent?alt=sse&key={MARKER}"
    assert scrub.target("/v1/chat/completions") == "/v1/chat/completions"


@pytest.mark.parametrize("pattern", ["(", "x*"])
def test_a_bad_redact_pattern_is_refused(pattern):
    with pytest.raises(ValueError, match="--redact"):
        Scrubber([pattern])


# -- reading answers -----------------------------------------------------------------------------
def sse(*events) -> bytes:
    out = b""
    for name, data in events:
        out += (f"event: {name}\n" if name else "").encode() + b"data: " + json.dumps(data).encode() + b"\n\n"
    return out


def test_a_chat_completion_with_tools_cut_by_length():
    body = {"choices": [{"index": 0, "finish_reason": "length", "message": {
        "role": "assistant", "content": "Calling", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}},
            {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "not json"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4},
                  "completion_tokens_details": {"reasoning_tokens": 0}}}
    reply = reply_of("openai", 200, {}, json.dumps(body).encode(), False)
    assert reply == {"text": "Calling", "tools": [{"name": "f", "args": {"a": 1}, "id": "call_1"},
                                                  {"name": "g", "args": "not json", "id": "call_2"}],
                     "usage": {"input": 10, "output": 5, "cached": 4},
                     "fault": {"kind": "incomplete", "after_chars": 7}}


def test_a_chat_stream_put_back_together():
    chunk = {"id": "c", "object": "chat.completion.chunk", "choices": []}
    body = sse((None, {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "He"}}]}),
               (None, {**chunk, "choices": [{"index": 0, "delta": {"content": "llo"}}]}),
               (None, {**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [
                   {"index": 0, "id": "call_9", "function": {"name": "get", "arguments": ""}}]}}]}),
               (None, {**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [
                   {"index": 0, "function": {"arguments": "{\"q\":"}}]}}]}),
               (None, {**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [
                   {"index": 0, "function": {"arguments": "\"x\"}"}}]}, "finish_reason": "tool_calls"}]}),
               (None, {**chunk, "usage": {"prompt_tokens": 3, "completion_tokens": 4}})) + b"data: [DONE]\n\n"
    reply = reply_of("openai", 200, {"content-type": "text/event-stream"}, body, True)
    assert reply == {"text": "Hello", "tools": [{"name": "get", "args": {"q": "x"}, "id": "call_9"}],
                     "usage": {"input": 3, "output": 4}}


def test_a_responses_stream_is_read_from_its_final_event():
    response = {"status": "completed", "output": [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Hmm."}], "encrypted_content": "ENC"},
        {"type": "message", "content": [{"type": "output_text", "text": "Yes."}]},
        {"type": "custom_tool_call", "name": "shell", "input": "ls -la", "call_id": "call_c"}],
        "usage": {"input_tokens": 8, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 2}}}
    body = sse(("response.created", {"type": "response.created", "response": {}}),
               ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Yes."}),
               ("response.completed", {"type": "response.completed", "response": response}))
    assert reply_of("responses", 200, {"content-type": "text/event-stream"}, body, True) == {
        "text": "Yes.", "reasoning": "Hmm.", "signature": "ENC",
        "tools": [{"name": "shell", "args": "ls -la", "id": "call_c"}],
        "usage": {"input": 8, "output": 9, "reasoning": 2}}


def test_an_anthropic_stream_with_thinking_tools_and_a_late_error():
    events = [("message_start", {"type": "message_start", "message": {
                  "id": "msg_1", "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
              ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "thinking_delta", "thinking": "Let me see."}}),
              ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "signature_delta", "signature": "SIG=="}}),
              ("content_block_start", {"type": "content_block_start", "index": 1,
                                       "content_block": {"type": "text", "text": ""}}),
              ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                       "delta": {"type": "text_delta", "text": "Sure."}}),
              ("content_block_start", {"type": "content_block_start", "index": 2, "content_block": {
                  "type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
              ("content_block_delta", {"type": "content_block_delta", "index": 2,
                                       "delta": {"type": "input_json_delta", "partial_json": "{\"a\""}}),
              ("content_block_delta", {"type": "content_block_delta", "index": 2,
                                       "delta": {"type": "input_json_delta", "partial_json": ": [1]}"}}),
              ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                                 "usage": {"output_tokens": 30}})]
    complete = sse(*events, ("message_stop", {"type": "message_stop"}))
    assert reply_of("anthropic", 200, {"content-type": "text/event-stream"}, complete, True) == {
        "text": "Sure.", "reasoning": "Let me see.", "signature": "SIG==",
        "tools": [{"name": "f", "args": {"a": [1]}, "id": "toolu_1"}], "usage": {"input": 12, "output": 30}}
    failed = sse(*events[:6], ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}))
    assert reply_of("anthropic", 200, {"content-type": "text/event-stream"}, failed, True)["fault"] == {
        "kind": "error", "after_chars": 5, "error": {"status": 529, "message": "busy", "type": "overloaded_error"}}


@pytest.mark.parametrize("body, expected", [
    ({"error": {"message": "Bad model", "type": "invalid_request_error", "param": "model", "code": None}},
     {"message": "Bad model", "type": "invalid_request_error", "param": "model"}),
    ({"type": "error", "error": {"type": "not_found_error", "message": "no such model"}},
     {"message": "no such model", "type": "not_found_error"}),
    ({"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT"}},
     {"message": "API key not valid", "type": "INVALID_ARGUMENT"}),
    ({"error": "model 'x' not found"}, {"message": "model 'x' not found"}),
])
def test_error_answers_in_every_vendors_shape(body, expected):
    headers = {"retry-after": "2", "x-should-retry": "false"}
    assert error_of(404, headers, json.dumps(body).encode()) == {
        "status": 404, **expected, "retry_after": 2.0, "should_retry": False}


def test_a_format_without_an_extractor_gives_no_reply():
    assert reply_of("klingon", 200, {}, b"{}", False) is None
    assert reply_of("klingon", 503, {}, b"down", False) == {"error": {"status": 503, "message": "down"}}


# -- frames, upstreams, timing -------------------------------------------------------------------
def test_frames_end_where_the_framing_says_whatever_the_pieces():
    exchange = Exchange("POST", "/", [], b"", headers=[("content-type", "text/event-stream; charset=utf-8")])
    exchange.received = [(0.0, b"data: 1\n\nda"), (0.04, b"ta: 2\r\n\r\ndata: 3\n"), (0.08, b"\n")]
    assert frames(exchange) == [(0.0, b"data: 1\n\n"), (0.04, b"data: 2\r\n\r\n"), (0.08, b"data: 3\n\n")]
    exchange.headers = [("content-type", "application/x-ndjson")]
    exchange.received = [(0.0, b'{"a":1}\n{"b"'), (0.01, b':2}\n')]
    assert frames(exchange) == [(0.0, b'{"a":1}\n'), (0.01, b'{"b":2}\n')]
    exchange.headers = [("content-type", "application/octet-stream")]
    assert frames(exchange) == exchange.received  # no known framing: the pieces as they came
    exchange.headers = [("content-type", "application/vnd.amazon.eventstream")]
    one, two = EventStream.chunk(b'{"a":1}').data, EventStream.chunk(b'{"b":2}').data
    exchange.received = [(0.0, one[:5]), (0.02, one[5:] + two[:20]), (0.05, two[20:])]
    assert frames(exchange) == [(0.02, one), (0.05, two)]


def test_a_compressed_answer_is_read_and_saved_decoded():
    import gzip

    packed = gzip.compress(b"data: 1\n\ndata: 2\n\n")
    exchange = Exchange("POST", "/", [], b"", headers=[("content-type", "text/event-stream"),
                                                       ("content-encoding", "gzip")])
    exchange.received = [(0.0, packed[:10]), (0.02, packed[10:])]
    assert exchange.body == b"data: 1\n\ndata: 2\n\n"
    assert [frame for _, frame in frames(exchange)] == [b"data: 1\n\n", b"data: 2\n\n"]


def test_an_upstream_base_path_is_said_once():
    assert Upstream("https://api.openai.com").target("/v1/chat/completions") == "/v1/chat/completions"
    assert Upstream("https://api.openai.com/v1/").target("/v1/chat/completions") == "/v1/chat/completions"
    assert Upstream("http://gateway:8080/openai").target("/v1/responses") == "/openai/v1/responses"
    for bad in ("ftp://x", "api.openai.com", "http://"):
        with pytest.raises(ValueError):
            Upstream(bad)


@pytest.mark.parametrize("value, factor", [(None, None), ("off", None), (0, None), ("recorded", 1.0), ("2", 2.0),
                                           (0.5, 0.5)])
def test_replay_timing_values(value, factor):
    assert parse_timing(value) == factor


@pytest.mark.parametrize("value", ["fast", -1, "inf", True])
def test_bad_replay_timing_values(value):
    with pytest.raises(ValueError, match="replay timing"):
        parse_timing(value)


# -- recorded matchers ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["What is 2+2?", "a.b*c (x) [y] {z} ^$ | \\ /slash/", "line one\nline two", ""])
def test_an_exact_matcher_matches_its_text_only(text):
    pattern = when(exact(text), "when")
    assert isinstance(pattern, re.Pattern)
    assert pattern.search(text) and not pattern.search(text + " more") and not pattern.search("x" + text)
    if text:
        assert not pattern.search(text.upper()) or text.upper() == text
    assert literal(exact(text)) == text


def test_a_redacted_part_of_a_message_matches_anything():
    pattern = when(exact(f"my key is {MARKER}, thanks"), "when")
    assert pattern.search("my key is sk-proj-whatever, thanks")
    assert literal(exact(f"my key is {MARKER}")) == f"my key is {MARKER}"
    assert literal("/^a.*b$/") is None


def conversation(*messages, tools=()) -> MockRequest:
    request = MockRequest(format="openai", model="gpt-4o", stream=False, tools=list(tools),
                          tool_names=tuple(t.name for t in tools))
    return finish(request, list(messages))


def test_turn_counts_the_conversation_without_system_messages():
    first = conversation(Message("system", "s"), Message("user", "hi"))
    later = conversation(Message("system", "s"), Message("user", "hi"), Message("assistant", ""),
                         Message("tool", "22C", "call_1"))
    test, description = compile_match(MatchObject(message="hi", turn=1))
    assert test(first) and not test(later) and description == "{message=hi, turn=1}"
    with pytest.raises(ValueError, match="turn"):
        MatchObject(turn=0)


def test_hashes_follow_the_system_prompt_and_the_tools():
    tool = ToolDef("f", "does f", {"type": "object"})
    a = conversation(Message("system", "Be brief."), Message("user", "hi"), tools=[tool])
    b = conversation(Message("system", "Be brief."), Message("user", "other"), tools=[tool])
    c = conversation(Message("system", "Be long."), Message("user", "hi"), tools=[tool])
    d = conversation(Message("system", "Be brief."), Message("user", "hi"), tools=[ToolDef("f", "does g")])
    assert system_hash(a) == system_hash(b) == system_hash(d) != system_hash(c)
    assert tools_hash(a) == tools_hash(b) == tools_hash(c) != tools_hash(d)
    assert system_hash(a).startswith("sha256:") and len(system_hash(a)) == 23


# -- writing and loading -------------------------------------------------------------------------
def exchange_for(body: dict, answer: dict) -> Exchange:
    exchange = Exchange("POST", "/v1/chat/completions", [("authorization", "Bearer sk-x")],
                        json.dumps(body).encode(), status=200, headers=[("content-type", "application/json")])
    exchange.received = [(0.01, json.dumps(answer).encode())]
    return exchange


ANSWER = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
    "role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "find", "arguments": "{\"q\": \"x\"}"}}]}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 6}}


@pytest.mark.parametrize("json5", [True, False])
def test_a_recording_loads_as_rules_that_validate(tmp_path, json5):
    recorder = Recorder(str(tmp_path), Scrubber(), json5=json5)
    request = conversation(Message("system", "Be brief."), Message("user", "find x"))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "find x"}]}
    first = recorder.save(request, exchange_for(body, ANSWER), "https://api.openai.com", None)
    second = recorder.save(request, exchange_for(body, ANSWER), "https://api.openai.com", None)
    follow = conversation(Message("system", "Be brief."), Message("user", "find x"), Message("assistant", ""),
                          Message("tool", "found", "call_1"))
    recorder.save(follow, exchange_for(body, {"choices": [{"message": {"content": "Found it."}}]}), "u", None)
    names = sorted(os.listdir(tmp_path))
    assert names == [f"{recorder.run}.exchanges.jsonl", f"{recorder.run}{'.json5' if json5 else '.json'}"]
    loaded = load_path(str(tmp_path))
    assert [type(rule) for rule in loaded.rules] == [RecordedRule, RecordedRule]
    sequence, tool_turn = loaded.rules
    assert sequence.ids == [first, second] and sequence.sequence is not None and len(sequence.sequence) == 2
    assert tool_turn.test(follow) and not tool_turn.test(request) and sequence.test(request)
    assert not sequence.test(conversation(Message("user", "find x!")))
    assert "tool_call_id" not in sequence.when and tool_turn.when["tool_call_id"] == "call_1"
    step = sequence.steps[0]
    assert step.reply == normalise_reply({"text": "Let me look.", "usage": {"input": 9, "output": 6},
                                          "tools": [{"name": "find", "args": {"q": "x"}, "id": "call_1"}]})
    with open(os.path.join(tmp_path, f"{recorder.run}.exchanges.jsonl"), encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    assert [line["id"] for line in lines] == [first, second, tool_turn.ids[0]]
    assert "authorization" not in lines[0]["request"]["headers"]
    assert as_recorded(step, lines[0], request)
    edited = normalise_reply({"text": "Edited."})
    step.reply = edited
    assert not as_recorded(step, lines[0], request)


def test_a_recorded_session_file_is_never_rewritten_by_a_later_run(tmp_path):
    (tmp_path / "checkout.json5").write_text("// mine\n[]\n")
    recorder = Recorder(str(tmp_path), Scrubber(), json5=True)
    request = conversation(Message("user", "pay"))
    recorder.save(request, exchange_for({}, ANSWER), "u", "checkout")
    assert (tmp_path / "checkout.json5").read_text() == "// mine\n[]\n"
    assert (tmp_path / "checkout-2.json5").exists() and (tmp_path / "checkout-2.exchanges.jsonl").exists()


@pytest.mark.parametrize("recording, problem", [
    ({"id": ["a", "b"]}, "recording.id: names 2 exchange(s) for 1 reply"),
    ({"id": 3}, "recording.id: must be an exchange id"),
    ({"id": "a", "system": "abc"}, 'recording.system: must be a hash written "sha256:…"'),
    ({"id": "a", "sytem": "sha256:00"}, "recording.sytem: unknown key; did you mean system?"),
])
def test_a_bad_recording_key_is_named(tmp_path, recording, problem):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"when": {"message": "x", "turn": 1}, "reply": "y", "recording": recording}]))
    with pytest.raises(RuleFileError) as info:
        load_path(str(path))
    assert problem in str(info.value)


def test_the_new_reply_and_when_keys_validate(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"when": {"message": "x", "turn": 0}, "reply": "y"}]))
    with pytest.raises(RuleFileError, match="when.turn: must be a positive integer"):
        load_path(str(path))
    path.write_text(json.dumps([{"when": {"turn": 2}, "reply": {
        "text": "ok", "reasoning": "r", "signature": "SIG", "tools": [{"name": "shell", "args": "ls", "id": "c"}]}}]))
    reply = load_path(str(path)).rules[0].resolver
    assert reply.signature == "SIG" and reply.tools[0].args == "ls"


def test_recorders_sharing_a_directory_and_a_second_never_share_a_file(tmp_path):
    one, two = Recorder(str(tmp_path), Scrubber()), Recorder(str(tmp_path), Scrubber())
    two.run = one.run  # two processes started in the same second
    request = conversation(Message("user", "pay"))
    one.save(request, exchange_for({}, ANSWER), "u", None)
    two.save(request, exchange_for({}, ANSWER), "u", None)
    rule_files = sorted(name for name in os.listdir(tmp_path) if not name.endswith(".jsonl"))
    assert {name.rsplit(".", 1)[0] for name in rule_files} == {one.run, one.run + "-2"}
    assert [len(load_path(str(tmp_path / name)).rules) for name in rule_files] == [1, 1]
