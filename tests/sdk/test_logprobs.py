"""Log-probabilities through the official SDK: Chat Completions (`logprobs` + `top_logprobs`),
Responses (`include: ["message.output_text.logprobs"]` + `top_logprobs`) and legacy completions
(`logprobs: k`), streamed and not, computed or given by a rule."""
from __future__ import annotations

import json

import openai
import pytest

from llm_mock import MockServer, ReplyObject
from llm_mock.tokens import estimate_tokens, split_tokens

TEXT = "Log-probabilities, token by token: ünïcödé ✓ and 😀 too."
INCLUDE = ["message.output_text.logprobs"]
CHAT = [{"role": "user", "content": "speak"}]


@pytest.fixture
def mock():
    with MockServer() as server:
        server.when("speak").reply(TEXT, chunk_size=7)
        server.when("own").reply(ReplyObject(text="Yes!", logprobs=[
            {"token": "Yes", "logprob": -0.25, "top_logprobs": [{"token": "Yes", "logprob": -0.25},
                                                              {"token": "No", "logprob": -1.5}]},
            {"token": "!", "logprob": -0.01}]))
        yield server


@pytest.fixture
def client(mock):
    return openai.OpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0,
                         _strict_response_validation=True)


def check_entries(entries, text: str, top: int, with_bytes: bool = True) -> None:
    """Tokens spell the text exactly (the usage tokenisation), each logprob <= 0 with `top`
    alternatives in descending order, the chosen token first, and bytes that are the token's."""
    assert "".join(e.token for e in entries) == text
    assert [e.token for e in entries] == split_tokens(text) and len(entries) == estimate_tokens(text)
    for entry in entries:
        assert entry.logprob <= 0
        if with_bytes:
            assert entry.bytes == list(entry.token.encode("utf-8"))
        alternatives = entry.top_logprobs or []
        assert len(alternatives) == top
        if top:
            assert (alternatives[0].token, alternatives[0].logprob) == (entry.token, entry.logprob)
        values = [alt.logprob for alt in alternatives]
        assert values == sorted(values, reverse=True) and len({alt.token for alt in alternatives}) == top
        for alt in alternatives:
            assert alt.logprob <= 0
            if with_bytes:
                assert alt.bytes == list(alt.token.encode("utf-8"))


# -- Chat Completions ---------------------------------------------------------------------------
@pytest.mark.parametrize("top", [0, 3, 20])
def test_chat_json(client, top):
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, logprobs=True, top_logprobs=top)
    logprobs = completion.choices[0].logprobs
    check_entries(logprobs.content, TEXT, top)
    assert logprobs.refusal is None
    again = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, logprobs=True, top_logprobs=top)
    assert again.choices[0].logprobs == logprobs  # deterministic


def test_chat_without_the_field_keeps_null(client, mock):
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert completion.choices[0].logprobs is None
    assert json.loads(mock.history.last().body).get("logprobs") is None
    assert client.chat.completions.create(model="gpt-4o-mini", messages=CHAT,
                                          logprobs=False).choices[0].logprobs is None
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, stream=True):
        assert all(choice.logprobs is None for choice in chunk.choices)


def test_chat_stream_each_delta_carries_its_tokens(client):
    text, entries = "", []
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, logprobs=True, top_logprobs=2,
                                                stream=True, n=2):
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta.content or ""
            got = choice.logprobs.content if choice.logprobs else []
            assert "".join(e.token for e in got) == delta
            text, entries = text + delta, entries + got
    assert text == TEXT
    check_entries(entries, TEXT, 2)


def test_chat_stream_helper_accumulates_logprobs(client):
    with client.chat.completions.stream(model="gpt-4o-mini", messages=CHAT, logprobs=True, top_logprobs=1) as stream:
        done = [event for event in stream if event.type == "logprobs.content.done"]
        completion = stream.get_final_completion()
    check_entries(completion.choices[0].logprobs.content, TEXT, 1)
    assert len(done) == 1 and "".join(e.token for e in done[0].content) == TEXT


def test_chat_truncated_text_has_the_logprobs_of_what_was_sent(client):
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, logprobs=True,
                                                max_completion_tokens=3)
    message = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "length" and len(message) < len(TEXT)
    check_entries(completion.choices[0].logprobs.content, message, 0)


def test_rule_given_logprobs(client):
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "own"}],
                                                logprobs=True, top_logprobs=2)
    entries = completion.choices[0].logprobs.content
    assert [(e.token, e.logprob) for e in entries] == [("Yes", -0.25), ("!", -0.01)]
    assert [(t.token, t.logprob) for t in entries[0].top_logprobs] == [("Yes", -0.25), ("No", -1.5)]
    assert entries[1].top_logprobs == [] and entries[0].bytes == [89, 101, 115]


@pytest.mark.parametrize("kw, message", [
    ({"logprobs": True, "top_logprobs": 21}, "Expected a value <= 20, but got 21"),
    ({"logprobs": True, "top_logprobs": -1}, "Expected a value >= 0, but got -1"),
    ({"top_logprobs": 2}, "'logprobs' must be set to true"),
])
def test_chat_errors(client, kw, message):
    with pytest.raises(openai.BadRequestError, match=message) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=CHAT, **kw)
    assert caught.value.param == "top_logprobs"


# -- Responses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("top", [0, 4])
def test_responses_json(client, top):
    response = client.responses.create(model="gpt-4.1", input="speak", include=INCLUDE, top_logprobs=top)
    (part,) = response.output[0].content
    check_entries(part.logprobs, TEXT, top)
    assert response.top_logprobs == top


def test_responses_without_include_keeps_empty_logprobs(client):
    response = client.responses.create(model="gpt-4.1", input="speak", top_logprobs=3)
    assert response.output[0].content[0].logprobs == []


def test_responses_stream_deltas_done_and_final(client):
    deltas, done, final = [], None, None
    for event in client.responses.create(model="gpt-4.1", input="speak", include=INCLUDE, top_logprobs=2,
                                         stream=True):
        if event.type == "response.output_text.delta":
            assert "".join(e.token for e in event.logprobs) == event.delta
            deltas.extend(event.logprobs)
        elif event.type == "response.output_text.done":
            done = event.logprobs
        elif event.type == "response.completed":
            final = event.response
    check_entries(deltas, TEXT, 2, with_bytes=False)
    check_entries(done, TEXT, 2, with_bytes=False)
    check_entries(final.output[0].content[0].logprobs, TEXT, 2)
    assert [(e.token, e.logprob) for e in deltas] == [(e.token, e.logprob) for e in final.output[0].content[0].logprobs]


def test_responses_stream_helper_final_response(client):
    with client.responses.stream(model="gpt-4.1", input="speak", include=INCLUDE, top_logprobs=1) as stream:
        for _ in stream:
            pass
        response = stream.get_final_response()
    check_entries(response.output[0].content[0].logprobs, TEXT, 1)


def test_responses_rule_given_logprobs(client):
    response = client.responses.create(model="gpt-4.1", input="own", include=INCLUDE, top_logprobs=1)
    entries = response.output[0].content[0].logprobs
    assert [(e.token, e.logprob, [t.token for t in e.top_logprobs]) for e in entries] == [
        ("Yes", -0.25, ["Yes"]), ("!", -0.01, [])]


def test_responses_range_error(client):
    with pytest.raises(openai.BadRequestError, match="Expected a value <= 20") as caught:
        client.responses.create(model="gpt-4.1", input="speak", include=INCLUDE, top_logprobs=25)
    assert caught.value.code == "integer_above_max_value"


# -- legacy completions ----------------------------------------------------------------------------
def test_legacy_json(client):
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="speak", logprobs=2,
                                           max_tokens=100)
    (choice,) = completion.choices
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens) == choice.text == TEXT and logprobs.tokens == split_tokens(TEXT)
    assert all(value <= 0 for value in logprobs.token_logprobs)
    for token, value, top in zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs, strict=True):
        assert len(top) == 3 and top[token] == value and max(top.values()) == value  # chosen + 2 alternatives
    offsets = [len("speak") + sum(len(t) for t in logprobs.tokens[:i]) for i in range(len(logprobs.tokens))]
    assert logprobs.text_offset == offsets  # counted from the start of the prompt


def test_legacy_stream_without_strict_validation(mock):
    lax = openai.OpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0)  # finish_reason null chunks
    tokens, text = [], ""
    for chunk in lax.completions.create(model="gpt-3.5-turbo-instruct", prompt="speak", logprobs=1, max_tokens=100,
                                        stream=True):
        (choice,) = chunk.choices
        assert "".join(choice.logprobs.tokens) == choice.text
        tokens += choice.logprobs.tokens
        text += choice.text
    assert text == TEXT and tokens == split_tokens(TEXT)
    assert choice.finish_reason == "stop" and choice.logprobs.tokens == []
