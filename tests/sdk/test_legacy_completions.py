"""`POST /v1/completions` through the official SDK: prompt forms, `n`, `echo`, `suffix`, `stop`,
`max_tokens` (default 16), usage, streaming with `data: [DONE]`, rules and errors. The SDK's stream
type rejects the real API's `finish_reason: null` chunks under strict validation, so streams are
read with a client without it (and checked on raw bytes too)."""
from __future__ import annotations

import json
import urllib.request

import openai
import pytest

from llm_mock import ErrorReply, MatchObject, MockServer
from llm_mock.tokens import estimate_tokens

MODEL = "gpt-3.5-turbo-instruct"
LONG = "A legacy completion that runs on well past the default budget of sixteen tokens, to be cut."


@pytest.fixture
def mock():
    with MockServer() as server:
        server.when(MatchObject(format="completions", message="poem")).reply("Roses are red. STOP Violets are blue.",
                                                                            chunk_size=5)
        server.when(MatchObject(format="completions", message="long")).reply(LONG)
        server.when(MatchObject(format="completions", message="fail")).reply(ErrorReply(503, "busy"))
        yield server


@pytest.fixture
def client(mock):
    return openai.OpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0,
                         _strict_response_validation=True)


@pytest.fixture
def lax(mock):
    return openai.OpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0)


def test_json_shape_and_usage(client, mock):
    completion = client.completions.create(model=MODEL, prompt="write a poem")
    (choice,) = completion.choices
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    assert choice.text == "Roses are red. STOP Violets are blue." and choice.finish_reason == "stop"
    assert choice.index == 0 and choice.logprobs is None
    assert completion.usage.prompt_tokens == estimate_tokens("write a poem")
    assert completion.usage.completion_tokens == estimate_tokens(choice.text)
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    entry = mock.history.last()
    assert entry.format == "completions" and entry.last_message == "write a poem"
    assert entry.rule == "{message=poem, format=completions}"


def test_max_tokens_defaults_to_16_and_truncates_with_length(client):
    cut = client.completions.create(model=MODEL, prompt="long one").choices[0]
    assert cut.finish_reason == "length" and cut.text == LONG[:64]
    whole = client.completions.create(model=MODEL, prompt="long one", max_tokens=100).choices[0]
    assert whole.finish_reason == "stop" and whole.text == LONG
    short = client.completions.create(model=MODEL, prompt="long one", max_tokens=2)
    assert short.choices[0].text == LONG[:8] and short.usage.completion_tokens == 2


def test_stop_sequences_cut_the_reply(client):
    choice = client.completions.create(model=MODEL, prompt="poem", stop=["STOP", "blue"]).choices[0]
    assert choice.text == "Roses are red. " and choice.finish_reason == "stop"
    assert client.completions.create(model=MODEL, prompt="poem", stop="red").choices[0].text == "Roses are "


def test_echo_suffix_and_batches(client):
    completion = client.completions.create(model=MODEL, prompt=["poem one", "poem two"], n=2, echo=True,
                                           suffix="The end.")
    assert [c.index for c in completion.choices] == [0, 1, 2, 3]
    assert [c.text.split("Roses")[0] for c in completion.choices] == ["poem one", "poem one", "poem two", "poem two"]
    assert completion.usage.prompt_tokens == 2 * estimate_tokens("poem one")
    assert completion.usage.completion_tokens == 4 * estimate_tokens("Roses are red. STOP Violets are blue.")


def test_token_id_prompts(client, mock):
    completion = client.completions.create(model=MODEL, prompt=[[1, 2, 3], [4, 5]])
    assert len(completion.choices) == 2 and completion.usage.prompt_tokens == 5
    assert mock.history.last().request.messages[0].content == "1 2 3"


def test_fallback_answers_unmatched_prompts(client):
    assert client.completions.create(model=MODEL, prompt="nothing matches", max_tokens=50).choices[0].text == \
        "llm_mock: no rule matched this request."


def test_stream_chunks_finish_and_usage(lax):
    chunks = list(lax.completions.create(model=MODEL, prompt="poem", stream=True, n=2,
                                         stream_options={"include_usage": True}))
    *body, usage = chunks
    assert usage.choices == [] and usage.usage.completion_tokens == 2 * estimate_tokens(
        "Roses are red. STOP Violets are blue.")
    for index in (0, 1):
        mine = [c.choices[0] for c in body if c.choices[0].index == index]
        assert "".join(c.text for c in mine) == "Roses are red. STOP Violets are blue."
        assert [c.finish_reason for c in mine] == [None] * (len(mine) - 1) + ["stop"]
        assert mine[-1].text == "" and all(len(c.text) <= 5 for c in mine)
    assert all(c.object == "text_completion" and c.usage is None for c in body)


def test_stream_echo_and_length(lax):
    chunks = [c.choices[0] for c in lax.completions.create(model=MODEL, prompt="long", echo=True, max_tokens=3,
                                                            stream=True)]
    assert chunks[0].text == "long" and "".join(c.text for c in chunks) == "long" + LONG[:12]
    assert chunks[-1].finish_reason == "length"


def test_stream_raw_bytes_end_with_done(mock):
    body = json.dumps({"model": MODEL, "prompt": "poem", "stream": True}).encode()
    request = urllib.request.Request(mock.url + "/v1/completions", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = answer.read().decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    first = json.loads(events[0].removeprefix("data: "))
    assert set(first) == {"id", "object", "created", "model", "system_fingerprint", "choices"}
    assert set(first["choices"][0]) == {"text", "index", "logprobs", "finish_reason"}
    assert first["choices"][0]["finish_reason"] is None


@pytest.mark.parametrize("kw, error, message", [
    ({"prompt": "fail"}, openai.InternalServerError, "busy"),
    ({"prompt": [1, "a"]}, openai.BadRequestError, "Invalid type for 'prompt'"),
    ({"prompt": []}, openai.BadRequestError, "Invalid type for 'prompt'"),
    ({"prompt": "x", "logprobs": 6}, openai.BadRequestError, "Expected a value <= 5"),
    ({"prompt": "x", "max_tokens": -1}, openai.BadRequestError, "Expected a value >= 0"),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, openai.BadRequestError, "up to 4 strings"),
    ({"prompt": "x", "n": 0}, openai.BadRequestError, "Invalid 'n'"),
])
def test_errors(client, kw, error, message):
    with pytest.raises(error, match=message):
        client.completions.create(model=MODEL, **kw)


def test_missing_prompt_is_a_400(mock):
    body = json.dumps({"model": MODEL}).encode()
    request = urllib.request.Request(mock.url + "/v1/completions", body, {"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
    assert json.loads(caught.value.read())["error"]["param"] == "prompt"
