"""Record and replay for every dialect beyond OpenAI chat/Responses and Anthropic, through the real clients.

A second llm_mock stands in for the vendor. Each client's calls go through a recording server, then,
with the vendor stopped, through servers that only load the recordings: once rendered from the
rules, once byte for byte at the recorded pace. The content (text, reasoning and signatures, tool
calls with ids and arguments, usage, finish, errors) must come back the same, and no key sent may
be found in any recorded file.
"""
from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request

import anthropic
import ollama
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from llm_mock import MockServer
from llm_mock.loader import load_path
from llm_mock.record import MARKER
from llm_mock.record.recorded import RecordedRule
from llm_mock.replies import ErrorReply, ReplyObject, ToolCall

GOOGLE_KEY = "AIza" + secrets.token_hex(18)
AZURE_KEY = secrets.token_hex(16)  # Azure keys have no recognisable shape: only the header drop keeps it out
OLLAMA_TOKEN = "sk-" + secrets.token_hex(20)
AWS_KEY_ID = "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
AWS_SECRET = secrets.token_hex(20)
VERTEX_TOKEN = "ya29." + secrets.token_hex(20)
SECRETS = (GOOGLE_KEY, AZURE_KEY, OLLAMA_TOKEN, AWS_KEY_ID, AWS_SECRET, VERTEX_TOKEN)
SIGNATURE = "RXFSZWFsU2lnbmF0dXJlRnJvbVRoZVZlbmRvcg=="
GEMINI_TOOL = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="Weather in a city",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}))])
OLLAMA_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                "parameters": {"type": "object",
                                                               "properties": {"city": {"type": "string"}}}}}
ANTHROPIC_TOOL = {"name": "get_weather", "description": "Weather in a city",
                  "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def vendor() -> MockServer:
    up = MockServer()
    up.when("weather").reply(ReplyObject(text="Let me check.",
                                         tools=[ToolCall("get_weather", {"city": "Paris"}, "call_w123")]))
    up.when("think").reply(ReplyObject(text="The answer is 42.", reasoning="Six times seven is forty-two.",
                                       signature=SIGNATURE), chunk_size=4)
    up.when("fail").reply(ErrorReply(429, "Quota exceeded for this project.", retry_after=3))
    up.when("embed").reply(ReplyObject(embeddings=[[0.25, -0.5, 0.125, 1.0]]))
    up.when("").reply("Hello from the vendor!", chunk_size=5, latency=8)
    return up


# -- Gemini (google-genai) ---------------------------------------------------------------------------
def gemini_round(url: str) -> list:
    client = genai.Client(api_key=GOOGLE_KEY, http_options=types.HttpOptions(base_url=url))
    model = "gemini-2.5-flash"
    config = types.GenerateContentConfig(system_instruction="You are terse.")
    thinking = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))

    def seen(r) -> dict:
        parts = r.candidates[0].content.parts or []
        u = r.usage_metadata
        return {"text": "".join(p.text or "" for p in parts if not p.thought),
                "thoughts": [(p.text, p.thought_signature) for p in parts if p.thought],
                "calls": [(c.id, c.name, c.args) for c in r.function_calls or []],
                "finish": r.candidates[0].finish_reason,
                "usage": (u.prompt_token_count, u.candidates_token_count, u.thoughts_token_count)}

    def streamed(contents: str, config) -> dict:
        chunks = list(client.models.generate_content_stream(model=model, contents=contents, config=config))
        return {"text": "".join(c.text or "" for c in chunks if c.candidates and not any(
                    p.thought for p in c.candidates[0].content.parts or [])),
                "calls": [(f.id, f.name, f.args) for c in chunks for f in c.function_calls or []],
                "finish": chunks[-1].candidates[0].finish_reason,
                "usage": chunks[-1].usage_metadata.candidates_token_count}

    out = [seen(client.models.generate_content(model=model, contents="Hello there", config=config)),
           streamed("Hello there", config),
           seen(client.models.generate_content(model=model, contents="What's the weather?",
                                               config=types.GenerateContentConfig(tools=[GEMINI_TOOL]))),
           streamed("weather again", types.GenerateContentConfig(tools=[GEMINI_TOOL])),
           seen(client.models.generate_content(model=model, contents="think hard", config=thinking))]
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model=model, contents="fail now")
    out.append((info.value.code, info.value.status, info.value.message))
    # the JSON-array stream (no `alt=sse`) and a key in the query, as REST callers send it
    request = urllib.request.Request(f"{url}/v1beta/models/{model}:streamGenerateContent?key={GOOGLE_KEY}",
                                     json.dumps({"contents": [{"role": "user", "parts": [{"text": "array please"}]}]
                                                 }).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        chunks = json.load(answer)
    out.append(("".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"]),
                chunks[-1]["candidates"][0]["finishReason"], chunks[-1]["usageMetadata"]["totalTokenCount"]))
    return out


# -- Ollama ------------------------------------------------------------------------------------------
def ollama_round(url: str) -> list:
    client = ollama.Client(host=url, headers={"authorization": "Bearer " + OLLAMA_TOKEN})
    system = {"role": "system", "content": "You are terse."}

    def seen(r) -> dict:
        m = r.message if hasattr(r, "message") else None
        calls = [(c.function.name, dict(c.function.arguments)) for c in (m.tool_calls or [])] if m else []
        return {"text": m.content if m else r.response, "calls": calls, "done": r.done_reason,
                "usage": (r.prompt_eval_count, r.eval_count), "thinking": m.thinking if m else r.thinking}

    stream = list(client.chat(model="qwen3:8b", messages=[system, {"role": "user", "content": "Hello there"}],
                              stream=True))
    out = [seen(client.chat(model="qwen3:8b", messages=[system, {"role": "user", "content": "Hello there"}])),
           ("".join(c.message.content for c in stream), stream[-1].done_reason, stream[-1].eval_count),
           seen(client.chat(model="qwen3:8b", messages=[{"role": "user", "content": "What's the weather?"}],
                            tools=[OLLAMA_TOOL])),
           seen(client.chat(model="qwen3:8b", messages=[{"role": "user", "content": "think hard"}], think=True)),
           seen(client.generate(model="qwen3:8b", prompt="Hello generate")),
           "".join(c.response for c in client.generate(model="qwen3:8b", prompt="Hello generate", stream=True))]
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="qwen3:8b", messages=[{"role": "user", "content": "fail now"}])
    out.append((info.value.status_code, info.value.error))
    return out


# -- Bedrock (AnthropicBedrock), Vertex (AnthropicVertex) -------------------------------------------
def anthropic_round(client, model: str) -> list:
    def seen(m) -> list:
        return [(b.type, getattr(b, "text", None), getattr(b, "thinking", None), getattr(b, "signature", None),
                 getattr(b, "id", None), getattr(b, "input", None)) for b in m.content] + [
            m.stop_reason, (m.usage.input_tokens, m.usage.output_tokens)]

    args = dict(model=model, max_tokens=1024, system="You are terse.")
    out = [seen(client.messages.create(**args, messages=[{"role": "user", "content": "Hello there"}]))]
    with client.messages.stream(**args, messages=[{"role": "user", "content": "think hard"}],
                                thinking={"type": "enabled", "budget_tokens": 512}) as events:
        out.append(seen(events.get_final_message()))
    with client.messages.stream(**args, messages=[{"role": "user", "content": "weather in Paris?"}],
                                tools=[ANTHROPIC_TOOL]) as events:
        out.append(seen(events.get_final_message()))
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(**args, messages=[{"role": "user", "content": "fail now"}])
    out.append((info.value.status_code, info.value.message))
    return out


def bedrock_round(url: str) -> list:
    client = anthropic.AnthropicBedrock(base_url=url, aws_access_key=AWS_KEY_ID, aws_secret_key=AWS_SECRET,
                                        aws_region="us-east-1", max_retries=0, _strict_response_validation=True)
    return anthropic_round(client, "anthropic.claude-sonnet-4-5-20250929-v1:0")


def vertex_round(url: str) -> list:
    client = anthropic.AnthropicVertex(base_url=url + "/v1", region="us-east5", project_id="my-project",
                                       access_token=VERTEX_TOKEN, max_retries=0, _strict_response_validation=True)
    return anthropic_round(client, "claude-sonnet-4-5@20250929")


# -- Azure, embeddings, legacy completions (openai) ---------------------------------------------------
def openai_round(url: str) -> list:
    azure = openai.AzureOpenAI(azure_endpoint=url, api_key=AZURE_KEY, api_version="2024-10-21", max_retries=0)
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello there"}]
    r = azure.chat.completions.create(model="gpt-4o", messages=messages)
    out: list = [(r.choices[0].message.content, r.choices[0].finish_reason, r.usage.model_dump())]
    text, calls = "", []
    for chunk in azure.chat.completions.create(model="gpt-4o", stream=True, tools=[OLLAMA_TOOL],
                                              messages=[{"role": "user", "content": "weather?"}]):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            calls += [(c.id, c.function.name, c.function.arguments) for c in choice.delta.tool_calls or []]
    out.append((text, calls))
    plain = openai.OpenAI(base_url=url + "/v1", api_key="sk-proj-" + secrets.token_hex(20), max_retries=0,
                          _strict_response_validation=True)
    loose = plain.with_options()  # the SDK asks for base64 vectors, which its strict validation refuses
    loose._strict_response_validation = False
    vectors = loose.embeddings.create(model="text-embedding-3-small", input="embed this")
    out.append(([d.embedding for d in vectors.data], vectors.usage.prompt_tokens))
    done = plain.completions.create(model="gpt-3.5-turbo-instruct", prompt="Hello legacy", max_tokens=50)
    out.append((done.choices[0].text, done.choices[0].finish_reason, done.usage.completion_tokens))
    out.append("".join(c.choices[0].text for c in loose.completions.create(  # null finish_reason in chunks
        model="gpt-3.5-turbo-instruct", prompt="Hello legacy", max_tokens=50, stream=True) if c.choices))
    return out


ROUNDS = {"gemini": gemini_round, "ollama": ollama_round, "bedrock": bedrock_round, "vertex": vertex_round,
          "openai": openai_round}


@pytest.fixture(scope="module", params=sorted(ROUNDS))
def recorded(request, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("rec") / request.param)
    with vendor() as up, MockServer(record=directory, upstream=up.url) as recorder:
        seen = ROUNDS[request.param](recorder.url)
        forwarded = len(up.history)
        assert all(entry.status for entry in up.history)
    return request.param, directory, seen, forwarded


def test_replayed_from_the_rules_and_at_the_recorded_pace(recorded):
    name, directory, seen, forwarded = recorded
    with MockServer(replay="strict") as replay:
        replay.load(directory)
        assert ROUNDS[name](replay.url) == seen
        assert replay.is_done() and all(entry.rule is not None for entry in replay.history)
        assert not any(entry.outcome.startswith("replayed") for entry in replay.history)  # rendered from rules
        assert len(replay.history) == forwarded
    with MockServer(replay="strict", replay_timing="recorded") as exact:
        exact.load(directory)
        assert ROUNDS[name](exact.url) == seen
        assert all(entry.outcome.startswith("replayed ") for entry in exact.history)


def test_the_rules_say_what_the_vendor_said(recorded):
    name, directory, seen, _ = recorded
    rule_file = next(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith((".json5", ".json")))
    rules = [rule for rule in load_path(rule_file).rules if isinstance(rule, RecordedRule)]
    by_message = {rule.when["message"]: (rule.when, rule.steps[0].reply) for rule in rules}
    formats = {when["format"] for when, _ in by_message.values()}
    expected = {"gemini": {"gemini"}, "ollama": {"ollama"}, "bedrock": {"anthropic"}, "vertex": {"anthropic"},
                "openai": {"openai", "embeddings", "completions"}}[name]
    assert formats == expected  # a transport records the format it carries
    replies = [reply for _, reply in by_message.values()]
    assert any(r.text == "Hello from the vendor!" and r.usage for r in replies)
    if name != "openai":
        calls = [tool for r in replies for tool in r.tools]
        assert calls and calls[0].name == "get_weather" and calls[0].args == {"city": "Paris"}
        assert calls[0].id == "call_w123"
        errors = [r.error for r in replies if r.error is not None]
        assert errors and errors[0].status == 429 and errors[0].message == "Quota exceeded for this project."
    if name != "openai":
        thought = [r for r in replies if r.reasoning]
        assert thought and thought[0].reasoning == "Six times seven is forty-two."
        assert thought[0].signature == (None if name == "ollama" else SIGNATURE)  # Ollama signs nothing
    if name == "openai":
        assert [r.embeddings for r in replies if r.embeddings] == [[[0.25, -0.5, 0.125, 1.0]]]


def test_no_key_reaches_the_disk(recorded):
    name, directory, _, _ = recorded
    files = os.listdir(directory)
    paths = []
    assert any(f.endswith(".exchanges.jsonl") for f in files)
    for name in files:
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            text = handle.read()
        for secret in SECRETS:
            assert secret not in text, f"{secret[:8]}… found in {name}"
        if name.endswith(".exchanges.jsonl"):
            for line in map(json.loads, text.splitlines()):
                sent = {k.lower() for k in line["request"]["headers"]}
                assert not sent & {"authorization", "api-key", "x-goog-api-key", "x-api-key"}
                paths.append(line["request"]["path"])
    assert [p for p in paths if "key=" in p] == ([p for p in paths if "key=" + MARKER in p] or [])
    if name == "gemini":  # the REST call sent its key in the query
        assert any(p.endswith(":streamGenerateContent?key=" + MARKER) for p in paths)


@pytest.mark.parametrize("recorded", ["gemini"], indirect=True)
def test_a_strict_replay_miss_names_the_recording_in_the_dialects_shape(recorded):
    _, directory, _, _ = recorded
    with MockServer(replay="strict") as replay:
        replay.load(directory)
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=replay.url))
        with pytest.raises(genai_errors.ClientError) as info:
            client.models.generate_content(model="gemini-2.5-flash", contents="Hello thar",
                                           config=types.GenerateContentConfig(system_instruction="You are terse."))
    assert info.value.code == 404 and info.value.message.startswith("llm_mock: no rule matched")
    assert 'Closest recording: ' in info.value.message
    assert 'message: recorded "Hello there", got "Hello thar"' in info.value.message


@pytest.mark.parametrize("recorded", ["bedrock"], indirect=True)
def test_a_bedrock_stream_recording_is_not_sent_to_the_first_party_api(recorded):
    """The exact bytes of an event stream only answer the route they came by; elsewhere the rule renders."""
    _, directory, _, _ = recorded
    with MockServer(replay_timing="recorded") as replay:
        replay.load(directory)
        claude = anthropic.Anthropic(base_url=replay.url, api_key="k", max_retries=0,
                                     _strict_response_validation=True)
        with claude.messages.stream(model="anthropic.claude-sonnet-4-5-20250929-v1:0", max_tokens=1024,
                                    system="You are terse.", thinking={"type": "enabled", "budget_tokens": 512},
                                    messages=[{"role": "user", "content": "think hard"}]) as events:
            message = events.get_final_message()
        assert message.content[0].thinking == "Six times seven is forty-two."
        assert message.content[0].signature == SIGNATURE
        assert not replay.history.last().outcome.startswith("replayed")


def test_an_unreachable_upstream_is_a_502_in_geminis_shape(tmp_path):
    with MockServer() as dead:
        url = dead.url
    with MockServer(record=str(tmp_path / "rec"), upstreams={"gemini": url}) as recorder:
        request = urllib.request.Request(f"{recorder.url}/v1beta/models/gemini-2.5-flash:generateContent",
                                         b'{"contents":[{"parts":[{"text":"hi"}]}]}',
                                         {"content-type": "application/json", "x-goog-api-key": GOOGLE_KEY})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request)
        body = json.load(info.value)
    assert info.value.code == 502 and body["error"]["status"] == "INTERNAL"
    assert "could not reach the upstream" in body["error"]["message"]


def bedrock_says(url: str) -> str:
    client = anthropic.AnthropicBedrock(base_url=url, aws_access_key=AWS_KEY_ID, aws_secret_key=AWS_SECRET,
                                        aws_region="us-east-1", max_retries=0)
    return client.messages.create(model="anthropic.claude-sonnet-4-5-20250929-v1:0", max_tokens=10,
                                  messages=[{"role": "user", "content": "hi"}]).content[0].text


def test_a_transport_goes_to_its_own_upstream_never_the_vendors(tmp_path):
    with MockServer() as anthropic_vendor, MockServer() as aws:
        anthropic_vendor.when("").reply("from api.anthropic.com")
        aws.when("").reply("from bedrock")
        upstreams = {"anthropic": anthropic_vendor.url, "bedrock": aws.url}
        with MockServer(record=str(tmp_path / "rec"), upstreams=upstreams) as recorder:
            assert bedrock_says(recorder.url) == "from bedrock"
            first_party = anthropic.Anthropic(base_url=recorder.url, api_key="k", max_retries=0)
            said = first_party.messages.create(model="claude-sonnet-4-5", max_tokens=10,
                                               messages=[{"role": "user", "content": "hi"}])
            assert said.content[0].text == "from api.anthropic.com"
        assert [e.path for e in aws.history] == ["/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"]
        assert all(e.path == "/v1/messages" for e in anthropic_vendor.history)
    with MockServer() as anthropic_vendor:
        with MockServer(record=str(tmp_path / "rec2"), upstreams={"anthropic": anthropic_vendor.url}) as recorder:
            recorder.when("").reply("the fallback rule")  # no upstream for Bedrock: nothing is forwarded
            assert bedrock_says(recorder.url) == "the fallback rule"
        assert len(anthropic_vendor.history) == 0


def test_a_stale_recording_alone_is_named_once_and_strict_mode_alone_names_recordings(tmp_path):
    directory = str(tmp_path / "rec")
    with vendor() as up, MockServer(record=directory, upstream=up.url) as recorder:
        ollama_client = ollama.Client(host=recorder.url)
        ollama_client.chat(model="qwen3:8b", messages=[{"role": "system", "content": "A"},
                                                       {"role": "user", "content": "Hello"}])
    asked = [{"role": "system", "content": "B"}, {"role": "user", "content": "Hello"}]
    with MockServer(replay="strict") as replay:
        replay.load(directory)
        with pytest.raises(ollama.ResponseError) as info:
            ollama.Client(host=replay.url).chat(model="qwen3:8b", messages=asked)
        assert info.value.status_code == 404
        assert info.value.error.startswith('llm_mock: no rule matched POST /api/chat (model "qwen3:8b", last message '
                                           '"Hello"). Recording run-')
        assert "recorded with a different system prompt: in strict replay that is a miss." in info.value.error
        assert not replay.is_done()  # the stale recording does not count as replayed
    with MockServer(strict=True) as plain_strict:  # strict mode without strict replay: stale is answered
        plain_strict.load(directory)
        assert ollama.Client(host=plain_strict.url).chat(model="qwen3:8b", messages=asked).message.content
        with pytest.raises(ollama.ResponseError) as info:
            ollama.Client(host=plain_strict.url).chat(model="qwen3:8b", messages=[{"role": "user", "content": "Bye"}])
        assert "(3 of 4 conditions held): message: expected /^Hello$/" in info.value.error
        assert 'Closest recording: run-' in info.value.error and 'recorded "Hello", got "Bye"' in info.value.error
