"""The Gemini routes through the official `google-genai` Python SDK: text, streams, function calling
(by hand and the SDK's automatic loop), thoughts, structured output, tokens, embeddings, models,
errors and failures."""
from __future__ import annotations

import asyncio
import json

import pydantic
import pytest
from google import genai
from google.genai import errors, types

from llm_mock import ErrorReply, Fault, MockServer, ReplyObject, ToolCall
from llm_mock.embeddings import embed

MODEL = "gemini-2.5-flash"


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def client(server):
    return genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=server.url))


def sent(server, index: int = -1) -> dict:
    """The JSON body of a recorded request."""
    return json.loads(server.history.all()[index].body)


def test_text(server, client):
    server.when({"message": "hello", "system": "brief", "format": "gemini", "model": MODEL}).reply("Hi there!")
    response = client.models.generate_content(
        model=MODEL, contents="hello", config=types.GenerateContentConfig(system_instruction="Be brief."))
    assert response.text == "Hi there!"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == MODEL and response.response_id
    usage = response.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count == 3
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    entry = server.history.last()
    assert entry.path == f"/v1/models/{MODEL}:generateContent" and entry.format == "gemini"
    assert entry.headers["x-goog-api-key"] == "test-key"
    assert entry.request.system_message == "Be brief." and entry.request.last_message == "hello"


def test_api_versions(server):
    server.when("hi").reply("ok")
    for version in ("v1beta", "v1alpha", "v1"):
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=server.url, api_version=version))
        assert client.models.generate_content(model=MODEL, contents="hi").text == "ok"
        assert server.history.last().path.startswith(f"/{version}/models/{MODEL}:generateContent")


def test_stream_in_pieces(server, client):
    server.when("story").reply("Once upon a time, there was a mock.", chunk_size=8)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="tell me a story"))
    assert "".join(c.text for c in chunks) == "Once upon a time, there was a mock."
    assert len(chunks) == 5 and [len(c.text) for c in chunks[:4]] == [8, 8, 8, 8]
    assert [c.candidates[0].finish_reason for c in chunks] == [None] * 4 + [types.FinishReason.STOP]
    assert len({c.response_id for c in chunks}) == 1
    assert all(c.usage_metadata.candidates_token_count is None for c in chunks[:-1])
    assert chunks[-1].usage_metadata.candidates_token_count == 9
    assert server.history.last().path == f"/v1/models/{MODEL}:streamGenerateContent?alt=sse"
    assert server.history.last().request.stream is True


def test_async_stream(server, client):
    server.when("hi").reply("Hello, async world", chunk_size=6)

    async def run() -> list:
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="hi")
        return [chunk.text async for chunk in stream]

    assert asyncio.run(run()) == ["Hello,", " async", " world"]


WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Weather for a city.",
    parameters=types.Schema(type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]))


def test_function_calling_round_trip(server, client):
    server.when_tool_result("call-7").reply("It is sunny in Paris.")
    server.when_tool("get_weather").reply(ReplyObject(tools=[ToolCall("get_weather", {"city": "Paris"}, "call-7")]))
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
    first = client.models.generate_content(model=MODEL, contents="Weather in Paris?", config=config)
    [call] = first.function_calls
    assert (call.name, call.args, call.id) == ("get_weather", {"city": "Paris"}, "call-7")
    assert first.candidates[0].finish_reason == types.FinishReason.STOP
    assert server.history.last().request.tool_names == ("get_weather",)

    history = [types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
               first.candidates[0].content,
               types.Content(role="user", parts=[types.Part.from_function_response(
                   name="get_weather", response={"result": "sunny"})])]
    second = client.models.generate_content(model=MODEL, contents=history, config=config)
    assert second.text == "It is sunny in Paris."
    request = server.history.last().request
    assert [m.role for m in request.messages] == ["user", "assistant", "tool"]
    assert request.last_tool_call_id == "call-7"  # no id sent: the id of the call it answers
    assert json.loads(request.messages[-1].content) == {"result": "sunny"}


def test_function_calls_stream_whole(server, client):
    server.when_tool("get_weather").reply(
        ReplyObject(text="Checking both.", tools=[ToolCall("get_weather", {"city": "Paris"}),
                                                  ToolCall("get_weather", {"city": "Rome"})]), chunk_size=5)
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="two cities", config=config))
    calls = [c for c in chunks if c.function_calls]
    assert len(calls) == 1 and chunks[-1] is calls[0]
    assert [(f.name, f.args) for f in calls[0].function_calls] == [("get_weather", {"city": "Paris"}),
                                                                   ("get_weather", {"city": "Rome"})]
    assert all(f.id for f in calls[0].function_calls)
    assert "".join(c.text or "" for c in chunks[:-1]) == "Checking both."


def test_automatic_function_calling(server, client):
    seen = []

    def get_weather(city: str) -> str:
        """Weather for a city."""
        seen.append(city)
        return f"sunny in {city}"

    server.when_tool_result("w1").reply("The weather: sunny in Paris.")
    server.when_tool("get_weather").reply(ReplyObject(tools=[ToolCall("get_weather", {"city": "Paris"}, "w1")]))
    chat = client.chats.create(model=MODEL, config=types.GenerateContentConfig(tools=[get_weather]))
    response = chat.send_message("weather in Paris?")
    assert response.text == "The weather: sunny in Paris."
    assert seen == ["Paris"]
    assert [c.role for c in chat.get_history()] == ["user", "model", "user", "model"]
    assert "+afc" in server.history.last().headers["x-goog-api-client"]
    assert server.history.count() == 2
    body = sent(server)
    assert body["contents"][-1]["parts"][0]["functionResponse"] == {"name": "get_weather",
                                                                   "response": {"result": "sunny in Paris"}}
    assert server.history.last().request.tools[0].parameters["properties"] == {"city": {"type": "string"}}


def test_thoughts(server, client):
    server.when("plan").reply(ReplyObject(reasoning="First think, then answer.", text="The plan."))
    shown = client.models.generate_content(model=MODEL, contents="plan it", config=types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=1024)))
    thought, answer = shown.candidates[0].content.parts
    assert thought.thought is True and thought.text == "First think, then answer."
    assert isinstance(thought.thought_signature, bytes) and thought.thought_signature
    assert answer.text == "The plan." and not answer.thought
    assert shown.text == "The plan."  # the SDK leaves thoughts out of .text
    assert shown.usage_metadata.thoughts_token_count == 7
    assert shown.usage_metadata.total_token_count == (shown.usage_metadata.prompt_token_count + 7
                                                      + shown.usage_metadata.candidates_token_count)

    hidden = client.models.generate_content(model=MODEL, contents="plan it")
    [part] = hidden.candidates[0].content.parts
    assert part.text == "The plan." and not part.thought
    assert hidden.usage_metadata.thoughts_token_count == 7  # thought, billed, not shown


def test_thoughts_stream_first(server, client):
    server.when("plan").reply(ReplyObject(reasoning="Thinking hard.", text="Answer."), chunk_size=4)
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="plan", config=config))
    parts = [p for c in chunks for p in c.candidates[0].content.parts]
    thoughts = [p for p in parts if p.thought]
    assert "".join(p.text for p in thoughts) == "Thinking hard."
    assert parts.index(thoughts[-1]) < min(i for i, p in enumerate(parts) if not p.thought)
    assert [bool(p.thought_signature) for p in thoughts] == [False] * (len(thoughts) - 1) + [True]


class Recipe(pydantic.BaseModel):
    name: str
    minutes: int


def test_structured_output(server, client):
    server.when("recipe").reply(json.dumps({"name": "Pancakes", "minutes": 20}))
    response = client.models.generate_content(model=MODEL, contents="a recipe", config=types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=Recipe))
    assert response.parsed == Recipe(name="Pancakes", minutes=20)
    config = sent(server)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "responseSchema" in config or "responseJsonSchema" in config

    client.models.generate_content(model=MODEL, contents="a recipe", config=types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=Recipe.model_json_schema()))
    assert sent(server)["generationConfig"]["responseJsonSchema"]["properties"]["minutes"] == {
        "title": "Minutes", "type": "integer"}


def test_candidates_and_max_tokens(server, client):
    server.when("two").reply("Same answer twice")
    response = client.models.generate_content(
        model=MODEL, contents="two", config=types.GenerateContentConfig(candidate_count=2))
    assert [c.index for c in response.candidates] == [0, 1]
    assert {c.content.parts[0].text for c in response.candidates} == {"Same answer twice"}

    server.when("long").reply("word " * 100)
    cut = client.models.generate_content(
        model=MODEL, contents="long", config=types.GenerateContentConfig(max_output_tokens=5))
    assert cut.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert cut.text == "word " * 4 and cut.usage_metadata.candidates_token_count == 5


def test_count_tokens_matches_usage(server, client):
    contents = "How many tokens does this sentence take, all told?"
    counted = client.models.count_tokens(model=MODEL, contents=contents)
    used = client.models.generate_content(model=MODEL, contents=contents).usage_metadata.prompt_token_count
    assert counted.total_tokens == used > 0
    assert server.history.at(0).path == f"/v1/models/{MODEL}:countTokens"


def test_embed_content(server, client):
    result = client.models.embed_content(model="gemini-embedding-001", contents=["the cat", "a dog"],
                                         config=types.EmbedContentConfig(output_dimensionality=16))
    assert [e.values for e in result.embeddings] == [embed("the cat", 16), embed("a dog", 16)]
    one = client.models.embed_content(model="gemini-embedding-001", contents="the cat")
    assert len(one.embeddings[0].values) == 3072
    assert one.embeddings[0].values[:16] != result.embeddings[0].values  # its own dimensions
    assert server.history.last().path == "/v1/models/gemini-embedding-001:batchEmbedContents"


def test_models(server, client):
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-flash" in names and "models/gemini-embedding-001" in names
    paged = list(client.models.list(config={"page_size": 2}))
    assert [m.name for m in paged] == names  # the pager follows nextPageToken to the end
    model = client.models.get(model="gemini-2.5-pro")
    assert model.name == "models/gemini-2.5-pro" and model.display_name == "Gemini 2.5 Pro"
    assert model.input_token_limit and "generateContent" in model.supported_actions
    assert client.models.get(model="my-tuned-flash").name == "models/my-tuned-flash"


def test_rate_limit_is_client_error(server, client):
    server.when("hi").reply(ErrorReply.rate_limited(retry_after=3))
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    details = caught.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"} in details


def test_unavailable_is_server_error(server, client):
    server.when("hi").reply(ErrorReply(503, "The model is overloaded."))
    with pytest.raises(errors.ServerError) as caught:
        list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    assert (caught.value.code, caught.value.status, caught.value.message) == (503, "UNAVAILABLE",
                                                                              "The model is overloaded.")


def test_error_status_by_type_and_next_error(server, client):
    server.when("hi").reply(ErrorReply(400, "Billing is not enabled.", type="FAILED_PRECONDITION"))
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="hi")
    assert (caught.value.code, caught.value.status) == (400, "FAILED_PRECONDITION")
    server.next_error(403)
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="other")
    assert caught.value.status == "PERMISSION_DENIED"


def test_bad_request_from_the_sdk(server, client):
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents=[types.Content(role="assistant", parts=[
            types.Part(text="hi")])])
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert "valid role" in caught.value.message


def test_inband_error_mid_stream(server, client):
    server.when("hi").reply(ReplyObject(text="Hello there, partial", fault=Fault("error", after_events=2,
                                                                                  error=ErrorReply(500))),
                            chunk_size=5)
    received = []
    with pytest.raises(errors.ServerError) as caught:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="hi"):
            received.append(chunk.text)
    assert received == ["Hello", " ther"]
    assert caught.value.code == 500 and caught.value.status == "INTERNAL"


@pytest.mark.parametrize("kind", ["disconnect", "malformed", "reset"])
def test_transport_faults(server, client, kind):
    server.when("hi").reply(ReplyObject(text="Hello there, partial", fault=Fault(kind, after_events=1)),
                            chunk_size=5)
    with pytest.raises(Exception) as caught:
        list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    assert not isinstance(caught.value, AssertionError)
    assert server.history.last().outcome == f"fault {kind}"


def test_truncated_stream_has_no_finish_reason(server, client):
    server.when("hi").reply(ReplyObject(text="Hello there, partial", fault=Fault("truncate", after_events=2)),
                            chunk_size=5)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    assert [c.text for c in chunks] == ["Hello", " ther"]
    assert all(c.candidates[0].finish_reason is None for c in chunks)


def test_one_rule_every_format(server, client):
    import openai

    server.when("ping").reply("pong")
    server.when({"message": "only", "format": "gemini"}).reply("gemini only")
    assert client.models.generate_content(model=MODEL, contents="ping").text == "pong"
    assert client.models.generate_content(model=MODEL, contents="only").text == "gemini only"
    oai = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    answer = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "ping"}])
    assert answer.choices[0].message.content == "pong"
    other = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "only"}])
    assert other.choices[0].message.content != "gemini only"
