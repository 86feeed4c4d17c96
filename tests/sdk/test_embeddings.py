"""`POST /v1/embeddings` through the official SDK: input forms, dimensions, base64, usage, errors,
rules, and retrieval with the computed vectors (nearest neighbour by cosine)."""
from __future__ import annotations

import base64
import itertools
import json
import math
import struct
import urllib.request

import openai
import pytest

from llm_mock import ErrorReply, MatchObject, MockServer, ReplyObject
from llm_mock.embeddings import cosine, embed
from llm_mock.tokens import estimate_tokens

DOCUMENTS = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.",
    "The stock market fell sharply after the central bank raised interest rates.",
    "Bake the bread dough at 220 degrees until the crust is golden brown.",
    "Python lists are mutable sequences that can hold items of any type.",
    "The Amazon rainforest is home to millions of insect and bird species.",
    "Regular running and cycling improve heart health and endurance.",
    "Jupiter is the largest planet in the solar system, a gas giant with many moons.",
    "Vaccines train the immune system to recognise viruses and bacteria.",
    "The violin has four strings and is played with a bow.",
]
QUERIES = [  # a paraphrase of each document that shares a few key words with it
    "Which iron tower stands in Paris?",
    "How do plants make sugar from sunlight?",
    "Why did stocks fall when the bank raised rates?",
    "At what temperature should bread bake for a golden crust?",
    "Can a Python list hold items of different types?",
    "Which species live in the Amazon rainforest?",
    "Does running help your heart?",
    "What is the largest planet with many moons?",
    "How do vaccines help the immune system fight viruses?",
    "How many strings does a violin have?",
]
UNRELATED = ["Quantum chromodynamics describes the strong interaction.", "Grandma knits woollen scarves every winter.",
             "Submarines navigate using sonar pings.", "Tax returns are due by mid April."]


@pytest.fixture
def mock():
    with MockServer() as server:
        yield server


@pytest.fixture
def client(mock):
    return openai.OpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0,
                         _strict_response_validation=True)


@pytest.fixture
def lax(mock):
    """The SDK's own default asks for base64 and decodes it, which strict validation rejects
    before decoding (its type says list of floats): that path is checked without it."""
    return openai.OpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0)


def vectors(client, texts, **kw) -> list:
    response = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float", **kw)
    assert [item.index for item in response.data] == list(range(len(response.data)))
    return [item.embedding for item in response.data]


def nearest_neighbour_accuracy(client, **kw) -> float:
    docs = vectors(client, DOCUMENTS, **kw)
    hits = 0
    for expected, query in enumerate(vectors(client, QUERIES, **kw)):
        scores = [cosine(query, doc) for doc in docs]
        hits += max(range(len(docs)), key=scores.__getitem__) == expected
    return hits / len(QUERIES)


def test_retrieval_nearest_neighbour_is_the_paraphrased_document(client):
    assert nearest_neighbour_accuracy(client) == 1.0


@pytest.mark.parametrize("dimensions", [256, 1024])
def test_retrieval_survives_shortened_vectors(client, dimensions):
    assert nearest_neighbour_accuracy(client, dimensions=dimensions) == 1.0


def test_related_texts_are_close_and_unrelated_ones_orthogonal(client):
    paris, paraphrase, *others = vectors(client, [DOCUMENTS[0], QUERIES[0], *UNRELATED])
    assert cosine(paris, paraphrase) > 0.3
    for a, b in itertools.combinations([paris, *others], 2):
        assert abs(cosine(a, b)) < 0.12


def test_vectors_are_deterministic_unit_length_and_per_model_sized(client):
    (first,), (second,) = vectors(client, "same text"), vectors(client, ["same text"])
    assert first == second == embed("same text", 1536)
    assert math.isclose(math.fsum(v * v for v in first), 1.0, rel_tol=1e-6)
    for model, size in (("text-embedding-3-small", 1536), ("text-embedding-3-large", 3072),
                        ("text-embedding-ada-002", 1536), ("some-local-embedder", 1536)):
        (item,) = client.embeddings.create(model=model, input="x", encoding_format="float").data
        assert len(item.embedding) == size


def test_dimensions_shortens_and_renormalises(client):
    full = client.embeddings.create(model="text-embedding-3-large", input="a short text",
                                    encoding_format="float").data[0].embedding
    short = client.embeddings.create(model="text-embedding-3-large", input="a short text", dimensions=64,
                                     encoding_format="float").data[0].embedding
    norm = math.sqrt(math.fsum(v * v for v in full[:64]))
    assert len(short) == 64
    assert all(math.isclose(s, f / norm, abs_tol=1e-8) for s, f in zip(short, full, strict=False))
    assert math.isclose(math.fsum(v * v for v in short), 1.0, rel_tol=1e-6)


def test_input_forms_and_usage(client, mock):
    response = client.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3], [4]],
                                        encoding_format="float")
    assert len(response.data) == 2 and response.usage.prompt_tokens == response.usage.total_tokens == 4
    flat = client.embeddings.create(model="text-embedding-3-small", input=[15339, 1917], encoding_format="float")
    assert len(flat.data) == 1 and flat.usage.prompt_tokens == 2  # a flat list of ids is one input
    assert mock.history.last().request.last_message == "15339 1917"
    texts = ["hello there", "ünïcode téxt ✓"]
    response = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
    assert response.usage.prompt_tokens == sum(estimate_tokens(t) for t in texts)
    assert response.model == "text-embedding-3-small" and response.object == "list"


def test_base64_is_little_endian_float32_and_the_sdk_default_decodes_it(lax, mock):
    response = lax.embeddings.create(model="text-embedding-3-small", input="decode me")  # the SDK asks for base64
    assert json.loads(mock.history.last().body)["encoding_format"] == "base64"
    expected = embed("decode me", 1536)
    assert len(response.data[0].embedding) == 1536
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(response.data[0].embedding, expected, strict=False))
    raw = lax.embeddings.create(model="text-embedding-3-small", input="decode me", encoding_format="base64")
    encoded = raw.data[0].embedding
    assert isinstance(encoded, str)  # asked explicitly: the SDK hands over the string
    assert list(struct.unpack("<1536f", base64.b64decode(encoded))) == [struct.unpack("<f", struct.pack("<f", v))[0]
                                                                          for v in expected]


def test_rules_answer_with_fixed_vectors_or_errors(client, mock):
    mock.when(MatchObject(format="embeddings", message="fixed")).reply(ReplyObject(embeddings=[0.6, 0.8]))
    mock.when({"format": "embeddings", "message": "pair"}).reply({"embeddings": [[1, 0], [0, 1]]})
    mock.when({"format": "embeddings", "message": "broken"}).reply(ErrorReply(429, "slow down"))
    mock.when("fixed").reply("a chat rule never answers embeddings with text")
    assert vectors(client, "a fixed point") == [[0.6, 0.8]]
    assert vectors(client, ["fixed a", "fixed b"]) == [[0.6, 0.8], [0.6, 0.8]]
    first, second, third = vectors(client, ["pair one", "pair two", "pair three"])
    assert (first, second) == ([1.0, 0.0], [0.0, 1.0]) and third == embed("pair three", 1536)
    with pytest.raises(openai.RateLimitError, match="slow down"):
        client.embeddings.create(model="text-embedding-3-small", input="broken", encoding_format="float")
    assert mock.history.last().rule == "{format=embeddings, message=broken}"


def test_unmatched_requests_get_computed_vectors_never_the_text_fallback(client, mock):
    mock.fallback("the text fallback")
    mock.when("other").reply("text for chat")
    (vector,) = vectors(client, "no rule for this")
    assert vector == embed("no rule for this", 1536)
    assert mock.history.last().rule is None and mock.history.last().format == "embeddings"


@pytest.mark.parametrize("body, message", [
    ({"input": ""}, "'$.input' is invalid"),
    ({"input": []}, "'$.input' is invalid"),
    ({"input": ["ok", ""]}, "'$.input' is invalid"),
    ({"input": ["x"] * 2049}, "'$.input' is invalid"),
    ({"input": [[1], []]}, "'$.input' is invalid"),
    ({"input": [1, "a"]}, "'$.input' is invalid"),
    ({"input": "x", "model": "text-embedding-ada-002", "dimensions": 8}, "does not support specifying dimensions"),
    ({"input": "x", "dimensions": 0}, "Expected a value >= 1"),
    ({"input": "x", "dimensions": 1537}, "Expected a value <= 1536"),
    ({"input": "x", "encoding_format": "int8"}, "Supported values are: 'float' and 'base64'"),
    ({"input": "word " * 40000}, "maximum context length is 8192 tokens"),
])
def test_the_real_apis_400s(client, body, message):
    kw = {"model": "text-embedding-3-small", **body}
    with pytest.raises(openai.BadRequestError, match=message.replace("$", r"\$")) as caught:
        client.embeddings.create(**kw)
    assert caught.value.body["type"] == "invalid_request_error"


def test_2048_inputs_are_accepted(client):
    response = client.embeddings.create(model="text-embedding-3-small", input=[f"item {i}" for i in range(2048)],
                                        dimensions=8, encoding_format="float")
    assert len(response.data) == 2048 and response.data[-1].index == 2047


def test_raw_body_shape(mock):
    data = json.dumps({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4}).encode()
    request = urllib.request.Request(mock.url + "/v1/embeddings", data, {"content-type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        body = json.loads(answer.read())
    assert set(body) == {"object", "data", "model", "usage"}
    assert [set(item) for item in body["data"]] == [{"object", "index", "embedding"}] * 2
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
