"""OpenAI on Azure through the openai SDK: `AzureOpenAI` on the deployment routes (`?api-version=`, the
`api-key` header), and a plain `OpenAI` client on the Azure v1 routes."""
from __future__ import annotations

import json
import urllib.request

import openai
import pytest

from llm_mock import ErrorReply, Fault, MockServer, ReplyObject, ToolCall

API_VERSION = "2024-10-21"
USER = [{"role": "user", "content": "hello azure"}]


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def azure(server):
    return openai.AzureOpenAI(azure_endpoint=server.url, api_key="azure-key", api_version=API_VERSION,
                              max_retries=0, _strict_response_validation=True)


def test_chat_json(server, azure):
    server.when({"model": "my-gpt4o", "message": "hello azure"}).reply("Hi from Azure")
    completion = azure.chat.completions.create(model="my-gpt4o", messages=USER)
    assert completion.choices[0].message.content == "Hi from Azure"
    assert completion.model == "my-gpt4o"
    assert completion.prompt_filter_results[0]["content_filter_results"]["hate"]["severity"] == "safe"
    assert completion.choices[0].content_filter_results["violence"] == {"filtered": False, "severity": "safe"}
    entry = server.history.last()
    assert entry.path == f"/openai/deployments/my-gpt4o/chat/completions?api-version={API_VERSION}"
    assert (entry.format, entry.transport) == ("openai", "azure")
    assert entry.headers["api-key"] == "azure-key"


def test_deployment_client_and_model_from_the_path(server):
    client = openai.AzureOpenAI(azure_endpoint=server.url, azure_deployment="dep-1", api_key="k",
                                api_version=API_VERSION, max_retries=0, _strict_response_validation=True)
    server.fallback("ok")
    client.chat.completions.create(model="named-in-body", messages=USER)
    assert server.history.last().path.startswith("/openai/deployments/dep-1/chat/completions?")
    assert server.history.last().model == "named-in-body"  # the body names one: it wins
    request = urllib.request.Request(f"{server.url}/openai/deployments/dep-1/chat/completions?api-version=1",
                                     json.dumps({"messages": USER}).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["model"] == "dep-1"
    assert server.history.last().model == "dep-1"


@pytest.fixture
def lenient(server):
    """Without strict validation, as `AzureOpenAI` runs by default: Azure's first stream chunk has
    `object: ""` (see `test_strict_validation_rejects_the_first_azure_chunk`)."""
    return openai.AzureOpenAI(azure_endpoint=server.url, api_key="azure-key", api_version=API_VERSION, max_retries=0)


def test_chat_stream(server, lenient):
    server.when("hello").reply("Streamed from Azure", chunk_size=4)
    chunks = list(lenient.chat.completions.create(model="my-gpt4o", messages=USER, stream=True))
    assert chunks[0].choices == [] and chunks[0].prompt_filter_results
    assert "".join(c.choices[0].delta.content or "" for c in chunks[1:]) == "Streamed from Azure"
    assert chunks[-1].choices[0].finish_reason == "stop"
    with lenient.chat.completions.stream(model="my-gpt4o", messages=USER) as stream:
        assert stream.get_final_completion().choices[0].message.content == "Streamed from Azure"
    assert server.history.last().stream is True


def test_strict_validation_rejects_the_first_azure_chunk(server, azure):
    """As against the real service: its prompt-filter chunk is not a valid `chat.completion.chunk`."""
    with pytest.raises(openai.APIResponseValidationError):
        list(azure.chat.completions.create(model="my-gpt4o", messages=USER, stream=True))


def test_tool_calls(server, azure):
    server.when({"tool_name": "get_weather"}).reply(ReplyObject(tools=[ToolCall("get_weather", {"city": "Oslo"})]))
    completion = azure.chat.completions.create(model="my-gpt4o", messages=USER, tools=[
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
    call = completion.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Oslo"})
    assert completion.choices[0].finish_reason == "tool_calls"


def test_responses(server, azure):
    server.when({"format": "responses"}).reply("Responses on Azure")
    response = azure.responses.create(model="my-gpt4o", input="hello azure")
    assert response.output_text == "Responses on Azure"
    entry = server.history.last()
    assert entry.path == f"/openai/responses?api-version={API_VERSION}"
    assert (entry.format, entry.transport) == ("responses", "azure")


def test_v1_routes_with_a_plain_client(server):
    client = openai.OpenAI(base_url=server.url + "/openai/v1/", api_key="azure-key", max_retries=0,
                           _strict_response_validation=True)
    server.when({"format": "openai"}).reply("chat on v1")
    server.when({"format": "responses"}).reply("responses on v1")
    assert client.chat.completions.create(model="dep", messages=USER).choices[0].message.content == "chat on v1"
    assert server.history.last().path == "/openai/v1/chat/completions"
    assert server.history.last().headers["authorization"] == "Bearer azure-key"
    assert client.responses.create(model="dep", input="hi").output_text == "responses on v1"
    assert server.history.last().path == "/openai/v1/responses" and server.history.last().transport == "azure"
    assert [m.id for m in client.models.list()]


def test_errors(server, azure):
    server.next_error(429)
    with pytest.raises(openai.RateLimitError) as throttled:
        azure.chat.completions.create(model="my-gpt4o", messages=USER)
    assert throttled.value.code == "429"
    assert throttled.value.message.startswith("Error code: 429 - ")
    assert "ChatCompletions_Create" in throttled.value.body["message"]
    server.next_error(404, "The API deployment for this resource does not exist.", code="DeploymentNotFound")
    with pytest.raises(openai.NotFoundError) as missing:
        azure.chat.completions.create(model="nope", messages=USER)
    assert missing.value.code == "DeploymentNotFound"
    with pytest.raises(openai.BadRequestError) as refused:
        azure.chat.completions.create(model="my-gpt4o", messages=[])
    assert refused.value.param == "messages"


def test_missing_api_version_is_resource_not_found(server):
    client = openai.OpenAI(base_url=server.url + "/openai/deployments/my-gpt4o", api_key="k", max_retries=0)
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="my-gpt4o", messages=USER)
    assert raised.value.body == {"code": "404", "message": "Resource not found"}


def test_inband_error(server, lenient):
    server.when("hello").reply(ReplyObject(text="Some longer text", fault=Fault("error", after_events=3,
                                                                               error=ErrorReply(500))))
    with pytest.raises(openai.APIError):
        list(lenient.chat.completions.create(model="my-gpt4o", messages=USER, stream=True))
    assert server.history.last().outcome == "fault error"


def test_embeddings_and_legacy_completions_on_the_deployment_routes(server, azure):
    from llm_mock.embeddings import cosine

    vectors = azure.embeddings.create(model="my-embedder", input=["the cat sat", "the cat sat down"],
                                     encoding_format="float")  # strict validation rejects the base64 default
    assert [item.index for item in vectors.data] == [0, 1] and len(vectors.data[0].embedding) == 1536
    assert cosine(vectors.data[0].embedding, vectors.data[1].embedding) > 0.5
    entry = server.history.last()
    assert entry.path == f"/openai/deployments/my-embedder/embeddings?api-version={API_VERSION}"
    assert (entry.format, entry.transport, entry.model) == ("embeddings", "azure", "my-embedder")

    server.when({"format": "completions", "message": "Once upon"}).reply("a time")
    done = azure.completions.create(model="my-instruct", prompt="Once upon")
    assert done.choices[0].text == "a time" and done.model == "my-instruct"
    entry = server.history.last()
    assert (entry.format, entry.transport) == ("completions", "azure")


def test_embeddings_and_completions_on_the_v1_routes(server):
    client = openai.OpenAI(base_url=server.url + "/openai/v1/", api_key="k", max_retries=0,
                           _strict_response_validation=True)
    assert len(client.embeddings.create(model="e", input="hi", dimensions=8, encoding_format="float")
               .data[0].embedding) == 8
    server.fallback("plain")
    assert client.completions.create(model="m", prompt="x").choices[0].text == "plain"
    assert server.history.last().transport == "azure"
