"""Record and replay through the official SDKs, without the internet.

A second llm_mock stands in for the vendor (the upstream). The same client calls go through a
recording server (`record=DIR, upstream=...`), then, with the upstream stopped, through a server that
only loads DIR: text, tool calls and their ids, reasoning and its signature, usage and errors must
come back the same, rendered from the rules and byte for byte with the recorded timing alike.
"""
from __future__ import annotations

import json
import os
import secrets
import urllib.request

import anthropic
import openai
import pytest

from llm_mock import MockServer
from llm_mock.log import Logger
from llm_mock.record import MARKER
from llm_mock.replies import ErrorReply, ReplyObject, ToolCall

OPENAI_KEY = "sk-proj-" + secrets.token_hex(24)
ANTHROPIC_KEY = "sk-ant-api03-" + secrets.token_hex(24)
GOOGLE_KEY = "AIza" + secrets.token_hex(18)
AWS_KEY_ID = "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
COOKIE = "session=" + secrets.token_hex(12)
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                 "parameters": {"type": "object",
                                                                "properties": {"city": {"type": "string"}}}}}
ANTHROPIC_TOOL = {"name": "get_weather", "description": "Weather in a city",
                  "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
RESPONSES_TOOL = {"type": "function", "name": "get_weather", "description": "Weather in a city",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def vendor() -> MockServer:
    """The stand-in for the real API, with answers that exercise every part of a reply."""
    up = MockServer()
    up.when_tool_result("call_w123").reply("It is sunny in Paris.")
    up.when_tool_result("toolu_01W123").reply("It is sunny in Paris.")
    up.when({"message": "weather", "format": "anthropic"}).reply(
        ReplyObject(text="Let me check.", tools=[ToolCall("get_weather", {"city": "Paris"}, "toolu_01W123")]))
    up.when("weather").reply(ReplyObject(text="Let me check.",
                                         tools=[ToolCall("get_weather", {"city": "Paris"}, "call_w123")]))
    up.when("think").reply(ReplyObject(text="The answer is 42.", reasoning="Six times seven is forty-two.",
                                       signature="EqRealSignatureFromTheVendor=="), chunk_size=4)
    up.when("slow").reply(ReplyObject(text="one two three four five six"), latency=25, chunk_size=4)
    up.when("fail").reply(ErrorReply(429, "Rate limit reached for gpt-4o.", retry_after=0))
    up.when("overload").reply(ErrorReply.overloaded("The vendor is overloaded."))
    up.when("secret").reply("Noted.")
    up.when("").reply("Hello from the vendor!", chunk_size=5)
    return up


def clients(url: str) -> tuple:
    oai = openai.OpenAI(base_url=url + "/v1", api_key=OPENAI_KEY, max_retries=0, _strict_response_validation=True,
                        default_headers={"x-goog-api-key": GOOGLE_KEY, "cookie": COOKIE})
    claude = anthropic.Anthropic(base_url=url, api_key=ANTHROPIC_KEY, max_retries=0,
                                 _strict_response_validation=True)
    return oai, claude


# -- what each call saw, reduced to its content ------------------------------------------------
def chat(oai, message: str, stream: bool = False, history: tuple = (), **kw) -> dict:
    messages = [{"role": "system", "content": "You are terse."}, *history, {"role": "user", "content": message}]
    if not stream:
        r = oai.chat.completions.create(model="gpt-4o", messages=messages, **kw)
        m = r.choices[0].message
        return {"text": m.content, "finish": r.choices[0].finish_reason, "usage": r.usage.model_dump(),
                "tools": [(t.id, t.function.name, json.loads(t.function.arguments)) for t in m.tool_calls or []]}
    text, tools, usage, finish = "", {}, None, None
    for chunk in oai.chat.completions.create(model="gpt-4o", messages=messages, stream=True,
                                             stream_options={"include_usage": True}, **kw):
        usage = chunk.usage.model_dump() if chunk.usage else usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                entry = tools.setdefault(call.index, ["", "", ""])
                entry[0] = call.id or entry[0]
                entry[1] += (call.function.name or "") if call.function else ""
                entry[2] += (call.function.arguments or "") if call.function else ""
    return {"text": text or None, "finish": finish, "usage": usage,
            "tools": [(i, n, json.loads(a)) for i, n, a in tools.values()]}


def responses(oai, message: str, stream: bool = False, **kw) -> dict:
    args = dict(model="o4-mini", input=message, instructions="Think, then answer.",
                include=["reasoning.encrypted_content"], **kw)
    if stream:
        with oai.responses.stream(**args) as events:
            r = events.get_final_response()
    else:
        r = oai.responses.create(**args)
    reasoning = [(part.text, item.encrypted_content) for item in r.output if item.type == "reasoning"
                 for part in item.summary]
    calls = [(item.call_id, item.name, json.loads(item.arguments)) for item in r.output if item.type == "function_call"]
    return {"text": r.output_text, "reasoning": reasoning, "tools": calls, "status": r.status,
            "usage": (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens,
                      r.usage.output_tokens_details.reasoning_tokens)}


def messages(claude, message: str, stream: bool = False, history: tuple = (), **kw) -> dict:
    args = dict(model="claude-sonnet-4-5", max_tokens=1024, system="You are terse.",
                messages=[*history, {"role": "user", "content": message}], **kw)
    if stream:
        with claude.messages.stream(**args) as events:
            m = events.get_final_message()
    else:
        m = claude.messages.create(**args)
    blocks = [(b.type, getattr(b, "text", None), getattr(b, "thinking", None), getattr(b, "signature", None),
               getattr(b, "id", None), getattr(b, "input", None)) for b in m.content]
    return {"blocks": blocks, "stop": m.stop_reason, "usage": (m.usage.input_tokens, m.usage.output_tokens)}


def failure(call) -> tuple:
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as info:
        call()
    body = info.value.body
    if isinstance(body, dict):  # the request id is new at every answer
        body = {k: v for k, v in body.items() if k != "request_id"}
    return info.value.status_code, body


def conversation(oai, claude) -> list:
    """Every call of the round: each format, JSON and stream, text, tools (and the tool-result turn
    after them), reasoning with signatures, errors."""
    weather = {"tools": [WEATHER_TOOL]}
    seen = [chat(oai, "Hello there"), chat(oai, "Hello there", stream=True)]
    first = chat(oai, "What's the weather?", **weather)
    seen.append(first)
    call_id, name, args = first["tools"][0]
    turn = ({"role": "user", "content": "What's the weather?"},
            {"role": "assistant", "content": "Let me check.",
             "tool_calls": [{"id": call_id, "type": "function",
                             "function": {"name": name, "arguments": json.dumps(args)}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "22°C, clear"})
    seen.append(chat_tool_result(oai, turn))
    seen.append(chat(oai, "What's the weather?", stream=True, **weather))
    seen.append(responses(oai, "think hard"))
    seen.append(responses(oai, "think hard", stream=True))
    seen.append(responses(oai, "weather please", tools=[RESPONSES_TOOL]))
    seen.append(messages(claude, "think about it", thinking={"type": "enabled", "budget_tokens": 512}))
    seen.append(messages(claude, "think about it", stream=True, thinking={"type": "enabled", "budget_tokens": 512}))
    claude_first = messages(claude, "weather in Paris?", tools=[ANTHROPIC_TOOL])
    seen.append(claude_first)
    tool_use = [b for b in claude_first["blocks"] if b[0] == "tool_use"][0]
    history = ({"role": "user", "content": "weather in Paris?"},
               {"role": "assistant", "content": [{"type": "text", "text": "Let me check."},
                                                 {"type": "tool_use", "id": tool_use[4], "name": "get_weather",
                                                  "input": tool_use[5]}]})
    seen.append(claude_tool_result(claude, history, tool_use[4]))
    seen.append(failure(lambda: chat(oai, "fail now")))
    seen.append(failure(lambda: messages(claude, "overload now")))
    return seen


def chat_tool_result(oai, turn: tuple) -> dict:
    messages = [{"role": "system", "content": "You are terse."}, *turn]
    r = oai.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    return {"text": r.choices[0].message.content, "usage": r.usage.model_dump()}


def claude_tool_result(claude, history: tuple, tool_use_id: str) -> dict:
    m = claude.messages.create(model="claude-sonnet-4-5", max_tokens=1024, system="You are terse.",
                               tools=[ANTHROPIC_TOOL],
                               messages=[*history, {"role": "user", "content": [
                                   {"type": "tool_result", "tool_use_id": tool_use_id, "content": "22°C"}]}])
    return {"text": m.content[0].text, "usage": (m.usage.input_tokens, m.usage.output_tokens)}


@pytest.fixture
def recorded(tmp_path):
    """Record the whole conversation once; the upstream is stopped afterwards."""
    directory = str(tmp_path / "recordings")
    with vendor() as up, MockServer(record=directory, upstream=up.url) as recorder:
        seen = conversation(*clients(recorder.url))
        upstream_requests = len(up.history)
    return directory, seen, upstream_requests


def replayed(directory: str, **options) -> tuple:
    with MockServer(**options) as replay:
        replay.load(directory)
        seen = conversation(*clients(replay.url))
        return seen, replay.is_done(), replay.recordings.unused(), list(replay.history)


def test_a_replay_gives_what_the_recording_gave(recorded):
    directory, seen, upstream_requests = recorded
    assert upstream_requests == len(seen)
    again, done, unused, history = replayed(directory)
    assert again == seen
    assert done and unused == []
    assert all(entry.rule is not None for entry in history)  # every answer came from a recorded rule


def test_a_replay_with_recorded_timing_gives_the_same_bytes(recorded):
    directory, seen, _ = recorded
    again, done, _, history = replayed(directory, replay_timing="recorded")
    assert again == seen
    assert done
    assert sum(entry.outcome.startswith("replayed ") for entry in history) == len(seen)


def test_the_contents_survive_the_round_trip(recorded):
    """What the vendor said is what the recording holds: ids, signatures, usage, errors."""
    _, seen, _ = recorded
    assert seen[2]["tools"] == seen[4]["tools"] == [("call_w123", "get_weather", {"city": "Paris"})]
    assert seen[3]["text"] == "It is sunny in Paris."
    assert seen[5]["reasoning"] == seen[6]["reasoning"] == [("Six times seven is forty-two.",
                                                            "EqRealSignatureFromTheVendor==")]
    assert seen[7]["tools"] == [("call_w123", "get_weather", {"city": "Paris"})]
    for index in (8, 9):
        thinking = seen[index]["blocks"][0]
        assert thinking[0] == "thinking" and thinking[3] == "EqRealSignatureFromTheVendor=="
    assert seen[10]["blocks"][1][4] == "toolu_01W123" and seen[11]["text"] == "It is sunny in Paris."
    assert seen[12][0] == 429 and seen[12][1]["message"] == "Rate limit reached for gpt-4o."
    assert seen[13][0] == 529 and seen[13][1]["error"]["type"] == "overloaded_error"


def test_no_secret_reaches_the_disk(tmp_path):
    directory = str(tmp_path / "rec")
    with vendor() as up, MockServer(record=directory, upstream=up.url, redact=[r"user-\d{6}"]) as recorder:
        oai, claude = clients(recorder.url)
        said = f"secret: my key is {GOOGLE_KEY}, aws {AWS_KEY_ID}, token Bearer {OPENAI_KEY}, account user-123456"
        chat(oai, said)
        chat(oai, said, stream=True)
        messages(claude, "secret " + ANTHROPIC_KEY)
        gemini_style = oai.with_options(base_url=recorder.url + "/v1")
        gemini_style.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                             extra_query={"key": GOOGLE_KEY})
    files = sorted(os.listdir(directory))
    assert files and any(f.endswith(".exchanges.jsonl") for f in files)
    for name in files:
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            text = handle.read()
        for secret in (OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_KEY, AWS_KEY_ID, COOKIE, "user-123456",
                       COOKIE.split("=")[1]):
            assert secret not in text, f"{secret[:12]}… found in {name}"
        assert MARKER in text
    sidecar = next(f for f in files if f.endswith(".exchanges.jsonl"))
    with open(os.path.join(directory, sidecar), encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    for line in lines:
        headers = {k.lower() for k in line["request"]["headers"]}
        assert not headers & {"authorization", "x-api-key", "x-goog-api-key", "cookie"}
    assert lines[-1]["request"]["path"].endswith("key=" + MARKER)
    # a recorded message whose secret was redacted still matches that message on replay
    with MockServer(replay="strict") as replay:
        replay.load(directory)
        oai, _ = clients(replay.url)
        assert chat(oai, said)["text"] == "Noted."


def test_the_same_request_twice_in_a_session_is_a_sequence(tmp_path):
    directory = str(tmp_path / "rec")
    with MockServer() as up, MockServer(record=directory, upstream=up.url) as recorder:
        up.when("roll").reply_sequence(["You rolled 3.", "You rolled 5."])
        oai, _ = clients(recorder.url)
        session = oai.with_options(default_headers={"x-llm-mock-session": "test_dice"})
        first, second = chat(session, "roll a die"), chat(session, "roll a die")
        other = chat(oai.with_options(default_headers={"x-llm-mock-session": "test-other"}), "roll a die")
    assert (first["text"], second["text"], other["text"]) == ("You rolled 3.", "You rolled 5.", "You rolled 5.")
    assert sorted(os.listdir(directory)) == ["test-other.exchanges.jsonl", "test-other.json5",
                                             "test_dice.exchanges.jsonl", "test_dice.json5"]
    with MockServer() as replay:
        assert replay.load(os.path.join(directory, "test_dice.json5")) == 1
        oai, _ = clients(replay.url)
        assert [chat(oai, "roll a die")["text"] for _ in range(2)] == ["You rolled 3.", "You rolled 5."]


def test_record_and_replay_mix(tmp_path):
    """`--record DIR -r DIR`: what is recorded replays, what is missing is recorded."""
    directory = str(tmp_path / "rec")
    with vendor() as up:
        with MockServer(record=directory, upstream=up.url) as recorder:
            chat(clients(recorder.url)[0], "Hello there")
        with MockServer(record=directory, upstream=up.url) as mixed:
            mixed.load(directory)
            oai, _ = clients(mixed.url)
            assert chat(oai, "Hello there")["text"] == "Hello from the vendor!"
            assert chat(oai, "think once")["text"] == "The answer is 42."
        assert [entry.last_message for entry in up.history] == ["Hello there", "think once"]
    assert len([f for f in os.listdir(directory) if f.endswith((".json5", ".json"))]) == 2


def test_a_changed_system_prompt_is_answered_and_flagged_or_a_strict_miss(recorded):
    directory, _, _ = recorded
    lines: list = []
    with MockServer(log_level="warning") as replay:
        replay.log = Logger("warning", stream=_Lines(lines))
        replay.recordings.log = replay.log
        replay.load(directory)
        oai, _ = clients(replay.url)
        r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "system", "content": "Be verbose."},
                                                                  {"role": "user", "content": "Hello there"}])
        assert r.choices[0].message.content == "Hello from the vendor!"
        assert replay.history.last().flags == ("stale: recorded with a different system prompt",)
        with urllib.request.urlopen(replay.url + "/__llm_mock/history?limit=1") as answer:  # and the journal
            assert json.load(answer)[0]["flags"] == ["stale: recorded with a different system prompt"]
    assert any("WARN" in line and "recorded with a different system prompt" in line for line in lines)
    with MockServer(replay="strict") as strict:
        strict.load(directory)
        oai, _ = clients(strict.url)
        with pytest.raises(openai.NotFoundError) as info:
            oai.chat.completions.create(model="gpt-4o", messages=[{"role": "system", "content": "Be verbose."},
                                                                  {"role": "user", "content": "Hello there"}])
        stale = info.value.body["message"]
        assert stale.startswith("llm_mock: no rule matched") and info.value.body["code"] == "no_rule_matched"
        assert "-001" in stale and "recorded with a different system prompt: in strict replay that is a miss" in stale
        assert "conditions held): ." not in stale and " of 4 conditions held): " in stale  # the stale one not listed
        assert strict.history.last().outcome == "unmatched" and strict.history.last().rule is None
        with pytest.raises(anthropic.NotFoundError) as miss:
            messages(clients(strict.url)[1], "think about it twice")
        report = miss.value.body["error"]["message"]
        assert report.startswith("llm_mock: no rule matched") and "Closest rules: (1)" in report  # the near misses
        assert "Closest recording: " in report  # and the recording, with the field that differs
        assert 'message: recorded "think about it", got "think about it twice"' in report
        assert "(3 of 4 conditions held): message: expected /^think about it$/" in report  # turn held
        assert strict.history.last().near_misses
        assert not strict.is_done()
    with MockServer(replay="strict") as strict:  # a request may turn strict replay off for itself
        strict.load(directory)
        lenient = clients(strict.url)[0].with_options(default_headers={"x-llm-mock-strict": "0"})
        assert chat(lenient, "never recorded")["text"] != ""


def test_unused_recordings_are_listed(recorded):
    directory, _, _ = recorded
    with MockServer() as replay:
        replay.load(directory)
        oai, _ = clients(replay.url)
        chat(oai, "Hello there")
        unused = replay.recordings.unused()
        assert not replay.is_done()
        assert len(unused) == 13 and all(source.endswith(".json5") for _, source in unused)
        assert replay.recordings.summary().startswith("llm_mock: 13 of 14 recording(s) never replayed: ")
        report = replay.recordings.done()
        assert report["done"] is False and len(report["unused_recordings"]) == 13
        with urllib.request.urlopen(replay.url + "/__llm_mock/done") as answer:  # the admin API says the same
            admin = json.load(answer)
        assert admin["done"] is False and admin["unused_recordings"] == report["unused_recordings"]


def test_an_unreachable_upstream_is_a_502_in_the_formats_shape(tmp_path):
    with MockServer() as dead:
        url = dead.url
    with MockServer(record=str(tmp_path / "rec"), upstream=url) as recorder:
        _, claude = clients(recorder.url)
        with pytest.raises(anthropic.APIStatusError) as info:
            messages(claude, "anyone there?")
        assert info.value.status_code == 502 and "could not reach the upstream" in info.value.message
        assert info.value.body["type"] == "error"
    assert os.listdir(tmp_path / "rec") == []


def test_per_format_upstreams(tmp_path):
    with MockServer() as openai_vendor, MockServer() as anthropic_vendor:
        openai_vendor.when("").reply("from the openai vendor")
        anthropic_vendor.when("").reply("from the anthropic vendor")
        upstreams = {"openai": openai_vendor.url, "anthropic": anthropic_vendor.url}
        with MockServer(record=str(tmp_path / "rec"), upstreams=upstreams) as recorder:
            oai, claude = clients(recorder.url)
            assert chat(oai, "hi")["text"] == "from the openai vendor"
            assert responses(oai, "hi")["text"] == "from the openai vendor"
            assert messages(claude, "hi")["blocks"][0][1] == "from the anthropic vendor"


class _Lines:
    def __init__(self, lines: list):
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass
