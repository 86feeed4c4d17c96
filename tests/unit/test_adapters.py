"""Each format adapter as pure functions, without a socket: a body parses into a `MockRequest`, a
`Completion` renders to the JSON body and to the stream's events, a bad body is a `RequestError`
naming its field. (The same formats over HTTP and through the SDKs: tests/sdk/.)"""
from __future__ import annotations

import json

import pytest

from llm_mock import ReplyObject, ToolCall
from llm_mock.formats.anthropic import Messages
from llm_mock.formats.base import Call
from llm_mock.formats.openai_chat import ChatCompletions
from llm_mock.formats.openai_responses import Responses
from llm_mock.replies import build_completion, normalise_reply
from llm_mock.request import Message, MockRequest, RequestError, ToolDef
from support.scenarios import assert_id
from support.sse import parse_sse

CHAT, RESPONSES, MESSAGES = ChatCompletions(), Responses(), Messages()
PATHS = {CHAT: "/v1/chat/completions", RESPONSES: "/v1/responses", MESSAGES: "/v1/messages"}
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TEXT = "It is sunny in Paris today."
REASONING = "The tool said sunny; say so."
ARGS = {"city": "Paris"}
CHUNK = 4  # characters per delta: every text arrives in several pieces

# One conversation per format: a system prompt, the user's question, the assistant's tool call and
# the tool's result, with a function tool offered (and a server tool where the format has them).
BODIES = {
    CHAT: {"model": "gpt-4o-mini", "stream": True, "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                    "parameters": SCHEMA}}]},
    RESPONSES: {"model": "gpt-4.1-mini", "stream": True, "instructions": "Be brief.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather", "parameters": SCHEMA},
                  {"type": "web_search"}]},
    MESSAGES: {"model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": True,
               "system": [{"type": "text", "text": "Be brief."}], "messages": [
                   {"role": "user", "content": "Weather in Paris?"},
                   {"role": "assistant", "content": [
                       {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}]}],
               "tools": [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA},
                         {"type": "web_search_20250305", "name": "web_search"}]},
}
SERVER_TOOLS = {CHAT: (), RESPONSES: ("web_search",), MESSAGES: ("web_search_20250305",)}
ADAPTERS = pytest.mark.parametrize("adapter", [CHAT, RESPONSES, MESSAGES], ids=["chat", "responses", "messages"])


def parse(adapter, body: dict, headers: dict | None = None) -> MockRequest:
    """The adapter's parse of `body` POSTed to its route with `headers` (lower-cased names)."""
    path = PATHS[adapter]
    call = Call("POST", path, headers=headers or {}, body=json.dumps(body).encode(), target=path)
    return adapter.parse(body, call)


def completion(request: MockRequest, reply) -> object:
    return build_completion(request, normalise_reply(reply), CHUNK)


def full_reply() -> ReplyObject:
    return ReplyObject(text=TEXT, reasoning=REASONING, tools=[ToolCall("get_weather", ARGS)])


def events_of(adapter, request: MockRequest, done) -> list:
    """The rendered stream's events, through the one SSE parser (strict framing)."""
    return parse_sse(b"".join(frame.data for frame in adapter.render_events(request, done).frames))


def pieces(texts: list, whole: str) -> None:
    """`texts` are `whole` cut in CHUNK-sized pieces."""
    assert "".join(texts) == whole and len(texts) == -(-len(whole) // CHUNK), texts
    assert all(0 < len(piece) <= CHUNK for piece in texts)


# -- parse ---------------------------------------------------------------------------------------
@ADAPTERS
def test_one_conversation_parses_the_same_in_every_format(adapter):
    request = parse(adapter, BODIES[adapter], {"x-trace": "t-1"})
    assert isinstance(request, MockRequest) and request.format == adapter.name
    assert (request.model, request.stream) == (BODIES[adapter]["model"], True)
    assert request.messages == [Message("system", "Be brief."), Message("user", "Weather in Paris?"),
                                Message("assistant", ""), Message("tool", "sunny", "call_1")]
    assert (request.last_message, request.system_message, request.last_tool_call_id) == \
        ("Weather in Paris?", "Be brief.", "call_1")
    kind = "custom" if adapter is MESSAGES else "function"  # Anthropic's user tools are `custom` tools
    assert request.tools == [ToolDef("get_weather", "Weather", SCHEMA, kind)]
    assert request.tool_names == ("get_weather",) and request.server_tool_types == SERVER_TOOLS[adapter]
    assert (request.path, request.headers, request.raw) == (PATHS[adapter], {"x-trace": "t-1"}, BODIES[adapter])
    assert request.max_tokens == (1024 if adapter is MESSAGES else None)
    assert request.input_tokens > 0


@ADAPTERS
def test_stream_is_false_when_absent(adapter):
    body = {k: v for k, v in BODIES[adapter].items() if k != "stream"}
    assert parse(adapter, body).stream is False


def test_chat_n_limits_and_include_usage():
    body = {**BODIES[CHAT], "n": 2, "max_tokens": 5, "max_completion_tokens": 7,
            "stream_options": {"include_usage": True}}
    request = parse(CHAT, body)
    assert (request.n, request.max_tokens, request.include_usage) == (2, 7, True)


@pytest.mark.parametrize("adapter, change, param, word", [
    (CHAT, {"messages": None}, "messages", "Missing required parameter"),
    (CHAT, {"messages": []}, "messages", "empty array"),
    (CHAT, {"messages": [5]}, "messages[0]", "expected an object"),
    (CHAT, {"n": 0}, "n", "out of range"),
    (CHAT, {"model": 5}, "model", "expected a string"),
    (CHAT, {"stream": "yes"}, "stream", "expected a boolean"),
    (RESPONSES, {"model": None}, "model", "Missing required parameter"),
    (RESPONSES, {"input": 5}, "input", "expected a string or an array"),
    (RESPONSES, {"input": [{"role": "robot", "content": "hi"}]}, "input[0].role", "Invalid value"),
    (MESSAGES, {"max_tokens": 0}, "max_tokens", "greater than or equal to 1"),
    (MESSAGES, {"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role", "Input should be"),
    (MESSAGES, {"system": 5}, "system", "valid string"),
], ids=lambda value: getattr(value, "name", None))
def test_a_bad_body_is_a_request_error_naming_the_field(adapter, change, param, word):
    body = {k: v for k, v in {**BODIES[adapter], **change}.items() if v is not None}
    with pytest.raises(RequestError) as caught:
        parse(adapter, body)
    assert caught.value.param == param and caught.value.status == 400
    assert word in caught.value.message and str(caught.value) == caught.value.message


# -- Chat Completions ----------------------------------------------------------------------------
def test_chat_renders_text_and_tool_calls_as_json():
    request = parse(CHAT, BODIES[CHAT])
    done = completion(request, full_reply())
    body = json.loads(json.dumps(CHAT.render_json(request, done)))  # JSON-able as it is
    assert_id(body["id"], "chatcmpl")
    assert (body["object"], body["model"]) == ("chat.completion", "gpt-4o-mini")
    (choice,) = body["choices"]
    assert (choice["index"], choice["finish_reason"]) == (0, "tool_calls")
    message = choice["message"]
    assert (message["role"], message["content"], message["refusal"]) == ("assistant", TEXT, None)
    (call,) = message["tool_calls"]
    assert_id(call["id"], "call")
    assert (call["type"], call["function"]["name"], json.loads(call["function"]["arguments"])) == \
        ("function", "get_weather", ARGS)
    usage = body["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (request.input_tokens, done.output_tokens)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == done.reasoning_tokens > 0


def test_chat_renders_a_stream_of_chunks():
    request = parse(CHAT, BODIES[CHAT])
    done = completion(request, full_reply())
    events = events_of(CHAT, request, done)
    assert all(event.event is None for event in events)  # data-only frames; `[DONE]` is the server's
    chunks = [event.json for event in events]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert all("usage" not in c for c in chunks)  # not asked for
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": "", "refusal": None}
    texts = [d["content"] for d in deltas[1:] if "content" in d]
    pieces(texts, TEXT)
    fragments = [f for d in deltas for f in d.get("tool_calls", [])]
    assert (fragments[0]["function"]["name"], fragments[0]["function"]["arguments"]) == ("get_weather", "")
    pieces([f["function"]["arguments"] for f in fragments[1:]], json.dumps(ARGS, separators=(",", ":")))
    kinds = ["finish" if not d else "role" if "role" in d else next(iter(d)) for d in deltas]
    assert kinds == ["role"] + ["content"] * len(texts) + ["tool_calls"] * len(fragments) + ["finish"]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + ["tool_calls"]
    assert deltas[-1] == {}


def test_chat_stream_ends_with_a_usage_chunk_when_asked():
    request = parse(CHAT, {**BODIES[CHAT], "stream_options": {"include_usage": True}})
    done = completion(request, "Hello!")
    *chunks, last = [event.json for event in events_of(CHAT, request, done)]
    assert all(c["usage"] is None for c in chunks)
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == done.output_tokens


# -- Responses -----------------------------------------------------------------------------------
def test_responses_renders_the_output_items_as_json():
    request = parse(RESPONSES, BODIES[RESPONSES])
    done = completion(request, full_reply())
    body = json.loads(json.dumps(RESPONSES.render_json(request, done)))
    assert_id(body["id"], "resp")
    assert (body["object"], body["status"], body["model"]) == ("response", "completed", "gpt-4.1-mini")
    assert [item["type"] for item in body["output"]] == ["reasoning", "message", "function_call"]
    reasoning, message, call = body["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": REASONING}]
    assert message["role"] == "assistant" and [p["text"] for p in message["content"]] == [TEXT]
    assert (call["name"], json.loads(call["arguments"])) == ("get_weather", ARGS)
    assert_id(call["call_id"], "call")
    assert body["instructions"] == "Be brief." and [t["name"] for t in body["tools"] if "name" in t] == ["get_weather"]
    usage = body["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (request.input_tokens, done.output_tokens)
    assert usage["output_tokens_details"]["reasoning_tokens"] == done.reasoning_tokens > 0


def test_responses_renders_a_numbered_stream_of_typed_events():
    request = parse(RESPONSES, BODIES[RESPONSES])
    done = completion(request, full_reply())
    events = events_of(RESPONSES, request, done)
    data = [event.json for event in events]
    assert all(event.event == payload["type"] for event, payload in zip(events, data, strict=True))
    assert [payload["sequence_number"] for payload in data] == list(range(len(data)))
    arguments = json.dumps(ARGS, separators=(",", ":"))
    count = {text: len(done.chunks(text)) for text in (TEXT, REASONING, arguments)}
    assert [payload["type"] for payload in data] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * count[REASONING],
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * count[TEXT],
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", *["response.function_call_arguments.delta"] * count[arguments],
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    of = lambda kind: [p["delta"] for p in data if p["type"] == kind]
    pieces(of("response.output_text.delta"), TEXT)
    pieces(of("response.reasoning_summary_text.delta"), REASONING)
    pieces(of("response.function_call_arguments.delta"), arguments)
    created, final = data[0]["response"], data[-1]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    assert final["id"] == created["id"] and final["status"] == "completed"
    assert final["output"] == [p["item"] for p in data if p["type"] == "response.output_item.done"]
    assert final["usage"]["output_tokens"] == done.output_tokens


# -- Anthropic Messages --------------------------------------------------------------------------
def test_messages_renders_content_blocks_as_json():
    request = parse(MESSAGES, BODIES[MESSAGES])
    done = completion(request, full_reply())
    body = json.loads(json.dumps(MESSAGES.render_json(request, done)))
    assert_id(body["id"], "msg_01")
    assert (body["type"], body["role"], body["model"]) == ("message", "assistant", "claude-sonnet-4-5")
    assert [block["type"] for block in body["content"]] == ["thinking", "text", "tool_use"]
    thinking, text, tool = body["content"]
    assert thinking["thinking"] == REASONING and thinking["signature"]
    assert text == {"type": "text", "text": TEXT}
    assert (tool["name"], tool["input"]) == ("get_weather", ARGS)
    assert_id(tool["id"], "toolu_01")
    assert (body["stop_reason"], body["stop_sequence"]) == ("tool_use", None)
    assert (body["usage"]["input_tokens"], body["usage"]["output_tokens"]) == (request.input_tokens, done.output_tokens)


def test_messages_renders_a_stream_of_named_events():
    request = parse(MESSAGES, BODIES[MESSAGES])
    done = completion(request, full_reply())
    events = events_of(MESSAGES, request, done)
    data = [event.json for event in events]
    assert all(event.event == payload["type"] for event, payload in zip(events, data, strict=True))
    arguments = json.dumps(ARGS, separators=(",", ":"))
    count = {text: len(done.chunks(text)) for text in (TEXT, REASONING, arguments)}
    assert [(p["type"], p.get("index")) for p in data] == [
        ("message_start", None),
        ("content_block_start", 0), ("ping", None), *[("content_block_delta", 0)] * (count[REASONING] + 1),
        ("content_block_stop", 0),
        ("content_block_start", 1), *[("content_block_delta", 1)] * count[TEXT], ("content_block_stop", 1),
        ("content_block_start", 2), *[("content_block_delta", 2)] * (count[arguments] + 1), ("content_block_stop", 2),
        ("message_delta", None), ("message_stop", None)]
    assert [p["content_block"]["type"] for p in data if p["type"] == "content_block_start"] == \
        ["thinking", "text", "tool_use"]
    deltas = [p["delta"] for p in data if p["type"] == "content_block_delta"]
    of = lambda kind, key: [d[key] for d in deltas if d["type"] == kind]
    pieces(of("thinking_delta", "thinking"), REASONING)
    pieces(of("text_delta", "text"), TEXT)
    assert of("input_json_delta", "partial_json")[0] == ""  # an empty first fragment, as the API sends
    pieces(of("input_json_delta", "partial_json")[1:], arguments)
    assert len(of("signature_delta", "signature")) == 1
    start, delta = data[0]["message"], data[-2]
    assert start["content"] == [] and start["stop_reason"] is None
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] == done.output_tokens


# -- every format ----------------------------------------------------------------------------------
@ADAPTERS
def test_streamed_and_json_replies_carry_the_same_text_and_usage(adapter):
    request = parse(adapter, BODIES[adapter])
    done = completion(request, "Hello from the mock, in small pieces.")
    body = adapter.render_json(request, done)
    text = {CHAT: lambda b: b["choices"][0]["message"]["content"],
            RESPONSES: lambda b: b["output"][0]["content"][0]["text"],
            MESSAGES: lambda b: b["content"][0]["text"]}[adapter](body)
    assert text == "Hello from the mock, in small pieces."
    streamed = "".join(_text_deltas(adapter, [event.json for event in events_of(adapter, request, done)]))
    assert streamed == text


def _text_deltas(adapter, data: list) -> list:
    if adapter is CHAT:
        return [c["choices"][0]["delta"].get("content") or "" for c in data]
    if adapter is RESPONSES:
        return [p["delta"] for p in data if p["type"] == "response.output_text.delta"]
    return [p["delta"]["text"] for p in data if p["type"] == "content_block_delta"]
