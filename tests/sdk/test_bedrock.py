"""Anthropic on Bedrock through the real clients: the anthropic SDK's `AnthropicBedrock` (SigV4-signed with
dummy credentials, streams decoded by botocore) and boto3's own `bedrock-runtime` client."""
from __future__ import annotations

import json

import anthropic
import pytest

try:  # the anthropic SDK's HTTP library: httpx2 in the 2.x generation, httpx before
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

from llm_mock import ErrorReply, Fault, MockServer, ReplyObject, ToolCall

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
USER = [{"role": "user", "content": "hello bedrock"}]


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def bedrock(server):
    return anthropic.AnthropicBedrock(base_url=server.url, aws_access_key="AKIAIOSFODNN7EXAMPLE",
                                      aws_secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                      aws_region="us-east-1", max_retries=0, _strict_response_validation=True)


def test_text(server, bedrock):
    server.when("hello bedrock").reply("Hi from Bedrock")
    message = bedrock.messages.create(model=MODEL, max_tokens=100, messages=USER)
    assert message.content[0].text == "Hi from Bedrock"
    assert message.model == MODEL and message.id.startswith("msg_bdrk_01")
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    entry = server.history.last()
    assert entry.path == f"/model/{MODEL}/invoke"
    assert (entry.format, entry.transport, entry.model, entry.stream) == ("anthropic", "bedrock", MODEL, False)
    assert entry.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/")
    assert "model" not in json.loads(entry.body) and "anthropic_version" in json.loads(entry.body)


def test_stream_with_create(server, bedrock):
    server.when("hello").reply("Streamed over event-stream", chunk_size=5)
    events = list(bedrock.messages.create(model=MODEL, max_tokens=100, messages=USER, stream=True))
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == "Streamed over event-stream"
    assert sum(e.type == "content_block_delta" for e in events) == 6  # 26 characters in pieces of 5
    assert server.history.last().path.endswith("/invoke-with-response-stream")
    assert server.history.last().stream is True


def test_stream_helper_tool_use_and_thinking(server, bedrock):
    server.when({"tool_name": "get_weather"}).reply(ReplyObject(
        text="Let me look.", reasoning="The user wants the weather.",
        tools=[ToolCall("get_weather", {"city": "Paris"}, id="toolu_01bedrock")]))
    with bedrock.messages.stream(model=MODEL, max_tokens=1000, messages=USER,
                                 thinking={"type": "enabled", "budget_tokens": 500},
                                 tools=[{"name": "get_weather", "input_schema": {"type": "object"}}]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == "The user wants the weather." and final.content[0].signature
    assert final.content[2].input == {"city": "Paris"} and final.content[2].id == "toolu_01bedrock"
    assert final.stop_reason == "tool_use"
    assert server.history.last().tool_names == ("get_weather",)


def test_tool_result_round_trip(server, bedrock):
    server.when({"tool_call_id": "toolu_01abc"}).reply("It is sunny in Paris.")
    message = bedrock.messages.create(model=MODEL, max_tokens=100, messages=[
        *USER, {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01abc", "name": "w", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01abc", "content": "sunny"}]}])
    assert message.content[0].text == "It is sunny in Paris."


def test_rules_narrowed_to_the_format_answer_bedrock(server, bedrock):
    server.when({"format": "anthropic", "model": "claude-sonnet-4-5"}).reply("anthropic rule")
    server.when({"predicate": lambda r: r.transport == "bedrock"}).reply("bedrock only")
    assert bedrock.messages.create(model=MODEL, max_tokens=10, messages=USER).content[0].text == "anthropic rule"
    haiku = bedrock.messages.create(model="anthropic.claude-3-haiku-20240307-v1:0", max_tokens=10, messages=USER)
    assert haiku.content[0].text == "bedrock only"


def test_model_arn_is_url_decoded(server, bedrock):
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"
    message = bedrock.messages.create(model=arn, max_tokens=10, messages=USER)
    assert message.model == arn
    assert "%2F" in server.history.last().path and server.history.last().model == arn


@pytest.mark.parametrize("status, error_class, exception", [
    (400, anthropic.BadRequestError, "ValidationException"),
    (403, anthropic.PermissionDeniedError, "AccessDeniedException"),
    (404, anthropic.NotFoundError, "ResourceNotFoundException"),
    (429, anthropic.RateLimitError, "ThrottlingException"),
    (500, anthropic.InternalServerError, "InternalServerException"),
    (503, anthropic.ServiceUnavailableError, "ServiceUnavailableException"),
])
def test_http_errors(server, bedrock, status, error_class, exception):
    server.next_error(status, "refused by the mock")
    with pytest.raises(error_class) as raised:
        bedrock.messages.create(model=MODEL, max_tokens=10, messages=USER)
    assert raised.value.status_code == status
    assert raised.value.body == {"message": "refused by the mock"}
    assert raised.value.response.headers["x-amzn-errortype"].split(":")[0] == exception
    assert raised.value.response.headers["x-amzn-requestid"]


def test_inband_error_is_a_model_stream_error(server, bedrock):
    server.when("hello").reply(ReplyObject(text="A longer answer that breaks", fault=Fault("error", after_events=4)))
    seen = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        for event in bedrock.messages.create(model=MODEL, max_tokens=100, messages=USER, stream=True):
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start", "content_block_delta"]  # the ping is skipped
    assert raised.value.body == {"type": "error", "error": {
        "type": "modelStreamErrorException", "message": "The model stream was interrupted. Try your request again."}}


def test_inband_throttling(server, bedrock):
    server.when("hello").reply(ReplyObject(text="A longer answer", fault=Fault(
        "error", after_events=2, error=ErrorReply(429, "Too many tokens, please wait before trying again."))))
    with pytest.raises(anthropic.APIStatusError) as raised, \
            bedrock.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        stream.get_final_text()
    assert raised.value.body["error"] == {"type": "throttlingException",
                                          "message": "Too many tokens, please wait before trying again."}


def test_transport_faults_over_event_stream(server, bedrock):
    server.when("truncate").reply(ReplyObject(text="cut short here", fault=Fault("truncate", after_events=4)))
    server.when("malformed").reply(ReplyObject(text="bad bytes", fault=Fault("malformed", after_events=3)))
    server.when("disconnect").reply(ReplyObject(text="gone away", fault=Fault("disconnect", after_events=3)))

    def run(word):
        return [e.type for e in bedrock.messages.create(model=MODEL, max_tokens=100, stream=True,
                                                        messages=[{"role": "user", "content": word}])]

    assert run("truncate") == ["message_start", "content_block_start", "content_block_delta", "message_stop"]
    with pytest.raises(json.JSONDecodeError):
        run("malformed")
    with pytest.raises((anthropic.APIConnectionError, httpx.TransportError)):  # the body ends mid-chunk
        run("disconnect")
    assert [e.outcome for e in server.history] == ["fault truncate", "fault malformed", "fault disconnect"]


def test_json_fault_error_answers_in_bedrock_shape(server, bedrock):
    server.when("hello").reply(ReplyObject(text="x", fault=Fault("error", error=ErrorReply(503))))
    with pytest.raises(anthropic.ServiceUnavailableError) as raised:
        bedrock.messages.create(model=MODEL, max_tokens=10, messages=USER)
    assert raised.value.body == {"message": "Bedrock is unable to process your request."}


def test_bearer_key_instead_of_sigv4(server):
    client = anthropic.AnthropicBedrock(base_url=server.url, api_key="ABSK-bedrock-key", aws_region="eu-west-1",
                                        max_retries=0, _strict_response_validation=True)
    server.fallback("fine")
    assert client.messages.create(model=MODEL, max_tokens=10, messages=USER).content[0].text == "fine"
    assert server.history.last().headers["authorization"] == "Bearer ABSK-bedrock-key"


# -- boto3's own client: botocore's parsers and its event-stream decoder -------------------------------
@pytest.fixture
def runtime(server):
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    return boto3.client("bedrock-runtime", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="secret",
                        config=Config(retries={"total_max_attempts": 1}))


BOTO_BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": USER})


def test_boto3_invoke_and_stream(server, runtime):
    server.when("hello bedrock").reply("Hi boto3", chunk_size=3)
    answer = runtime.invoke_model(modelId=MODEL, body=BOTO_BODY)
    assert json.loads(answer["body"].read())["content"] == [{"type": "text", "text": "Hi boto3"}]
    assert answer["ResponseMetadata"]["RequestId"] == answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    streamed = runtime.invoke_model_with_response_stream(modelId=MODEL, body=BOTO_BODY)
    assert streamed["contentType"] == "application/json"
    events = [json.loads(part["chunk"]["bytes"]) for part in streamed["body"]]
    assert "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta") == "Hi boto3"
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == events[-2]["usage"]["output_tokens"]


def test_boto3_errors(server, runtime):
    client_errors = pytest.importorskip("botocore.exceptions")
    server.next_error(429)
    with pytest.raises(client_errors.ClientError) as raised:
        runtime.invoke_model(modelId=MODEL, body=BOTO_BODY)
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["Error"]["Message"] == "Too many requests, please wait before trying again."
    with pytest.raises(client_errors.ClientError) as refused:
        runtime.invoke_model(modelId=MODEL, body=json.dumps({"model": MODEL, "max_tokens": 5, "messages": USER}))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "extraneous key [model] is not permitted" in refused.value.response["Error"]["Message"]
    server.when("hello").reply(ReplyObject(text="Some longer text", fault=Fault("error", after_events=2)))
    streamed = runtime.invoke_model_with_response_stream(modelId=MODEL, body=BOTO_BODY)
    with pytest.raises(client_errors.EventStreamError) as in_band:
        list(streamed["body"])
    assert in_band.value.response["Error"]["Code"] == "modelStreamErrorException"


def test_boto3_count_tokens(server, runtime):
    counted = runtime.count_tokens(modelId=MODEL, input={"invokeModel": {"body": BOTO_BODY.encode()}})
    server.fallback("x")
    usage = json.loads(runtime.invoke_model(modelId=MODEL, body=BOTO_BODY)["body"].read())["usage"]
    assert counted["inputTokens"] == usage["input_tokens"] > 0
